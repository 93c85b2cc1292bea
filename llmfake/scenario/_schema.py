"""The JSON Schema (draft 2020-12) of the scenario format, for editors and other tools.

Generated from the models of ``_format``: their keys, their docstrings as descriptions, and the
schema of each kind of value (``_values``). What JSON Schema cannot say (a match's ``before``
later than its ``after``, a real date) only ``llmfake validate`` checks.
"""

from __future__ import annotations

import ast
import copy
import functools
import inspect
import itertools
from typing import Any

from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from llmfake.scenario import _format
from llmfake.scenario._format import Scenario
from llmfake.scenario._model import ERROR_NAMES as ERROR_NAMES
from llmfake.scenario._model import FAULT_NAMES as FAULT_NAMES
from llmfake.scenario._values import DURATION

SCHEMA_ID = "https://llmfake.dev/schema/scenario.json"


class _Published(GenerateJsonSchema):
    """Pydantic's schema without a title per key or the defaults (the descriptions say them)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> dict[str, Any]:
        return self.generate_inner(schema["schema"])


def _tidy(node: Any) -> Any:
    """``node`` with descriptions on one line and durations referring to ``$defs/duration``."""
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("anyOf") == DURATION.schema["anyOf"]:
        node = {"$ref": "#/$defs/duration", "description": node["description"]}
    return {key: " ".join(value.split()) if key == "description" and isinstance(value, str)
            else _tidy(value) for key, value in node.items()}


def _key_docstrings() -> dict[str, dict[str, str]]:
    """Each class of ``_format``: its keys' docstrings (the string right after a key)."""
    found: dict[str, dict[str, str]] = {}
    for node in ast.walk(ast.parse(inspect.getsource(_format))):
        if isinstance(node, ast.ClassDef):
            found[node.name] = {
                key.target.id: inspect.cleandoc(doc.value.value)
                for key, doc in itertools.pairwise(node.body)
                if isinstance(key, ast.AnnAssign) and isinstance(key.target, ast.Name)
                and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)}
    return found


def _describe_keys() -> None:
    """Give every key of the format's models its docstring as its description, and rebuild
    the models (in the order they are declared, so each nested one is rebuilt first)."""
    docs = _key_docstrings()
    for model in vars(_format).values():
        if not (isinstance(model, type) and issubclass(model, _format._Doc)):
            continue
        for name, field in model.model_fields.items():
            if field.description is None:
                field.description = next((docs[base.__name__][name] for base in model.__mro__
                                          if name in docs.get(base.__name__, {})), None)
        model.model_rebuild(force=True)


@functools.cache
def _schema() -> dict[str, Any]:
    _describe_keys()
    generated = _tidy(Scenario.model_json_schema(schema_generator=_Published))
    generated.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "llmfake scenario",
        **generated,
        "$defs": {"duration": dict(DURATION.schema), **generated["$defs"]},
    }


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario document (a fresh copy on each call)."""
    return copy.deepcopy(_schema())
