"""Parsing of durations (``120ms``, ``2s``, ``1.5``, ``1m30s``) and sizes (``10MB``)."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|us|µs|s|m|h)?")
_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?", re.IGNORECASE)
_SIZE_UNITS = {
    None: 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2,
    "gb": 1000**3, "gib": 1024**3,
}


def parse_duration(value: object) -> float:
    """Return ``value`` in seconds; raise ``ValueError`` with the accepted forms otherwise.

    Numbers are seconds. Strings are one or more ``<number><unit>`` parts, units ``us``, ``ms``,
    ``s``, ``m``, ``h``; a bare number string is seconds.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 120ms, 2s or 1.5, got a boolean")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 120ms, 2s or 1.5, got {value!r}")
    text = value.strip()
    pos, total, parts = 0, 0.0, 0
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"expected a duration such as 120ms, 2s or 1.5, got {value!r}")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos, parts = m.end(), parts + 1
        while pos < len(text) and text[pos] == " ":
            pos += 1
    if parts == 0:
        raise ValueError(f"expected a duration such as 120ms, 2s or 1.5, got {value!r}")
    return total


def parse_size(value: object) -> int:
    """Return ``value`` in bytes: an int, or a string such as ``512kb`` or ``10MiB``."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 1048576 or 10MB, got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value}")
        return value
    if isinstance(value, str):
        m = _SIZE.fullmatch(value.strip())
        if m:
            unit = m.group(2).lower() if m.group(2) else None
            # Past 2**63 bytes a limit means "unlimited"; clamping keeps int() off infinity.
            return int(min(float(m.group(1)) * _SIZE_UNITS[unit], 2.0**63 - 1024))
    raise ValueError(f"expected a size such as 1048576 or 10MB, got {value!r}")


def go_duration(seconds: float) -> str:
    """Format ``seconds`` as a Go ``time.Duration`` string, as OpenAI's rate-limit headers do."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        ms = round(seconds * 1000, 3)
        return f"{ms:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = ""
    if hours >= 1:
        out += f"{int(hours)}h"
    if hours >= 1 or minutes >= 1:
        out += f"{int(minutes)}m"
    return out + f"{round(secs, 3):g}s"
