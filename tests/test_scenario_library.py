"""The built-in scenario library (``scenarios/``): every file loads, validates, is listed with
its description, and does what it promises to the official SDKs over a real socket.

Slow scenarios run with a ``time_scale`` override: the file's own shape, a fraction of its wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import jsonschema
import openai
import pytest
import yaml

import llmfake
from llmfake.scenario import Scenario, builtin_names, load_scenario, scenario_from_text

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios"
FILES = sorted(LIBRARY.glob("*.yaml"))
PROMISED = {
    "default", "realistic-openai", "realistic-anthropic", "slow-stream", "flaky-5xx",
    "rate-limited", "overloaded", "quota-exhausted", "timeouts", "mid-stream-failures",
    "brownout", "outage-then-recovery", "tool-calling", "structured-output", "agent-loop",
}
CLI = [sys.executable, "-m", "llmfake"]
USER = [{"role": "user", "content": "Hello there"}]
KEY = "sk-test-key-0123456789"
CLAUDE = "claude-sonnet-4-6"  # not in the SDK's deprecated list: that one warns, and warnings fail


def scaled(name: str, time_scale: float) -> Scenario:
    """The built-in ``name`` with its delays multiplied by ``time_scale``."""
    return dataclasses.replace(load_scenario(name), time_scale=time_scale)


def openai_client(fake: Any, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=fake.base_url, api_key=KEY,
                         _strict_response_validation=True, **kwargs)


@pytest.fixture
def claude(fake: Any) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0,
                             _strict_response_validation=True) as client:
        yield client


def content_chunk_times(stream: Any, start: float) -> list[float]:
    """Seconds from ``start`` at which each chunk carrying text arrived."""
    return [time.monotonic() - start for chunk in stream
            if chunk.choices and chunk.choices[0].delta.content]


# --- the files -----------------------------------------------------------------------------------


def test_the_library_holds_every_promised_scenario() -> None:
    assert {p.stem for p in FILES} == PROMISED
    names = builtin_names()
    for path in FILES:
        assert names[path.stem].resolve() == path.resolve()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_file_validates_describes_itself_and_explains_itself(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    jsonschema.Draft202012Validator(llmfake.schema()).validate(doc)
    sc = scenario_from_text(text, str(path))
    assert sc.name == path.stem
    # One line: `llmfake scenarios` prints it in a column.
    assert sc.description and "\n" not in sc.description
    assert sc.description.endswith(".")
    # Loaded by name, it is the same scenario.
    assert load_scenario(path.stem) == sc
    # Each file doubles as an example of the format: it says what it is for, in comments.
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 5, f"{path.name} needs comments explaining it"


def test_realistic_figures_are_in_the_published_range_and_cited() -> None:
    for name, ttft, rate in (("realistic-openai", (0.3, 0.7), (70, 150)),
                             ("realistic-anthropic", (0.6, 2.0), (50, 110))):
        sc = load_scenario(name)
        assert ttft[0] <= sc.latency.ttft <= ttft[1]
        assert rate[0] <= 1 / sc.latency.per_token <= rate[1]
        assert sc.latency.jitter > 0
        text = (LIBRARY / f"{name}.yaml").read_text(encoding="utf-8")
        assert "artificialanalysis.ai" in text
        assert "approximate" in text and "2026" in text


def test_the_cli_validates_and_lists_the_library() -> None:
    result = subprocess.run([*CLI, "validate", *map(str, FILES)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert len([line for line in result.stdout.splitlines() if ": ok (" in line]) == len(FILES)
    listed = subprocess.run([*CLI, "scenarios"], capture_output=True, text=True, timeout=60,
                            check=False)
    assert listed.returncode == 0, listed.stderr
    lines = {line.split(maxsplit=1)[0]: line.split(maxsplit=1)[1]
             for line in listed.stdout.splitlines() if line.strip()}
    for path in FILES:
        assert lines[path.stem] == load_scenario(path.stem).description


def test_serve_takes_a_library_name() -> None:
    proc = subprocess.Popen([*CLI, "serve", "--port", "0", "--quiet", "--scenario",
                             "outage-then-recovery"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "outage-then-recovery" in banner, banner
        url = banner.split(" on ", 1)[1].split()[0]
        with httpx.Client() as http:
            response = http.post(f"{url}/v1/chat/completions",
                                 json={"model": "gpt-4o", "messages": USER})
        assert response.status_code == 503
    finally:
        proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


INNER_TESTS = '''
import openai
import pytest


@pytest.mark.llmfake(scenario="tool-calling")
def test_marker_by_name(llmfake):
    assert llmfake.scenario.name == "tool-calling"
    client = openai.OpenAI(max_retries=0)
    tools = [{"type": "function", "function": {"name": "get_weather"}}]
    reply = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=tools)
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_fixture_use_by_name(llmfake):
    llmfake.use("quota-exhausted")
    assert llmfake.scenario.limits.quota_requests == 3
'''


def test_the_marker_and_the_fixture_take_library_names(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_TESTS, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n",
                                         encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "llmfake", "-q", "test_inner.py",
         # Plugins the inner tests do not need: each costs start-up time.
         "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:asyncio",
         "-p", "no:hypothesispytest", "-p", "no:timeout", "-p", "no:recording"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


# --- each scenario does what it says -------------------------------------------------------------


def test_default_answers_at_once_with_seeded_text(fake: Any) -> None:
    fake.use("default")
    with openai_client(fake) as client:
        first = client.chat.completions.create(model="gpt-4o", messages=USER)
        fake.use("default")  # afresh: the same request gets the same text
        again = client.chat.completions.create(model="gpt-4o", messages=USER)
    assert first.choices[0].message.content
    assert first.choices[0].message.content == again.choices[0].message.content


def pace(times: list[float]) -> float:
    """The mean gap between chunks, from the second on: a client reading the first chunk late
    (a cold connection, the SDK's first-use imports) finds the next ones already waiting."""
    return (times[-1] - times[1]) / (len(times) - 2)


def test_realistic_openai_streams_at_its_published_pace(fake: Any) -> None:
    scale = 0.5
    sc = scaled("realistic-openai", scale)
    with openai_client(fake) as client:
        # A first stream on the default scenario warms the connection and the SDK's lazy
        # imports, so the measured stream is read as it comes.
        content_chunk_times(client.chat.completions.create(model="gpt-4o", messages=USER,
                                                           stream=True), 0)
        fake.use(sc)
        start = time.monotonic()
        stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
        times = content_chunk_times(stream, start)
    ttft, gap = sc.latency.ttft * scale, sc.latency.per_token * scale
    assert len(times) >= 5
    # Lognormal jitter with sigma 0.3 keeps a delay within about 0.4x-2.5x of its mean; the
    # first token can never come before its deadline, whatever the machine.
    assert 0.35 * ttft <= times[0] <= 3 * ttft + 0.3
    assert 0.4 * gap <= pace(times) <= 2.5 * gap + 0.01


def test_realistic_anthropic_streams_at_its_published_pace(fake: Any,
                                                           claude: anthropic.Anthropic) -> None:
    scale = 0.25
    sc = scaled("realistic-anthropic", scale)
    # A first stream on the default scenario warms the connection and the SDK's lazy imports.
    with claude.messages.stream(model=CLAUDE, max_tokens=200, messages=USER) as warm:
        warm.until_done()
    fake.use(sc)
    start = time.monotonic()
    times = []
    with claude.messages.stream(model=CLAUDE, max_tokens=200, messages=USER) as stream:
        for _ in stream.text_stream:
            times.append(time.monotonic() - start)
        message = stream.get_final_message()
    assert message.stop_reason == "end_turn"
    assert len(times) >= 4
    ttft = sc.latency.ttft * scale
    assert 0.35 * ttft <= times[0] <= 3 * ttft + 0.3
    # Three tokens a chunk: chunks come three per_tokens apart.
    chunk_gap = sc.latency.per_token * sc.latency.tokens_per_chunk * scale
    assert 0.4 * chunk_gap <= pace(times) <= 2.5 * chunk_gap + 0.01


def test_slow_stream_is_slow_but_alive(fake: Any) -> None:
    scale = 0.02
    sc = scaled("slow-stream", scale)
    fake.use(sc)
    # A read timeout well above the gap between tokens never fires, however long the reply.
    with openai_client(fake, timeout=httpx.Timeout(10, read=0.5)) as client:
        start = time.monotonic()
        stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
        times = content_chunk_times(stream, start)
    ttft, gap = sc.latency.ttft * scale, sc.latency.per_token * scale
    assert len(times) >= 30  # 40 words
    assert times[0] >= 0.9 * ttft  # uniform 10% jitter: never earlier
    assert times[-1] >= 0.9 * (ttft + (len(times) - 1) * gap)


def _statuses(fake: Any, tenant: str, scenario: str, n: int) -> list[int]:
    fake.server.use(scenario, tenant)
    out = []
    with openai.OpenAI(base_url=fake.server.tenant_url(tenant) + "/v1", api_key=KEY,
                       max_retries=0) as client:
        for _ in range(n):
            try:
                client.chat.completions.create(model="gpt-4o", messages=USER)
                out.append(200)
            except openai.APIStatusError as exc:
                out.append(exc.status_code)
    return out


def test_flaky_5xx_fails_about_one_in_twenty_the_same_way_every_run(fake: Any) -> None:
    first = _statuses(fake, fake.tenant + "-a", "flaky-5xx", 100)
    again = _statuses(fake, fake.tenant + "-b", "flaky-5xx", 100)
    assert first == again  # seeded: the same requests fail in every run
    failures = [s for s in first if s != 200]
    assert set(failures) <= {500, 502, 503}
    assert 2 <= len(failures) <= 12  # about 5 expected


def test_rate_limited_counts_down_then_429s_until_the_retry_after(fake: Any) -> None:
    scale = 0.05  # the minute is 3 s: the bucket barely refills during the burst
    fake.use(scaled("rate-limited", scale))
    remaining = []
    with openai_client(fake) as client:
        for _ in range(10):
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o",
                                                                   messages=USER)
            assert raw.headers["x-ratelimit-limit-requests"] == "10"
            assert raw.headers["x-ratelimit-limit-tokens"] == "20000"
            remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="gpt-4o", messages=USER)
        wait = float(info.value.response.headers["retry-after-ms"]) / 1000
        assert 0 < wait <= 60 * scale / 10  # at most one request's worth of the window
        time.sleep(wait + 0.02)
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert remaining[0] == 9
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[-1] <= 1


