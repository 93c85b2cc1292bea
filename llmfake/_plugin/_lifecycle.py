"""The ``llmfake`` fixture's life: choose the scenario, set the environment, intercept, check at
teardown, clean up."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pytest

from llmfake._plugin._cassette import journal_recording, recorder, replay_spec, tape_for
from llmfake._plugin._fixture import LLMFake, tenant_name
from llmfake._plugin._options import Options, SessionSettings, marker_options
from llmfake._plugin._report import figures, teardown_problems

if TYPE_CHECKING:
    from llmfake.server import Server


def run(item: pytest.Item, server: Server, settings: SessionSettings, fixture_scenario: Any,
        *, keep_figures: Callable[[dict[str, Any]], None], call_failed: Callable[[], bool],
        keep_fake: Callable[[LLMFake | None], None] = lambda fake: None
        ) -> Generator[LLMFake, None, None]:
    """Set up one test's tenant, yield it, then check and clean up."""
    __tracebackhide__ = True  # a UsageError or a teardown check speaks for itself
    options = marker_options(item, settings)
    tape = tape_for(item, options.cassette, settings.record_mode)
    if tape is not None and tape.records and options.intercept:
        # The proxy's own upstream calls would be intercepted too, and come back to it.
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.llmfake(intercept=True) replays cassettes but cannot "
            f"record them (--llmfake-record={settings.record_mode}); record with a client "
            "pointed at the environment's base URLs, or in-process with llmfake.vcr")
    fake = LLMFake(server, tenant_name(item.name, server.engine.shared is not None))
    fake.options = options
    start(fake, options, settings, fixture_scenario)
    env = pytest.MonkeyPatch()
    with contextlib.ExitStack() as cleanup:
        # Newest first: the interception ends, then the environment comes back, the recording
        # proxy stops, then the tenant is dropped so a long session's journals do not pile up.
        cleanup.callback(server.engine.drop, fake.tenant)
        cleanup.callback(keep_fake, None)  # the failure report is made by then
        if tape is not None and tape.records:
            proxy = recorder(tape, settings.upstreams)
            journal_recording(proxy, fake, settings.record_mode)
            # From here on fake.url and fake.client_env name the proxy, real keys kept.
            fake.proxy_url = cleanup.enter_context(proxy).url
            fake.proxy = proxy
        elif tape is not None:
            fake.replay(replay_spec(tape, f"{item.nodeid}: @pytest.mark.llmfake(cassette=...)"))
        fake.tape = tape
        cleanup.callback(env.undo)
        for key, value in fake.client_env.items():
            env.setenv(key, value)
        if options.intercept:
            cleanup.enter_context(intercept(fake, options))
        keep_fake(fake)
        yield fake
        # Teardown: the test and every fixture that depends on this one are done.
        keep_figures(figures(fake))
        if not call_failed():  # a failed test has said enough; do not pile on
            problem = teardown_problems(fake, options)
            if problem is not None:
                pytest.fail(problem, pytrace=False)


def start(fake: LLMFake, options: Options, settings: SessionSettings, fixture_scenario: Any
          ) -> None:
    """Put the test's scenario in force on its tenant."""
    # Precedence of the scenario a test starts with: the closest @pytest.mark.llmfake(scenario=)
    # > the llmfake_scenario fixture (a conftest.py may override it) > the server's own scenario
    # (--llmfake-scenario > the llmfake_scenario ini option > the built-in default).
    # The seed: the marker's seed > --llmfake-seed > the llmfake_seed ini option > the
    # scenario's own. A scenario the test passes to llmfake.use() later is used as given.
    scenario = options.scenario
    if scenario is None and fixture_scenario is not None:
        scenario = settings.load(fixture_scenario, "the llmfake_scenario fixture")
    seed = options.seed if options.seed is not None else settings.seed
    if scenario is None:
        if seed is None or fake.server.scenario.seed == seed:
            return  # the tenant starts with the server's scenario: nothing to do
        scenario = fake.server.scenario
    if seed is not None and scenario.seed != seed:
        scenario = dataclasses.replace(scenario, seed=seed)
    fake.server.use(scenario, fake.tenant)
    fake.owns_scenario = options.scenario is not None


def intercept(fake: LLMFake, options: Options) -> contextlib.AbstractContextManager[Any]:
    """Route the providers' real hosts into this tenant, with ``llmfake.intercept``."""
    module = importlib.import_module("llmfake.intercept")  # lazily: it patches httpx
    manager: contextlib.AbstractContextManager[Any] = module.intercept(
        fake.server, tenant=fake.tenant, block_network=options.block_network)
    return manager
