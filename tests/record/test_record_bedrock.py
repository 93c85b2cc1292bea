"""Recording Bedrock through the proxy: binary event streams kept byte for byte, replayed to
botocore's parser, and SigV4 requests signed again for the upstream's host."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.eventstream
import botocore.exceptions
import httpx
import pytest
import yaml

import llmfake
from llmfake.record import Redactor, load, record
from llmfake.record._cassette import Chunk, Interaction, RecordedRequest, RecordedResponse

MODEL = "anthropic.claude-sonnet-4-6-v1:0"
TEXT = "one two three four five"
HI = [{"role": "user", "content": [{"text": "hi"}]}]
KEY_ID, SECRET = "AKIAUPSTREAMEXAMPLE", "upstream-secret-0123456789"
REAL = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
# The stand-in for AWS checks every signature against the "real" pair.
UPSTREAM = {"auth": {"aws": {"access_key_id": KEY_ID, "secret_access_key": SECRET}},
            "reply": {"text": TEXT}}
ANTHROPIC_BODY = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                             "messages": [{"role": "user", "content": "hi"}]})


def _client(url: str, key_id: str = KEY_ID, secret: str = SECRET) -> Any:
    config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client("bedrock-runtime", endpoint_url=url, region_name="us-west-2",
                        aws_access_key_id=key_id, aws_secret_access_key=secret, config=config)


def _session(client: Any) -> list[Any]:
    """Every Bedrock call, streams read by botocore's event-stream parser."""
    whole = client.converse(modelId=MODEL, messages=HI)
    events = list(client.converse_stream(modelId=MODEL, messages=HI)["stream"])
    invoked = json.loads(client.invoke_model(modelId=MODEL, body=ANTHROPIC_BODY)["body"].read())
    chunks = [json.loads(e["chunk"]["bytes"]) for e in client.invoke_model_with_response_stream(
        modelId=MODEL, body=ANTHROPIC_BODY)["body"]]
    return [whole["output"], whole["usage"], events, invoked, chunks]


def _signed_post(url: str, body: bytes) -> httpx.Response:
    request = botocore.awsrequest.AWSRequest("POST", url, data=body,
                                             headers={"content-type": "application/json"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(KEY_ID, SECRET), "bedrock",
                            "us-east-1").add_auth(request)
    return httpx.post(url, content=body, headers=dict(request.headers.items()))


def test_record_and_replay_bedrock_streams(tmp_path: Path, monkeypatch) -> None:
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    cassette = tmp_path / "bedrock.yaml"
    with llmfake.serve(UPSTREAM) as upstream, record(upstream.url, cassette) as proxy:
        # The client signs with a dummy pair for the proxy's host; the proxy signs again with
        # the environment's pair for the upstream's, which the upstream checks.
        recorded = _session(_client(proxy.url, "AKIDLLMFAKE", "dummy"))
        outcomes = [e.outcome for e in upstream.journal()]
    assert outcomes == ["reply"] * 4
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in recorded[2]
                   if "contentBlockDelta" in e) == TEXT

    text = cassette.read_text()
    assert SECRET not in text and "dummy" not in text
    assert ":event-type: contentBlockDelta" in text  # the frames are readable
    assert """data: '{"contentBlockIndex":0,"delta":{"text":"one"}}'""" in text
    cas = load(cassette)
    streams = [it.response for it in cas.interactions if it.response.is_stream]
    assert len(streams) == 2 and all(r.is_binary and r.body == "" for r in streams)
    assert all(c.raw is not None for r in streams for c in r.chunks or ())

    with llmfake.serve({"cassette": str(cassette)}) as server:
        replayed = _session(_client(server.url, "AKIDANY", "any"))
        journal = server.journal()
    assert [e.outcome for e in journal] == ["replay"] * 4
    assert replayed == recorded


