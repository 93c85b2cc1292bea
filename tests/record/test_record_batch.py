"""Recording an OpenAI Files and Batch session through the proxy and replaying it, with the
openai SDK: an upstream llmfake runs the batches, the proxy records, a second server replays
the cassette offline."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest

import llmfake
from llmfake._multipart import parse_form
from llmfake.record import (
    Interaction,
    Matcher,
    RecordedRequest,
    RecordedResponse,
    load,
    record,
)

SECRET = "sk-live-SECRET-0123456789abcdef"
LINES = [{"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
          "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Q{i}"}]}}
         for i in range(4)]
JSONL = "\n".join(json.dumps(line) for line in LINES).encode()
UPSTREAM = {
    # Phases of 100-200 ms: several polls see each status, and the second batch is surely
    # still validating when it is cancelled, even on a busy machine.
    "time_scale": 0.01,
    "batch": {"validating": "20s", "in_progress": "20s", "finalizing": "10s"},
    "rules": [{"match": {"endpoint": "chat"}, "then": "cycle",
               "script": [{"reply": "ok"}, {"error": "server_error"}]}],
}
DONE = ("completed", "failed", "expired", "cancelled")


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=SECRET, max_retries=0)


def session(client: openai.OpenAI, data: bytes = JSONL) -> dict[str, Any]:
    """Upload, create, poll until done, download, list, cancel: everything the SDK saw."""
    upload = client.files.create(file=("questions.jsonl", io.BytesIO(data)), purpose="batch")
    batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    statuses = [batch.status]
    while batch.status not in DONE:
        time.sleep(0.02)
        batch = client.batches.retrieve(batch.id)
        statuses.append(batch.status)
    assert batch.output_file_id is not None and batch.error_file_id is not None
    output = client.files.content(batch.output_file_id).text
    errors = client.files.content(batch.error_file_id).text
    second = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                   completion_window="24h")
    cancelled = client.batches.cancel(second.id)
    listed = [b.id for b in client.batches.list()]
    return {"file": upload.model_dump(), "batch": batch.model_dump(), "statuses": statuses,
            "output": output, "errors": errors, "second": second.id,
            "cancelled": cancelled.status, "listed": listed}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    cas = tmp_path_factory.mktemp("batch") / "batch.yaml"
    with llmfake.serve(UPSTREAM) as upstream, record(upstream.url, cas) as proxy:
        seen = session(_client(proxy.openai_base_url))
    return cas, seen


def test_recording_keeps_the_session(recorded):
    cas, seen = recorded
    text = cas.read_text()
    assert "SECRET" not in text and SECRET not in text
    # the session itself went as the upstream ran it
    statuses = seen["statuses"]
    assert statuses[0] == "validating" and statuses[-1] == "completed"
    # in phase order; which statuses a poll saw depends on the machine's pace
    phases = ["validating", "in_progress", "finalizing", "completed"]
    assert statuses == sorted(statuses, key=phases.index) and len(set(statuses)) >= 2
    assert [json.loads(line)["custom_id"] for line in seen["errors"].splitlines()] == ["q1", "q3"]
    assert seen["cancelled"] == "cancelling"
    assert seen["listed"] == [seen["second"], seen["batch"]["id"]]
    interactions = load(cas).interactions
    assert [(i.request.method, i.request.path) for i in interactions][:2] == [
        ("POST", "/v1/files"), ("POST", "/v1/batches")]
    poll = ("GET", f"/v1/batches/{seen['batch']['id']}")
    polls = [i for i in interactions if (i.request.method, i.request.path) == poll]
    assert [p.response.json["status"] for p in polls] == statuses[1:]
    # the upload as sent: its boundary, its file, its purpose
    upload = interactions[0].request
    ctype = next(v[0] for k, v in upload.headers.items() if k.lower() == "content-type")
    boundary = ctype.split("boundary=", 1)[1]
    assert upload.body is not None and upload.body.startswith(f"--{boundary}\r\n")
    assert JSONL.decode() in upload.body
    assert upload.body.rstrip().endswith(f"--{boundary}--")
    form = load_yaml_extras(cas)[0]["request"]["form"]
    assert form == {"purpose": "batch",
                    "file": {"content": JSONL.decode(), "content_type": "application/octet-stream"}}


def load_yaml_extras(cas: Path) -> list[dict[str, Any]]:
    import yaml

    return [it["llmfake"] for it in yaml.safe_load(cas.read_text())["interactions"]]


def test_replay_gives_the_same_session_offline(recorded):
    cas, seen = recorded
    with llmfake.serve({"cassette": str(cas)}) as server:
        again = session(_client(server.openai_base_url))
        journal = server.journal()
    assert again == seen  # ids, statuses poll by poll, file contents: the recording's
    assert len(journal) == len(load(cas).interactions)


def test_replay_of_another_file_names_the_nearest_recording(recorded):
    cas, _ = recorded
    other = JSONL.replace(b"Q0", b"Q9")
    with llmfake.serve({"cassette": str(cas)}) as server:
        client = _client(server.openai_base_url)
        with pytest.raises(openai.InternalServerError) as exc:
            client.files.create(file=("questions.jsonl", io.BytesIO(other)), purpose="batch")
        with pytest.raises(openai.InternalServerError):
            client.files.create(file=("questions.jsonl", io.BytesIO(JSONL)), purpose="user_data")
        # the recorded upload still matches, whatever the file's name
        ok = client.files.create(file=("renamed.jsonl", io.BytesIO(JSONL)), purpose="batch")
    message = str(exc.value)
    assert "POST /v1/files" in message and "interactions[0]" in message
    assert "Q9" in message and "Q0" in message  # the diff of the two files' contents
    assert ok.filename == "questions.jsonl"  # the recorded answer


def test_new_episodes_answers_the_recorded_session_without_the_upstream(recorded, tmp_path):
    cas, seen = recorded
    copy = tmp_path / "copy.yaml"
    copy.write_text(cas.read_text())
    # nothing listens on port 9: every request must be answered from the cassette
    with record("http://127.0.0.1:9", copy, append=True, replay=True) as proxy:
        again = session(_client(proxy.openai_base_url))
    assert again == seen
    assert len(load(copy)) == len(load(cas))  # nothing new recorded


BINARY = bytes(range(256)) * 4  # not UTF-8: an image, say


def test_a_binary_upload_is_kept_byte_for_byte_and_replays(tmp_path):
    cas = tmp_path / "binary.yaml"
    with llmfake.serve({}) as upstream, record(upstream.url, cas) as proxy:
        client = _client(proxy.openai_base_url)
        up = client.files.create(file=("pixels.bin", io.BytesIO(BINARY)), purpose="user_data")
        got = client.files.content(up.id).content
    assert got == BINARY
    it = load(cas).interactions[0]
    assert it.request.body is None and isinstance(it.request.raw, bytes)
    ctype = next(v[0] for k, v in it.request.headers.items() if k.lower() == "content-type")
    assert parse_form(ctype, it.request.raw)["file"].content == BINARY
    assert load(cas).interactions[1].response.content == BINARY
    assert "!!binary" in cas.read_text()
    with llmfake.serve({"cassette": str(cas)}) as server:
        client = _client(server.openai_base_url)
        again = client.files.create(file=("pixels.bin", io.BytesIO(BINARY)), purpose="user_data")
        assert client.files.content(again.id).content == BINARY
        with pytest.raises(openai.InternalServerError, match="sha256"):
            client.files.create(file=("pixels.bin", io.BytesIO(BINARY[::-1])),
                                purpose="user_data")
    assert again.id == up.id


def test_a_binary_upload_is_redacted_too(tmp_path):
    cas = tmp_path / "secret.yaml"
    with llmfake.serve({}) as upstream, record(upstream.url, cas) as proxy:
        _client(proxy.openai_base_url).files.create(
            file=("leak.bin", io.BytesIO(b"\xff" + SECRET.encode() + b"\xfe")),
            purpose="user_data")
    raw = load(cas).interactions[0].request.raw
    assert raw is not None and SECRET.encode() not in raw
    assert b"\xffREDACTED\xfe" in raw


def _form(boundary: str, purpose: str, content: bytes) -> tuple[bytes, str]:
    """An upload's body and content-type, as the SDK builds it."""
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
            f"{purpose}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n").encode()
    body += content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_matcher_compares_forms_not_boundaries():
    body, ctype = _form("aaa111", "batch", b'{"x": 1}\n')
    recorded = Interaction(
        RecordedRequest("POST", "http://up/v1/files", {"Content-Type": [ctype]}, body.decode()),
        RecordedResponse(200, body='{"id": "file-1"}'))
    matcher = Matcher([recorded], repeat=False)
    assert matcher.find("POST", "/v1/files", *_form("zzz999", "batch", b"other")) is None
    assert matcher.find("POST", "/v1/files", *_form("zzz999", "evals", b'{"x": 1}\n')) is None
    again, ctype2 = _form("zzz999", "batch", b'{"x": 1}\n')
    assert again != body
    # the raw bytes alone (no content-type) are text, and differ
    assert matcher.find("POST", "/v1/files", again) is None
    assert matcher.find("POST", "/v1/files", again, ctype2) == 0
    assert matcher.find("POST", "/v1/files", again, ctype2) is None  # played once
