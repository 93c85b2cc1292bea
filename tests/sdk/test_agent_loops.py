"""Agent loops driven by the official SDKs: each runs a real tool loop (model, tool call, tool
result, model) against the built-in ``agent-loop`` scenario and hand-written turn rules, the
same scenario for every provider, streamed and not."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import jsonschema
import ollama
import pytest
from google import genai
from google.genai import types

SEARCH = {"type": "object", "properties": {"query": {"type": "string", "minLength": 3}},
          "required": ["query"], "additionalProperties": False}
FETCH = {"type": "object", "properties": {
    "url": {"type": "string", "format": "uri"},
    "pages": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["url", "pages"], "additionalProperties": False}
SCHEMAS = {"search": SEARCH, "fetch": FETCH}
DONE = "Done: both tools ran and the task is complete."
CLAUDE = "claude-sonnet-4-6"


# The ollama client's Tool model keeps a property's type, description and enum only: the bounds
# never reach the server, so the arguments are valid under what was sent.
OLLAMA_SENT = {
    "search": {"type": "object", "properties": {"query": {"type": "string"}},
               "required": ["query"]},
    "fetch": {"type": "object", "properties": {"url": {"type": "string"},
                                               "pages": {"type": "integer"}},
              "required": ["url", "pages"]}}


def run_tool(name: str, args: dict[str, Any], schemas: dict[str, Any] = SCHEMAS) -> str:
    """The client's side of the loop: the tool checks its arguments, as real code would."""
    jsonschema.validate(args, schemas[name], format_checker=jsonschema.FormatChecker())
    return f"{name} result"


def agent_loop_journal_ok(fake: Any) -> None:
    # Step 2 failed once and was retried; the loop took three model turns.
    assert [e.status for e in fake.journal] == [200, 500, 200, 200]
    assert [e.source for e in fake.journal] == [
        "rule 0", "rule 1 step 0", "rule 1 step 1", "rule 2"]


# --- OpenAI Chat Completions ---------------------------------------------------------------------

def chat_tools() -> list[Any]:
    return [{"type": "function", "function": {"name": n, "parameters": s}}
            for n, s in SCHEMAS.items()]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_openai_chat_runs_the_agent_loop(fake: Any, stream: bool) -> None:
    fake.use("agent-loop")
    messages: list[Any] = [{"role": "user", "content": "Research this."}]
    called = []
    with fake.client(max_retries=2) as client:
        for _ in range(5):
            if stream:
                with client.chat.completions.stream(model="gpt-4o", messages=messages,
                                                    tools=chat_tools()) as events:
                    fragments = sum(1 for e in events
                                    if e.type == "tool_calls.function.arguments.delta")
                    message = events.get_final_completion().choices[0].message
                # Arguments arrive in pieces, as the real stream sends them.
                assert fragments > len(message.tool_calls) if message.tool_calls else True
            else:
                message = client.chat.completions.create(
                    model="gpt-4o", messages=messages, tools=chat_tools()).choices[0].message
            if not message.tool_calls:
                break
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                called.append(call.function.name)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": run_tool(
                    call.function.name, json.loads(call.function.arguments))})
    assert called == ["search", "fetch"]
    assert message.content == DONE
    agent_loop_journal_ok(fake)


