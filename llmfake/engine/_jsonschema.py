"""Generate a JSON value that validates against a JSON Schema.

Answers ``response_format: {"type": "json_schema", ...}`` requests with a plausible,
deterministic instance. It covers the draft 2020-12 subset that pydantic v2's
``model_json_schema()`` and openai's strict-schema conversion emit: ``type`` (a name or a list),
``properties``/``required``/``additionalProperties``/``propertyNames``/``min|maxProperties``,
``items``/``prefixItems``/``min|maxItems``/``uniqueItems``, string length, ``format`` and
``pattern``, numeric bounds and ``multipleOf``, ``enum``/``const``, local ``$ref`` (any JSON
pointer into the root, e.g. ``#/$defs/X`` or ``#/definitions/X``), ``anyOf``/``oneOf``/``allOf``
and boolean subschemas. Every declared property is emitted. Recursion is bounded: past a small
depth, or a total visit budget, it picks the cheapest value the schema allows (a null branch,
``minItems`` items, required keys only).

Limits: ``not``, ``if``/``then``/``else``, ``contains``, ``dependent*``, ``patternProperties``,
``unevaluated*`` and remote or anchor ``$ref`` are ignored; ``pattern`` is best effort (a string
built from Python's own regex parse tree, checked with ``re.search``, else plain words); length
limits do not apply to ``format`` strings; ``oneOf`` exclusivity is checked only shallowly
(type, const, enum, required and property types); an unsatisfiable schema gives an invalid value.

Bounds: the schema comes from a request, so nothing in it may cost the server more than a model
could answer. ``_schema_check.check_schema`` refuses, before the generator runs, what is
malformed or too large (the providers answer it with their 400). The generator itself never
raises and stays bounded whatever it is given: a pattern's string is built within a step
budget, and checked with ``re.search`` only when the pattern holds what the builder skips
(lookarounds, back references, inner anchors) and cannot backtrack catastrophically (no repeat
around an alternation or another open-ended repeat), so ``"pattern": "^(a|a){24}(?=b)"`` costs
microseconds, not seconds.
"""

from __future__ import annotations

import copy
import datetime
import functools
import importlib
import json
import math
import random
import re
import string
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

__all__ = ["DEFAULT_WORDS", "instance_from_schema"]

DEFAULT_WORDS: tuple[str, ...] = (
    "apple", "river", "stone", "cloud", "green", "quick", "table", "light", "north", "paper",
    "music", "silver", "garden", "window", "orange", "bright", "forest", "market", "yellow",
    "simple", "winter", "summer", "copper", "planet", "rocket", "bridge", "castle", "island",
    "mountain", "ocean", "pencil", "violet", "thunder", "harbor", "meadow", "lantern", "canyon",
    "falcon", "maple", "velvet", "signal", "anchor", "breeze", "candle", "desert", "ember",
)  # fmt: skip

