"""docs/cookbook-litellm.md: litellm's Router retrying, cooling down, falling back and timing
out against the fake, through its own configuration (environment variables)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

# Not importorskip: importing litellm downloads its cost map from GitHub unless told not to,
# and this process has no business off loopback (the drills' child sets the variable).
pytestmark = pytest.mark.skipif(importlib.util.find_spec("litellm") is None,
                                reason="pip install -e '.[frameworks]'")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cookbook-litellm.md"


def test_the_litellm_drills_pass(drill):
    drill.run(PAGE.name)
