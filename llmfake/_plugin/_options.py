"""Settings: the session's (command line and ini file) and each test's (``llmfake`` markers).

Everything a user can pass is validated here and nowhere else; a bad value is a
``pytest.UsageError`` that names the option, the value and what is allowed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from llmfake.scenario._model import Scenario

MARKER_OPTIONS = ("scenario", "seed", "strict", "check_unused", "intercept", "block_network",
                  "cassette")
"""The keyword arguments ``@pytest.mark.llmfake(...)`` accepts."""

MARKER_DOC = (
    "llmfake(scenario=None, seed=None, strict=None, check_unused=True, intercept=False, "
    "block_network=False, cassette=None): options of the llmfake fixture for this test, class "
    "or module "
    "(the closest marker wins, key by key). scenario: a dict, path or built-in name; seed: "
    "the seed of every random draw; strict: fail on requests only the defaults answered "
    "(None: as the scenario says); check_unused: fail on scripted steps never used; "
    "intercept: route the providers' real URLs to the fake; block_network: with intercept, "
    "refuse every other host; cassette: True (tests/cassettes/<module>/<test>.yaml), a path, or "
    "a dict with path, replay_speed, strict, ignore: replay that recording (--llmfake-record "
    "says when to record it)."
)


@dataclass(frozen=True)
class Options:
    """The options in force for one test: its ``llmfake`` markers merged, closest first."""

    scenario: Scenario | None = None
    """The scenario the marker names, loaded (None: the fixture's or the session's)."""
    seed: int | None = None
    """The seed the marker sets (None: the session's, else the scenario's own)."""
    strict: bool | None = None
    """Fail the test on requests only the defaults answered (None: the scenario's ``strict``)."""
    check_unused: bool = True
    """Fail the test when a script it set up has steps the client never reached."""
    intercept: bool = False
    """Route requests to the providers' real hosts into the fake (``llmfake.intercept``)."""
    block_network: bool = False
    """With ``intercept``: refuse connections to any other host."""
    cassette: Any = None
    """``cassette=`` as given: True, a path or a dict (see ``llmfake._plugin._cassette``)."""


@dataclass
class SessionSettings:
    """The session-wide settings from the command line and the ini file."""

    scenario: str | None = None
    """``--llmfake-scenario`` or ``llmfake_scenario`` (a path or a built-in name)."""
    seed: int | None = None
    """``--llmfake-seed`` or ``llmfake_seed``."""
    report: bool = False
    """``--llmfake-report`` or ``llmfake_report``: print the per-test summary."""
    origin: str = "built-in"
    """Where the scenario came from, for the report header."""
    record_mode: str = "none"
    """``--llmfake-record`` or ``llmfake_record``: when cassettes are recorded."""
    upstreams: dict[str, str] = field(default_factory=dict)
    """``--llmfake-upstream`` / ``llmfake_upstream``: recording targets by provider."""
    state: str | None = None
    """``--llmfake-state`` (else ``LLMFAKE_STATE``): ``memory`` or a Redis URL."""
    _cache: dict[str, Scenario] = field(default_factory=dict, repr=False)

    def load(self, spec: object, what: str) -> Scenario:
        """Load a scenario spec (cached by name or path for the session); a bad one is a
        ``UsageError`` that says where it was given (``what``)."""
        from llmfake.errors import ScenarioError
        from llmfake.scenario import load_scenario

        key = str(spec) if isinstance(spec, (str, Path)) else None
        if key is not None and key in self._cache:
            return self._cache[key]
        try:
            scenario = load_scenario(spec)
        except ScenarioError as exc:
            raise pytest.UsageError(f"{what}: {exc}") from None
        if key is not None:
            self._cache[key] = scenario
        return scenario


def session_settings(config: pytest.Config) -> SessionSettings:
    """Read and validate the command line and ini settings."""
    # Precedence, for the scenario and the seed alike: the command line beats the ini file,
    # which beats the built-in default scenario (and that scenario's own seed). Per test, a
    # marker beats the ``llmfake_scenario`` fixture, which beats all of these (see
    # ``LLMFake.start``).
    settings = SessionSettings()
    cli_scenario = config.getoption("llmfake_scenario")
    ini_scenario = str(config.getini("llmfake_scenario") or "").strip()
    if cli_scenario:
        settings.scenario, settings.origin = str(cli_scenario), "--llmfake-scenario"
    elif ini_scenario:
        # A relative path in the ini file is relative to that file, not to where pytest runs.
        base = config.inipath.parent if config.inipath else config.rootpath
        candidate = base / ini_scenario
        settings.scenario = str(candidate) if candidate.is_file() else ini_scenario
        settings.origin = "llmfake_scenario (ini)"
    cli_seed = config.getoption("llmfake_seed")
    ini_seed = str(config.getini("llmfake_seed") or "").strip()
    if cli_seed is not None:
        settings.seed = _seed(cli_seed, "--llmfake-seed")
    elif ini_seed:
        settings.seed = _seed(ini_seed, "llmfake_seed (ini)")
    settings.report = bool(config.getoption("llmfake_report")) or bool(
        config.getini("llmfake_report"))
    from llmfake._plugin._cassette import RECORD_MODES, parse_upstream

    mode, what = config.getoption("llmfake_record"), "--llmfake-record"
    if not mode:
        mode, what = str(config.getini("llmfake_record") or "").strip(), "llmfake_record (ini)"
    if mode:
        if mode not in RECORD_MODES:
            close = difflib.get_close_matches(mode, RECORD_MODES, n=1)
            tip = f" (did you mean {close[0]!r}?)" if close else ""
            raise pytest.UsageError(f"{what}: unknown mode {mode!r}{tip}; allowed: "
                                    f"{', '.join(RECORD_MODES)}")
        settings.record_mode = mode
    given = config.getoption("llmfake_upstream") or []
    what = "--llmfake-upstream" if given else "llmfake_upstream (ini)"
    for value in given or config.getini("llmfake_upstream") or []:
        name, url = parse_upstream(str(value), what)
        settings.upstreams[name] = url
    state = config.getoption("llmfake_state")
    if state:
        from llmfake.server._runner import state_url

        try:
            settings.state = state_url(str(state))
        except ValueError as exc:
            raise pytest.UsageError(f"--llmfake-state: {exc}") from None
    return settings


def _seed(value: object, what: str) -> int:
    try:
        seed = int(str(value), 10)
    except ValueError:
        raise pytest.UsageError(f"{what}: expected a whole number >= 0, got {value!r}") from None
    if seed < 0:
        raise pytest.UsageError(f"{what}: expected a whole number >= 0, got {seed}")
    return seed


def merged_marker_kwargs(item: pytest.Item) -> dict[str, Any]:
    """The keyword arguments of every ``llmfake`` marker on ``item``, its class and module,
    merged key by key, the closest marker winning."""
    __tracebackhide__ = True
    merged: dict[str, Any] = {}
    for marker in item.iter_markers("llmfake"):  # closest first
        if marker.args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.llmfake takes keyword arguments only "
                f"({', '.join(MARKER_OPTIONS)}), got positional {marker.args!r}")
        merged = {**marker.kwargs, **merged}  # keys already set by a closer marker stay
    return merged


