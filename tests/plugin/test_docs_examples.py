"""The ```py test modules of the plugin's docs pages pass unchanged, as a user's suite.

tests/test_docs.py runs ```python blocks as programs; these pages use ```py for pytest test
modules instead, and this file runs them with pytester, in a child process, as a user would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ("pytest-plugin.md", "cookbook-pytest.md", "../README.md")
BLOCK = re.compile(r"^```py\n(.*?)^```", re.MULTILINE | re.DOTALL)
TEST = re.compile(r"^(?:async )?def (test_\w+)", re.MULTILINE)


def examples(page: str) -> list[tuple[str, str]]:
    """(name, source) of every ```py block of ``page``, named after the page and its line."""
    text = (DOCS / page).read_text(encoding="utf-8")
    stem = Path(page).stem.replace("-", "_").lower()
    return [(f"test_{stem}_line{text[:m.start()].count(chr(10)) + 1}", m.group(1))
            for m in BLOCK.finditer(text)]


@pytest.mark.parametrize("page", PAGES)
def test_the_docs_test_modules_pass_unchanged(inner, page):
    blocks = examples(page)
    assert len(blocks) >= (1 if page.endswith("README.md") else 5)
    tests = 0
    for name, source in blocks:
        inner.makepyfile(**{name: source})
        tests += len(TEST.findall(source))
    result = inner.run_subprocess("-v")
    result.assert_outcomes(passed=tests)


def test_the_cookbook_uses_only_the_fixture_and_the_sdks():
    # "A user's test file that uses only `import openai` and the llmfake fixture passes."
    for name, source in examples("cookbook-pytest.md"):
        assert "import llmfake" not in source and "from llmfake" not in source, name
