"""The fixtures: ``llmfake_server``, ``llmfake`` (sync and async), ``llmfake_scenario``."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

import llmfake.pytest_plugin

ENV_KEYS = {"OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY",
            "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY", "OLLAMA_HOST", "AZURE_OPENAI_ENDPOINT",
            "AZURE_OPENAI_API_KEY"}


def test_sdks_built_with_no_arguments_talk_to_the_tests_tenant(inner):
    inner.makepyfile("""
        import re
        import anthropic
        import openai

        def test_openai(llmfake):
            assert re.fullmatch(r"t-test_openai-\\d+", llmfake.tenant)
            llmfake.script(llmfake.reply("from the fake"))
            with openai.OpenAI() as client:
                reply = client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "from the fake"
            (exchange,) = llmfake.journal
            assert exchange.tenant == llmfake.tenant
            assert exchange.headers["authorization"].startswith("Bearer sk-llm")

        def test_anthropic(llmfake):
            llmfake.script(llmfake.reply("claude, faked"))
            with anthropic.Anthropic() as client:
                message = client.messages.create(
                    model="claude-sonnet-4-6", max_tokens=50,
                    messages=[{"role": "user", "content": "hi"}])
            assert message.content[0].text == "claude, faked"
            assert [e.provider for e in llmfake.journal] == ["anthropic"]
    """)
    inner.run().assert_outcomes(passed=2)


def test_bedrock_and_vertex_clients_built_from_the_environment_talk_to_the_fake(inner):
    inner.makepyfile("""
        import anthropic
        import boto3

        def test_bedrock(llmfake):
            llmfake.script(llmfake.reply("from bedrock"), llmfake.reply("from claude"))
            client = boto3.client("bedrock-runtime")
            out = client.converse(modelId="meta.llama3-8b-instruct-v1:0",
                                  messages=[{"role": "user", "content": [{"text": "hi"}]}])
            assert out["output"]["message"]["content"] == [{"text": "from bedrock"}]
            with anthropic.AnthropicBedrock() as claude:
                message = claude.messages.create(
                    model="anthropic.claude-sonnet-4-6-v1:0", max_tokens=50,
                    messages=[{"role": "user", "content": "hi"}])
            assert message.content[0].text == "from claude"
            assert [e.provider for e in llmfake.journal] == ["bedrock", "bedrock"]
            assert "x-amz-date" in llmfake.journal[0].headers  # SigV4-signed

        def test_vertex(llmfake):
            llmfake.script(llmfake.reply("from vertex"))
            with anthropic.AnthropicVertex(access_token="dummy") as claude:
                message = claude.messages.create(
                    model="claude-sonnet-4-6@20250514", max_tokens=50,
                    messages=[{"role": "user", "content": "hi"}])
            assert message.content[0].text == "from vertex"
            (exchange,) = llmfake.journal
            assert exchange.provider == "vertex"
            assert "/projects/llmfake-project/locations/us-east5/" in exchange.path
    """)
    inner.run().assert_outcomes(passed=2)


def test_an_openai_batch_runs_in_the_tests_tenant(inner):
    inner.makepyfile("""
        import io
        import json
        import time

        import openai

        def test_batch(llmfake):
            llmfake.use({"time_scale": 0.01, "batch": {"outcome": "expired", "progress": 0.5}})
            line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}}
            data = (json.dumps(line) + "\\n" + json.dumps({**line, "custom_id": "b"})).encode()
            with openai.OpenAI() as client:
                upload = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
                batch = client.batches.create(input_file_id=upload.id, completion_window="24h",
                                              endpoint="/v1/chat/completions")
                for _ in range(500):
                    if batch.status == "expired":
                        break
                    time.sleep(0.01)
                    batch = client.batches.retrieve(batch.id)
            assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
            assert [e.endpoint for e in llmfake.journal][:2] == ["files", "batches"]
    """)
    inner.run().assert_outcomes(passed=1)


def test_addresses_environment_and_client_env(inner, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    inner.makepyfile(f"""
        import os

        KEYS = {sorted(ENV_KEYS)!r}

        def test_addresses(llmfake, llmfake_server):
            url = llmfake_server.tenant_url(llmfake.tenant)
            assert llmfake.url == url
            assert llmfake.openai_base_url == url + "/v1"
            assert llmfake.anthropic_base_url == url
            assert llmfake.gemini_base_url == url
            assert llmfake.azure_endpoint == url
            assert llmfake.ollama_host == url
            assert repr(llmfake) == f"<LLMFake tenant={{llmfake.tenant!r}} url={{url!r}}>"

        def test_environment(llmfake):
            env = llmfake.client_env
            assert set(KEYS) <= set(env)
            for key in KEYS:
                assert os.environ[key] == env[key], key
            assert env["OPENAI_BASE_URL"] == llmfake.openai_base_url
            assert env["OLLAMA_HOST"] == llmfake.url

        def test_restored_afterwards():
            assert os.environ["OPENAI_BASE_URL"] == "https://api.openai.com/v1"
            assert "ANTHROPIC_API_KEY" not in os.environ
    """)
    inner.run().assert_outcomes(passed=3)


def test_the_step_builders_work_although_the_argument_shadows_the_module(inner):
    inner.makepyfile("""
        import openai
        import llmfake as the_module

        def test_x(llmfake):
            assert llmfake.reply is the_module.reply
            assert llmfake.error is the_module.error and llmfake.fault is the_module.fault
            llmfake.script(llmfake.error("rate_limit", retry_after="10ms"), llmfake.reply("ok"))
            with openai.OpenAI() as client:
                reply = client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "ok"
            llmfake.journal.assert_attempts(2)
    """)
    inner.run().assert_outcomes(passed=1)


def test_script_use_and_reset(inner, tmp_path):
    scenario = tmp_path / "canned.yaml"
    scenario.write_text("name: canned\nreply: {text: from a file}\n")
    inner.makepyfile(f"""
        import httpx
        import pytest
        import llmfake as lf

        def ask(fake, text="hi", model="gpt-4o"):
            body = {{"model": model, "messages": [{{"role": "user", "content": text}}]}}
            r = httpx.post(fake.openai_base_url + "/chat/completions", json=body)
            return r.status_code, (r.json()["choices"][0]["message"]["content"]
                                   if r.status_code == 200 else None)

        @pytest.mark.llmfake(check_unused=False)
        def test_script_then(llmfake):
            llmfake.script("a", "b", then="cycle")
            assert [ask(llmfake)[1] for _ in range(3)] == ["a", "b", "a"]
            llmfake.script("one", then="last")
            assert [ask(llmfake)[1] for _ in range(2)] == ["one", "one"]
            llmfake.script(llmfake.error(503), then="default")
            assert [ask(llmfake)[0] for _ in range(2)] == [503, 200]

        @pytest.mark.llmfake(scenario={{"rules": [{{"match": {{"model": "m"}},
                                                   "reply": "rule"}}]}})
        def test_script_replaces_an_earlier_script_and_keeps_the_rules(llmfake):
            llmfake.script("first")
            llmfake.script("second", then="default")
            assert llmfake.scenario.rules[0].name == "llmfake.script()"
            assert len(llmfake.scenario.rules) == 2
            assert ask(llmfake)[1] == "second"
            # The script matches everything: after it, the scenario's default reply.
            assert ask(llmfake, model="m")[1] not in ("second", "rule")
            llmfake.script("third", match={{"model": "gpt-4o"}})
            assert ask(llmfake, model="m")[1] == "rule"     # not the script's: the rule's
            assert ask(llmfake)[1] == "third"
            assert [r.get("name") for r in llmfake.scenario.raw["rules"]] == [
                "llmfake.script()", None]

        def test_bad_steps_fail_where_they_are_made(llmfake):
            with pytest.raises(lf.ScenarioError, match="llmfake.script"):
                llmfake.script({{"error": "nonsense"}})

        def test_use_resets_and_accepts_names_paths_and_dicts(llmfake):
            ask(llmfake)
            llmfake.use({{"reply": "dict"}})
            assert len(llmfake.journal) == 0
            assert ask(llmfake)[1] == "dict"
            llmfake.use({str(scenario)!r})
            assert ask(llmfake)[1] == "from a file" and llmfake.scenario.name == "canned"
            from pathlib import Path
            llmfake.use(Path({str(scenario)!r}))
            llmfake.use("default")
            assert llmfake.scenario.name == "default"

        def test_reset_keeps_the_scenario(llmfake):
            llmfake.script("x", "y")
            assert ask(llmfake)[1] == "x"
            llmfake.reset()
            assert len(llmfake.journal) == 0
            assert [ask(llmfake)[1] for _ in range(2)] == ["x", "y"]
    """)
    inner.run().assert_outcomes(passed=5)


def test_one_server_per_session_a_tenant_per_test_stopped_at_the_end(inner):
    inner.makepyfile("""
        import httpx
        import llmfake as lf

        SEEN = []

        def test_first(llmfake, llmfake_server):
            SEEN.append((llmfake_server, llmfake.tenant))
            assert isinstance(llmfake_server, lf.Server)
            assert llmfake_server.journal(llmfake.tenant) is llmfake.journal
            httpx.post(llmfake.openai_base_url + "/chat/completions",
                       json={"model": "m", "messages": [{"role": "user", "content": "1"}]})
            assert len(llmfake.journal) == 1

        def test_second(llmfake, llmfake_server):
            (server, tenant), = SEEN
            assert llmfake_server is server and llmfake.tenant != tenant
            assert len(llmfake.journal) == 0          # the first test's request is not here
            assert tenant not in llmfake_server.engine.tenants   # dropped at its teardown
            with open("url.txt", "w") as f:
                f.write(llmfake_server.url)
    """)
    inner.run().assert_outcomes(passed=2)
    host, port = (inner.path / "url.txt").read_text().removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=2).close()


def test_async_and_sync_tests_side_by_side(inner):
    inner.makepyfile("""
        import openai
        import pytest_asyncio

        @pytest_asyncio.fixture
        async def client(llmfake):
            async with openai.AsyncOpenAI(max_retries=2) as c:
                yield c

        async def test_async(llmfake, client):
            llmfake.script(llmfake.error("overloaded", retry_after="5ms"), llmfake.reply("ok"))
            reply = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "ok"
            llmfake.journal.assert_attempts(2)
            llmfake.journal.assert_honoured_retry_after()

        async def test_async_stream(llmfake, client):
            llmfake.script(llmfake.reply("one two three"))
            stream = await client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream
                            if c.choices])
            assert text == "one two three"
            assert llmfake.journal[0].stream

        def test_sync(llmfake):
            llmfake.script(llmfake.error("overloaded", retry_after="5ms"), llmfake.reply("ok"))
            with openai.OpenAI() as c:
                reply = c.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "ok"
            llmfake.journal.assert_attempts(2)
    """)
    inner.run().assert_outcomes(passed=3)


def test_llmfake_scenario_can_be_overridden_by_a_conftest_and_a_marker_beats_it(inner):
    inner.makeconftest("""
        import pytest

        @pytest.fixture
        def llmfake_scenario():
            return {"name": "from-conftest", "reply": "conftest reply",
                    "rules": [{"script": [{"error": "rate_limit"}, {"reply": "x"}]}]}
    """)
    inner.makepyfile("""
        import pytest

        def test_conftest_scenario(llmfake):
            assert llmfake.scenario.name == "from-conftest"
            # A directory-wide scenario's scripts are not this test's: no unused-step check.

        @pytest.mark.llmfake(scenario={"name": "from-marker"})
        def test_marker_wins(llmfake):
            assert llmfake.scenario.name == "from-marker"
    """)
    inner.run().assert_outcomes(passed=2)


def test_a_bad_llmfake_scenario_fixture_is_a_usage_error(inner):
    inner.makeconftest("""
        import pytest

        @pytest.fixture
        def llmfake_scenario():
            return {"rules": "nope"}
    """)
    inner.makepyfile("def test_x(llmfake):\n    pass\n")
    result = inner.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the llmfake_scenario fixture: *rules*expected a list*"])


def test_every_fixture_is_documented(inner):
    result = inner.run("--fixtures")
    result.stdout.fnmatch_lines([
        "*llmfake_server* -- *",
        "*The fake LLM server of this session (of each xdist worker)*",
        "*llmfake_scenario -- *",
        "*The scenario each test's tenant starts with*",
        "*llmfake -- *",
        "*A fresh tenant of the fake LLM server for this test*",
    ])
    assert "_llmfake_marked" not in result.stdout.str()  # private: shown with -v only


def test_the_fixture_class_is_exposed_for_type_hints():
    from llmfake._plugin._fixture import LLMFake

    assert llmfake.pytest_plugin.LLMFake is LLMFake
    assert LLMFake.__test__ is False
    assert "type hints" in (LLMFake.__doc__ or "")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = llmfake.pytest_plugin.nope


def test_loading_the_plugin_imports_neither_the_server_nor_aiohttp():
    code = ("import sys, llmfake.pytest_plugin; "
            "print([m for m in ('aiohttp', 'llmfake.server', 'llmfake._plugin._fixture') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_session_that_never_uses_llmfake_does_not_start_a_server(inner):
    inner.makepyfile("""
        import sys

        def test_plain():
            assert "llmfake.server" not in sys.modules
    """)
    result = inner.run_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["llmfake: http://127.0.0.1:* (started on first use), *"])


def test_the_session_server_starts_once_on_the_socket_it_bound():
    from llmfake._plugin._options import SessionSettings
    from llmfake._plugin._session import SessionServer

    slot = SessionServer(SessionSettings(seed=3))
    try:
        url = slot.url                       # bound, not started
        assert slot.served is None
        server = slot.start()
        assert slot.start() is server        # once
        assert server.url == url == slot.served and server.scenario.seed == 3
    finally:
        slot.close()
        slot.close()                         # idempotent
    assert slot.served == url


def test_hypothesis_examples_start_afresh_with_script(inner):
    inner.makepyfile("""
        import openai
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st

        @settings(max_examples=8, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(failures=st.integers(min_value=0, max_value=2))
        def test_retries_ride_out_failures(llmfake, failures):
            llmfake.script(*[llmfake.error(503, retry_after="1ms")] * failures, "ok")
            with openai.OpenAI(max_retries=2) as client:
                reply = client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "ok"
            llmfake.journal.assert_attempts(failures + 1)
    """)
    inner.run().assert_outcomes(passed=1)