def test_overloaded_sends_529_bursts_that_default_retries_ride_out(
        fake: Any, claude: anthropic.Anthropic) -> None:
    fake.use(scaled("overloaded", 0.01))
    statuses = []
    kinds = set()
    for _ in range(8):
        try:
            claude.messages.create(model=CLAUDE, max_tokens=50, messages=USER)
            statuses.append(200)
        except anthropic.APIStatusError as exc:
            statuses.append(exc.status_code)
            kinds.add(exc.body["error"]["type"])  # type: ignore[index]
    assert statuses == [529, 529, 200, 200, 200, 200, 529, 529]
    assert kinds == {"overloaded_error"}
    # A client with the SDK's default two retries gets through a fresh burst.
    fake.use(scaled("overloaded", 0.01))
    with anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test") as patient:
        message = patient.messages.create(model=CLAUDE, max_tokens=50, messages=USER)
    assert message.content
    assert [e.status for e in fake.journal] == [529, 529, 200]


def test_quota_exhausted_is_for_good(fake: Any) -> None:
    fake.use("quota-exhausted")
    with openai_client(fake) as client:
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o", messages=USER)
        for _ in range(2):
            with pytest.raises(openai.RateLimitError) as info:
                client.chat.completions.create(model="gpt-4o", messages=USER)
            assert info.value.code == "insufficient_quota"


