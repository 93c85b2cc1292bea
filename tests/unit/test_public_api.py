"""The public surface: a sorted ``__all__`` that names exactly the public names, documented."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import llmfake


def test_all_is_sorted_and_complete():
    assert list(llmfake.__all__) == sorted(llmfake.__all__)
    public = {n for n in dir(llmfake) if not n.startswith("_")} | {"Server", "serve"}
    modules = {n for n in public if inspect.ismodule(getattr(llmfake, n))}
    assert set(llmfake.__all__) - {"__version__"} == public - modules


def test_every_public_name_resolves_and_is_documented():
    for name in llmfake.__all__:
        value = getattr(llmfake, name)
        if callable(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_error_tree():
    assert issubclass(llmfake.ScenarioError, llmfake.LLMFakeError)
    assert issubclass(llmfake.ScenarioError, ValueError)
    assert issubclass(llmfake.ServerError, RuntimeError)


def test_every_llmfake_error_is_in_errors_and_exported():
    import llmfake.errors
    import llmfake.intercept
    import llmfake.record  # its classes are subclasses too, once imported

    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    for cls in subclasses(llmfake.LLMFakeError):
        assert cls.__module__ == "llmfake.errors", f"{cls.__name__} is defined outside errors.py"
        assert getattr(llmfake, cls.__name__) is cls, f"{cls.__name__} is not exported"
        assert cls.__name__ in (llmfake.errors.__doc__ or ""), f"{cls.__name__} not in the tree"


@pytest.mark.parametrize("module", ["llmfake.ui", "llmfake.server", "llmfake.metrics",
                                    "llmfake.record"])
def test_each_package_imports_on_its_own(module):
    # A cycle (ui -> server -> _app -> ui) once broke importing the dashboard first.
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
