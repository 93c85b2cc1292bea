"""Amazon Bedrock runtime through boto3 (botocore parses the event streams, CRCs included) and
anthropic.AnthropicBedrock, over real sockets."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import anthropic
import boto3
import botocore.config
import botocore.eventstream
import botocore.exceptions
import httpx
import pytest

MODEL = "anthropic.claude-sonnet-4-6-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"
TITAN = "amazon.titan-text-express-v1"
HI = [{"role": "user", "content": [{"text": "Hello there"}]}]
WEATHER = {"toolSpec": {"name": "get_weather", "description": "The weather in a city.",
                        "inputSchema": {"json": {"type": "object",
                                                 "properties": {"city": {"type": "string"}},
                                                 "required": ["city"]}}}}


def _client(fake, mode: str = "standard", attempts: int = 1) -> Any:
    config = botocore.config.Config(retries={"mode": mode, "total_max_attempts": attempts},
                                    connect_timeout=5, read_timeout=10)
    return boto3.client("bedrock-runtime", endpoint_url=fake.url, region_name="us-east-1",
                        aws_access_key_id="AKIDLLMFAKETEST", aws_secret_access_key="secret",
                        config=config)


@pytest.fixture
def bedrock(fake) -> Any:
    return _client(fake)


@pytest.fixture
def claude(fake) -> Iterator[anthropic.AnthropicBedrock]:
    with anthropic.AnthropicBedrock(base_url=fake.url, aws_access_key="AKIDLLMFAKETEST",
                                    aws_secret_key="secret", aws_region="us-east-1",
                                    max_retries=0, _strict_response_validation=True) as c:
        yield c


def _anthropic_body(**extra: Any) -> str:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "Hello there"}], **extra})


# --- Converse --------------------------------------------------------------------------------

def test_converse_text_usage_stop_reason_and_key(fake, bedrock):
    fake.use({"reply": {"text": "Hello from llmfake."}})
    out = bedrock.converse(modelId=MODEL, messages=HI, system=[{"text": "Be brief."}],
                           inferenceConfig={"maxTokens": 100})
    assert out["output"]["message"] == {"role": "assistant",
                                        "content": [{"text": "Hello from llmfake."}]}
    assert out["stopReason"] == "end_turn"
    usage = out["usage"]
    assert usage["outputTokens"] == 4 and usage["inputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert len(out["ResponseMetadata"]["RequestId"]) == 36  # a UUID, as AWS's
    [exchange] = fake.journal
    assert (exchange.provider, exchange.endpoint, exchange.model) == ("bedrock", "chat", MODEL)


def test_converse_rules_match_provider_model_and_text(fake, bedrock):
    fake.use({"rules": [
        {"match": {"provider": "bedrock", "model": MODEL, "contains": "weather"},
         "reply": {"text": "Sunny."}},
        {"reply": {"text": "Other."}}]})
    ask = [{"role": "user", "content": [{"text": "What is the weather?"}]}]
    assert bedrock.converse(modelId=MODEL, messages=ask)["output"]["message"]["content"] == [
        {"text": "Sunny."}]
    assert bedrock.converse(modelId=MODEL, messages=HI)["output"]["message"]["content"] == [
        {"text": "Other."}]


def test_converse_tool_use_and_max_tokens(fake, bedrock):
    fake.use({"rules": [{"match": {"contains": "Paris"},
                         "reply": {"tool_calls": [{"name": "get_weather",
                                                   "arguments": {"city": "Paris"}}]}},
                        {"reply": {"text": "one two three four five six"}}]})
    ask = [{"role": "user", "content": [{"text": "Weather in Paris?"}]}]
    out = bedrock.converse(modelId=MODEL, messages=ask, toolConfig={"tools": [WEATHER]})
    [block] = out["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "get_weather"
    assert block["toolUse"]["input"] == {"city": "Paris"}
    assert block["toolUse"]["toolUseId"].startswith("tooluse_")
    assert out["stopReason"] == "tool_use"
    short = bedrock.converse(modelId=MODEL, messages=HI, inferenceConfig={"maxTokens": 2})
    assert short["stopReason"] == "max_tokens"
    assert short["usage"]["outputTokens"] == 2


def test_converse_stream_events_in_order(fake, bedrock):
    fake.use({"reply": {"text": "Hello from llmfake."}})
    events = list(bedrock.converse_stream(modelId=MODEL, messages=HI)["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds == ["messageStart"] + ["contentBlockDelta"] * 4 + [
        "contentBlockStop", "messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:5])
    assert text == "Hello from llmfake."
    assert events[-2] == {"messageStop": {"stopReason": "end_turn"}}
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 4


def test_converse_stream_tool_use_fragments_join(fake, bedrock):
    fake.use({"reply": {"tool_calls": [{"name": "get_weather",
                                        "arguments": {"city": "Paris, the capital"}}]}})
    events = list(bedrock.converse_stream(modelId=MODEL, messages=HI,
                                          toolConfig={"tools": [WEATHER]})["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "get_weather"
    parts = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events
             if "contentBlockDelta" in e]
    assert len(parts) > 1 and json.loads("".join(parts)) == {"city": "Paris, the capital"}
    assert {"messageStop": {"stopReason": "tool_use"}} in events


def _frames(raw: bytes) -> list[botocore.eventstream.EventStreamMessage]:
    buffer = botocore.eventstream.EventStreamBuffer()
    buffer.add_data(raw)
    return list(buffer)


def test_event_stream_frames_byte_for_byte(fake):
    """botocore's own parser checks both CRCs and the lengths; the frames are re-encoded here
    from the spec and must equal the wire's bytes."""
    fake.use({"reply": {"text": "Hi there"}})
    raw = httpx.post(f"{fake.url}/model/{MODEL}/converse-stream",
                     json={"messages": HI}).content
    frames = _frames(raw)
    assert [f.headers[":event-type"] for f in frames] == [
        "messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop",
        "messageStop", "metadata"]
    rebuilt = b""
    for f in frames:
        assert f.headers[":message-type"] == "event"
        assert f.headers[":content-type"] == "application/json"
        head = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v))
                        + v.encode() for k, v in f.headers.items())
        prelude = struct.pack(">II", 16 + len(head) + len(f.payload), len(head))
        msg = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + f.payload
        rebuilt += msg + struct.pack(">I", zlib.crc32(msg))
    assert rebuilt == raw
    corrupt = bytearray(raw)
    corrupt[20] ^= 1
    with pytest.raises(botocore.eventstream.ChecksumMismatch):
        _frames(bytes(corrupt))


