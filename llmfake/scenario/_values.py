"""The kinds of value a scenario key takes: each one check and its JSON Schema, side by side.

A kind is a ``Value`` put in a field's ``Annotated[...]``: pydantic runs its check (which reads
the value, or raises a message that says what is allowed) and publishes its schema. Checks
take no coercion from pydantic: ``"7"`` is no seed and ``1`` no boolean, as in the YAML a user
wrote. What JSON Schema cannot say is only checked: ``1.0`` passes as an ``integer`` there, and a
string ``freeze_time`` such as ``2025-02-30`` matches the pattern but is no date. Where the two
differ otherwise the schema is the stricter: its patterns take ASCII digits only.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, core_schema

from llmfake._duration import parse_duration, parse_size
from llmfake.scenario._model import ERROR_NAMES, STATUS_ERROR

DEFAULT_FROZEN_TIME = 1_700_000_000.0
"""The moment ``freeze_time: true`` stands for."""
_MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z

_NUM = r"(?:[0-9]|\.[0-9])+"
_UNIT = r"(?:ms|us|µs|s|m|h)"
DURATION_PATTERN = rf"^\s*(?:{_NUM}(?:\s*{_UNIT} *|\s+))*{_NUM}\s*{_UNIT}?\s*$"
"""``120ms``, ``2s``, ``1.5``, ``1m30s``: number-unit parts as ``parse_duration`` reads them,
written so that a failed match does not backtrack catastrophically."""

PERCENT_PATTERN = (
    r"^\s*\+?0*(?:100(?:\.0*)?|[0-9]{1,2}(?:\.[0-9]*)?|\.[0-9]+)[^\S\x1c-\x1f]*%\s*$"
)
"""``10%``: a percentage from 0 to 100 (``float`` rejects the separators U+001C-U+001F, which
``str.strip`` would take, between the number and the sign)."""

SPREAD_PERCENT_PATTERN = (
    r"^\s*\+?0*(?:1000(?:\.0*)?|[0-9]{1,3}(?:\.[0-9]*)?|\.[0-9]+)[^\S\x1c-\x1f]*%\s*$"
)
"""A jitter ``spread`` as a percentage, from 0 to 1000."""

STATUS_PATTERN = r"^0*[45][0-9]{2}$"
"""An HTTP status from 400 to 599, written as digits."""

SIZE_PATTERN = r"^\s*[0-9]+(?:\.[0-9]+)?\s*(?:[bB]|[kKmMgG][iI]?[bB])?\s*$"
"""``512kb``, ``10MiB``: a size as ``parse_size`` reads it (units in any case)."""

ISO_PATTERN = (
    r"^(?:19[7-9][0-9]|[2-9][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"(?:[T ](?:[01][0-9]|2[0-3])(?::[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{3}(?:[0-9]{3})?)?)?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?$"
)
"""An ISO 8601 date or date-time as ``datetime.fromisoformat`` reads it on Python 3.10."""

def problem(message: str) -> PydanticCustomError:
    """The error a check raises: ``message`` is what the user reads, after the field's path."""
    return PydanticCustomError("llmfake", "{problem}", {"problem": message})


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity, as Annotated needs
class Value:
    """A kind of value, in a field's ``Annotated[...]``: ``check`` reads it, ``schema`` is how
    JSON Schema says the same."""

    check: Callable[[Any], Any]
    schema: Mapping[str, Any]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> dict[str, Any]:
        return copy.deepcopy(dict(self.schema))


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def kind(value: object) -> str:
    """What ``value`` is, in words, for 'expected X, got Y'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


def hint(value: object, names: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the name nearest to ``value``, if one is near."""
    near = difflib.get_close_matches(str(value), list(names), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise problem(f"expected a string, got {kind(value)}")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise problem(f"expected true or false, got {kind(value)}")
    return value


STR = Value(_str, {"type": "string"})
BOOL = Value(_bool, {"type": "boolean"})


def _whole(value: object, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise problem(f"expected a whole number, got {kind(value)}")
    if high is None and value < low:
        raise problem(f"expected a whole number >= {low}, got {value}")
    if value < low or (high is not None and value > high):
        raise problem(f"expected a whole number from {low} to {high}, got {short(value)}")
    return value


def whole(low: int, high: int | None = None, *, null: bool = False) -> Value:
    """A whole number from ``low`` to ``high``; ``null``: or null, for unlimited."""
    schema: dict[str, Any] = {"type": ["integer", "null"] if null else "integer", "minimum": low}
    if high is not None:
        schema["maximum"] = high
    return Value(lambda v: None if null and v is None else _whole(v, low, high), schema)


def _number(value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise problem(f"expected a number, got {kind(value)}")
    if not low <= value <= high:  # compared before float(): a huge int overflows
        raise problem(f"expected a number from {low:g} to {high:g}, got {short(value)}")
    return float(value)


def number(low: float, high: float) -> Value:
    """A number from ``low`` to ``high``."""
    return Value(lambda v: _number(v, low, high),
                 {"type": "number", "minimum": low, "maximum": high})


def _duration(value: object) -> float:
    try:
        seconds = parse_duration(value)
    except OverflowError:
        raise problem(f"expected a finite duration, got {short(value)}") from None
    except ValueError as exc:
        raise problem(str(exc)) from None
    if not math.isfinite(seconds):
        raise problem(f"expected a finite duration, got {value!r}")
    return seconds


DURATION = Value(_duration, {
    "description": "Seconds as a number, or a string such as 120ms, 2s, 1.5 or 1m30s.",
    "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": DURATION_PATTERN}],
})
"""Seconds, from a number or a string such as ``120ms`` or ``1m30s``."""


def fraction(high: float = 1) -> Value:
    """A fraction from 0 to ``high``, or a percentage (``10%``)."""

    def check(value: object) -> float:
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                value = float(value.strip()[:-1]) / 100
            except ValueError:
                raise problem("expected a fraction such as 0.1 or a percentage such as 10%, "
                              f"got {short(value)}") from None
        return _number(value, 0, high)

    pattern = PERCENT_PATTERN if high == 1 else SPREAD_PERCENT_PATTERN
    return Value(check, {"anyOf": [{"type": "number", "minimum": 0, "maximum": high},
                                   {"type": "string", "pattern": pattern}]})


def _size(value: object) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise problem(str(exc)) from None


SIZE = Value(_size, {"anyOf": [{"type": "integer", "minimum": 0},
                               {"type": "string", "pattern": SIZE_PATTERN}]})
"""Bytes, from a number or a string such as ``10MB``."""


def _moment(value: object) -> float | None:
    if value is False or value is None:
        return None
    if value is True:
        return DEFAULT_FROZEN_TIME
    moment: _dt.datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 0 <= value <= _MAX_EPOCH:
            return float(value)
    elif isinstance(value, _dt.datetime):
        moment = value
    elif isinstance(value, _dt.date):  # YAML reads an unquoted 2025-01-01 as a date
        moment = _dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is not None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_dt.timezone.utc)
        stamp = moment.timestamp()
        if 0 <= stamp <= _MAX_EPOCH:
            return stamp
    raise problem("expected true, an epoch second from 0 to 253402300799 or an ISO 8601 "
                  f"date-time such as 2025-01-01T00:00:00Z, got {short(value)}")


