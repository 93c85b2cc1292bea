"""docs/cookbook-langchain.md: ChatOpenAI and ChatAnthropic with with_retry and with_fallbacks
against the fake, configured through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("langchain_openai", reason="pip install -e '.[frameworks]'")
pytest.importorskip("langchain_anthropic", reason="pip install -e '.[frameworks]'")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cookbook-langchain.md"


def test_the_langchain_drills_pass(drill):
    drill.run(PAGE.name)
