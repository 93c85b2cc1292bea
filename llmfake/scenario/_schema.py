"""The JSON Schema of the scenario format (placeholder until completed)."""

from __future__ import annotations

from typing import Any


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario document."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}