def test_frames_are_kept_byte_for_byte(tmp_path: Path, monkeypatch) -> None:
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    cassette = tmp_path / "frames.yaml"
    body = json.dumps({"messages": HI}).encode()
    with llmfake.serve(UPSTREAM) as upstream, record(upstream.url, cassette) as proxy:
        through = _signed_post(f"{proxy.url}/model/{MODEL}/converse-stream", body)
    assert through.status_code == 200
    sent = through.content
    [it] = load(cassette).interactions
    chunks = it.response.chunks or []
    assert b"".join(c.raw or b"" for c in chunks) == sent
    # One chunk per event-stream message, each a whole message botocore parses.
    buffer = botocore.eventstream.EventStreamBuffer()
    buffer.add_data(sent)
    messages = list(buffer)
    assert len(messages) == len(chunks)
    for message, chunk in zip(messages, chunks, strict=True):
        assert chunk.data == message.payload.decode()
        assert chunk.raw is not None and len(chunk.raw) == message.prelude.total_length
    # The cassette's response.body.string is the whole stream as bytes (!!binary), as vcrpy
    # reads it.
    raw_yaml = yaml.safe_load(cassette.read_text())
    assert raw_yaml["interactions"][0]["response"]["body"]["string"] == sent

    with llmfake.serve({"cassette": str(cassette)}) as server:
        replayed = httpx.post(f"{server.url}/model/{MODEL}/converse-stream", content=body)
    assert replayed.content == sent


def test_a_vcrpy_binary_body_loads_as_frames(tmp_path: Path) -> None:
    with llmfake.serve({"reply": {"text": TEXT}}) as upstream:
        sent = httpx.post(f"{upstream.url}/model/{MODEL}/converse-stream",
                          json={"messages": HI}).content
    path = tmp_path / "vcr.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "interactions": [{
        "request": {"method": "POST", "uri": f"http://x/model/{MODEL}/converse-stream",
                    "body": json.dumps({"messages": HI}), "headers": {}},
        "response": {"status": {"code": 200, "message": "OK"},
                     "headers": {"Content-Type": ["application/vnd.amazon.eventstream"]},
                     "body": {"string": sent}}}]}))
    response = load(path).interactions[0].response
    assert response.chunks is not None and len(response.chunks) > 3
    assert response.content == sent
    assert "contentBlockDelta" not in response.chunks[0].data  # messageStart comes first
    assert any('"one"' in c.data or "one" in c.data for c in response.chunks)


def test_redaction_reencodes_a_frame_whose_payload_held_a_secret() -> None:
    from llmfake.providers import _eventstream as es

    leak = "sk-live-SECRET-0123456789"
    frame = es.event("chunk", json.dumps({"echo": leak}).encode())
    it = Interaction(RecordedRequest("POST", "http://x/model/m/invoke", {"x-api-key": [leak]}),
                     RecordedResponse(200, headers={"content-type": [es.CONTENT_TYPE]},
                                      chunks=[Chunk(0.0, json.dumps({"echo": leak}), frame)]))
    [chunk] = Redactor()(it).response.chunks or []
    assert leak not in chunk.data and chunk.raw is not None and leak.encode() not in chunk.raw
    buffer = botocore.eventstream.EventStreamBuffer()
    buffer.add_data(chunk.raw)  # lengths and CRCs are right again
    assert json.loads(next(iter(buffer)).payload) == {"echo": "REDACTED"}


def test_without_credentials_the_request_goes_as_signed_and_aws_refuses(
        tmp_path: Path, monkeypatch) -> None:
    for name in (*REAL, "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with llmfake.serve(UPSTREAM) as upstream, \
            record(upstream.url, tmp_path / "refused.yaml") as proxy:
        with pytest.raises(botocore.exceptions.ClientError) as info:
            _client(proxy.url).converse(modelId=MODEL, messages=HI)
    # Signed with the right pair, but for the proxy's host: the upstream's check fails.
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_resign_keeps_a_session_token_out_of_the_cassette(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-SECRET-123")
    scenario = {"auth": {"aws": {"access_key_id": KEY_ID, "secret_access_key": SECRET,
                                 "session_token": "session-token-SECRET-123"}},
                "reply": {"text": TEXT}}
    cassette = tmp_path / "token.yaml"
    with llmfake.serve(scenario) as upstream, record(upstream.url, cassette) as proxy:
        client = boto3.client("bedrock-runtime", endpoint_url=proxy.url, region_name="us-east-1",
                              aws_access_key_id="AKIDLLMFAKE", aws_secret_access_key="x",
                              aws_session_token="client-token-SECRET-456")
        assert client.converse(modelId=MODEL, messages=HI)["stopReason"] == "end_turn"
    text = cassette.read_text()
    assert "SECRET" not in text
    assert base64.b64encode(b"SECRET").decode() not in text