def test_event_streams_are_deterministic(fake):
    fake.use({"reply": {"text": "Same bytes each time."}})
    url = f"{fake.url}/model/{MODEL}/converse-stream"
    assert httpx.post(url, json={"messages": HI}).content == httpx.post(
        url, json={"messages": HI}).content


# --- InvokeModel -----------------------------------------------------------------------------

def test_invoke_model_anthropic_body_and_token_headers(fake, bedrock):
    fake.use({"reply": {"text": "Hello from llmfake."}})
    out = bedrock.invoke_model(modelId=f"us.{MODEL}", body=_anthropic_body())
    body = json.loads(out["body"].read())
    assert body["type"] == "message" and body["model"] == "claude-sonnet-4-6"
    assert body["content"] == [{"type": "text", "text": "Hello from llmfake."}]
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-output-token-count"] == "4"
    assert headers["x-amzn-bedrock-input-token-count"] == str(body["usage"]["input_tokens"])


def test_invoke_model_rejects_a_body_with_model(fake, bedrock):
    fake.use({"reply": {"text": "x"}})
    with pytest.raises(botocore.exceptions.ClientError) as info:
        bedrock.invoke_model(modelId=MODEL, body=_anthropic_body(model="claude"))
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "extraneous key [model]" in info.value.response["Error"]["Message"]


def test_invoke_stream_anthropic_chunks(fake, bedrock):
    fake.use({"reply": {"text": "Hello from llmfake."}})
    out = bedrock.invoke_model_with_response_stream(modelId=MODEL, body=_anthropic_body())
    chunks = [json.loads(e["chunk"]["bytes"]) for e in out["body"]]
    assert [c["type"] for c in chunks] == ["message_start", "content_block_start",
                                           *["content_block_delta"] * 4, "content_block_stop",
                                           "message_delta", "message_stop"]
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 4


