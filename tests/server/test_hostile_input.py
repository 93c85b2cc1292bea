"""Careless and hostile input: no request stalls the other tenants, none gets an internal 500,
and no web page can steer the server (issue 19). Real sockets and the official SDKs."""

from __future__ import annotations

import base64
import http.client
import json
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmfake

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server() -> Iterator[llmfake.Server]:
    with llmfake.serve() as srv:
        yield srv


def _raw(server: llmfake.Server, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _while_running(server: llmfake.Server, hostile: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``hostile`` in a thread and poll another tenant's health meanwhile: its result and
    the slowest health answer (seconds)."""
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(hostile()))
    worker.start()
    worst = 0.0
    with httpx.Client(base_url=server.tenant_url("bystander")) as client:
        while worker.is_alive():
            start = time.perf_counter()
            assert client.get("/_llmfake/health").status_code == 200
            worst = max(worst, time.perf_counter() - start)
            time.sleep(0.005)
    worker.join()
    return out[0], worst


def _chat(server: llmfake.Server, tenant: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.tenant_url(tenant) + "/v1", api_key="sk-test",
                         max_retries=0)


def _schema_chat(client: openai.OpenAI, schema: dict[str, Any]) -> Any:
    return client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
        response_format={"type": "json_schema", "json_schema": {"name": "out",
                                                                "schema": schema}})


# --- the generators -------------------------------------------------------------------------

def test_a_backtracking_pattern_costs_neither_this_request_nor_other_tenants(server):
    client = _chat(server, "redos")
    schema = {"type": "object", "required": ["p"],
              "properties": {"p": {"type": "string", "pattern": "^(a|a){24}(?=b)"}}}
    start = time.perf_counter()
    reply, worst = _while_running(server, lambda: _schema_chat(client, schema))
    assert time.perf_counter() - start < 1.0
    assert worst < 0.1
    assert "p" in json.loads(reply.choices[0].message.content)


def test_what_the_generator_builds_beyond_the_smallest_instance_is_capped(server):
    # the smallest instance is 3,000 integers; a random branch choice used to fill ~8 MB
    client = _chat(server, "grow")
    schema = {"type": "array", "minItems": 3000, "items": {"anyOf": [
        {"type": "string", "minLength": 3000}, {"type": "integer"}]}}
    start = time.perf_counter()
    reply = _schema_chat(client, schema)
    assert time.perf_counter() - start < 1.0
    content = reply.choices[0].message.content
    assert len(content) < 200_000
    assert len(json.loads(content)) >= 3000


@pytest.mark.parametrize(("schema", "words"), [
    ({"type": "array", "minItems": 100_000_000}, "smallest instance"),
    ({"type": "string", "minLength": 1e9}, "smallest instance"),
    ({"type": "array", "minItems": 1000, "items": {"type": "array", "minItems": 1000}},
     "smallest instance"),
    # counts that multiply through what the old sum missed: allOf, $ref siblings, const,
    # minProperties values, a pattern's shortest match
    ({"allOf": [{"type": "array", "minItems": 3000},
                {"items": {"type": "string", "minLength": 3000}}]}, "smallest instance"),
    ({"$defs": {"a": {"items": {"type": "string", "minLength": 1000}}}, "type": "array",
      "minItems": 100, "items": {"$ref": "#/$defs/a", "minItems": 1000}}, "smallest instance"),
    ({"type": "array", "minItems": 30000, "items": {"const": "x" * 3000}}, "smallest instance"),
    ({"type": "object", "minProperties": 3000,
      "additionalProperties": {"type": "string", "minLength": 3000}}, "smallest instance"),
    ({"type": "array", "minItems": 1000, "items": {"type": "string", "pattern": "^a{20000}$"}},
     "smallest instance"),
    ({"type": "object", "required": 5}, "#/required: must be an array of strings"),
    ({"type": "number", "multipleOf": 1e-320}, "#/multipleOf"),
    ({"type": "number", "multipleOf": 0}, "greater than 0"),
    ({"type": "string", "pattern": "(unclosed"}, "not a valid regular expression"),
])
def test_schemas_the_fake_cannot_answer_get_openais_400(server, schema, words):
    client = _chat(server, "schemas")
    start = time.perf_counter()
    with pytest.raises(openai.BadRequestError) as caught:
        _schema_chat(client, schema)
    assert time.perf_counter() - start < 1.0
    error = caught.value.body
    assert error["param"] == "response_format"
    assert error["message"].startswith("Invalid schema for response_format 'out': ")
    assert words in error["message"]


def test_a_tool_schema_the_fake_cannot_answer_gets_anthropics_400(server):
    client = anthropic.Anthropic(base_url=server.tenant_url("schemas"), api_key="k",
                                 max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"name": "f", "input_schema": {"type": "object", "required": 5}}],
            tool_choice={"type": "tool", "name": "f"})
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "tool 'f'" in caught.value.body["error"]["message"]


def test_a_gemini_response_schema_the_fake_cannot_answer_gets_geminis_400(server):
    status, _, body = _raw(server, "POST", "/v1beta/models/gemini-2.5-flash:generateContent",
                           json.dumps({"contents": [{"parts": [{"text": "hi"}]}],
                                       "generationConfig": {"responseJsonSchema": {
                                           "type": "array", "minItems": 10**9}}}).encode())
    assert status == 400
    assert json.loads(body)["error"]["status"] == "INVALID_ARGUMENT"


# --- sizes the providers bound ----------------------------------------------------------------

def test_openai_embeddings_take_at_most_2048_inputs_and_answer_at_once(server):
    client = _chat(server, "emb")
    start = time.perf_counter()
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="text-embedding-3-small",
                                 input=[f"text {i}" for i in range(10_000)])
    assert time.perf_counter() - start < 2.0  # 19 s before
    assert caught.value.body["param"] == "input"
    assert "2048" in caught.value.body["message"]


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_the_largest_legal_embeddings_request_keeps_other_tenants_answered(server, encoding):
    # 2048 inputs x 3072 dimensions: ~7 s of the loop (float: ~14 s) before vectors came from a
    # digest and the float body from orjson. Read raw: an SDK parsing 87 MB in this process
    # would hold the GIL and stall the bystander's client, not the server.
    body = json.dumps({"model": "text-embedding-3-large", "encoding_format": encoding,
                       "input": [f"text {i}" for i in range(2048)]}).encode()
    (status, _, raw), worst = _while_running(server, lambda: _raw(
        server, "POST", "/t/emb-big/v1/embeddings", body, {"content-type": "application/json"}))
    assert status == 200
    assert worst < 3.0  # ~1 s on a quiet machine: 87 MB of JSON is written on the loop
    data = json.loads(raw)["data"]
    assert len(data) == 2048
    vector = data[5]["embedding"]
    if encoding == "base64":
        vector = list(struct.unpack("<3072f", base64.b64decode(vector)))
    assert len(vector) == 3072 and abs(sum(v * v for v in vector) - 1.0) < 1e-5
    again = _chat(server, "emb-big").embeddings.create(model="text-embedding-3-large",
                                                       input="text 5")
    assert again.data[0].embedding == pytest.approx(vector, rel=1e-6)  # same text, same vector


def test_openai_embeddings_refuse_more_than_300k_tokens_without_counting_them_all(server):
    client = _chat(server, "emb")
    text = "word " * 8000  # 8000 tokens: under the per-input limit
    start = time.perf_counter()
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="text-embedding-3-small", input=[text] * 40)
    assert time.perf_counter() - start < 2.0
    assert caught.value.body["code"] == "max_tokens_per_request"
    with pytest.raises(openai.BadRequestError, match="maximum context length is 8192"):
        client.embeddings.create(model="text-embedding-3-small", input="word " * 9000)
    with pytest.raises(openai.BadRequestError, match="dimensions"):
        client.embeddings.create(model="text-embedding-3-large", input="x", dimensions=65536)


@pytest.mark.parametrize(("path", "body", "words"), [
    ("/v1beta/models/gemini-embedding-001:batchEmbedContents",
     {"requests": [{"content": {"parts": [{"text": "x"}]}}] * 101},
     "at most 100 requests can be in one batch"),
    ("/v1beta/models/gemini-embedding-001:embedContent",
     {"content": {"parts": [{"text": "x"}]}, "outputDimensionality": 2_000_000},
     "output_dimensionality"),
    ("/v1beta/models/gemini-2.5-flash:generateContent",
     {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 20000}},
     "candidate_count"),
])
def test_gemini_sizes_are_bounded_as_the_api_bounds_them(server, path, body, words):
    start = time.perf_counter()
    status, _, raw = _raw(server, "POST", path, json.dumps(body).encode())
    assert time.perf_counter() - start < 1.0
    assert status == 400
    error = json.loads(raw)["error"]
    assert error["status"] == "INVALID_ARGUMENT" and words in error["message"]


def test_ollama_dimensions_past_the_models_own_give_the_models_size(server):
    start = time.perf_counter()
    status, _, raw = _raw(server, "POST", "/api/embed", json.dumps(
        {"model": "nomic-embed-text", "input": "x", "dimensions": 2_000_000}).encode())
    assert time.perf_counter() - start < 1.0
    assert status == 200
    assert len(json.loads(raw)["embeddings"][0]) == 1536


# --- input that used to give internal errors ---------------------------------------------------

@pytest.mark.parametrize("path", [
    "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/responses", "/v1/messages",
    "/v1beta/models/gemini-2.5-flash:generateContent", "/api/chat", "/api/embed",
    "/openai/deployments/d/chat/completions?api-version=2024-10-21",
])
@pytest.mark.parametrize("body", [
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b'{"model":"m","input":"\\ud800","prompt":"\\ud800","messages":[{"role":"user",'
    b'"content":"\\ud800"}],"echo":true,"stream":true}',
], ids=["deep", "surrogate"])
def test_malformed_json_gets_the_providers_400(server, path, body):
    status, _, raw = _raw(server, "POST", path, body,
                                {"content-type": "application/json"})
    assert status == 400
    assert "error" in json.loads(raw)


def test_the_journal_of_a_deeply_nested_body_can_be_read(server):
    deep = b'{"model":"m","x":' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert _raw(server, "POST", "/t/deepj/v1/completions", deep)[0] == 200
    status, _, raw = _raw(server, "GET", "/t/deepj/_llmfake/journal")
    assert status == 200
    assert "nested deeper than 100 levels" in raw.decode()


# --- scenarios on the control API ---------------------------------------------------------------

LAUGHS = ("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
          + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10)
                    + "]\n" for i in range(8))
          + "reply: {json: *i}\n")


@pytest.mark.parametrize(("body", "words"), [
    (LAUGHS.encode(), "YAML aliases are expanded"),
    (b"reply: {text: \xff\xfe}", "not UTF-8"),
    (b"[" * 2000 + b"]" * 2000, "nested too deeply"),
    ("".join(" " * i + "a:\n" for i in range(2000)).encode() + b" " * 2000 + b"1\n",
     "nested too deeply"),
    (b"reply: {json: &a [1, *a]}", "cannot contain itself"),
])
def test_a_hostile_scenario_gets_a_400_at_once(server, body, words):
    start = time.perf_counter()
    status, _, raw = _raw(server, "PUT", "/t/laughs/_llmfake/scenario",
                          body if isinstance(body, bytes) else body.encode(),
                          {"content-type": "application/yaml"})
    assert time.perf_counter() - start < 2.0
    assert status == 400
    error = json.loads(raw)["error"]
    assert error["type"] == "scenario_error" and words in error["message"]


def test_a_scenario_of_too_many_rules_gets_a_400(server):
    status, _, raw = _raw(server, "PUT", "/t/laughs/_llmfake/scenario",
                          b"rules:\n" + b"  - {reply: {text: x}}\n" * 10_001,
                          {"content-type": "application/yaml"})
    assert status == 400 and "at most 10000" in json.loads(raw)["error"]["message"]


def test_deep_json_scenario_gets_a_400(server):
    status, _, raw = _raw(server, "PUT", "/t/laughs/_llmfake/scenario",
                          b"[" * 2000 + b"]" * 2000, {"content-type": "application/json"})
    assert status == 400 and json.loads(raw)["error"]["type"] == "scenario_error"


def test_a_large_scenario_loads_without_holding_up_other_tenants(server):
    text = "rules:\n" + "".join(f"  - match: {{model: m{i}, contains: hello{i}}}\n"
                                f"    reply: {{text: answer {i}}}\n" for i in range(3000))
    result, worst = _while_running(server, lambda: _raw(
        server, "PUT", "/t/big/_llmfake/scenario", text.encode(),
        {"content-type": "application/yaml"}))
    assert result[0] == 200
    assert worst < 0.25  # it held the loop for the whole load (1.5 s here) before


# --- the control API and browsers ---------------------------------------------------------------

def _scenario_name(server: llmfake.Server, tenant: str) -> str:
    return json.loads(_raw(server, "GET", f"/t/{tenant}/_llmfake/scenario")[2])["name"]


@pytest.mark.parametrize(("method", "headers", "status"), [
    ("POST", {"origin": "https://evil.example", "content-type": "text/plain"}, 403),
    ("PUT", {"origin": "https://evil.example", "content-type": "application/yaml"}, 403),
    ("POST", {"origin": "null", "content-type": "application/json"}, 403),
    ("POST", {"content-type": "text/plain"}, 415),
    ("POST", {"content-type": "application/x-www-form-urlencoded"}, 415),
    ("POST", {"content-type": "multipart/form-data; boundary=x"}, 415),
    ("POST", {"host": "evil.example:8000", "content-type": "application/yaml"}, 403),
])
def test_what_a_web_page_can_send_cannot_change_the_scenario(server, method, headers, status):
    got, _, raw = _raw(server, method, "/t/page/_llmfake/scenario", b"name: pwned\n", headers)
    assert got == status, raw
    assert "pwned" not in _scenario_name(server, "page")
    assert json.loads(raw)["error"]["message"]


def test_a_rebinding_page_cannot_read_the_journal(server):
    status, _, raw = _raw(server, "GET", "/_llmfake/journal", headers={"host": "evil.example"})
    assert status == 403 and "DNS-rebinding" in json.loads(raw)["error"]["message"]


def test_what_clients_send_still_works(server, monkeypatch):
    port = server.port
    for headers in ({"content-type": "application/yaml"},
                    {"content-type": "application/x-www-form-urlencoded"},  # curl --data-binary
                    {"origin": f"http://127.0.0.1:{port}", "content-type": "application/json"},
                    {"host": f"localhost:{port}"}, {"host": "app.localhost"}):
        body = b'{"name": "mine"}' if "json" in str(headers) else b"name: mine\n"
        assert _raw(server, "PUT", "/t/ok/_llmfake/scenario", body, headers)[0] == 200
    assert _raw(server, "POST", "/t/ok/_llmfake/scenario", b"name: mine\n",
                {"content-type": "text/plain", "x-llmfake": "1"})[0] == 200
    assert _raw(server, "POST", "/t/ok/_llmfake/reset")[0] == 200  # curl -X POST
    monkeypatch.setenv("LLMFAKE_ALLOWED_HOSTS", "fake.internal")
    assert _raw(server, "GET", "/_llmfake/health", headers={"host": "fake.internal:80"})[0] == 200
    assert httpx.put(server.url + "/t/ok/_llmfake/scenario", content="name: mine\n").is_success


def test_a_control_body_is_capped(server):
    status, _, raw = _raw(server, "PUT", "/t/cap/_llmfake/scenario", b"#" * (9 << 20),
                          {"content-type": "application/yaml"})
    assert status == 413 and "bytes" in json.loads(raw)["error"]["message"]


# --- random schemas ------------------------------------------------------------------------------


_ANY = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                 st.floats(allow_nan=False), st.text(max_size=8), st.just([]), st.just({}))
_KEYWORD_VALUES = {
    "type": st.one_of(st.sampled_from(["object", "array", "string", "number", "integer",
                                       "boolean", "null"]), _ANY),
    "minItems": _ANY, "maxItems": _ANY, "minLength": _ANY, "maxLength": _ANY,
    "minimum": _ANY, "maximum": _ANY, "multipleOf": _ANY, "required": _ANY,
    "minProperties": _ANY, "pattern": st.one_of(st.from_regex(r"[a(|)*+?{}0-9^$\\]{0,12}",
                                                              fullmatch=True), _ANY),
    "enum": _ANY, "const": _ANY, "format": _ANY, "uniqueItems": _ANY,
}
_SCHEMAS = st.recursive(
    st.dictionaries(st.sampled_from(sorted(_KEYWORD_VALUES)), _ANY, max_size=4),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"items": inner}),
        st.fixed_dictionaries({"properties": st.dictionaries(st.text(max_size=3), inner,
                                                             max_size=3)}),
        st.fixed_dictionaries({"anyOf": st.lists(inner, max_size=3)}),
        st.fixed_dictionaries({"allOf": st.lists(inner, max_size=3)}),
        st.builds(lambda a, b: {**a, **b}, inner,
                  st.fixed_dictionaries({k: v for k, v in list(_KEYWORD_VALUES.items())[:6]})),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_SCHEMAS)
def test_any_response_schema_gets_an_answer_or_a_400_within_a_second(server, schema):
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
                       "response_format": {"type": "json_schema",
                                           "json_schema": {"name": "r", "schema": schema}}})
    start = time.perf_counter()
    status, _, raw = _raw(server, "POST", "/t/fuzz/v1/chat/completions", body.encode(),
                          {"content-type": "application/json"})
    assert time.perf_counter() - start < 1.0
    assert status in (200, 400), raw


# --- what the server keeps between requests -------------------------------------------------------

def test_the_journal_is_bounded_by_bytes_and_keeps_large_bodies_truncated(server):
    import hashlib

    from llmfake import _bounds

    tenant = "journal-bytes"
    server.use({"limits": {"max_request_bytes": 40 << 20}}, tenant)
    client = _chat(server, tenant)
    huge = "x" * (3 << 20)  # over the per-body bound: kept as size, digest and head
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": huge}])
    big = "y" * (900 << 10)  # under it: kept whole, until the journal holds too many bytes
    for _ in range(80):  # ~72 MB of bodies: over the 64 MiB a journal holds whole
        client.chat.completions.create(model="gpt-4o",
                                       messages=[{"role": "user", "content": big}])
    journal = server.journal(tenant)
    first = journal[0].body
    assert first["truncated"] is True and first["bytes"] > 3 << 20
    assert len(first["sha256"]) == 64 and int(first["sha256"], 16) >= 0
    assert first["sha256"] != hashlib.sha256(b"").hexdigest()
    assert len(first["head"]) <= 1000
    whole = [e for e in journal if isinstance(e.body, dict) and "messages" in e.body]
    assert 0 < len(whole) < 80  # the newest kept whole, the oldest truncated
    assert journal[-1].body["messages"][0]["content"] == big
    assert journal.body_bytes <= _bounds.JOURNAL_BYTES
    assert len(journal) == 81  # every exchange is still there, attempts and all
    assert httpx.get(server.tenant_url(tenant) + "/_llmfake/journal").is_success


def test_looking_at_a_tenant_does_not_make_one(server):
    for what in ("health", "journal", "scenario"):
        assert httpx.get(server.tenant_url(f"look-{what}") + f"/_llmfake/{what}").is_success
    assert not any(name.startswith("look-") for name in server.engine.tenants)


def test_tenants_are_bounded_and_the_idle_ones_go_first(server, monkeypatch):
    from llmfake import _bounds

    monkeypatch.setattr(_bounds, "MAX_TENANTS", 50)
    assert _raw(server, "GET", "/v1/models")[0] == 200  # the default tenant: never forgotten
    for i in range(120):
        assert _raw(server, "GET", f"/t/many-{i}/v1/models")[0] == 200
    server.use({"reply": {"text": "kept"}}, "busy")  # configured recently: not a victim
    for i in range(120, 160):
        _raw(server, "GET", f"/t/many-{i}/v1/models")
    assert len(server.engine.tenants) <= 51
    assert "many-0" not in server.engine.tenants and "many-159" in server.engine.tenants
    assert "busy" in server.engine.tenants and "default" in server.engine.tenants
    reply = _chat(server, "busy").chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "kept"


def test_a_client_hanging_up_mid_body_is_no_internal_error(server):
    import socket

    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /t/hangup/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body) + 100, body.encode()))
        time.sleep(0.2)
    time.sleep(0.2)
    journal = httpx.get(server.tenant_url("hangup") + "/_llmfake/journal").json()
    assert all(e["status"] != 500 and e["outcome"] != "llmfake error" for e in journal)
    assert httpx.get(server.tenant_url("hangup") + "/_llmfake/health").is_success
