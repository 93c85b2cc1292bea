"""What llmfake derives from the provider registry: the owner of an unknown path (its 404's
shape, the recording proxy's upstream), the client environment, base URLs, upstreams, the
variables a recording keeps and the hosts ``intercept`` routes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from google import genai
from google.genai import types

import llmfake
from llmfake.intercept import DEFAULT_HOSTS
from llmfake.providers import (
    REGISTRY,
    client_env,
    default_upstreams,
    key_variables,
    owner_of,
    spec_of,
)
from llmfake.record import record


def _shape(body: Any) -> str:
    """Which provider's error shape a 404 body has."""
    if set(body) == {"message"}:
        return "bedrock"
    if isinstance(body.get("error"), str):
        return "ollama"
    if body.get("type") == "error":
        return "anthropic"
    error = body["error"]
    if "status" in error:
        return "gemini"
    if set(error) == {"code", "message"}:
        return "azure"
    assert set(error) == {"message", "type", "param", "code"}, body
    return "openai"


# (method, path, headers, owner): each provider's claim, and who wins when two claim a path.
UNKNOWN = [
    ("POST", "/v1/chat/complete", {}, "openai"),
    ("GET", "/v2/whatever", {"authorization": "Bearer sk-x"}, "openai"),
    ("POST", "/v1/messages/nope", {}, "anthropic"),
    ("GET", "/v1/nope", {"anthropic-version": "2023-06-01"}, "anthropic"),
    ("POST", "/v1beta/nope", {}, "gemini"),
    ("POST", "/v1/models/gemini-x:nope", {}, "gemini"),
    ("GET", "/v1/nope", {"x-goog-api-key": "k"}, "gemini"),
    ("POST", "/v1/messages/nope", {"x-goog-api-key": "k"}, "gemini"),  # Gemini outranks
    ("POST", "/openai/nope", {}, "azure"),
    ("POST", "/openai/deployments/d:nope", {"x-goog-api-key": "k"}, "azure"),  # a prefix wins
    ("POST", "/api/nope", {}, "ollama"),
    ("POST", "/api/x:nope", {"anthropic-version": "2023-06-01"}, "ollama"),
    ("POST", "/model/m/nope", {}, "bedrock"),
    ("POST", "/v1/nope", {"authorization": "AWS4-HMAC-SHA256 Credential=AKID/x"}, "bedrock"),
    ("POST", "/v1/projects/p/locations/l/publishers/google/models/m:nope", {}, "vertex"),
]


@pytest.fixture(scope="module")
def server():
    with llmfake.serve() as s:
        yield s


@pytest.mark.parametrize(("method", "path", "headers", "owner"), UNKNOWN)
def test_an_unknown_path_gets_its_owners_404(server, method, path, headers, owner):
    assert owner_of(path, headers).name == owner
    response = httpx.request(method, server.url + path, headers=headers)
    assert response.status_code == 404
    assert _shape(response.json()) == {"vertex": "gemini"}.get(owner, owner)  # Google's shape


def test_the_recording_proxy_sends_each_request_to_its_owners_upstream(tmp_path):
    cassette = tmp_path / "two.yaml"
    with llmfake.serve({"reply": "from gemini's upstream"}) as gemini_up, \
            llmfake.serve({"reply": "from the default upstream"}) as other_up, \
            record({"gemini": gemini_up.url, "default": other_up.url}, cassette) as proxy:
        http = types.HttpOptions(base_url=proxy.gemini_base_url)
        with genai.Client(api_key="k", http_options=http) as client:
            text = client.models.generate_content(model="gemini-2.5-flash", contents="hi").text
        chat = openai.OpenAI(base_url=proxy.openai_base_url, api_key="k", max_retries=0)
        answer = chat.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert text == "from gemini's upstream"
    assert answer.choices[0].message.content == "from the default upstream"


def test_client_env_is_the_servers(server):
    assert client_env(server.url) == server.env()
    tenant = server.tenant_url("t1")
    assert client_env(tenant) == server.env("t1")
    assert client_env("R")["OPENAI_BASE_URL"] == "R/v1"  # OpenAI's base path


def test_base_urls_come_from_each_providers_base_path(server):
    assert server.base_url("openai") == server.openai_base_url == server.url + "/v1"
    for name, url in [("anthropic", server.anthropic_base_url),
                      ("gemini", server.gemini_base_url), ("azure", server.azure_endpoint),
                      ("ollama", server.ollama_host)]:
        assert server.base_url(name) == url == server.url
    assert server.base_url("bedrock") == server.url
    with pytest.raises(KeyError, match="known: openai, anthropic, gemini, azure, ollama, bedrock, "
                                       "vertex"):
        server.base_url("vertex-nope")


def test_upstreams_variables_and_hosts():
    assert default_upstreams({}) == {
        "openai": "https://api.openai.com", "anthropic": "https://api.anthropic.com",
        "gemini": "https://generativelanguage.googleapis.com",
        "ollama": "http://127.0.0.1:11434",
        "bedrock": "https://bedrock-runtime.us-east-1.amazonaws.com",
        "vertex": "https://us-central1-aiplatform.googleapis.com"}
    azure = default_upstreams({"AZURE_OPENAI_ENDPOINT": "https://me.openai.azure.com"})
    assert azure["azure"] == "https://me.openai.azure.com"
    assert key_variables() == ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                               "GOOGLE_API_KEY", "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION",
                               "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                               "AWS_BEARER_TOKEN_BEDROCK")
    assert DEFAULT_HOSTS[:4] == ("api.openai.com", "api.anthropic.com",
                                 "generativelanguage.googleapis.com", "*.openai.azure.com")
    assert "bedrock-runtime.us-east-1.amazonaws.com" in DEFAULT_HOSTS
    assert [spec.name for spec in REGISTRY] == ["openai", "anthropic", "gemini", "azure",
                                                "ollama", "bedrock", "vertex"]
    assert spec_of("gemini") is REGISTRY[2]


def test_provider_private_data_stays_out_of_rule_matching(server):
    """Azure's api-version travels in ``Call.wire``, not in a made-up header a rule could
    match; the journal keeps the request's real headers only."""
    tenant = "wire"
    server.use({"rules": [{"match": {"header": {"x-llmfake-azure-api-version": "*"}},
                           "reply": "matched a private header"}],
                "reply": "default"}, tenant)
    response = httpx.post(
        server.tenant_url(tenant) + "/openai/deployments/d/chat/completions",
        params={"api-version": "2024-10-21"}, headers={"api-key": "k"},
        json={"messages": [{"role": "user", "content": "hi"}]})
    assert json.loads(response.content)["choices"][0]["message"]["content"] == "default"
    assert not any(k.startswith("x-llmfake") for k in server.journal(tenant)[0].headers)


def test_the_contributor_guide_documents_every_provider_member():
    from dataclasses import fields
    from pathlib import Path

    from llmfake.providers import ProviderSpec

    guide = (Path(__file__).resolve().parents[2] / "docs" / "contributing.md").read_text()
    missing = [f.name for f in fields(ProviderSpec) if f"| `{f.name}` |" not in guide]
    assert not missing, f"docs/contributing.md lacks a row for {missing}"


def test_the_scenario_format_knows_every_registered_provider():
    """Until the scenario declaration derives its provider names from the registry, a new
    provider must be named there too (``match: {provider: ...}`` is validated against it)."""
    from llmfake.scenario._model import PROVIDER_NAMES as SCENARIO_NAMES

    assert set(SCENARIO_NAMES) == {spec.name for spec in REGISTRY}