MOMENT = Value(_moment, {"anyOf": [{"type": ["boolean", "null"]},
                                   {"type": "number", "minimum": 0, "maximum": _MAX_EPOCH},
                                   {"type": "string", "pattern": ISO_PATTERN}]})
"""An epoch second, from true, a number or an ISO 8601 date-time; false or null for none."""


def _choice(value: object, names: Iterable[str], what: str, also: str = "") -> str:
    names = tuple(names)
    if not isinstance(value, str) or value not in names:
        more = f", {also}" if also else ""
        raise problem(f"unknown {what} {short(value)}{hint(value, names)}; use one of "
                      f"{', '.join(names)}{more}")
    return value


def choice(names: Iterable[str] | Mapping[str, str], what: str, *, null: bool = False) -> Value:
    """One of ``names``; given a mapping, the schema describes each name with its value."""
    if isinstance(names, Mapping):
        schema: dict[str, Any] = {"anyOf": [{"const": n, "description": d}
                                            for n, d in names.items()]}
    else:
        schema = {"enum": [*names, *([None] if null else [])]}
    return Value(lambda v: None if null and v is None else _choice(v, names, what), schema)


def one_or_many(names: tuple[str, ...], what: str) -> Value:
    """A name or a list of names, read as a tuple."""

    def check(value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            return (_choice(value, names, what),)
        bad: list[tuple[tuple[str | int, ...], str, object]] = []
        for i, v in enumerate(value):
            try:
                _choice(v, names, what)
            except PydanticCustomError as exc:
                bad.append(((i,), exc.message(), v))
        fail(bad)
        return tuple(value)

    return Value(check, {"anyOf": [{"enum": list(names)},
                                   {"type": "array", "items": {"enum": list(names)}}]})


def fail(problems: list[tuple[tuple[str | int, ...], str, object]], title: str = "scenario"
         ) -> None:
    """Raise every problem at once, each at its place (relative to the value being read)."""
    if problems:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=problem(message), loc=loc, input=value)
            for loc, message, value in problems])


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise problem(f"expected a mapping of header name to value, got {kind(value)}")
    bad: list[tuple[tuple[str | int, ...], str, object]] = []
    for name, v in value.items():
        if not isinstance(name, str) or not name:
            bad.append(((), f"header names must be non-empty strings, got {name!r}", value))
        elif isinstance(v, bool) or not isinstance(v, str | int | float):
            bad.append(((name,), f"expected a string, got {kind(v)}", v))
    fail(bad)
    return {name.lower(): str(v) for name, v in value.items()}


