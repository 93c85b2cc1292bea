"""Resilience assertions on a journal (placeholder; the pytest plugin issue fills it in)."""

from __future__ import annotations


class JournalAssertions:
    """Assertion methods mixed into ``llmfake.journal.Journal``."""