def test_timeouts_hang_and_stall_until_the_client_gives_up(fake: Any) -> None:
    fake.use("timeouts")
    with openai_client(fake, timeout=httpx.Timeout(5, read=0.3)) as client:
        start = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="gpt-4o", messages=USER)
        assert 0.3 <= time.monotonic() - start < 3
        assert client.chat.completions.create(model="gpt-4o", messages=USER).choices
        deltas = []
        with pytest.raises((openai.APITimeoutError, httpx.ReadTimeout)):
            for chunk in client.chat.completions.create(model="gpt-4o", messages=USER,
                                                        stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    deltas.append(chunk.choices[0].delta.content)
        assert len(deltas) == 3  # it stalled after three tokens
        stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
        assert len(content_chunk_times(stream, 0)) > 3  # the next stream runs to the end


def test_mid_stream_failures_take_turns(fake: Any) -> None:
    fake.use(scaled("mid-stream-failures", 0.05))
    outcomes = []
    with openai_client(fake) as client:
        for _ in range(5):
            deltas = []
            try:
                for chunk in client.chat.completions.create(model="gpt-4o", messages=USER,
                                                            stream=True):
                    if chunk.choices and chunk.choices[0].delta.content:
                        deltas.append(chunk.choices[0].delta.content)
                outcomes.append(("complete", len(deltas) > 3))
            except openai.APIConnectionError:  # the dropped connection
                outcomes.append(("dropped", len(deltas)))
            except openai.APIError:  # the error event, in the stream
                outcomes.append(("error event", len(deltas)))
            except ValueError:  # the malformed chunk: not JSON
                outcomes.append(("malformed", len(deltas)))
        plain = client.chat.completions.create(model="gpt-4o", messages=USER)
    assert outcomes == [("dropped", 3), ("error event", 3), ("malformed", 3),
                        ("complete", True), ("dropped", 3)]
    assert plain.choices[0].message.content  # non-streamed requests are left alone


def test_outage_gives_503_then_recovers_after_the_window(fake: Any) -> None:
    scale = 0.01
    sc = scaled("outage-then-recovery", scale)
    window = sc.rules[0].match.before
    assert window is not None
    window *= scale
    start = time.monotonic()
    fake.use(sc)
    with openai_client(fake) as client:
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="gpt-4o", messages=USER)
        assert info.value.status_code == 503
        time.sleep(max(0.0, start + window + 0.02 - time.monotonic()))
        assert client.chat.completions.create(model="gpt-4o", messages=USER).choices
    # A client that retries with backoff rides the outage out by itself.
    start = time.monotonic()
    fake.use(sc)
    with openai_client(fake, max_retries=5) as patient:
        assert patient.chat.completions.create(model="gpt-4o", messages=USER).choices
    assert time.monotonic() - start >= window  # no success inside the window
    statuses = [e.status for e in fake.journal]
    assert statuses[0] == 503
    assert statuses[-1] == 200
    assert set(statuses[:-1]) == {503}