_DEEP = 6  # nesting depth after which only the cheapest valid value is produced
_BUDGET = 1000  # subschema visits after which everything counts as deep: bounds the output size
_GIVE_UP = 64  # with 10 * _BUDGET visits, a hard stop for required recursion that never ends
_GROW = 20_000  # output size (characters, items, members) past which only the least is added
_STOP = 400_000  # output size past which every further value is null: a hard stop
_PATTERN_STEPS = 50_000  # parse-tree steps (characters, mostly) one pattern string may take
_VERIFY_CHARS = 256  # longest built string re.search checks against a pattern that needs it
_ALPHABET = string.ascii_letters + string.digits + " _-.@:/"
_EPOCH = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
_HINTS = (
    ("object", ("properties", "required", "additionalProperties", "minProperties",
                "maxProperties", "propertyNames", "patternProperties")),
    ("array", ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains")),
    ("string", ("minLength", "maxLength", "pattern", "format")),
    ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")),
)  # fmt: skip
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_FORMAT_ALIASES = {"url": "uri", "uri-reference": "uri", "iri": "uri", "iri-reference": "uri",
                   "idn-email": "email", "idn-hostname": "hostname"}  # fmt: skip

try:  # re._parser is private but stdlib; 3.11+ warns on the old sre_parse name
    _sre: Any = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - Python 3.10
    _sre = importlib.import_module("sre_parse")


def instance_from_schema(
    schema: Mapping[str, Any], rng: random.Random, *, words: Sequence[str] = DEFAULT_WORDS
) -> Any:
    """Return a JSON value (dict/list/str/int/float/bool/None) that validates against `schema`
    (JSON Schema draft 2020-12 subset used by OpenAI structured outputs and pydantic).
    Deterministic: the same schema and an rng in the same state give the same value."""
    vocab = tuple(w for w in words if w) or DEFAULT_WORDS
    return _Generator(schema, rng, vocab).gen(schema, 0)


def _num(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _types(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []


def _merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Approximate the intersection of two schemas (allOf, $ref siblings, union siblings)."""
    out = dict(a)
    for key, new in b.items():
        old = out.get(key)
        if key not in out:
            out[key] = new
        elif key == "properties" and isinstance(old, Mapping) and isinstance(new, Mapping):
            props = dict(old)
            for name, sub in new.items():
                both = isinstance(props.get(name), Mapping) and isinstance(sub, Mapping)
                props[name] = _merge(props[name], sub) if both else sub
            out[key] = props
        elif key in ("required", "allOf") and isinstance(old, list) and isinstance(new, list):
            out[key] = old + [x for x in new if x not in old]
        elif key in _LOWER + _UPPER and _num(old) is not None and _num(new) is not None:
            out[key] = max(old, new) if key in _LOWER else min(old, new)
        elif key == "type":
            mine, theirs = _types(old), _types(new)
            common = [t for t in mine if t in theirs]
            if {"integer", "number"} <= {*mine, *theirs} and "integer" not in common:
                common.append("integer")  # an integer is also a number
            out[key] = common or new
        else:
            out[key] = new
    return out


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and bool(a == b)


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and _num(value) is not None:
        return kind == "number" or float(value).is_integer()
    kinds: dict[str, type] = {"string": str, "boolean": bool, "array": list, "object": dict}
    return value is None if kind == "null" else isinstance(value, kinds.get(kind, type(None)))


def _unique_key(value: Any) -> str:
    # jsonschema's uniqueItems treats 1 and 1.0 as equal but true and 1 as distinct
    if _num(value) is not None and float(value).is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True, default=str)


def _in_class(items: Any, ch: str) -> bool:
    tests: dict[str, Callable[[str], bool]] = {
        "DIGIT": str.isdigit, "SPACE": str.isspace, "WORD": lambda c: c.isalnum() or c == "_"
    }  # fmt: skip
    for op, av in items:
        if (op.name == "LITERAL" and ch == chr(av)) or (
            op.name == "RANGE" and av[0] <= ord(ch) <= av[1]
        ):
            return True
        if op.name == "CATEGORY":
            base = av.name.removeprefix("CATEGORY_")
            test = tests.get(base.removeprefix("NOT_"))
            if test is not None and test(ch) != base.startswith("NOT_"):
                return True
    return False


class _Steps:
    """What is left of one pattern string's step budget."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left

    def take(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise ValueError("pattern string over its step budget")


def _emit(tree: Any, rng: random.Random, extra: int, spread: int, steps: _Steps) -> str:
    """Build one string from a parsed regex; anchors and lookarounds are skipped, not honoured."""
    out: list[str] = []
    for op, av in tree:
        steps.take()
        name = op.name
        if name == "LITERAL":
            out.append(chr(av))
        elif name in ("NOT_LITERAL", "ANY"):
            out.append("a" if av != ord("a") else "b")
        elif name == "IN":
            negate = bool(av) and av[0][0].name == "NEGATE"
            pool = [c for c in _ALPHABET if _in_class(av[1:] if negate else av, c) != negate]
            if not negate:  # members outside _ALPHABET, e.g. non-ASCII ranges
                pool += [
                    chr(a if o.name == "LITERAL" else a[0]) for o, a in av if o.name != "CATEGORY"
                ]
            out.append(rng.choice(pool))
        elif name == "BRANCH":
            out.append(_emit(rng.choice(av[1]), rng, extra, spread, steps))
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            out.append(_emit(av[-1] if name == "SUBPATTERN" else av, rng, extra, spread, steps))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            first = min(high, low + extra)
            count = rng.randint(first, min(high, first + spread))
            steps.take(count)  # a{1000000} stops here, before building anything
            out.extend(_emit(sub, rng, extra, spread, steps) for _ in range(count))
        elif name not in ("AT", "ASSERT", "ASSERT_NOT"):
            raise ValueError(f"unsupported regex construct {name}")
    return "".join(out)


_CHECKED = frozenset({"ASSERT", "ASSERT_NOT", "GROUPREF", "GROUPREF_EXISTS"})


def _needs_check(tree: Any, top: bool = True) -> bool:
    """Whether a string built from ``tree`` may miss the pattern: it holds a lookaround, or an
    anchor anywhere but at the very start or end (the builder honours neither)."""
    items = list(tree)
    for i, (op, av) in enumerate(items):
        name = op.name
        if name in _CHECKED:
            return True
        if name == "AT" and not (top and (i == 0 or i == len(items) - 1)):
            return True
        for sub in _children(name, av):
            if _needs_check(sub, False):
                return True
    return False


def _children(name: str, av: Any) -> list[Any]:
    if name == "BRANCH":
        return list(av[1])
    if name == "SUBPATTERN":
        return [av[-1]]
    if name == "ATOMIC_GROUP":
        return [av]
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        return [av[2]]
    return []


def _ambiguous(tree: Any, in_repeat: bool = False) -> bool:
    """Whether ``re.search`` may backtrack exponentially on ``tree``: a repeat around an
    alternation or around another repeat of variable count (``(a|a){24}``, ``(a+)+``)."""
    for op, av in tree:
        name = op.name
        if in_repeat and (name == "BRANCH" or (
                name in ("MAX_REPEAT", "MIN_REPEAT") and av[0] != av[1])):
            return True
        repeat = name in ("MAX_REPEAT", "MIN_REPEAT") and av[1] > 1
        if any(_ambiguous(sub, in_repeat or repeat) for sub in _children(name, av)):
            return True
    return False


@functools.lru_cache(maxsize=64)
def _parsed(pattern: str) -> tuple[Any, bool, bool]:
    """A pattern's parse tree, whether a built string needs ``re.search``, and whether that
    search may backtrack: once per pattern, not once per string built from it."""
    tree = _sre.parse(pattern)
    return tree, _needs_check(tree), _ambiguous(tree)


def _from_pattern(pattern: str, rng: random.Random, extra: int, spread: int,
                  steps: _Steps) -> str | None:
    try:
        tree, check, ambiguous = _parsed(pattern)
        text = _emit(tree, rng, extra, spread, steps)
        if not check:
            return text
        if len(text) > _VERIFY_CHARS or ambiguous:
            return None  # checking could take the loop for seconds: give up on this pattern
        steps.take(len(text))
        return text if re.search(pattern, text) else None
    except Exception:  # exotic syntax, a budget spent, or a changed private parser
        return None


def _formatted(fmt: str, rng: random.Random, word: Callable[[], str]) -> str | None:
    moment = _EPOCH + datetime.timedelta(seconds=rng.randrange(5 * 365 * 86400))
    makers: dict[str, Callable[[], str]] = {
        "date-time": lambda: moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "date": lambda: moment.strftime("%Y-%m-%d"),
        "time": lambda: moment.strftime("%H:%M:%SZ"),
        "duration": lambda: f"P{rng.randint(1, 30)}D",
        "email": lambda: f"{word()}.{word()}@example.com",
        "uri": lambda: f"https://example.com/{word()}/{word()}",
        "hostname": lambda: f"{word()}.example.com",
        "uuid": lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "ipv4": lambda: ".".join(str(rng.randint(1, 254)) for _ in range(4)),
        "ipv6": lambda: "2001:db8::" + ":".join(f"{rng.randrange(65536):x}" for _ in range(4)),
        "json-pointer": lambda: f"/{word()}/{rng.randint(0, 9)}",
        "regex": lambda: "^[a-z]+$",
    }
    maker = makers.get(_FORMAT_ALIASES.get(fmt, fmt))
    return maker() if maker else None


def lookup(root: Any, ref: str) -> Any:
    """The subschema a local ``$ref`` (``#``, ``#/$defs/x``) points to in ``root``; ``True``
    (anything) for remote and anchor refs, which are out of scope, and for dangling ones."""
    if ref != "#" and not ref.startswith("#/"):
        return True
    node: Any = root
    for raw in ref[2:].split("/") if ref != "#" else []:
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return True
    return node


def resolve(root: Any, schema: Any) -> Any:
    """``schema`` with its ``$ref`` followed (its other keywords merged over the target), until
    what is left is no bare reference; 32 steps stop a cycle of bare refs with no container in
    between."""
    for _ in range(32):
        if not (isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str)):
            break
        target = lookup(root, schema["$ref"])
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        if isinstance(target, Mapping):
            schema = _merge(target, rest)
        else:
            schema = target if target is False or not rest else rest
    return schema


class _Generator:
    def __init__(self, root: Mapping[str, Any], rng: random.Random, words: tuple[str, ...]):
        self.root, self.rng, self.words, self.visits = root, rng, words, 0
        self.spent = 0  # output size so far: characters, array items, object members
        self.sizer: Any = None  # built when a union must pick its smallest branch

    def word(self) -> str:
        return self.rng.choice(self.words)

    def lookup(self, ref: str) -> Any:
        return lookup(self.root, ref)

    def resolve(self, schema: Any) -> Any:
        return resolve(self.root, schema)

    def gen(self, schema: Any, depth: int) -> Any:
        self.visits += 1
        self.spent += 1
        if self.spent > _STOP:
            return None
        s = self.resolve(schema)
        deep = depth > _DEEP or self.visits > _BUDGET or self.spent > _GROW
        if depth > _GIVE_UP or self.visits > 10 * _BUDGET or not isinstance(s, Mapping):
            return self.word() if s is True else None
        if "const" in s or (isinstance(s.get("enum"), list) and s["enum"]):
            value = s["const"] if "const" in s else self.rng.choice(s["enum"])
            if not isinstance(value, (dict, list)):
                self.spent += len(value) if isinstance(value, str) else 0
                return value
            self.spent += len(json.dumps(value))  # a copy per use: counted as its text
            return None if self.spent > _STOP else copy.deepcopy(value)
        if isinstance(s.get("allOf"), list):
            merged = {k: v for k, v in s.items() if k != "allOf"}
            for part in map(self.resolve, s["allOf"]):
                merged = _merge(merged, part) if isinstance(part, Mapping) else merged
            return self.gen(merged, depth + 1)
        for key in ("oneOf", "anyOf"):
            if isinstance(s.get(key), list) and s[key]:
                return self.union(s, key, depth, deep)
        kinds = _types(s.get("type"))
        if not kinds:
            kinds = [next((k for k, keys in _HINTS if any(x in s for x in keys)), "string")]
        real = [k for k in kinds if k != "null"]
        if not real or (deep and "null" in kinds):
            return None
        kind = self.rng.choice(real)
        if kind == "object":
            return self.object(s, depth, deep)
        if kind == "array":
            return self.array(s, depth, deep)
        if kind in ("integer", "number"):
            return self.number(s, kind == "integer")
        return self.rng.random() < 0.5 if kind == "boolean" else self.string(s)

    def union(self, s: Mapping[str, Any], key: str, depth: int, deep: bool) -> Any:
        rest = {k: v for k, v in s.items() if k not in (key, "discriminator")}
        branches = [self.resolve(b) for b in s[key]]
        order = list(range(len(branches)))
        self.rng.shuffle(order)
        # non-null branches read better; deep down the cheapest branch is what ends recursion
        # and a branch whose least instance would outgrow the output budget comes last
        order.sort(key=lambda i: self.least(branches[i], rest) if deep
                   else (not self.fits(branches[i], rest), self.cost(branches[i]) == 0))
        values = []
        for i in (order * 2)[:6]:
            sub = _merge(branches[i], rest) if isinstance(branches[i], Mapping) else branches[i]
            values.append(self.gen(sub, depth + 1))
            if key == "anyOf" or sum(self.matches(b, values[-1], 0) for b in branches) == 1:
                return values[-1]
        return values[0]

    def least(self, branch: Any, rest: Mapping[str, Any] | None = None) -> tuple[int, int]:
        """Deep down, the branch with the smallest instance (ties: the simpler one) is what
        ends recursion and keeps the output within what ``check_schema`` let through."""
        if self.sizer is None:
            from llmfake.engine._schema_size import Sizer  # imports this module

            self.sizer = Sizer(self.root, _STOP)
        sub = _merge(branch, rest) if isinstance(branch, Mapping) and rest else branch
        return self.sizer.smallest(sub), self.cost(branch)

    def fits(self, sub: Any, rest: Mapping[str, Any] | None = None) -> bool:
        """Whether an optional value (an item past ``minItems``, a property not required, a
        union branch) stays within the output budget even at its smallest: ``{"items":
        {"minItems": 1e15}}`` is answered with ``[]``, not a loop over a quadrillion items."""
        return self.spent + self.least(sub, rest)[0] <= _GROW

    def cost(self, s: Any) -> int:
        if not isinstance(s, Mapping):
            return 1
        if "null" in _types(s.get("type")) or ("const" in s and s["const"] is None):
            return 0
        nested = ("properties", "items", "prefixItems", "anyOf", "oneOf", "allOf", "$ref")
        return 2 if any(k in s for k in nested) or s.get("type") in ("object", "array") else 1

    def matches(self, schema: Any, value: Any, depth: int) -> bool:
        s = self.resolve(schema)
        if depth > 4 or not isinstance(s, Mapping):
            return s is not False
        kinds = _types(s.get("type"))
        enum = s.get("enum")
        if (
            ("const" in s and not _same(s["const"], value))
            or (isinstance(enum, list) and not any(_same(e, value) for e in enum))
            or (kinds and not any(_is_type(value, k) for k in kinds))
            or not all(self.matches(b, value, depth + 1) for b in _list(s.get("allOf")))
        ):
            return False
        for key in ("anyOf", "oneOf"):
            if _list(s.get(key)) and not any(self.matches(b, value, depth + 1) for b in s[key]):
                return False
        if isinstance(value, dict):
            props = p if isinstance(p := s.get("properties"), Mapping) else {}
            if any(r not in value for r in _list(s.get("required"))) or (
                s.get("additionalProperties") is False and any(k not in props for k in value)
            ):
                return False
            return all(self.matches(props[k], v, depth + 1) for k, v in value.items() if k in props)
        if isinstance(value, list) and "items" in s and "prefixItems" not in s:
            return all(self.matches(s["items"], v, depth + 1) for v in value)
        return True

    def object(self, s: Mapping[str, Any], depth: int, deep: bool) -> dict[str, Any]:
        props = p if isinstance(p := s.get("properties"), Mapping) else {}
        required = [r for r in _list(s.get("required")) if isinstance(r, str)]
        extra = s.get("additionalProperties", True)
        values = True if extra is False else extra
        out = {n: self.gen(sub, depth + 1) for n, sub in props.items()
               if n in required or (not deep and self.fits(sub))}
        for name in required:
            if name not in out:
                out[name] = self.gen(values, depth + 1)
        want = int(_num(s.get("minProperties")) or 0)
        if not props and isinstance(extra, Mapping) and not deep and self.fits(extra):
            # a dict[str, X] mapping
            want = max(want, self.rng.randint(1, 2))
        for name in [n for n in props if n not in out][: max(0, want - len(out))]:
            out[name] = self.gen(props[name], depth + 1)
        names = s.get("propertyNames")
        for attempt in range(8 * want + 8 if extra is not False else 0):
            if len(out) >= want or self.spent > _STOP:
                break
            key = self.gen(names, depth + 1) if isinstance(names, Mapping) else self.word()
            key = f"{key}_{attempt}" if attempt >= want and names is None else key
            if isinstance(key, str) and key not in out and key not in props:
                out[key] = self.gen(values, depth + 1)
        if (limit := _num(s.get("maxProperties"))) is not None:
            optional = [n for n in reversed(out) if n not in required]
            for name in optional[: max(0, len(out) - int(limit))]:
                del out[name]
        return out

    def array(self, s: Mapping[str, Any], depth: int, deep: bool) -> list[Any]:
        prefix = p if isinstance(p := s.get("prefixItems"), list) else []
        items = s.get("items", True)
        if isinstance(items, list):  # draft-07 tuple form
            prefix, items = items, s.get("additionalItems", True)
        low = int(_num(s.get("minItems")) or 0)
        high = int(m) if (m := _num(s.get("maxItems"))) is not None else None
        if items is False:
            high = len(prefix) if high is None else min(high, len(prefix))
        a, b = max(low, 1), max(low, 3)
        if high is not None:
            a, b = min(a, high), min(b, high)
        unique = s.get("uniqueItems") is True
        out: list[Any] = []
        seen: list[str] = []
        for i in range(low if deep else self.rng.randint(a, max(a, b))):
            sub = prefix[i] if i < len(prefix) else items
            if i >= low and not self.fits(sub):
                break
            value = self.gen(sub, depth + 1)
            for _ in range(20 if unique and _unique_key(value) in seen else 0):
                value = self.gen(sub, depth + 1)
                if _unique_key(value) not in seen:
                    break
            if unique and _unique_key(value) in seen and len(out) >= low:
                break  # no further distinct item turned up; stopping keeps the array valid
            out.append(value)
            seen.append(_unique_key(value))
            if self.spent > _STOP:
                break  # past the hard stop every item is null: no use building more
        return out

    def string(self, s: Mapping[str, Any]) -> str:
        low = int(_num(s.get("minLength")) or 0)
        high = int(m) if (m := _num(s.get("maxLength"))) is not None else None
        fmt = s.get("format")
        text = _formatted(fmt, self.rng, self.word) if isinstance(fmt, str) else None
        if text is not None:
            return text
        if isinstance(pattern := s.get("pattern"), str):
            extra, spread = 0, 3
            # one budget for all ten tries, and what it costs counts as output: a thousand
            # items whose pattern exhausts its budget cost no more than one long string
            budget = max(0, min(_PATTERN_STEPS, _STOP - self.spent))
            steps = _Steps(budget)
            for _ in range(10):  # steer repeat counts towards minLength..maxLength
                text = _from_pattern(pattern, self.rng, extra, spread, steps)
                if text is not None and len(text) < low:
                    extra += low - len(text)
                elif text is not None and high is not None and len(text) > high:
                    extra, spread = 0, spread // 2
                elif text is not None:
                    break
                if steps.left <= 0:
                    break
            self.spent += budget - max(0, steps.left)
            if text is not None and low <= len(text) and (high is None or len(text) <= high):
                return text
        parts = [self.word() for _ in range(self.rng.randint(1, 3))]
        size = sum(map(len, parts)) + len(parts) - 1
        while size < low:  # joined once: appending to a str would copy it every word
            parts.append(self.word())
            size += len(parts[-1]) + 1
        text = " ".join(parts)
        if high is not None and len(text) > high:
            cut = text[:high]
            text = cut.rstrip() if len(cut.rstrip()) >= low else cut
        self.spent += len(text)
        return text

    def number(self, s: Mapping[str, Any], integer: bool) -> int | float:
        try:
            return self._number(s, integer)
        except (OverflowError, ValueError):  # bounds near the float limits, or infinite ones
            return 0

    def _number(self, s: Mapping[str, Any], integer: bool) -> int | float:
        lo, hi = _num(s.get("minimum")), _num(s.get("maximum"))
        lo_ex, hi_ex = s.get("exclusiveMinimum") is True, s.get("exclusiveMaximum") is True
        if (x := _num(s.get("exclusiveMinimum"))) is not None and (lo is None or x >= lo):
            lo, lo_ex = x, True
        if (x := _num(s.get("exclusiveMaximum"))) is not None and (hi is None or x <= hi):
            hi, hi_ex = x, True
        lo = lo if lo is not None else (hi - 100 if hi is not None else 0)
        hi = hi if hi is not None else lo + 100
        step = _num(s.get("multipleOf")) or None

        def ok(v: float) -> bool:
            if (v < lo or (lo_ex and v == lo)) or (v > hi or (hi_ex and v == hi)):
                return False
            if integer and not float(v).is_integer():
                return False
            if step is None or isinstance(step, int):
                return step is None or v % step == 0
            quotient = v / step  # the same float test jsonschema applies
            return math.isfinite(quotient) and quotient == int(quotient)

        if step is not None:
            k_lo, k_hi = math.ceil(lo / step), math.floor(hi / step)
            ks = [self.rng.randint(k_lo, k_hi) for _ in range(3)] if k_lo <= k_hi else []
            cands = [k * step for k in [*ks, *range(k_lo, min(k_hi, k_lo + 100) + 1)]]
            cands += [round(c, 9) for c in cands]
        else:
            mid = self.rng.uniform(lo, hi)
            # a visibly fractional float keeps number apart from integer (matters for oneOf)
            nice = round(mid) if integer else round(mid, 2) + 0.25 * (round(mid, 2) % 1 == 0)
            cands = [nice, round(mid, 2), math.floor(lo) + 1, (lo + hi) / 2]
        good = next((c for c in cands if ok(c)), cands[0] if cands else lo)
        return int(good) if integer else good
