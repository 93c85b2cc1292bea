"""Which files a scenario's ``cassette:`` may read (issue 19, #5): only regular files, at most
64 MiB; over HTTP only under the working directory, the startup scenario's folder or
``LLMFAKE_CASSETTE_DIRS``; and no message that quotes a file or tells whether a path exists.
Before, ``cassette: /tmp/fifo`` froze the server and ``/dev/zero`` read until memory ran out."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

import llmfake

pytestmark = pytest.mark.timeout(60)
_TAPE = Path(__file__).parent.parent / "unit" / "data" / "one-chat.yaml"


@pytest.fixture(scope="module")
def server() -> Iterator[llmfake.Server]:
    with llmfake.serve() as srv:
        yield srv


def _put(server: llmfake.Server, tenant: str, path: str | Path) -> httpx.Response:
    start = time.perf_counter()
    response = httpx.put(server.tenant_url(tenant) + "/_llmfake/scenario",
                         content=f"cassette: {{path: '{path}'}}\n", timeout=30)
    assert time.perf_counter() - start < 2.0
    return response


def test_over_http_a_cassette_outside_the_allowed_folders_is_refused_without_looking(
        server, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    secret = tmp_path / "secret.yaml"
    secret.write_text("version: hunter2-the-password\ninteractions: []\n")
    paths = (fifo, "/dev/zero", secret, tmp_path / "missing.yaml")
    answers = [_put(server, "paths", p) for p in paths]
    assert [a.status_code for a in answers] == [400] * 4
    messages = [a.json()["error"]["message"] for a in answers]
    assert all("may name only cassettes under" in m for m in messages)
    # the same words whether the path exists or not (only the path itself, as sent, differs)
    assert len({m.replace(str(p), "P") for m, p in zip(messages, paths, strict=True)}) == 1
    assert not any("hunter2" in m for m in messages)


def test_a_cassette_must_be_a_regular_file_even_in_an_allowed_folder(server, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("LLMFAKE_CASSETTE_DIRS", f"{tmp_path}{os.pathsep}/dev")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero", tmp_path):
        answer = _put(server, "paths", path)
        assert answer.status_code == 400
        assert "not a regular file" in answer.json()["error"]["message"]
    assert httpx.get(server.url + "/_llmfake/health").status_code == 200


def test_a_cassette_over_the_size_cap_is_refused_before_it_is_read(server, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("LLMFAKE_CASSETTE_DIRS", str(tmp_path))
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate((64 << 20) + 1)  # sparse: no disk, but over the cap
    answer = _put(server, "paths", big)
    assert answer.status_code == 400
    assert "over 67108864 bytes" in answer.json()["error"]["message"]


def test_a_file_that_is_not_a_cassette_is_not_quoted_back(server, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFAKE_CASSETTE_DIRS", str(tmp_path))
    for name, text in (("version.yaml", "version: hunter2\ninteractions: []\n"),
                       ("alias.yaml", "key: *hunter2\n"),
                       ("binary.yaml", "hunter2 \udcff")):
        (tmp_path / name).write_bytes(text.encode("utf-8", "surrogateescape"))
        answer = _put(server, "paths", tmp_path / name)
        assert answer.status_code == 400
        assert "hunter2" not in answer.text


def test_a_cassette_in_an_allowed_folder_replays_over_http(server, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFAKE_CASSETTE_DIRS", str(tmp_path))
    shutil.copy(_TAPE, tmp_path / "tape.yaml")
    assert _put(server, "tape", tmp_path / "tape.yaml").status_code == 200
    client = openai.OpenAI(base_url=server.tenant_url("tape") + "/v1", api_key="k",
                           max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini",
                                           messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content == "Hello from the tape."


def test_by_default_the_working_directory_is_allowed_and_elsewhere_is_not(server, tmp_path,
                                                                          monkeypatch):
    monkeypatch.delenv("LLMFAKE_CASSETTE_DIRS", raising=False)
    shutil.copy(_TAPE, tmp_path / "tape.yaml")
    assert _put(server, "cwd", tmp_path / "tape.yaml").status_code == 400
    monkeypatch.chdir(tmp_path)
    assert _put(server, "cwd", "tape.yaml").status_code == 200
    os.symlink("/etc/hostname", tmp_path / "link.yaml")  # a link out of the folder: refused
    assert "may name only" in _put(server, "cwd", "link.yaml").json()["error"]["message"]


def test_in_process_a_named_pipe_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    start = time.perf_counter()
    with pytest.raises(llmfake.ScenarioError, match="not a regular file"):
        llmfake.load_scenario({"cassette": str(fifo)})
    assert time.perf_counter() - start < 1.0
