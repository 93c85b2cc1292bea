"""``LLMFake``: one test's tenant on the session's server, what the ``llmfake`` fixture gives."""

from __future__ import annotations

import dataclasses
import itertools
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmfake._urls import ProviderURLs
from llmfake.scenario import error as _error
from llmfake.scenario import fault as _fault
from llmfake.scenario import load_scenario, scenario_from_dict
from llmfake.scenario import reply as _reply

if TYPE_CHECKING:
    from llmfake._plugin._cassette import Tape
    from llmfake._plugin._options import Options
    from llmfake.engine._engine import TenantState
    from llmfake.journal import Journal
    from llmfake.record import Recorder
    from llmfake.scenario._model import CassetteSpec, Scenario
    from llmfake.server import Server

SCRIPT_RULE = "llmfake.script()"
"""The name of the rule ``LLMFake.script`` puts in front of the scenario's rules."""

_counter = itertools.count()
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def tenant_name(test_name: str, shared: bool = False) -> str:
    """``t-<test name>-<n>``: readable in logs and the control API, unique in the process
    (and so on its server: each xdist worker has its own). With a ``shared`` state (Redis),
    which other processes use too, a suffix drawn once per process keeps it unique there."""
    name = f"t-{_UNSAFE.sub('-', test_name)[:80].strip('-')}-{next(_counter)}"
    return f"{name}-{_PROCESS}" if shared else name


_PROCESS = secrets.token_hex(3)


class LLMFake(ProviderURLs):
    """One test's tenant on the session's fake server: its own scenario state, limits and
    journal. The ``llmfake`` fixture gives one per test; this class is exposed for type hints
    (``def test_x(llmfake: LLMFake)``, ``from llmfake.pytest_plugin import LLMFake``).

    While the test runs, the provider environment variables (``OPENAI_BASE_URL``,
    ``ANTHROPIC_BASE_URL``, ``GOOGLE_GEMINI_BASE_URL``, ``OLLAMA_HOST``,
    ``AZURE_OPENAI_ENDPOINT`` and dummy API keys) point at this tenant, so SDK clients built
    with no arguments talk to it. The step builders ``reply``, ``error`` and ``fault`` are the
    ``llmfake`` module's, so a test whose ``llmfake`` argument shadows ``import llmfake`` reads
    the same.
    """

    __test__ = False

    reply = staticmethod(_reply)
    error = staticmethod(_error)
    fault = staticmethod(_fault)

    def __init__(self, server: Server, tenant: str) -> None:
        self.server = server
        """The session's server."""
        self.tenant = tenant
        """This test's tenant name."""
        self.state: TenantState = server.tenant(tenant)
        """The engine's state of the tenant (scenario, script positions, journal)."""
        self.state.journal.attach(self.state)
        self.owns_scenario = False
        """Whether the test chose its scenario (marker, ``use``, ``script``): its scripts are
        then checked for unused steps at teardown."""
        self.proxy_url: str | None = None
        """While recording a cassette: the recording proxy the test's clients talk to."""
        self.proxy: Recorder | None = None
        """While recording a cassette: the recording proxy itself."""
        self.tape: Tape | None = None
        """The test's cassette (``@pytest.mark.llmfake(cassette=...)``), if it has one."""
        self.options: Options | None = None
        """The test's marker options, once validated."""
        self._cassette: CassetteSpec | None = None

    # --- addresses ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The tenant's root URL (``http://127.0.0.1:PORT/t/<tenant>``); while the test records
        its cassette, the recording proxy's."""
        return self.proxy_url or self.server.tenant_url(self.tenant)

    @property
    def recording(self) -> bool:
        """Whether this test records its cassette (its clients reach the real APIs)."""
        return self.proxy_url is not None

    @property
    def client_env(self) -> dict[str, str]:
        """The environment variables that point every provider's SDK at this tenant, with
        dummy keys: ``subprocess.run(..., env={**os.environ, **llmfake.client_env})``."""
        env = self.server.env(self.tenant)
        if self.proxy_url is not None:
            from llmfake._plugin._cassette import recording_env

            env = recording_env(env, self.server.tenant_url(self.tenant), self.proxy_url)
        return env

    # --- state --------------------------------------------------------------------------------

    @property
    def journal(self) -> Journal:
        """The tenant's journal: iterable, indexable, with the resilience assertions
        (``assert_attempts``, ``assert_honoured_retry_after``...). While the test records its
        cassette, it holds what went through the recording proxy."""
        if self.proxy is not None:
            self.proxy.settle()  # the exchange a client has just finished is journaled
        return self.state.journal

    @property
    def scenario(self) -> Scenario:
        """The scenario in force."""
        return self.state.scenario

    def use(self, scenario: Scenario | Mapping[str, Any] | str | Path) -> None:
        """Put ``scenario`` (a dict, path, built-in name or ``Scenario``) in force, as given,
        and start the tenant afresh: script positions, limits and journal are reset."""
        sc = load_scenario(str(scenario) if isinstance(scenario, Path) else scenario)
        if self._cassette is not None and sc.cassette is None:
            sc = dataclasses.replace(sc, cassette=self._cassette)  # the marker's cassette stays
        self.server.use(sc, self.tenant)
        self.owns_scenario = True

    def replay(self, cassette: CassetteSpec) -> None:
        """Replay ``cassette`` for requests the scenario's rules do not answer otherwise (the
        marker's ``cassette=`` does this); later ``use`` and ``script`` calls keep it."""
        self._cassette = cassette
        self.server.use(dataclasses.replace(self.state.scenario, cassette=cassette), self.tenant)

    def script(self, *steps: Mapping[str, Any] | str,
               then: Literal["last", "cycle", "default"] = "last",
               match: Mapping[str, Any] | None = None) -> None:
        """Answer the next requests with ``steps`` in order: a scripted rule in front of the
        scenario's rules (replacing one an earlier ``script`` call put there). It matches every
        request unless ``match`` narrows it (``match={"endpoint": "chat"}``, the scenario's
        match keys): the scenario's rules then still answer the rest. A string is a reply with
        that text. ``then`` says what comes after the last step: repeat it (``last``), start
        over (``cycle``) or answer with the scenario's default reply (``default``). Like
        ``use``, it starts the tenant afresh.

        ``llmfake.script(llmfake.error("rate_limit"), llmfake.reply("ok"))``
        """
        docs = [{"reply": s} if isinstance(s, str) else dict(s) for s in steps]
        rule_doc: dict[str, Any] = {"name": SCRIPT_RULE, "script": docs, "then": then}
        if match is not None:
            rule_doc["match"] = dict(match)
        rule = scenario_from_dict({"rules": [rule_doc]}, "llmfake.script()").rules[0]
        current = self.state.scenario
        rules, raw_rules = current.rules, list(current.raw.get("rules") or [])
        if rules and rules[0].name == SCRIPT_RULE:
            rules, raw_rules = rules[1:], raw_rules[1:]
        raw = {**current.raw, "rules": [rule_doc, *raw_rules]}
        self.use(dataclasses.replace(current, rules=(rule, *rules), raw=raw))

    def reset(self) -> None:
        """Forget the journal and script positions, keeping the scenario (for loops such as
        hypothesis examples within one test)."""
        self.server.reset(self.tenant)

    def __repr__(self) -> str:
        return f"<LLMFake tenant={self.tenant!r} url={self.url!r}>"
