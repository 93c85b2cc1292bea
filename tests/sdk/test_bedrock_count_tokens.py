"""Bedrock CountTokens through boto3: the count the same Converse or InvokeModel request is
charged, rules by endpoint, and Bedrock's errors."""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import httpx
import pytest

MODEL = "anthropic.claude-sonnet-4-6-v1:0"
ASK = [{"role": "user", "content": [{"text": "How many tokens does this question take?"}]}]
SYSTEM = [{"text": "Answer in one word."}]


@pytest.fixture
def bedrock(fake) -> Any:
    config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client("bedrock-runtime", endpoint_url=fake.url, region_name="us-east-1",
                        aws_access_key_id="AKIDLLMFAKE", aws_secret_access_key="s", config=config)


def test_converse_input_counts_what_converse_is_charged(fake, bedrock):
    counted = bedrock.count_tokens(modelId=MODEL, input={"converse": {
        "messages": ASK, "system": SYSTEM}})["inputTokens"]
    charged = bedrock.converse(modelId=MODEL, messages=ASK, system=SYSTEM)["usage"]["inputTokens"]
    assert counted == charged > 5
    shorter = bedrock.count_tokens(modelId=MODEL, input={"converse": {"messages": ASK}})
    assert shorter["inputTokens"] < counted
    first = fake.journal[0]
    assert (first.provider, first.endpoint, first.model) == ("bedrock", "count_tokens", MODEL)
    assert first.path.endswith("/count-tokens")


def test_invoke_model_input_counts_what_invoke_model_is_charged(bedrock):
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                       "messages": [{"role": "user", "content": "Count these words please"}]})
    counted = bedrock.count_tokens(modelId=MODEL, input={"invokeModel": {"body": body}})
    invoked = json.loads(bedrock.invoke_model(modelId=MODEL, body=body)["body"].read())
    assert counted["inputTokens"] == invoked["usage"]["input_tokens"]


def test_rules_match_the_count_tokens_endpoint(fake, bedrock):
    fake.use({"rules": [{"match": {"provider": "bedrock", "endpoint": "count_tokens"},
                         "error": "rate_limit"}]})
    with pytest.raises(bedrock.exceptions.ThrottlingException):
        bedrock.count_tokens(modelId=MODEL, input={"converse": {"messages": ASK}})
    assert bedrock.converse(modelId=MODEL, messages=ASK)["stopReason"] == "end_turn"


def test_a_malformed_input_is_a_validation_exception(fake, bedrock):
    with pytest.raises(bedrock.exceptions.ValidationException):
        bedrock.count_tokens(modelId=MODEL, input={"invokeModel": {"body": b"not json"}})
    raw = httpx.post(f"{fake.url}/model/{MODEL}/count-tokens", json={"input": {}})
    assert raw.status_code == 400
    assert raw.headers["x-amzn-ErrorType"].startswith("ValidationException:")
    assert "exactly one of converse or invokeModel" in raw.json()["message"]
