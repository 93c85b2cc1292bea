"""The ``llmfake`` command line, run as a real subprocess."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

CLI = [sys.executable, "-m", "llmfake"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, input=stdin,
                          timeout=60, check=False)


@pytest.fixture
def served(tmp_path):
    """Start ``llmfake serve --port 0`` and yield (process, base url, lines printed so far)."""
    procs = []

    def start(*args: str, command: str = "serve"):
        proc = subprocess.Popen([*CLI, command, "--port", "0", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line == "\n":  # the banner ends with a blank line
                break
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", lines[0])
        assert match, lines
        return proc, match.group(1), lines

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_serve_prints_urls_answers_and_stops_cleanly(served):
    proc, url, lines = served()
    text = "".join(lines)
    assert f"export OPENAI_BASE_URL={url}/v1" in text
    for name in ("ANTHROPIC_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "AZURE_OPENAI_ENDPOINT",
                 "OLLAMA_HOST"):
        assert f"export {name}={url}\n" in text
    assert "OpenAI:" in text
    response = httpx.post(f"{url}/v1/chat/completions",
                          json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-x",
                           _strict_response_validation=True)
    with client:
        assert client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]).choices
    log = proc.stdout.readline()
    assert "POST /v1/chat/completions 200 reply" in log
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def test_serve_with_scenario_file_and_seed(served, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: custom\nreply: {text: from file}\n")
    _, url, lines = served("--scenario", str(path), "--seed", "5", "--quiet")
    assert "'custom' (seed 5)" in lines[0]
    response = httpx.post(f"{url}/v1/chat/completions",
                          json={"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert response.json()["choices"][0]["message"]["content"] == "from file"


def test_serve_with_invalid_scenario_exits_2():
    result = run("serve", "--port", "0", "--scenario", "no-such-scenario")
    assert result.returncode == 2
    assert "no-such-scenario" in result.stderr
    assert "built-ins" in result.stderr


def test_validate(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("rules:\n  - script:\n      - {error: rate_limit, retry_after: 2s}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - match: {}\n  - script:\n      - {eror: rate_limit}\n")
    ok = run("validate", str(good))
    assert ok.returncode == 0
    assert "ok" in ok.stdout
    failed = run("validate", str(bad))
    assert failed.returncode == 2
    assert str(bad) in failed.stderr
    assert "rules[1].script[0].eror" in failed.stderr
    assert "did you mean 'error'" in failed.stderr
    folder = run("validate", str(tmp_path))
    assert folder.returncode == 2
    assert "is a folder, not a scenario file; give one of its files (bad.yaml, good.yaml" \
        in folder.stderr
    stdin = run("validate", "-", stdin="seed: -1\n")
    assert stdin.returncode == 2
    assert "<stdin>: seed" in stdin.stderr


def test_scenarios_lists_the_builtins():
    result = run("scenarios")
    assert result.returncode == 0
    assert re.search(r"^default\s", result.stdout, re.MULTILINE)


def test_schema_prints_json_schema():
    result = run("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("serve", "--port", "not-a-port").returncode == 2
    assert run("frobnicate").returncode == 2


def test_schema_into_a_closed_pipe_is_quiet():
    result = subprocess.run(f"{sys.executable} -m llmfake schema | head -n 1", shell=True,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "{"
    assert "Traceback" not in result.stderr


def test_record_is_a_command():
    result = run("record", "--help")
    assert result.returncode == 0
    assert "--upstream" in result.stdout and "--cassette" in result.stdout
    assert run("record").returncode == 2  # --upstream and --cassette are required


def test_replay_serves_a_cassette_with_a_scenario_overlaid(served, tmp_path):
    cassette = Path(__file__).parent / "unit" / "data" / "one-chat.yaml"
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("rules:\n  - script: [{error: rate_limit, retry_after: 0}, {}]\n")
    _proc, url, lines = served(str(cassette), "--scenario", str(overlay), "--speed", "0",
                              command="replay")
    assert "serving scenario 'replay one-chat.yaml'" in lines[0]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="offline", max_retries=1)
    out = client.chat.completions.create(model="gpt-4o-mini",
                                         messages=[{"role": "user", "content": "Hi"}])
    assert out.choices[0].message.content == "Hello from the tape."
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "Other"}])
    assert "nearest is interactions[0]" in str(info.value)
    journal = httpx.get(f"{url}/_llmfake/journal").json()
    assert [e["outcome"] for e in journal][:2] == ["error rate_limit", "replay"]


def test_replay_of_a_missing_cassette_exits_2(tmp_path):
    result = run("replay", str(tmp_path / "missing.yaml"), "--port", "0")
    assert result.returncode == 2
    assert "missing.yaml" in result.stderr and "cassette.path" in result.stderr


def test_validate_prints_every_mistake_of_a_file(tmp_path):
    bad = tmp_path / "typos.yaml"
    bad.write_text("seed: -1\nreplay: hi\nrules: [{fault: disconect}]\n")
    result = run("validate", str(bad))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert [line.split(": ")[3] for line in lines] == ["seed", "replay", "rules[0].fault"]
    assert all(line.startswith(f"llmfake: invalid scenario: {bad}: ") for line in lines)
    assert "did you mean 'reply'?" in lines[1] and "did you mean 'disconnect'?" in lines[2]
