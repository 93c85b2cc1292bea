"""The ```py test modules of the docs pages pass unchanged, as a user's suite.

tests/test_docs.py runs ```python blocks as programs; pages use ```py for pytest test modules
instead, and this file runs them with pytester, in a child process, as a user would. Every page
of docs/ (and the README) with a ```py block is collected: a new page needs no registration.

A block whose first line is ``# file: NAME.py`` is a helper module the page's tests import
(``from breaker import Breaker``); it is written under that name and holds no tests. The
quickstart's ```py title="..." blocks are a story of their own, run by
tests/plugin/test_docs_quickstart.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```py\n(.*?)^```", re.MULTILINE | re.DOTALL)
TEST = re.compile(r"^(?:async )?def (test_\w+)", re.MULTILINE)
HELPER = re.compile(r"\A# file: (\w+)\.py\n")
OWN_TESTS = {"docs/vcr.md": "tests/record/test_vcr.py",
             "docs/cookbook-litellm.md": "tests/frameworks/test_litellm.py",
             "docs/cookbook-langchain.md": "tests/frameworks/test_langchain.py",
             "docs/cookbook-pydantic-ai.md": "tests/frameworks/test_pydantic_ai.py",
             "docs/cookbook-openai-agents.md": "tests/frameworks/test_openai_agents.py"}
"""Pages whose ```py blocks need a set-up of their own (a conftest, recorded cassettes, the
frameworks extra): the test file named runs them instead."""
PAGES = sorted(str(page.relative_to(ROOT)) for page in [ROOT / "README.md",
                                                         *(ROOT / "docs").rglob("*.md")]
               if BLOCK.search(page.read_text(encoding="utf-8"))
               and str(page.relative_to(ROOT)) not in OWN_TESTS)


def examples(page: str) -> list[tuple[str, str]]:
    """(module name, source) of every ```py block of ``page``, named after the page and line."""
    text = (ROOT / page).read_text(encoding="utf-8")
    stem = Path(page).stem.replace("-", "_").lower()
    found = []
    for m in BLOCK.finditer(text):
        helper = HELPER.match(m.group(1))
        line = text[:m.start()].count("\n") + 1
        found.append((helper.group(1) if helper else f"test_{stem}_line{line}", m.group(1)))
    return found


def test_the_pages_are_found():
    for page in ("README.md", "docs/pytest-plugin.md", "docs/cookbook-retries.md",
                 "docs/cookbook-circuit-breaker.md", "docs/intercept.md"):
        assert page in PAGES


@pytest.mark.parametrize(("page", "test_file"), OWN_TESTS.items())
def test_pages_with_their_own_test_are_run_by_it(page, test_file):
    assert BLOCK.search((ROOT / page).read_text(encoding="utf-8")), f"{page}: no ```py block"
    assert f"docs\" / \"{Path(page).name}" in (ROOT / test_file).read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES)
def test_the_docs_test_modules_pass_unchanged(inner, page):
    blocks = examples(page)
    tests = 0
    for name, source in blocks:
        inner.makepyfile(**{name: source})
        tests += len(TEST.findall(source))
    assert tests >= 1, f"{page}: its ```py blocks hold no test"
    result = inner.run_subprocess("-v")
    result.assert_outcomes(passed=tests)


@pytest.mark.parametrize("page", [p for p in PAGES if Path(p).name.startswith("cookbook")])
def test_the_cookbook_uses_only_the_fixture_and_the_sdks(page):
    # "A user's test file that uses only `import openai` and the llmfake fixture passes."
    for name, source in examples(page):
        assert "import llmfake" not in source and "from llmfake" not in source, name
