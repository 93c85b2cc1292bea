"""Wrong-typed fields get each provider's 400 naming the field, in its own error shape and
wording (issue 19, #3): before, 41 of 91 such requests got a 200 (``"stream": "true"`` answered
unstreamed, a tool without a name ignored). Each row is a field the official SDK types as
something else; the request goes over a real socket as raw JSON, since the SDKs' own types
would refuse to build most of these."""

from __future__ import annotations

import copy
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmfake

_MESSAGES = [{"role": "user", "content": "hi"}]
_BASE: dict[str, tuple[str, dict[str, Any]]] = {
    "openai-chat": ("/v1/chat/completions", {"model": "gpt-4o", "messages": _MESSAGES}),
    "openai-responses": ("/v1/responses", {"model": "gpt-4o", "input": "hi"}),
    "openai-embeddings": ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"}),
    "anthropic": ("/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 10,
                                   "messages": _MESSAGES}),
    "gemini": ("/v1beta/models/gemini-2.5-flash:generateContent",
               {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    "ollama-chat": ("/api/chat", {"model": "llama3", "messages": _MESSAGES, "stream": False}),
    "ollama-generate": ("/api/generate", {"model": "llama3", "prompt": "hi", "stream": False}),
}

_ROWS = [
    # (endpoint, field path, wrong value, words the message holds)
    ("openai-chat", "stream", "true", "Invalid type for 'stream': expected a boolean, but got a "
                                      "string instead."),
    ("openai-chat", "tools", {"a": 1}, "Invalid type for 'tools': expected an array"),
    ("openai-chat", "tools", ["x"], "Invalid type for 'tools[0]': expected an object"),
    ("openai-chat", "tools", [{"type": "function", "function": {"parameters": {}}}],
     "Missing required parameter: 'tools[0].function.name'."),
    ("openai-chat", "max_tokens", "5", "Invalid type for 'max_tokens': expected an integer"),
    ("openai-chat", "temperature", "hot", "Invalid type for 'temperature': expected a decimal"),
    ("openai-chat", "top_p", "x", "Invalid type for 'top_p': expected a decimal"),
    ("openai-chat", "messages", ["hi"], "Invalid type for 'messages[]': expected an object."),
    ("openai-chat", "messages", [{"role": 5, "content": "x"}],
     "Invalid type for 'messages[0].role': expected a string"),
    ("openai-chat", "messages", [{"role": "user", "content": 5}],
     "Invalid type for 'messages[0].content'"),
    ("openai-chat", "stream_options", "x", "Invalid type for 'stream_options'"),
    ("openai-chat", "tool_choice", 5, "Invalid type for 'tool_choice': expected one of a string "
                                      "or an object"),
    ("openai-chat", "response_format", "json", "Invalid type for 'response_format'"),
    ("openai-chat", "seed", "x", "Invalid type for 'seed': expected an integer"),
    ("openai-chat", "parallel_tool_calls", "x", "Invalid type for 'parallel_tool_calls'"),
    ("openai-chat", "metadata", "x", "Invalid type for 'metadata': expected an object"),
    ("openai-responses", "stream", "true", "Invalid type for 'stream': expected a boolean"),
    ("openai-responses", "tools", [{"type": "function", "parameters": {}}],
     "Missing required parameter: 'tools[0].name'."),
    ("openai-responses", "max_output_tokens", "5", "Invalid type for 'max_output_tokens'"),
    ("openai-responses", "temperature", "hot", "Invalid type for 'temperature'"),
    ("openai-responses", "instructions", 5, "Invalid type for 'instructions': expected a string"),
    ("openai-responses", "text", "x", "Invalid type for 'text': expected an object"),
    ("openai-responses", "store", "x", "Invalid type for 'store': expected a boolean"),
    ("openai-embeddings", "user", 5, "Invalid type for 'user': expected a string"),
    ("openai-embeddings", "encoding_format", 5, "Invalid type for 'encoding_format'"),
    ("anthropic", "stream", "true", "stream: Input should be a valid boolean"),
    ("anthropic", "tools", ["x"], "tools.0: Input should be a valid dictionary"),
    ("anthropic", "tools", [{"input_schema": {"type": "object"}}], "tools.0.name: Field required"),
    ("anthropic", "max_tokens", "5", "max_tokens: Input should be a valid integer"),
    ("anthropic", "temperature", "hot", "temperature: Input should be a valid number"),
    ("anthropic", "top_k", "x", "top_k: Input should be a valid integer"),
    ("anthropic", "messages", [{"role": 5, "content": "x"}],
     "messages.0.role: Input should be 'user' or 'assistant'"),
    ("anthropic", "tool_choice", 5, "tool_choice: Input should be a valid dictionary"),
    ("anthropic", "thinking", "x", "thinking: Input should be a valid dictionary"),
    ("gemini", "generationConfig", "x", "Invalid value at 'generation_config' (type.googleapis."
                                        "com/google.ai.generativelanguage.v1beta."
                                        "GenerationConfig)"),
    ("gemini", "generationConfig.temperature", "hot",
     "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\""),
    ("gemini", "generationConfig.topK", "x", "Invalid value at 'generation_config.top_k' "
                                             "(TYPE_INT32)"),
    ("gemini", "generationConfig.responseMimeType", 5,
     "Invalid value at 'generation_config.response_mime_type' (TYPE_STRING), 5"),
    ("gemini", "tools", "x", "Invalid value at 'tools' (type.googleapis.com/google.ai."
                             "generativelanguage.v1beta.Tool)"),
    ("gemini", "tools", [{"functionDeclarations": [{"parameters": {}}]}],
     "tools[0].function_declarations[0].name"),
    ("gemini", "systemInstruction", "x", "Invalid value at 'system_instruction'"),
    ("ollama-chat", "stream", "true", "json: cannot unmarshal string into Go struct field "
                                      "ChatRequest.stream of type bool"),
    ("ollama-chat", "tools", "x", "ChatRequest.tools of type api.Tools"),
    ("ollama-chat", "tools", ["x"], "ChatRequest.tools of type api.Tool"),
    ("ollama-chat", "messages", [{"role": 5, "content": "x"}], "Message.role of type string"),
    ("ollama-chat", "options.temperature", "hot", 'option "temperature" must be of type float32'),
    ("ollama-generate", "raw", "x", "GenerateRequest.raw of type bool"),
    ("ollama-generate", "images", "x", "GenerateRequest.images of type []api.ImageData"),
    ("ollama-generate", "template", 5, "GenerateRequest.template of type string"),
    ("ollama-generate", "options.top_k", "x", 'option "top_k" must be of type integer'),
]


@pytest.fixture(scope="module")
def server() -> Iterator[llmfake.Server]:
    with llmfake.serve() as srv:
        yield srv


def _post(server: llmfake.Server, path: str, body: Any) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(body), {
            "content-type": "application/json", "authorization": "Bearer k", "x-api-key": "k",
            "anthropic-version": "2023-06-01", "x-goog-api-key": "k"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _message(endpoint: str, body: Any) -> str:
    """The error message, read where each provider puts it (its shape is part of the check)."""
    if endpoint.startswith("openai"):
        return str(body["error"]["message"])
    if endpoint == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        return str(body["error"]["message"])
    if endpoint == "gemini":
        assert body["error"]["status"] == "INVALID_ARGUMENT" and body["error"]["code"] == 400
        return str(body["error"]["message"])
    return str(body["error"])  # Ollama: {"error": "..."}


@pytest.mark.parametrize(("endpoint", "field", "value", "words"), _ROWS,
                         ids=[f"{r[0]}-{r[1]}-{json.dumps(r[2])[:20]}" for r in _ROWS])
def test_a_wrong_typed_field_gets_the_providers_400_naming_it(server, endpoint, field, value,
                                                              words):
    path, base = _BASE[endpoint]
    body = copy.deepcopy(base)
    outer, _, inner = field.partition(".")
    if inner:
        body.setdefault(outer, {})[inner] = value
    else:
        body[outer] = value
    status, error = _post(server, path, body)
    # Ollama checks model options only once the model runs, and answers those with a 500
    assert status == (500 if field.startswith("options.") else 400), error
    assert words in _message(endpoint, error)
    if endpoint.startswith("openai"):
        assert error["error"]["type"] == "invalid_request_error"
        assert str(error["error"]["param"]).startswith(field.partition(".")[0])


@pytest.mark.parametrize("endpoint", sorted(_BASE))
def test_the_same_requests_with_the_right_types_get_a_200(server, endpoint):
    # every row's field, but of its right type: the checks refuse only what they should
    right = {"stream": False, "temperature": 0.5, "top_p": 1, "max_tokens": 5, "seed": 1,
             "metadata": {}, "parallel_tool_calls": True, "store": False, "instructions": "be",
             "user": "u", "top_k": 3, "thinking": {"type": "disabled"}}
    path, base = _BASE[endpoint]
    body = copy.deepcopy(base)
    fields = {r[1] for r in _ROWS if r[0] == endpoint and "." not in r[1]}
    body.update({k: v for k, v in right.items() if k in fields})
    status, reply = _post(server, path, body)
    assert status == 200, reply