@pytest.mark.parametrize(("model", "body", "text_key"), [
    (LLAMA, {"prompt": "Hello there", "max_gen_len": 50}, "generation"),
    (TITAN, {"inputText": "Hello there", "textGenerationConfig": {"maxTokenCount": 50}},
     "outputText"),
])
def test_invoke_other_families(fake, bedrock, model, body, text_key):
    fake.use({"reply": {"text": "Hello from llmfake."}})
    whole = json.loads(bedrock.invoke_model(modelId=model, body=json.dumps(body))["body"].read())
    if text_key == "generation":
        assert whole["generation"] == "Hello from llmfake." and whole["stop_reason"] == "stop"
        assert whole["generation_token_count"] == 4
    else:
        assert whole["results"] == [{"tokenCount": 4, "outputText": "Hello from llmfake.",
                                     "completionReason": "FINISH"}]
    stream = bedrock.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in stream["body"]]
    assert "".join(c[text_key] for c in chunks) == "Hello from llmfake."
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] > 0


# --- errors and retries ----------------------------------------------------------------------

@pytest.mark.parametrize(("name", "code", "status"), [
    ("rate_limit", "ThrottlingException", 429),
    ("unavailable", "ServiceUnavailableException", 503),
    ("timeout", "ModelTimeoutException", 408),
    ("overloaded", "ModelNotReadyException", 429),
    ("bad_request", "ValidationException", 400),
    ("permission", "AccessDeniedException", 403),
])
def test_errors_have_bedrock_names_and_statuses(fake, bedrock, name, code, status):
    fake.use({"rules": [{"error": name}]})
    with pytest.raises(botocore.exceptions.ClientError) as info:
        bedrock.converse(modelId=MODEL, messages=HI)
    error = info.value.response
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert type(info.value).__name__ == code  # botocore's modeled exception class


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_boto3_retries_throttling_then_gives_up(fake, mode):
    fake.use({"rules": [{"error": "rate_limit"}]})
    client = _client(fake, mode, attempts=3)
    with pytest.raises(client.exceptions.ThrottlingException) as info:
        client.converse(modelId=MODEL, messages=HI)
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert [e.retry_count for e in fake.journal] == [0, 1, 2]
    assert len(fake.journal.requests()) == 1


def test_boto3_retry_recovers_after_throttling(fake):
    fake.use({"rules": [{"script": [{"error": "rate_limit"}, {"error": "unavailable"},
                                      {"reply": {"text": "At last."}}]}]})
    out = _client(fake, attempts=3).converse(modelId=MODEL, messages=HI)
    assert out["output"]["message"]["content"] == [{"text": "At last."}]
    assert [e.status for e in fake.journal] == [429, 503, 200]


@pytest.mark.parametrize(("name", "tries"), [("timeout", 1), ("bad_request", 1),
                                             ("overloaded", 3), ("server_error", 3)])
def test_which_errors_boto3_retries(fake, name, tries):
    """ModelNotReadyException is modeled as retryable, 5xx are transient; 408 and 400 are not."""
    fake.use({"rules": [{"error": name}]})
    with pytest.raises(botocore.exceptions.ClientError):
        _client(fake, attempts=3).converse(modelId=MODEL, messages=HI)
    assert len(fake.journal) == tries


def test_error_inside_converse_stream(fake, bedrock):
    fake.use({"rules": [{"fault": "error_event", "after_chunks": 2, "error": "rate_limit"}],
              "reply": {"text": "one two three four five"}})
    stream = bedrock.converse_stream(modelId=MODEL, messages=HI)["stream"]
    seen = []
    with pytest.raises(botocore.exceptions.EventStreamError) as info:
        for event in stream:
            seen.append(event)
    assert info.value.response["Error"]["Code"] == "throttlingException"
    assert sum("contentBlockDelta" in e for e in seen) == 2


def test_auth_keys_check_the_access_key_id(fake):
    fake.use({"auth": {"keys": ["AKIDGOOD"]}, "reply": {"text": "ok"}})
    good = boto3.client("bedrock-runtime", endpoint_url=fake.url, region_name="us-east-1",
                        aws_access_key_id="AKIDGOOD", aws_secret_access_key="s")
    assert good.converse(modelId=MODEL, messages=HI)["stopReason"] == "end_turn"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        _client(fake).converse(modelId=MODEL, messages=HI)
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# --- anthropic.AnthropicBedrock --------------------------------------------------------------

