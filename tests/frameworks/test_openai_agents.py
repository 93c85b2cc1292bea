"""docs/cookbook-openai-agents.md: an OpenAI Agents SDK agent's tool loop, the openai SDK's and
the runner's retries, and broken streams, against the fake, configured through the
environment."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("agents", reason="pip install -e '.[frameworks]'")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cookbook-openai-agents.md"


def test_the_openai_agents_drills_pass(drill):
    drill.run(PAGE.name)