def marker_options(item: pytest.Item, settings: SessionSettings) -> Options:
    """Validate the merged ``llmfake`` markers of ``item`` into ``Options``."""
    __tracebackhide__ = True  # the message says it all
    kwargs = merged_marker_kwargs(item)
    where = f"{item.nodeid}: @pytest.mark.llmfake"
    for key in kwargs:
        if key not in MARKER_OPTIONS:
            close = difflib.get_close_matches(key, MARKER_OPTIONS, n=1)
            tip = f" (did you mean {close[0]!r}?)" if close else ""
            raise pytest.UsageError(f"{where} got an unknown option {key!r}{tip}; "
                                    f"allowed: {', '.join(MARKER_OPTIONS)}")
    for key in ("strict", "check_unused", "intercept", "block_network"):
        value = kwargs.get(key, None if key == "strict" else False)
        if not isinstance(value, bool) and not (key == "strict" and value is None):
            raise pytest.UsageError(f"{where}({key}=...): expected True or False"
                                    f"{' or None' if key == 'strict' else ''}, got {value!r}")
    seed = kwargs.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise pytest.UsageError(f"{where}(seed=...): expected a whole number >= 0, "
                                f"got {seed!r}")
    if kwargs.get("block_network") and not kwargs.get("intercept"):
        raise pytest.UsageError(f"{where}(block_network=True) only applies with "
                                "intercept=True: add intercept=True")
    spec = kwargs.get("scenario")
    scenario = None
    if spec is not None:
        scenario = settings.load(spec, f"{where}(scenario=...)")
    return Options(scenario=scenario, seed=seed, strict=kwargs.get("strict"),
                   check_unused=kwargs.get("check_unused", True),
                   intercept=bool(kwargs.get("intercept", False)),
                   block_network=bool(kwargs.get("block_network", False)),
                   cassette=kwargs.get("cassette"))
