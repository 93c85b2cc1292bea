"""The size of the smallest instance the generator (``_jsonschema``) builds for a schema.

A schema from a request may ask for a huge instance by multiplying counts through nesting:
``minItems`` of items whose ``minLength`` is large, ``minProperties`` members whose values are
arrays, an ``allOf`` whose parts each look small but merge into one that is not, a ``$ref``
with a sibling ``minItems``, a ``const`` copied once per item, a ``pattern`` whose shortest
match is long. ``smallest`` follows the generator's own choices when it is told to produce the
least it can (past its nesting depth or output budget): ``allOf`` and ``$ref`` siblings
merged, the cheapest ``anyOf``/``oneOf`` branch, ``null`` where the type allows it, ``minItems``
items, the required members plus what ``minProperties`` adds. Sizes count string characters,
array items and object members (keys' characters included), a ``const`` or ``enum`` value by
its JSON text (an ``enum`` by its longest entry: the generator picks any). Sizes saturate just
over the cap, and the walk itself is bounded by a step count (a schema too intricate to size
within it counts as too large), so sizing never costs more than reading the schema.

``_schema_check`` refuses a schema whose smallest instance is over its cap; the generator uses
the same measure to pick the cheapest branch once it must stop growing its output.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from llmfake.engine._jsonschema import _PATTERN_STEPS, _merge, _sre, _types, lookup, resolve

__all__ = ["Sizer"]

_STEPS = 200_000  # subschemas sized per schema: past it the schema counts as too large


class Sizer:
    """Sizes of smallest instances of subschemas of ``root``, saturating at ``cap + 1``."""

    def __init__(self, root: Any, cap: int) -> None:
        self.root, self.cap, self.steps = root, cap, 0
        self.memo: dict[int, tuple[Any, int]] = {}  # id(node) -> (node, size): node kept alive

    def smallest(self, schema: Any, depth: int = 0, refs: tuple[str, ...] = ()) -> int:
        """The smallest instance's size of ``schema`` (a subschema of the root)."""
        if not isinstance(schema, Mapping):
            return 1
        hit = self.memo.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
        self.steps += 1
        size = (self.cap + 1 if self.steps > _STEPS or depth > 64
                else min(self._size(schema, depth, refs), self.cap + 1))
        self.memo[id(schema)] = (schema, size)
        return size

    def _size(self, s: Mapping[str, Any], depth: int, refs: tuple[str, ...]) -> int:
        ref = s.get("$ref")
        if isinstance(ref, str):
            if ref in refs:
                return 1  # recursion: the generator stops it with the cheapest value
            target = lookup(self.root, ref)
            rest = {k: v for k, v in s.items() if k != "$ref"}
            if not rest or not isinstance(target, Mapping):
                return self.smallest(rest or target, depth + 1, (*refs, ref))
            return self.smallest(_merge(target, rest), depth + 1, (*refs, ref))
        if "const" in s:
            return _json_size(s["const"])
        if isinstance(s.get("enum"), list) and s["enum"]:
            return max(_json_size(e) for e in s["enum"])
        parts = s.get("allOf")
        if isinstance(parts, list):
            merged = {k: v for k, v in s.items() if k != "allOf"}
            for part in parts:
                part = self._resolve(part)
                merged = _merge(merged, part) if isinstance(part, Mapping) else merged
            return self.smallest(merged, depth + 1, refs)
        for key in ("oneOf", "anyOf"):
            branches = s.get(key)
            if isinstance(branches, list) and branches:
                rest = {k: v for k, v in s.items() if k not in (key, "discriminator")}
                return min(self.smallest(_merge(b, rest) if isinstance(b, Mapping) else b,
                                         depth + 1, refs) for b in map(self._resolve, branches))
        if "null" in _types(s.get("type")):
            return 1
        total = 1 + _count(s.get("minLength")) + _pattern_width(s.get("pattern"))
        total += self._array(s, depth, refs)
        if total <= self.cap:
            total += self._object(s, depth, refs)
        return total

    def _array(self, s: Mapping[str, Any], depth: int, refs: tuple[str, ...]) -> int:
        low = _count(s.get("minItems"))
        if not low:
            return 0
        prefix = p if isinstance(p := s.get("prefixItems"), list) else []
        items = s.get("items", True)
        if isinstance(items, list):  # draft-07 tuple form
            prefix, items = items, s.get("additionalItems", True)
        total = low
        for sub in prefix[:low]:
            total += self.smallest(sub, depth + 1, refs)
            if total > self.cap:
                return total
        rest = low - min(low, len(prefix))
        return total + (rest * self.smallest(items, depth + 1, refs) if rest else 0)

    def _object(self, s: Mapping[str, Any], depth: int, refs: tuple[str, ...]) -> int:
        props = p if isinstance(p := s.get("properties"), Mapping) else {}
        extra = s.get("additionalProperties", True)
        values = True if extra is False else extra
        required = [r for r in s.get("required") or () if isinstance(r, str)]
        total = 0
        for name in required:
            total += 1 + len(name) + self.smallest(props.get(name, values), depth + 1, refs)
            if total > self.cap:
                return total
        want = _count(s.get("minProperties")) - len(set(required))
        if want <= 0:
            return total
        optional = [n for n in props if n not in required][:want]
        for name in optional:
            total += 1 + len(str(name)) + self.smallest(props[name], depth + 1, refs)
            if total > self.cap:
                return total
        want -= len(optional)
        if want > 0:
            names = s.get("propertyNames")
            key = self.smallest(names, depth + 1, refs) if isinstance(names, Mapping) else 1
            total += want * (1 + key + self.smallest(values, depth + 1, refs))
        return total

    def _resolve(self, schema: Any) -> Any:
        return resolve(self.root, schema)  # as the generator resolves it


def _count(value: Any) -> int:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    return int(min(value, 1 << 62)) if ok else 0


def _json_size(value: Any) -> int:
    try:
        return len(json.dumps(value))
    except (TypeError, ValueError, RecursionError):
        return 1


@functools.lru_cache(maxsize=256)
def _pattern_width_cached(pattern: str) -> int:
    try:
        low = int(_sre.parse(pattern).getwidth()[0])
    except Exception:  # the generator falls back to words when it cannot parse either
        return 0
    return low if low <= _PATTERN_STEPS else 0  # past its step budget it falls back to words


def _pattern_width(pattern: Any) -> int:
    return _pattern_width_cached(pattern) if isinstance(pattern, str) else 0
