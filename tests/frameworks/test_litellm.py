"""docs/cookbook-litellm.md: litellm's Router retrying, cooling down, falling back and timing
out against the fake, through its own configuration (environment variables)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("litellm", reason="pip install -e '.[frameworks]'")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cookbook-litellm.md"


def test_the_litellm_drills_pass(drill):
    drill.run(PAGE.name)