def test_openai_chat_parallel_calls_and_result_matching(fake: Any) -> None:
    fake.use({"rules": [
        {"match": {"tool_result": {"name": "search", "contains": "NO HITS"}},
         "reply": "Nothing found."},
        {"match": {"tool_result": {"name": "fetch", "regex": r"\d+ pages", "id": "call_*"}},
         "reply": "Read it."},
        {"match": {"tool_offered": ["search", "fetch"], "turn": 0},
         "reply": {"call_tool": {"tool": "first", "count": 2}}}]})
    messages: list[Any] = [{"role": "user", "content": "Go."}]
    with fake.client() as client:
        first = client.chat.completions.create(model="gpt-4o", messages=messages,
                                               tools=chat_tools()).choices[0].message
        calls = first.tool_calls or []
        assert [c.function.name for c in calls] == ["search", "fetch"]
        assert len({c.id for c in calls}) == 2
        for c in calls:
            run_tool(c.function.name, json.loads(c.function.arguments))
        messages.append(first.model_dump(exclude_none=True))

        def answer(results: dict[str, str]) -> str | None:
            sent = messages + [{"role": "tool", "tool_call_id": c.id,
                                "content": results[c.function.name]} for c in calls]
            return client.chat.completions.create(
                model="gpt-4o", messages=sent, tools=chat_tools()).choices[0].message.content

        # The result's name comes from the call its tool_call_id answers.
        assert answer({"search": "no hits", "fetch": "x"}) == "Nothing found."
        assert answer({"search": "3 hits", "fetch": "read 4 pages"}) == "Read it."
        # No rule fits these results: the default reply, generated text.
        assert answer({"search": "3 hits", "fetch": "gone"}) not in ("Read it.", None)


# --- OpenAI Responses ----------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_openai_responses_runs_the_agent_loop(fake: Any, stream: bool) -> None:
    fake.use("agent-loop")
    tools: list[Any] = [{"type": "function", "name": n, "parameters": s, "strict": False}
                        for n, s in SCHEMAS.items()]
    items: list[Any] = [{"role": "user", "content": "Research this."}]
    called = []
    with fake.client(max_retries=2) as client:
        for _ in range(5):
            if stream:
                with client.responses.stream(model="gpt-4o", input=items,
                                             tools=tools) as events:
                    deltas = sum(1 for e in events
                                 if e.type == "response.function_call_arguments.delta")
                    response = events.get_final_response()
            else:
                response = client.responses.create(model="gpt-4o", input=items, tools=tools)
            calls = [o for o in response.output if o.type == "function_call"]
            if not calls:
                break
            if stream:
                assert deltas >= len(calls)
            items += [c.model_dump(exclude_none=True) for c in calls]
            for c in calls:
                called.append(c.name)
                items.append({"type": "function_call_output", "call_id": c.call_id,
                              "output": run_tool(c.name, json.loads(c.arguments))})
    assert called == ["search", "fetch"]
    assert response.output_text == DONE
    agent_loop_journal_ok(fake)


# --- Anthropic -----------------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_anthropic_runs_the_agent_loop(fake: Any, stream: bool) -> None:
    fake.use("agent-loop")
    tools: list[Any] = [{"name": n, "input_schema": s} for n, s in SCHEMAS.items()]
    messages: list[Any] = [{"role": "user", "content": "Research this."}]
    called = []
    with anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=2,
                             _strict_response_validation=True) as client:
        for _ in range(5):
            if stream:
                with client.messages.stream(model=CLAUDE, max_tokens=500, messages=messages,
                                            tools=tools) as events:
                    partial = sum(1 for e in events if e.type == "input_json")
                    reply = events.get_final_message()
            else:
                reply = client.messages.create(model=CLAUDE, max_tokens=500,
                                               messages=messages, tools=tools)
            uses = [b for b in reply.content if b.type == "tool_use"]
            if not uses:
                break
            if stream:
                assert partial > len(uses)
            assert reply.stop_reason == "tool_use"
            messages.append({"role": "assistant", "content": [b.model_dump() for b in
                                                              reply.content]})
            results = []
            for u in uses:
                called.append(u.name)
                results.append({"type": "tool_result", "tool_use_id": u.id,
                                "content": run_tool(u.name, dict(u.input))})  # type: ignore[call-overload]
            messages.append({"role": "user", "content": results})
    assert called == ["search", "fetch"]
    assert reply.stop_reason == "end_turn"
    assert [b.text for b in reply.content if b.type == "text"] == [DONE]
    agent_loop_journal_ok(fake)


