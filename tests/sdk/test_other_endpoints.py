"""Embeddings, legacy completions and models through the official openai SDK."""

from __future__ import annotations

import math

import openai
import pytest


def test_embeddings_float(fake, client):
    result = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"],
                                      encoding_format="float")
    assert [d.index for d in result.data] == [0, 1]
    vec = result.data[0].embedding
    assert len(vec) == 1536
    assert math.isclose(sum(v * v for v in vec), 1.0, rel_tol=1e-4)
    assert result.usage.prompt_tokens == 2
    assert result.usage.total_tokens == 2
    assert result.data[0].embedding != result.data[1].embedding


def test_embeddings_base64_is_what_the_sdk_asks_for_by_default(fake):
    # Strict validation checks the wire shape before the SDK decodes base64, so it rejects the
    # base64 string the SDK itself asked for, against the real API too: test without it.
    with fake.client(_strict_response_validation=False) as client:
        decoded = client.embeddings.create(model="text-embedding-3-small", input="alpha")
    with fake.client() as strict:
        floats = strict.embeddings.create(model="text-embedding-3-small", input="alpha",
                                          encoding_format="float")
    assert fake.journal[0].body["encoding_format"] == "base64"
    assert len(decoded.data[0].embedding) == 1536
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-8)


def test_embeddings_are_deterministic_per_input_and_honour_dimensions(fake, client):
    one = client.embeddings.create(model="text-embedding-3-large", input="same text",
                                   encoding_format="float").data[0].embedding
    assert len(one) == 3072
    fake.use({"seed": 123})  # the vector depends on the input only, not the seed
    two = client.embeddings.create(model="text-embedding-3-large", input=["x", "same text"],
                                   encoding_format="float").data[1].embedding
    assert one == two
    small = client.embeddings.create(model="m", input="same text", dimensions=256,
                                     encoding_format="float").data[0].embedding
    assert len(small) == 256
    fake.use({"rules": [{"match": {"endpoint": "embeddings"},
                         "reply": {"embedding": {"dimensions": 8}}}]})
    scripted = client.embeddings.create(model="m", input=[[1, 2, 3], [4, 5]],
                                        encoding_format="float")
    assert [len(d.embedding) for d in scripted.data] == [8, 8]


def test_embeddings_errors(fake, client):
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model="m", input=[], encoding_format="float")
    assert info.value.param == "input"
    fake.use({"rules": [{"match": {"endpoint": "embeddings"}, "error": "rate_limit"}]})
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="m", input="x", encoding_format="float")


def test_legacy_completions(fake, client):
    fake.use({"reply": {"text": "one two three four five"}})
    result = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say it",
                                       max_tokens=3)
    assert result.object == "text_completion"
    assert result.choices[0].text == "one two three"
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None
    assert result.usage.completion_tokens == 3
    # The SDK types finish_reason as non-null, yet the API streams null until the last chunk
    # (OpenAI's spec: finish_reason is null in every chunk but the last), so strict validation
    # would reject the real API too.
    with fake.client(_strict_response_validation=False) as loose:
        chunks = list(loose.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Say it", stream=True,
            stream_options={"include_usage": True}))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-2:] == [None, "stop"]
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "one two three four five"
    assert chunks[-1].usage is not None
    assert chunks[-1].choices == []


def test_legacy_completions_default_to_16_tokens(fake, client):
    fake.use({"reply": {"generate": {"words": 40}}})
    result = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="go")
    assert result.usage is not None
    assert result.usage.completion_tokens == 16
    assert result.choices[0].finish_reason == "length"


def test_models_list_and_retrieve(fake, client):
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o" in ids
    assert client.models.retrieve("any-model-name").id == "any-model-name"
    fake.use({"models": ["mine-1", "mine-2"]})
    assert [m.id for m in client.models.list()] == ["mine-1", "mine-2"]
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("other")
    assert info.value.code == "model_not_found"
    assert "other" in str(info.value)