def test_anthropic_bedrock_create_and_stream(fake, claude):
    fake.use({"reply": {"text": "Hello from llmfake."}})
    message = claude.messages.create(model=MODEL, max_tokens=100,
                                     messages=[{"role": "user", "content": "Hello there"}])
    assert message.content[0].text == "Hello from llmfake."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 4
    with claude.messages.stream(model=MODEL, max_tokens=100,
                                messages=[{"role": "user", "content": "Hello there"}]) as s:
        assert "".join(s.text_stream) == "Hello from llmfake."
        assert s.get_final_message().usage.output_tokens == 4
    assert [e.path for e in fake.journal] == [f"/model/{MODEL}/invoke",
                                              f"/model/{MODEL}/invoke-with-response-stream"]
    sent = fake.journal[0].body
    assert sent["anthropic_version"] and "model" not in sent and "stream" not in sent


def test_anthropic_bedrock_error_and_stream_error(fake, claude):
    fake.use({"rules": [{"error": "rate_limit"}]})
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model=MODEL, max_tokens=100,
                               messages=[{"role": "user", "content": "Hello there"}])
    fake.use({"rules": [{"fault": "error_event", "after_chunks": 1, "error": "unavailable"}]})
    with pytest.raises(anthropic.APIStatusError, match="Bedrock is unable"):
        with claude.messages.stream(model=MODEL, max_tokens=100,
                                    messages=[{"role": "user", "content": "Hello there"}]) as s:
            "".join(s.text_stream)


def test_anthropic_bedrock_api_key_is_the_call_key(fake):
    fake.use({"auth": {"keys": ["bedrock-api-key"]}, "reply": {"text": "ok"}})
    with anthropic.AnthropicBedrock(base_url=fake.url, api_key="bedrock-api-key",
                                    aws_region="us-east-1", max_retries=0) as c:
        out = c.messages.create(model=MODEL, max_tokens=10,
                                messages=[{"role": "user", "content": "hi"}])
    assert out.content[0].text == "ok"  # type: ignore[union-attr]


def test_base64_chunk_payloads_decode(fake):
    """Each InvokeModelWithResponseStream chunk is {"bytes": base64(JSON)}, as on the wire."""
    fake.use({"reply": {"text": "Hi"}})
    raw = httpx.post(f"{fake.url}/model/{LLAMA}/invoke-with-response-stream",
                     json={"prompt": "x"}).content
    [frame] = _frames(raw)
    assert frame.headers[":event-type"] == "chunk"
    inner = json.loads(base64.b64decode(json.loads(frame.payload)["bytes"]))
    assert inner["generation"] == "Hi" and inner["stop_reason"] == "stop"


def test_scenario_limits_throttle_with_throttling_exception(fake, bedrock):
    fake.use({"limits": {"requests_per_minute": 2}, "reply": "ok"})
    for _ in range(2):
        assert bedrock.converse(modelId=MODEL, messages=HI)["stopReason"] == "end_turn"
    with pytest.raises(bedrock.exceptions.ThrottlingException) as info:
        bedrock.converse(modelId=MODEL, messages=HI)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert [e.status for e in fake.journal] == [200, 200, 429]


def test_tenants_keep_bedrock_state_apart(fake, server):
    fake.use({"reply": "tenant reply"})
    other = boto3.client("bedrock-runtime", endpoint_url=server.tenant_url("bedrock-other"),
                         region_name="us-east-1", aws_access_key_id="A",
                         aws_secret_access_key="s")
    server.use({"reply": "other tenant"}, "bedrock-other")
    assert other.converse(modelId=MODEL, messages=HI)["output"]["message"]["content"] == [
        {"text": "other tenant"}]
    assert _client(fake).converse(modelId=MODEL, messages=HI)["output"]["message"][
        "content"] == [{"text": "tenant reply"}]
    assert len(fake.journal) == 1 and len(server.journal("bedrock-other")) == 1


def test_stop_sequences_cut_the_text_and_are_reported(fake, bedrock):
    fake.use({"reply": "one two three four"})
    out = bedrock.converse(modelId=MODEL, messages=HI,
                           inferenceConfig={"stopSequences": [" three"]})
    assert out["output"]["message"]["content"] == [{"text": "one two"}]
    assert out["stopReason"] == "stop_sequence"
    body = json.loads(bedrock.invoke_model(modelId=MODEL, body=_anthropic_body(
        stop_sequences=[" three"]))["body"].read())
    assert (body["stop_reason"], body["stop_sequence"]) == ("stop_sequence", " three")