# --- Gemini: the SDK's own automatic function calling runs the loop -------------------------

def test_gemini_automatic_function_calling_runs_the_agent_loop(fake: Any) -> None:
    fake.use("agent-loop")
    called: list[tuple[str, dict[str, Any]]] = []

    def search(query: str) -> str:
        """Search the web."""
        called.append(("search", {"query": query}))
        return "search result"

    def fetch(url: str, pages: int) -> str:
        """Fetch a page."""
        called.append(("fetch", {"url": url, "pages": pages}))
        return "fetch result"

    tools: list[Callable[..., str]] = [search, fetch]
    http = types.HttpOptions(base_url=fake.url, retry_options=types.HttpRetryOptions(
        attempts=2, initial_delay=0.01, http_status_codes=[500]))
    with genai.Client(api_key="test-key", http_options=http) as client:
        response = client.models.generate_content(
            model="gemini-2.5-flash", contents="Research this.",
            config=types.GenerateContentConfig(tools=tools))  # type: ignore[arg-type]
    assert [name for name, _ in called] == ["search", "fetch"]
    assert all(isinstance(v, str) for v in called[0][1].values())
    assert isinstance(called[1][1]["pages"], int)
    assert response.text == DONE
    agent_loop_journal_ok(fake)


# --- Ollama --------------------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_ollama_runs_the_agent_loop(fake: Any, stream: bool) -> None:
    fake.use("agent-loop")
    tools: list[Any] = [{"type": "function", "function": {"name": n, "parameters": s}}
                        for n, s in SCHEMAS.items()]
    messages: list[Any] = [{"role": "user", "content": "Research this."}]
    called = []
    with ollama.Client(host=fake.url) as client:

        def chat() -> ollama.Message:
            # The ollama client does not retry: the loop does, once, as an agent would.
            for attempt in range(2):
                try:
                    if not stream:
                        return client.chat(model="llama3.2", messages=messages,
                                           tools=tools).message
                    parts = list(client.chat(model="llama3.2", messages=messages, tools=tools,
                                             stream=True))
                    calls = [c for p in parts for c in p.message.tool_calls or ()]
                    text = "".join(p.message.content or "" for p in parts)
                    return ollama.Message(role="assistant", tool_calls=calls or None,
                                          content=text)
                except ollama.ResponseError as exc:
                    if attempt or exc.status_code != 500:
                        raise
            raise AssertionError("unreachable")

        for _ in range(5):
            message = chat()
            if not message.tool_calls:
                break
            messages.append(message)
            for c in message.tool_calls:
                called.append(c.function.name)
                # Ollama results carry the tool's name, and no call id.
                messages.append({"role": "tool", "tool_name": c.function.name,
                                 "content": run_tool(c.function.name,
                                                     dict(c.function.arguments), OLLAMA_SENT)})
    assert called == ["search", "fetch"]
    assert message.content == DONE
    agent_loop_journal_ok(fake)


def test_ollama_results_without_names_line_up_with_the_calls(fake: Any) -> None:
    # Older clients send a tool message with content only: its tool is the call in the same
    # position in the last assistant turn.
    fake.use({"rules": [{"match": {"tool_result": {"name": "fetch"}}, "reply": "fetched"},
                        {"match": {"turn": 0}, "reply": {"call_tool": {"count": 2}}}]})
    tools: list[Any] = [{"type": "function", "function": {"name": n, "parameters": s}}
                        for n, s in SCHEMAS.items()]
    messages: list[Any] = [{"role": "user", "content": "Go."}]
    with ollama.Client(host=fake.url) as client:
        first = client.chat(model="llama3.2", messages=messages, tools=tools).message
        assert [c.function.name for c in first.tool_calls or ()] == ["search", "fetch"]
        messages += [first, {"role": "tool", "content": "a"}, {"role": "tool", "content": "b"}]
        assert client.chat(model="llama3.2", messages=messages).message.content == "fetched"