async def test_brownout_errors_and_latency_rise_then_recover(fake: Any) -> None:
    scale = 0.02  # the minute is 1.2 s; its phases are 0.2 to 0.4 s long
    sc = scaled("brownout", scale)
    phases: list[tuple[float, float]] = []
    for rule in sc.rules:
        assert rule.match.after is not None
        assert rule.match.before is not None
        phases.append((rule.match.after * scale, rule.match.before * scale))
    # One burst in the middle of each phase: before, during the three bad ones, after.
    moments = [phases[0][0] / 2, *[(a + b) / 2 for a, b in phases], phases[-1][1] + 0.15]
    burst = 8

    async def one(client: openai.AsyncOpenAI, at: float, index: int) -> None:
        await asyncio.sleep(max(0.0, start + at - time.monotonic()))
        with contextlib.suppress(openai.APIStatusError):  # the journal has the status
            await client.chat.completions.create(
                model="gpt-4o", messages=USER, extra_headers={"x-burst": str(index)})

    async with fake.async_client(timeout=30) as client:
        # Warm the SDK and the pool first: a cold first request can take longer than a phase.
        await asyncio.gather(*(client.chat.completions.create(model="gpt-4o", messages=USER)
                               for _ in range(burst)))
        fake.use(sc)
        start = time.monotonic()
        await asyncio.gather(*(one(client, at, i) for i, at in enumerate(moments)
                               for _ in range(burst)))
    by_burst: dict[int, list[Any]] = {}
    for exchange in fake.journal:
        by_burst.setdefault(int(exchange.headers["x-burst"]), []).append(exchange)
    assert sorted(len(v) for v in by_burst.values()) == [burst] * len(moments)
    # Each burst landed in its phase: the healthy defaults, rules 0, 1, 2, the defaults again.
    expected = ["default", "rule 0", "rule 1", "rule 2", "default"]
    for index, want in enumerate(expected):
        sources = {e.source.split(" chaos")[0] for e in by_burst[index]}
        assert sources == {want}, (index, sources)
    errors = [sum(e.status != 200 for e in by_burst[i]) for i in range(len(moments))]
    assert errors[0] == errors[-1] == 0
    assert errors[3] >= 3
    assert errors[1] <= errors[2] < errors[3]
    assert {e.status for i in (1, 2, 3) for e in by_burst[i]} <= {200, 503, 504}

    def slowest(index: int) -> float:
        return max(e.duration for e in by_burst[index] if e.status == 200)

    # The tail grows phase by phase and is gone after the minute.
    assert slowest(3) > 3 * slowest(0)
    assert slowest(4) < slowest(3) / 3


def test_tool_calling_runs_two_turns(fake: Any) -> None:
    fake.use("tool-calling")
    tools: list[Any] = [{"type": "function", "function": {
        "name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"]}}}]
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    with openai_client(fake) as client:
        first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls is not None
        call = choice.message.tool_calls[0]
        assert call.type == "function"
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Paris"}
        messages += [choice.message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 18}'}]
        second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
        assert second.choices[0].finish_reason == "stop"
        assert second.choices[0].message.content == "It is 18 °C and sunny in Paris."
        # Any other question that offers tools gets a call to the first one, its arguments
        # generated under the tool's schema; without tools, text.
        other = client.chat.completions.create(model="gpt-4o", messages=USER, tools=tools)
        fitted = other.choices[0].message.tool_calls
        assert fitted is not None and fitted[0].function.name == "get_weather"
        assert isinstance(json.loads(fitted[0].function.arguments)["city"], str)
        plain = client.chat.completions.create(model="gpt-4o", messages=USER)
        assert plain.choices[0].message.tool_calls is None and plain.choices[0].message.content


