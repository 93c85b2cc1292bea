"""YAML loading through libyaml where PyYAML was built with it.

The C loader reads a 373 KiB cassette in about 39 ms where the pure-Python one takes 363 ms;
both build the same objects, so the choice changes nothing but the time.
"""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The fastest safe loader this PyYAML has."""


def safe_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` through ``SafeLoader``."""
    return yaml.load(text, Loader=SafeLoader)
