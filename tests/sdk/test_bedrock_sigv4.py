"""SigV4 verification for Bedrock (``auth.aws``): boto3 and anthropic.AnthropicBedrock sign with
botocore's signer, which is the oracle for ``llmfake.providers._sigv4``."""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import httpx
import pytest

from llmfake.providers import _sigv4 as sigv4

MODEL = "anthropic.claude-sonnet-4-6-v1:0"
HI = [{"role": "user", "content": [{"text": "Hello there"}]}]
KEY_ID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNED = {"auth": {"aws": {"access_key_id": KEY_ID, "secret_access_key": SECRET}},
          "reply": {"text": "signed ok"}}


def _client(fake: Any, key_id: str = KEY_ID, secret: str = SECRET, region: str = "us-east-1",
            **extra: Any) -> Any:
    config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client("bedrock-runtime", endpoint_url=fake.url, region_name=region,
                        aws_access_key_id=key_id, aws_secret_access_key=secret, config=config,
                        **extra)


def _refusal(call: Any) -> tuple[str, int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as info:
        call()
    response = info.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Message"])


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3"])
def test_the_right_key_pair_passes_in_any_region(fake, region):
    fake.use(SIGNED)
    client = _client(fake, region=region)
    out = client.converse(modelId=MODEL, messages=HI)
    assert out["output"]["message"]["content"] == [{"text": "signed ok"}]
    stream = client.converse_stream(modelId=MODEL, messages=HI)["stream"]
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in stream
                   if "contentBlockDelta" in e) == "signed ok"
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                       "messages": [{"role": "user", "content": "hi"}]})
    assert json.loads(client.invoke_model(modelId=MODEL, body=body)["body"].read())[
        "content"][0]["text"] == "signed ok"
    assert [e.outcome for e in fake.journal] == ["reply"] * 3


def test_a_wrong_secret_gets_invalid_signature(fake):
    fake.use(SIGNED)
    code, status, message = _refusal(
        lambda: _client(fake, secret="not-the-secret").converse(modelId=MODEL, messages=HI))
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message == sigv4.MISMATCH
    [exchange] = fake.journal
    assert exchange.outcome == "unauthorized" and exchange.status == 403


def test_an_unknown_key_id_gets_unrecognized_client(fake):
    fake.use(SIGNED)
    code, status, message = _refusal(
        lambda: _client(fake, key_id="AKIDSOMEONEELSE").converse(modelId=MODEL, messages=HI))
    assert (code, status, message) == ("UnrecognizedClientException", 403,
                                       "The security token included in the request is invalid.")


def test_session_token_must_match_when_the_scenario_gives_one(fake):
    fake.use({"auth": {"aws": {"access_key_id": KEY_ID, "secret_access_key": SECRET,
                               "session_token": "token-1"}}, "reply": {"text": "ok"}})
    good = _client(fake, aws_session_token="token-1")
    assert good.converse(modelId=MODEL, messages=HI)["stopReason"] == "end_turn"
    code, _, _ = _refusal(lambda: _client(fake, aws_session_token="token-2").converse(
        modelId=MODEL, messages=HI))
    assert code == "UnrecognizedClientException"


def test_a_body_changed_after_signing_is_refused(fake):
    """The payload hash is part of what is signed: the same headers with another body fail."""
    fake.use(SIGNED)
    url = f"{fake.url}/model/{MODEL}/converse"
    body = json.dumps({"messages": HI}).encode()
    request = botocore.awsrequest.AWSRequest("POST", url, data=body,
                                             headers={"content-type": "application/json"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(KEY_ID, SECRET), "bedrock",
                            "us-west-2").add_auth(request)
    headers = dict(request.headers.items())
    assert httpx.post(url, content=body, headers=headers).status_code == 200
    tampered = httpx.post(url, content=body.replace(b"Hello", b"Howdy"), headers=headers)
    assert tampered.status_code == 403
    assert tampered.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException:")
    assert tampered.json() == {"message": sigv4.MISMATCH}


def test_missing_signature_and_other_services(fake):
    fake.use(SIGNED)
    url = f"{fake.url}/model/{MODEL}/converse"
    body = json.dumps({"messages": HI}).encode()
    bare = httpx.post(url, content=body)
    assert bare.status_code == 403
    assert bare.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
    assert bare.json() == {"message": "Missing Authentication Token"}
    request = botocore.awsrequest.AWSRequest("POST", url, data=body)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(KEY_ID, SECRET), "s3",
                            "us-east-1").add_auth(request)
    other = httpx.post(url, content=body, headers=dict(request.headers.items()))
    assert other.status_code == 403 and "'bedrock'" in other.json()["message"]


