"""Every ```python block in the README and docs/ runs, and every ```yaml block loads."""

from __future__ import annotations

import gc
import os
import re
import shutil
import warnings
from pathlib import Path

import pytest

from llmfake.scenario import scenario_from_text

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```(python|yaml)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(kind: str) -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            if match.group(1) == kind:
                line = text[: match.start()].count("\n") + 1
                found.append((f"{page.relative_to(ROOT)}:{line}", match.group(2)))
    return found


@pytest.mark.parametrize(("where", "code"), blocks("python"), ids=lambda v: v[:40])
def test_python_examples_run(where, code):
    if "redis-server" in code and shutil.which("redis-server") is None:
        from llmfake._redis_server import INSTALL_HINT

        if os.environ.get("LLMFAKE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"LLMFAKE_REQUIRE_SERVICES=1 and {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)
    # Examples keep to what a reader needs, so they leave SDK clients for the garbage collector
    # to close; collect here, where that ResourceWarning is not an error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        exec(compile(code, where, "exec"), {"__name__": "__docs__"})
        gc.collect()


@pytest.mark.parametrize(("where", "text"), blocks("yaml"), ids=lambda v: v[:40])
def test_yaml_examples_load(where, text):
    scenario_from_text(text, where)


def test_there_are_examples():
    assert len(blocks("python")) >= 5