def test_tool_calling_calls_the_offered_tool_not_get_weather(fake: Any) -> None:
    fake.use("tool-calling")
    tools: list[Any] = [{"type": "function", "function": {
        "name": "lookup_order", "parameters": {
            "type": "object", "properties": {"order_id": {"type": "integer", "minimum": 1}},
            "required": ["order_id"], "additionalProperties": False}}}]
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    with openai_client(fake) as client:
        first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
        call = (first.choices[0].message.tool_calls or [])[0]
        assert call.function.name == "lookup_order"
        args = json.loads(call.function.arguments)
        jsonschema.validate(args, tools[0]["function"]["parameters"])
        messages += [first.choices[0].message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": "shipped"}]
        second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
        # The loop ends: after the tool result, text.
        assert second.choices[0].finish_reason == "stop"
        assert second.choices[0].message.tool_calls is None
        assert second.choices[0].message.content


def test_agent_loop_walks_three_steps_through_one_failure(fake: Any) -> None:
    fake.use("agent-loop")
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    tools: list[Any] = [{"type": "function", "function": {"name": n, "parameters": schema}}
                        for n in ("search", "fetch")]
    messages: list[Any] = [{"role": "user", "content": "Find the answer."}]
    called = []
    with openai_client(fake, max_retries=2) as client:
        for _ in range(5):
            reply = client.chat.completions.create(model="gpt-4o", messages=messages,
                                                   tools=tools)
            message = reply.choices[0].message
            if not message.tool_calls:
                break
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                called.append(call.function.name)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": "ok"})
    assert called == ["search", "fetch"]
    assert message.content == "Done: both tools ran and the task is complete."
    assert [e.status for e in fake.journal] == [200, 500, 200, 200]
    assert [e.source for e in fake.journal] == [
        "rule 0", "rule 1 step 0", "rule 1 step 1", "rule 2"]


def test_tool_calling_runs_two_turns_with_anthropic(fake: Any,
                                                    claude: anthropic.Anthropic) -> None:
    fake.use("tool-calling")
    tools: list[Any] = [{"name": "get_weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}}}]
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = claude.messages.create(model=CLAUDE, max_tokens=200, messages=messages, tools=tools)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert (use.name, use.input) == ("get_weather", {"city": "Paris"})
    messages += [{"role": "assistant", "content": [b.model_dump() for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                               "content": "18 C, sunny"}]}]
    second = claude.messages.create(model=CLAUDE, max_tokens=200, messages=messages,
                                    tools=tools)
    assert second.stop_reason == "end_turn"
    assert [b.type for b in second.content] == ["text"]


INVOICE = {
    "type": "object",
    "properties": {
        "number": {"type": "string", "pattern": "^INV-[0-9]{4}$"},
        "currency": {"type": "string", "enum": ["EUR", "USD"]},
        "issued": {"type": "string", "format": "date"},
        "lines": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/line"}},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["number", "currency", "issued", "lines", "note"],
    "additionalProperties": False,
    "$defs": {"line": {
        "type": "object",
        "properties": {"item": {"type": "string"},
                       "quantity": {"type": "integer", "minimum": 1, "maximum": 99}},
        "required": ["item", "quantity"], "additionalProperties": False}},
}


def test_structured_output_follows_the_requests_schema(fake: Any) -> None:
    fake.use("structured-output")
    fmt: Any = {"type": "json_schema",
                "json_schema": {"name": "invoice", "schema": INVOICE, "strict": True}}
    with openai_client(fake) as client:
        first = client.chat.completions.create(model="gpt-4o", messages=USER,
                                               response_format=fmt)
        fake.use("structured-output")
        again = client.chat.completions.create(model="gpt-4o", messages=USER,
                                               response_format=fmt)
        broken = client.chat.completions.create(
            model="gpt-4o", response_format=fmt,
            messages=[{"role": "user", "content": "incomplete json please"}])
    content = first.choices[0].message.content
    assert content is not None
    jsonschema.validate(json.loads(content), INVOICE,
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert again.choices[0].message.content == content  # seeded: the same JSON every run
    assert again.created == first.created  # freeze_time
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(broken.choices[0].message.content or ""), INVOICE)