def test_a_bedrock_api_key_is_not_the_key_pair(fake):
    fake.use(SIGNED)
    with anthropic.AnthropicBedrock(base_url=fake.url, api_key="bedrock-api-key",
                                    aws_region="us-east-1", max_retries=0) as claude:
        with pytest.raises(anthropic.PermissionDeniedError, match="security token"):
            claude.messages.create(model=MODEL, max_tokens=10,
                                   messages=[{"role": "user", "content": "hi"}])


def test_an_old_signature_has_expired(fake):
    fake.use(SIGNED)
    url = f"{fake.url}/model/{MODEL}/converse"
    headers = {"host": url.split("/")[2], "content-type": "application/json"}
    body = json.dumps({"messages": HI}).encode()
    path = url.split(url.split("/")[2], 1)[1]
    signed = sigv4.sign("POST", path, "", headers, body, access_key_id=KEY_ID,
                        secret_access_key=SECRET, region="us-east-1", service="bedrock",
                        signed=["content-type"], now=time.time() - 3600)
    response = httpx.post(url, content=body, headers={**headers, **signed})
    assert response.status_code == 403
    assert response.json()["message"].startswith(f"Signature expired: {signed['x-amz-date']} "
                                                  "is now earlier than ")


def test_without_a_key_pair_signatures_are_not_checked(fake):
    fake.use({"reply": {"text": "ok"}})
    out = _client(fake, secret="anything").converse(modelId=MODEL, messages=HI)
    assert out["stopReason"] == "end_turn"


def test_anthropic_bedrock_signs_with_matching_credentials(fake):
    fake.use(SIGNED)
    with anthropic.AnthropicBedrock(base_url=fake.url, aws_access_key=KEY_ID,
                                    aws_secret_key=SECRET, aws_region="eu-central-1",
                                    max_retries=0) as claude:
        out = claude.messages.create(model=MODEL, max_tokens=10,
                                     messages=[{"role": "user", "content": "hi"}])
        assert out.content[0].text == "signed ok"  # type: ignore[union-attr]
        with claude.messages.stream(model=MODEL, max_tokens=10,
                                    messages=[{"role": "user", "content": "hi"}]) as s:
            assert "".join(s.text_stream) == "signed ok"
    with anthropic.AnthropicBedrock(base_url=fake.url, aws_access_key=KEY_ID,
                                    aws_secret_key="wrong", aws_region="eu-central-1",
                                    max_retries=0) as claude:
        with pytest.raises(anthropic.PermissionDeniedError, match="signature we calculated"):
            claude.messages.create(model=MODEL, max_tokens=10,
                                   messages=[{"role": "user", "content": "hi"}])


# --- the signer against botocore's ------------------------------------------------------------

@pytest.mark.parametrize(("path", "query"), [
    ("/model/anthropic.claude-sonnet-4-6-v1%3A0/converse", ""),
    ("/t/tenant-1/model/us.meta.llama3-8b:0/invoke", ""),
    ("/a/./b/../c//d/", "z=1&a=2&a=1&empty="),
])
def test_sign_matches_botocore(path, query):
    now = 1_780_000_000.0
    url = f"http://127.0.0.1:8123{path}" + (f"?{query}" if query else "")
    body = b'{"messages": []}'
    request = botocore.awsrequest.AWSRequest("POST", url, data=body, headers={
        "Content-Type": "application/json", "X-Amz-Target": "  spaced   out  "})
    request.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(KEY_ID, SECRET, "tok"),
                                     "bedrock", "ap-south-1")
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    request.headers["X-Amz-Security-Token"] = "tok"
    expected = signer.signature(signer.string_to_sign(request,
                                                      signer.canonical_request(request)),
                                request)
    headers = {"host": "127.0.0.1:8123", "content-type": "application/json",
               "x-amz-target": "  spaced   out  "}
    ours = sigv4.sign("POST", path, query, headers, body, access_key_id=KEY_ID,
                      secret_access_key=SECRET, region="ap-south-1", service="bedrock",
                      session_token="tok", signed=["content-type", "x-amz-target"], now=now)
    assert ours["authorization"].endswith(f"Signature={expected}")
    merged = {**headers, **ours}
    assert sigv4.verify("POST", path, query, merged, body, access_key_id=KEY_ID,
                        secret_access_key=SECRET, session_token="tok", service="bedrock",
                        now=now) is None
