"""Azure OpenAI through the official openai SDK's AzureOpenAI clients, strict validation on."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest
import pytest_asyncio

from llmfake.engine._text import tokenize

VERSION = "2024-10-21"
KEY = "azure-key-0123456789"
DEPLOYMENT = "my-deploy-4o"
USER = [{"role": "user", "content": "Hello there"}]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
RULES = {"rules": [
    {"match": {"provider": "openai"}, "reply": "the openai provider"},
    {"match": {"provider": "azure", "model": "my-deploy*"}, "reply": "Hello from Azure."},
]}


@pytest.fixture
def azure(fake) -> Iterator[openai.AzureOpenAI]:
    """An AzureOpenAI client on the test's tenant: strict validation, no retries."""
    with openai.AzureOpenAI(azure_endpoint=fake.url, api_key=KEY, api_version=VERSION,
                            max_retries=0, _strict_response_validation=True) as c:
        yield c


@pytest_asyncio.fixture
async def aazure(fake) -> AsyncIterator[openai.AsyncAzureOpenAI]:
    """The async client, likewise."""
    async with openai.AsyncAzureOpenAI(azure_endpoint=fake.url, api_key=KEY,
                                       api_version=VERSION, max_retries=0,
                                       _strict_response_validation=True) as c:
        yield c


def test_chat_by_deployment(fake, azure):
    fake.use(RULES)
    raw = azure.chat.completions.with_raw_response.create(model=DEPLOYMENT, messages=USER)
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from Azure."
    assert completion.model == DEPLOYMENT
    assert UUID.match(raw.headers["apim-request-id"])
    assert completion._request_id == raw.headers["x-request-id"]
    assert "openai-organization" not in raw.headers
    filters = (completion.choices[0].model_extra or {})["content_filter_results"]
    assert filters["hate"] == {"filtered": False, "severity": "safe"}
    assert (completion.model_extra or {})["prompt_filter_results"][0]["prompt_index"] == 0
    exchange = fake.journal[-1]
    assert (exchange.provider, exchange.endpoint, exchange.model) == ("azure", "chat", DEPLOYMENT)
    assert exchange.path == (f"/openai/deployments/{DEPLOYMENT}/chat/completions"
                             f"?api-version={VERSION}")


def test_api_key_header_reaches_the_server_masked(fake, azure):
    fake.use({"auth": {"keys": [KEY]}})
    azure.chat.completions.create(model=DEPLOYMENT, messages=USER)
    headers = fake.journal[-1].headers
    assert headers["api-key"] == "azure-***789"
    assert "authorization" not in headers
    with openai.AzureOpenAI(azure_endpoint=fake.url, api_key="wrong-key-0000",
                            api_version=VERSION, max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as err:
            wrong.chat.completions.create(model=DEPLOYMENT, messages=USER)
    assert err.value.code == "401"
    assert "Access denied due to invalid subscription key" in err.value.message


def test_stream(fake, azure):
    fake.use({"reply": {"text": "One two three."}})
    chunks = list(azure.chat.completions.create(model=DEPLOYMENT, messages=USER, stream=True))
    content = [c.choices[0].delta.content for c in chunks if c.choices
               and c.choices[0].delta.content]
    assert content == list(tokenize("One two three."))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert fake.journal[-1].stream is True


def test_embeddings(fake, azure):
    result = azure.embeddings.create(model="embed-deploy", input=["a", "b"], dimensions=32,
                                     encoding_format="float")
    assert [len(d.embedding) for d in result.data] == [32, 32]
    assert result.data[0].embedding != result.data[1].embedding
    again = azure.embeddings.create(model="embed-deploy", input="a", dimensions=32,
                                    encoding_format="float")
    assert again.data[0].embedding == result.data[0].embedding
    assert (fake.journal[-1].endpoint, fake.journal[-1].model) == ("embeddings", "embed-deploy")


def test_rate_limit_in_azure_words(fake, azure):
    fake.use({"rules": [{"match": {"provider": "azure"}, "error": "rate_limit",
                         "retry_after": "2s"}]})
    with pytest.raises(openai.RateLimitError) as err:
        azure.chat.completions.create(model=DEPLOYMENT, messages=USER)
    e = err.value
    assert e.status_code == 429
    assert e.code == "429"
    assert isinstance(e.body, dict)  # the SDK prefixes e.message with "Error code: 429 - "
    assert e.body["message"].startswith(
        f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
        f"{VERSION} have exceeded token rate limit")
    assert "Please retry after 2 seconds." in e.body["message"]
    assert e.response.headers["retry-after"] == "2"
    assert UUID.match(e.response.headers["apim-request-id"])


def test_limits_set_remaining_headers_and_call_rate_message(fake, azure):
    fake.use({"limits": {"requests_per_minute": 1}})
    raw = azure.chat.completions.with_raw_response.create(model=DEPLOYMENT, messages=USER)
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as err:
        azure.embeddings.create(model="embed-deploy", input="a", encoding_format="float")
    assert "Embeddings_Create Operation" in err.value.message
    assert "exceeded call rate limit" in err.value.message


def test_missing_deployment_and_missing_api_version(fake, azure):
    fake.use({"rules": [{"match": {"model": "gone"}, "error": "not_found"}]})
    with pytest.raises(openai.NotFoundError) as err:
        azure.chat.completions.create(model="gone", messages=USER)
    assert err.value.code == "DeploymentNotFound"
    bare = httpx.post(f"{fake.url}/openai/deployments/x/chat/completions",
                      headers={"api-key": KEY}, json={"messages": USER})
    assert bare.status_code == 404
    assert bare.json() == {"error": {"code": "404", "message": "Resource not found"}}


def test_content_filter_finish(fake, azure):
    fake.use({"reply": {"text": "cut", "finish_reason": "content_filter"}})
    completion = azure.chat.completions.create(model=DEPLOYMENT, messages=USER)
    choice = completion.choices[0]
    assert choice.finish_reason == "content_filter"
    assert (choice.model_extra or {})["content_filter_results"]["violence"]["filtered"] is True


def test_error_event_mid_stream(fake, azure):
    fake.use({"rules": [{"match": {}, "fault": "error_event", "after_chunks": 2,
                         "error": "server_error"}]})
    with pytest.raises(openai.APIError) as err:
        list(azure.chat.completions.create(model=DEPLOYMENT, messages=USER, stream=True))
    assert "The server had an error processing your request" in err.value.message


def test_v1_api_with_the_plain_client(fake):
    fake.use(RULES)
    with openai.OpenAI(base_url=f"{fake.url}/openai/v1/", api_key=KEY, max_retries=0,
                       _strict_response_validation=True) as client:
        completion = client.chat.completions.create(model=DEPLOYMENT, messages=USER)
    assert completion.choices[0].message.content == "Hello from Azure."
    assert (fake.journal[-1].provider, fake.journal[-1].path) == (
        "azure", "/openai/v1/chat/completions")


async def test_async_client(fake, aazure):
    fake.use(RULES)
    completion = await aazure.chat.completions.create(model=DEPLOYMENT, messages=USER)
    assert completion.choices[0].message.content == "Hello from Azure."
    stream = await aazure.chat.completions.create(model=DEPLOYMENT, messages=USER, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello from Azure."
    models = await aazure.models.list()
    assert models.data
