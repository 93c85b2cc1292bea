"""Exchanges exported from the dashboard as a pytest test that replays them, faults included,
and as a cassette that ``llmfake replay`` serves."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import httpx
import openai
import pytest
import yaml
from test_dashboard import run_exported

import llmfake
from llmfake.record import load

USER = [{"role": "user", "content": "hi"}]


def test_an_exported_chain_with_a_cut_and_an_error_replays_green(tmp_path):
    script = [{"fault": "disconnect"}, {"error": "unavailable", "retry_after": 0.05},
              {"reply": "at last"}]
    with llmfake.serve({"rules": [{"script": script}]}) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=2)
        reply = client.chat.completions.create(model="gpt-4o", messages=USER)
        assert reply.choices[0].message.content == "at last"
        seqs = ",".join(str(e.seq) for e in server.journal())
        resp = httpx.get(f"{server.url}/_llmfake/ui/api/export?seqs={seqs}")
    assert resp.status_code == 200
    text = resp.text
    assert "{'fault': 'disconnect'}" in text
    assert "{'error': 'unavailable', 'retry_after': 0.05}" in text
    assert "{'reply': 'at last'}" in text
    requests = next(ast.literal_eval(node.value) for node in ast.parse(text).body
                    if isinstance(node, ast.Assign) and node.targets[0].id == "REQUESTS")
    assert [r[3] for r in requests] == [None, 503, 200]
    run_exported(tmp_path, text)


def test_exporting_nothing_is_a_clear_error():
    with llmfake.serve() as server:
        resp = httpx.get(server.url + "/_llmfake/ui/api/export?seqs=")
    assert resp.status_code == 400
    assert resp.json() == {"error": "no exchanges to export: select some first"}


@pytest.mark.parametrize("path", ["/_llmfake/ui/static/../__init__.py",
                                  "/_llmfake/ui/static/nothing.js", "/_llmfake/ui/nowhere"])
def test_the_dashboard_serves_only_its_own_files(path):
    with llmfake.serve() as server:
        assert httpx.get(server.url + path).status_code == 404


def test_a_chain_a_fault_cut_exports_as_a_cassette_whose_overlay_cuts_it_again(tmp_path):
    script = [{"fault": "disconnect", "after_chunks": 2}, {"reply": "whole at last"}]
    sc = {"latency": {"ttft": "5ms", "per_token": "5ms"}, "rules": [{"script": script}]}
    with llmfake.serve(sc) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-live-0123456789",
                               max_retries=0)
        with pytest.raises(openai.APIConnectionError):
            streamed(client)
        assert streamed(client) == "whole at last"
        url = f"{server.url}/_llmfake/ui/api/cassette?seqs=0,1"
        first, second = httpx.get(url), httpx.get(url)
    assert first.status_code == 200
    assert first.headers["content-disposition"] == 'attachment; filename="cassette_default.yaml"'
    assert first.text == second.text  # the schedule, not the clock: the same file each time
    text = first.text
    assert "sk-live" not in text and "REDACTED" in text
    overlay = yaml.safe_load(text.split("--scenario FILE):\n#   ")[1].split("\n")[0])
    assert overlay == {"rules": [{"script": [{"fault": "disconnect", "after_chunks": 2}, {}],
                                  "then": "default"}]}
    path = tmp_path / "exported.yaml"
    path.write_text(text)
    loaded = load(path)
    chunks = loaded.interactions[0].response.chunks
    assert chunks is not None and chunks[1].offset == 0.005  # the schedule's ttft
    # Under the overlay, the replay cuts the first stream again after two chunks; the retry
    # gets the second recording whole.
    with llmfake.serve({**overlay, "cassette": {"path": str(path), "replay_speed": 0}}) as replay:
        client = openai.OpenAI(base_url=replay.url + "/v1", api_key="sk-x", max_retries=0)
        with pytest.raises(openai.APIConnectionError):
            streamed(client)
        assert streamed(client) == "whole at last"
        assert replay.journal()[0].chunks == 2


def test_llmfake_replay_serves_an_exported_cassette(tmp_path):
    with llmfake.serve({"reply": "from the journal"}) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=USER)
        text = httpx.get(f"{server.url}/_llmfake/ui/api/cassette?seqs=0").text
    path = tmp_path / "exported.yaml"
    path.write_text(text)
    with subprocess.Popen([sys.executable, "-m", "llmfake", "replay", str(path), "--port", "0",
                           "--speed", "0"], stdout=subprocess.PIPE, text=True) as proc:
        try:
            banner = proc.stdout.readline()
            url = re.search(r"on (http://\S+)", banner).group(1)
            client = openai.OpenAI(base_url=url + "/v1", api_key="sk-x", max_retries=0)
            reply = client.chat.completions.create(model="gpt-4o", messages=USER)
            assert reply.choices[0].message.content == "from the journal"
        finally:
            proc.terminate()


def streamed(client):
    return "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True) if c.choices)
