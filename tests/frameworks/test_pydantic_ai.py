"""docs/cookbook-pydantic-ai.md: a pydantic-ai agent's tool loop, output validation retries and
FallbackModel against the fake, configured through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pydantic_ai", reason="pip install -e '.[frameworks]'")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cookbook-pydantic-ai.md"


def test_the_pydantic_ai_drills_pass(drill):
    drill.run(PAGE.name)
