"""Cassettes in pytest: ``@pytest.mark.llmfake(cassette=...)`` and ``--llmfake-record=MODE``.

The record modes mean what they mean in pytest-recording (and vcrpy):

- ``none`` (default): replay only; a missing cassette or an unmatched request fails the test.
- ``once``: record when the cassette file does not exist yet, else replay.
- ``new_episodes``: answer the requests the cassette holds from it, record the new ones.
- ``all``: record every request again, appending to the cassette.
- ``rewrite``: delete the cassette and record it from scratch.

Replaying goes through the test's tenant (its scenario's rules and faults overlay the replay);
recording goes through a recording proxy in front of the real providers, which the test's
environment points at instead of the tenant.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from llmfake._plugin._fixture import LLMFake
    from llmfake.record import Interaction, Recorder
    from llmfake.scenario._model import CassetteSpec

RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")
"""The values of ``--llmfake-record``."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-\[\]]+")


@dataclass(frozen=True)
class Tape:
    """One test's cassette: where it is, the mode, and the marker's replay options."""

    path: Path
    """The cassette file."""
    mode: str
    """The record mode in force."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """``replay_speed``, ``strict``, ``ignore`` from ``cassette={...}``."""

    @property
    def records(self) -> bool:
        """Whether this test records (through the proxy) rather than replays."""
        if self.mode in ("all", "rewrite", "new_episodes"):
            return True
        return self.mode == "once" and not self.path.exists()


def default_path(item: pytest.Item) -> Path:
    """``<test file's folder>/cassettes/<module>/<test name>.yaml``, as pytest-recording
    names them (``tests/cassettes/test_chat/test_retry.yaml``)."""
    module = Path(str(item.path))
    name = _UNSAFE.sub("-", item.name).strip("-") or "test"
    return module.parent / "cassettes" / module.stem / f"{name}.yaml"


def tape_for(item: pytest.Item, value: Any, mode: str) -> Tape | None:
    """The ``Tape`` the marker's ``cassette=`` asks for (None when it asks for none)."""
    __tracebackhide__ = True
    where = f"{item.nodeid}: @pytest.mark.llmfake(cassette=...)"
    if value is None or value is False:
        return None
    options: dict[str, Any] = {}
    if value is True:
        path = default_path(item)
    elif isinstance(value, (str, os.PathLike)):
        path = _relative(item, value)
    elif isinstance(value, Mapping):
        options = dict(value)
        given = options.pop("path", None)
        unknown = set(options) - {"replay_speed", "strict", "ignore"}
        if unknown:
            raise pytest.UsageError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: path, "
                                    "replay_speed, strict, ignore")
        path = default_path(item) if given is None else _relative(item, given)
    else:
        raise pytest.UsageError(f"{where}: expected True (the default path), a path, or a "
                                f"dict with 'path', 'replay_speed', 'strict', 'ignore'; got "
                                f"{value!r}")
    return Tape(path, mode, options)


def _relative(item: pytest.Item, value: str | os.PathLike[str]) -> Path:
    path = Path(value)
    return path if path.is_absolute() else Path(str(item.path)).parent / path


def replay_spec(tape: Tape, where: str) -> CassetteSpec:
    """Load ``tape`` for replay; a missing or broken file fails the test with the fix."""
    __tracebackhide__ = True
    from llmfake.errors import ScenarioError
    from llmfake.scenario._load import scenario_from_dict

    if not tape.path.exists():
        pytest.fail(f"{where}: cassette {tape.path} does not exist. Record it once with "
                    "--llmfake-record=once (the test then talks to the real API: set its API "
                    "key), or give @pytest.mark.llmfake(cassette=...) the path of a cassette "
                    "you have", pytrace=False)
    try:
        scenario = scenario_from_dict({"cassette": {"path": str(tape.path), **tape.options}},
                                      where)
    except ScenarioError as exc:
        pytest.fail(str(exc), pytrace=False)
    assert scenario.cassette is not None
    return scenario.cassette


def upstreams(settings_upstreams: Mapping[str, str]) -> dict[str, str]:
    """Where recording sends each provider's requests: each provider's real API (Azure's is the
    ``AZURE_OPENAI_ENDPOINT`` the session started with), unless ``--llmfake-upstream NAME=URL``
    says otherwise."""
    from llmfake.providers import default_upstreams  # not at plugin load: it imports the engine

    return {**default_upstreams(os.environ), **settings_upstreams}


def recorder(tape: Tape, settings_upstreams: Mapping[str, str]) -> Recorder:
    """The recording proxy for ``tape`` (not started)."""
    from llmfake.record import Recorder

    if tape.mode == "rewrite" and tape.path.exists():
        tape.path.unlink()
    keep = tape.path.exists() and tape.mode in ("all", "new_episodes")
    return Recorder(upstreams(settings_upstreams), tape.path, append=keep,
                    replay=keep and tape.mode == "new_episodes")


def journal_recording(proxy: Recorder, fake: LLMFake, mode: str) -> None:
    """Journal what goes through the recording proxy in the test's journal, so the test's
    assertions see the real exchanges in record mode as they see the replayed ones after."""
    import threading

    from llmfake.record._journal import exchange_of

    journal = fake.journal
    journal.recording = (
        f"this test recorded its cassette (--llmfake-record={mode}): the real API answered "
        "through the recording proxy, so the scenario's rules and scripts did not apply; they "
        "do when the cassette is replayed")
    lock = threading.Lock()  # the proxy's thread adds; requests may overlap

    def observe(it: Interaction, started: float, ended: float, recorded: bool) -> None:
        with lock:
            exchange = exchange_of(it, seq=len(journal) + journal.dropped, tenant=fake.tenant,
                                   started=started, ended=ended)
            if not recorded:
                exchange.source = "cassette (new_episodes)"
            journal.add(exchange)
            exchange.attempt = (exchange.retry_count if exchange.retry_count is not None
                                else journal.infer_attempt(exchange))

    proxy.observe(observe)


def recording_env(env: Mapping[str, str], tenant_url: str, proxy_url: str) -> dict[str, str]:
    """``env`` (the tenant's client variables) pointed at the recording proxy, keeping the
    real API keys the session has (real keys reach the real API; the cassette gets them
    redacted)."""
    from llmfake.providers import key_variables

    out = {k: v.replace(tenant_url, proxy_url) for k, v in env.items()}
    for name in key_variables():
        if os.environ.get(name):
            out.pop(name, None)
    return out


def parse_upstream(value: str, what: str) -> tuple[str, str]:
    """``NAME=URL`` -> (name, url); a bad one is a ``UsageError`` naming ``what``."""
    from llmfake.providers import REGISTRY

    name, sep, url = value.partition("=")
    name = name.strip().lower()
    names = (*(spec.name for spec in REGISTRY), "default")
    if not sep or name not in names or not url.strip().startswith(("http://", "https://")):
        raise pytest.UsageError(f"{what}: expected NAME=URL with NAME one of "
                                f"{', '.join(names)} and an http(s) URL, got {value!r}")
    return name, url.strip()
