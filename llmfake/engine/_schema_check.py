"""Refuse a JSON Schema from a request before anything generates from it.

A response format or a tool's parameters come from the client; the generator
(``_jsonschema``) answers them with an instance, so a schema must not be able to make that
instance, or the work of finding it, larger than a model could ever answer. ``check_schema``
raises ``SchemaError`` (a ``ValueError``) for:

- a keyword of the wrong type where the generator reads it (``"required": 5``, ``"type": 3``,
  ``"minItems": "x"``, ``"properties": []``): JSON Schema's own meta-schema rejects these too;
- ``multipleOf`` that is not a number above 0 (the meta-schema's ``exclusiveMinimum: 0``), or
  one below ``1e-300``, whose multiples floats cannot count (``1e-320``);
- a ``pattern`` that Python's ``re`` cannot compile, or longer than ``MAX_PATTERN``;
- nesting deeper than ``MAX_DEPTH`` or more than ``MAX_NODES`` subschemas;
- a smallest instance over ``MAX_INSTANCE``: string characters, array items and object members
  added up over what ``minLength``, ``minItems``, ``minProperties``, ``required``, ``const``
  and ``pattern`` demand, multiplied through nesting, ``allOf`` and ``$ref`` (``"minItems":
  100000000``, ``"minLength": 1e9``, nested ``minItems`` that multiply; see ``_schema_size``).

Each message names the place by JSON pointer (``#/properties/tags/minItems``). Providers turn
it into their own 400 (see ``providers._base.check_call_schemas``); the scenario loader into a
``ScenarioError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from llmfake.engine._schema_size import Sizer

__all__ = ["MAX_DEPTH", "MAX_INSTANCE", "MAX_NODES", "MAX_PATTERN", "SchemaError",
           "check_schema"]

MAX_DEPTH = 64
"""Subschemas nested deeper than this are refused."""
MAX_NODES = 10_000
"""Subschemas in one schema, counted through every keyword that holds one."""
MAX_INSTANCE = 100_000
"""The largest smallest instance a schema may ask for (string characters, array items and
object members, added up): several times a model's longest reply."""
MAX_PATTERN = 2_000
"""Characters of a ``pattern``."""

_ONE = ("items", "additionalProperties", "propertyNames", "not", "if", "then", "else",
        "contains", "additionalItems", "unevaluatedItems", "unevaluatedProperties")
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_NAMED = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_NUMBERS = ("minimum", "maximum")
_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


class SchemaError(ValueError):
    """A schema llmfake refuses to answer; the message says where (a JSON pointer) and why."""


def check_schema(schema: Any) -> None:
    """Raise ``SchemaError`` when ``schema`` is malformed or asks for too much (see above)."""
    _Checker(schema).run()


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


class _Checker:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.nodes = 0

    def run(self) -> None:
        stack: list[tuple[Any, str, int]] = [(self.root, "#", 0)]
        while stack:
            node, where, depth = stack.pop()
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise SchemaError(f"the schema has more than {MAX_NODES} subschemas")
            if depth > MAX_DEPTH:
                raise SchemaError(f"{where}: the schema nests deeper than {MAX_DEPTH} levels")
            if isinstance(node, bool):
                continue
            if not isinstance(node, Mapping):
                raise SchemaError(f"{where}: a schema must be an object or a boolean")
            self.keywords(node, where)
            for key in _ONE:
                if key in node:
                    stack.append((node[key], f"{where}/{key}", depth + 1))
            if isinstance(node.get("items"), list):
                stack.pop()  # draft-07 tuple form: its entries, below
                stack += [(s, f"{where}/items/{i}", depth + 1)
                          for i, s in enumerate(node["items"])]
            for key in _MANY:
                if key in node:
                    value = node[key]
                    if not isinstance(value, list) or (key != "prefixItems" and not value):
                        raise SchemaError(f"{where}/{key}: must be a non-empty array of schemas"
                                          if key != "prefixItems" else
                                          f"{where}/{key}: must be an array of schemas")
                    stack += [(s, f"{where}/{key}/{i}", depth + 1) for i, s in enumerate(value)]
            for key in _NAMED:
                if key in node:
                    value = node[key]
                    if not isinstance(value, Mapping):
                        raise SchemaError(f"{where}/{key}: must be an object")
                    stack += [(s, f"{where}/{key}/{_escape(str(k))}", depth + 1)
                              for k, s in value.items()]
        if Sizer(self.root, MAX_INSTANCE).smallest(self.root) > MAX_INSTANCE:
            raise SchemaError(f"its smallest instance is over {MAX_INSTANCE} characters, items "
                              "and members (minLength, minItems, minProperties, required and "
                              "const, multiplied through nesting): no model answers that much")

    def keywords(self, s: Mapping[str, Any], where: str) -> None:
        kind = s.get("type")
        kinds = [kind] if isinstance(kind, str) else kind
        if kind is not None and not (isinstance(kinds, list) and kinds and all(
                isinstance(k, str) and k in _TYPES for k in kinds)):
            raise SchemaError(f"{where}/type: must be one of {', '.join(sorted(_TYPES))}, or "
                              "a non-empty array of them")
        required = s.get("required")
        if required is not None and not (isinstance(required, list)
                                         and all(isinstance(r, str) for r in required)):
            raise SchemaError(f"{where}/required: must be an array of strings")
        for key in _COUNTS:
            value = s.get(key)
            if value is not None and not (_num(value) and value >= 0 and math.isfinite(value)
                                          and float(value).is_integer()):
                raise SchemaError(f"{where}/{key}: must be a non-negative integer")
        for key in _NUMBERS:
            value = s.get(key)
            if value is not None and not _num(value):
                raise SchemaError(f"{where}/{key}: must be a number")
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            value = s.get(key)
            if value is not None and not (_num(value) or isinstance(value, bool)):
                raise SchemaError(f"{where}/{key}: must be a number")
        step = s.get("multipleOf")
        if step is not None:
            if not (_num(step) and step > 0 and math.isfinite(step)):
                raise SchemaError(f"{where}/multipleOf: must be a number greater than 0")
            if step < 1e-300:
                raise SchemaError(f"{where}/multipleOf: {step!r} is too small to count "
                                  "multiples of (the least is 1e-300)")
        if "enum" in s and not isinstance(s["enum"], list):
            raise SchemaError(f"{where}/enum: must be an array")
        for key in ("format", "$ref"):
            if key in s and not isinstance(s[key], str):
                raise SchemaError(f"{where}/{key}: must be a string")
        pattern = s.get("pattern")
        if pattern is not None:
            if not isinstance(pattern, str):
                raise SchemaError(f"{where}/pattern: must be a string")
            if len(pattern) > MAX_PATTERN:
                raise SchemaError(f"{where}/pattern: longer than {MAX_PATTERN} characters")
            try:
                re.compile(pattern)
            except (re.error, RecursionError, OverflowError) as exc:
                raise SchemaError(f"{where}/pattern: not a valid regular expression ({exc})"
                                  ) from None