HEADERS = Value(_headers, {"type": "object", "propertyNames": {"minLength": 1},
                           "additionalProperties": {"type": ["string", "number"]}})
"""Header names (lowercased) to values (numbers read as strings)."""


def _error(value: object) -> str | int:
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _whole(value, 400, 599)
    return _choice(value, ERROR_NAMES, "error", also="or an HTTP status from 400 to 599")


ERROR = Value(_error, {"anyOf": [
    *choice(ERROR_NAMES, "error").schema["anyOf"], {"type": "integer", "minimum": 400,
                                                   "maximum": 599},
    {"type": "string", "pattern": STATUS_PATTERN}]})
"""An error name, or an HTTP status from 400 to 599 (a number, or digits)."""


def error_name(value: str | int) -> tuple[str, int | None]:
    """The error name and status an ``ERROR`` value stands for."""
    if isinstance(value, int):
        return STATUS_ERROR.get(value, "server_error" if value >= 500 else "bad_request"), value
    return value, None


def _json(value: object) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise problem("expected a JSON value") from None
    return value


JSON = Value(_json, {})


def _of(types: tuple[type, ...], what: str) -> Callable[[object], Any]:
    def check(value: object) -> Any:
        if value is not None and not isinstance(value, types):
            raise problem(f"expected {what}, got {kind(value)}")
        return value

    return check


ARGUMENTS = Value(_of((Mapping, str), "an object or a JSON string"),
                  {"type": ["object", "string", "null"]})
def _schema_object(value: object) -> Any:
    """A JSON Schema the generator can answer (see ``engine._schema_check``)."""
    from llmfake.engine._schema_check import SchemaError, check_schema

    value = _of((Mapping,), "a JSON Schema object")(value)
    if value is not None:
        try:
            check_schema(value)
        except SchemaError as exc:
            raise problem(f"not a JSON Schema llmfake can answer: {exc}") from None
    return value


SCHEMA_OBJECT = Value(_schema_object, {"type": ["object", "null"]})


def _regex(value: object) -> str:
    text = _str(value)
    try:
        re.compile(text)
    except re.error as exc:
        raise problem(f"not a valid regular expression ({exc}): {short(text)}") from None
    return text


REGEX = Value(_regex, {"type": "string", "format": "regex"})
"""A Python regular expression, searched (not matched from the start)."""


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list | tuple) and value and all(
            isinstance(v, str) and v for v in value):
        return tuple(value)
    if isinstance(value, list | tuple):
        raise problem("expected a name or a list of names; the list must hold at least one "
                      "name, and only non-empty strings")
    raise problem(f"expected a name or a list of names, got {kind(value)}")


NAMES = Value(_names, {"anyOf": [
    {"type": "string", "minLength": 1},
    {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}]})
"""A non-empty name (or glob) or a non-empty list of them, read as a tuple."""
