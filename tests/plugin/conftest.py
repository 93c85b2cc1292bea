"""Plugin tests run inner pytest sessions with ``pytester``, loading the plugin explicitly with
``-p llmfake`` (the project's own suite may run with ``-p no:llmfake`` so that the plugin's
coverage is measured here)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # pytester, registered here: ``pytest_plugins = ["pytester"]`` is refused in a conftest
    # below the root one when the whole suite runs (tests/conftest.py would be its place).
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")

# What a strict project sets: warnings are errors, pytest-asyncio in auto mode.
INNER_INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
"""

PLUGIN = ("-p", "llmfake", "-p", "no:cacheprovider")


class Inner:
    """A ``pytester`` with a strict ini file that runs inner sessions with the plugin loaded."""

    __test__ = False

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        pytester.makeini(INNER_INI)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pytester, name)

    def ini(self, extra: str) -> None:
        """Replace the ini file: the strict settings plus ``extra`` lines."""
        self.pytester.makeini(INNER_INI + extra)

    def run(self, *args: str) -> pytest.RunResult:
        """An inner session in this process."""
        # pytester drops every module an in-process run imported. The SDKs import parts of
        # themselves and of httpcore2 lazily, on first use: dropped, they are imported afresh
        # later, and the fresh exception classes no longer match the ones the modules that
        # stayed catch (an SDK timeout escapes as a raw httpcore2.ReadTimeout). So the
        # modules from outside the test directory that the inner run imported are put back.
        loaded: dict[str, ModuleType | None] = {}

        class KeepModules:
            def pytest_unconfigure(self) -> None:
                loaded.update(sys.modules)

        result = self.pytester.runpytest(*PLUGIN, *args, plugins=[KeepModules()])
        for name, module in loaded.items():
            if module is not None and name not in sys.modules and self._library(module):
                sys.modules[name] = LIBRARY_MODULES[name] = module
        return result

    def _library(self, module: ModuleType | None) -> bool:
        if module is None or getattr(module, "__spec__", None) is None:
            return False  # test stand-ins (a stub, or None to hide a module)
        file = getattr(module, "__file__", None)
        return file is None or not Path(file).is_relative_to(self.pytester.path)

    def run_subprocess(self, *args: str) -> pytest.RunResult:
        """An inner session in a child process."""
        return self.pytester.runpytest_subprocess(*PLUGIN, *args, timeout=120)


LIBRARY_MODULES: dict[str, ModuleType] = {}
"""Library modules inner runs imported, put back after pytester's own clean-up too."""


@pytest.fixture(autouse=True)
def _keep_library_modules() -> Iterator[None]:
    # Set up before pytester, so torn down after it has restored sys.modules as it found it.
    yield
    for name, module in LIBRARY_MODULES.items():
        sys.modules.setdefault(name, module)


@pytest.fixture
def inner(pytester: pytest.Pytester) -> Inner:
    """A pytester set up like a strict project, running the plugin."""
    return Inner(pytester)
