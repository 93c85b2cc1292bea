"""Build a ``Scenario`` from YAML, JSON, a dict or a built-in name, validating every field.

Validation is hand-written rather than delegated to a JSON Schema validator so that each error
names the file, the field path and the fix; ``_schema`` publishes the same format as JSON Schema
and a property test keeps the two in step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import difflib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from llmfake._duration import parse_duration, parse_size
from llmfake.errors import ScenarioError
from llmfake.scenario._model import (
    ENDPOINTS,
    ERROR_STATUS,
    FAULTS,
    JITTER_DISTRIBUTIONS,
    LIMIT_SCOPES,
    PROVIDERS,
    STATUS_ERROR,
    Auth,
    CassetteSpec,
    Chaos,
    ErrorSpec,
    FaultSpec,
    Generate,
    Latency,
    Limits,
    Match,
    Reply,
    Rule,
    Scenario,
    Step,
    ToolCallSpec,
)

T = TypeVar("T")

STEP_KEYS = (
    "reply", "error", "fault", "retry_after", "should_retry", "message", "status",
    "after_chunks", "after_bytes", "duration", "latency", "headers",
)
RULE_KEYS = ("name", "match", "script", "then", "chaos", *STEP_KEYS)
SCENARIO_KEYS = (
    "name", "description", "seed", "freeze_time", "time_scale", "latency", "limits", "reply",
    "rules", "chaos", "auth", "models", "strict", "cassette",
)
CASSETTE_KEYS = ("path", "replay_speed", "strict", "ignore")
REPLY_KEYS = (
    "text", "echo", "generate", "tool_calls", "json", "json_schema", "embedding", "finish_reason",
)
MATCH_KEYS = (
    "endpoint", "provider", "model", "contains", "header", "stream", "tool_result", "after",
    "before",
)
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter")
DEFAULT_FROZEN_TIME = 1_700_000_000.0


class _Reader:
    """Walks a document, keeping the field path for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> ScenarioError:
        return ScenarioError(problem, path=path, source=self.source)

    def mapping(self, value: object, path: str, allowed: Iterable[str]) -> Mapping[str, Any]:
        allowed = tuple(allowed)
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping with keys {_names(allowed)}, "
                                  f"got {_kind(value)}")
        for key in value:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                tip = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise self.fail(_join(path, str(key)),
                                f"unknown key {key!r}{tip}; allowed keys: {_names(allowed)}")
        return value

    def str_(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {_kind(value)}")
        return value

    def bool_(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"expected true or false, got {_kind(value)}")
        return value

    def int_(self, value: object, path: str, *, minimum: int = 0, maximum: int | None = None
             ) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected a whole number, got {_kind(value)}")
        if maximum is None and value < minimum:
            raise self.fail(path, f"expected a whole number >= {minimum}, got {value}")
        if value < minimum or (maximum is not None and value > maximum):
            raise self.fail(path, f"expected a whole number from {minimum} to {maximum}, "
                                  f"got {_short(value)}")
        return value

    def number(self, value: object, path: str, *, minimum: float, maximum: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise self.fail(path, f"expected a number, got {_kind(value)}")
        if not minimum <= value <= maximum:  # compared before float(): a huge int overflows
            raise self.fail(path, f"expected a number from {minimum:g} to {maximum:g}, "
                                  f"got {_short(value)}")
        return float(value)

    def duration(self, value: object, path: str) -> float:
        try:
            seconds = parse_duration(value)
        except OverflowError:
            raise self.fail(path, f"expected a finite duration, got {_short(value)}") from None
        except ValueError as exc:
            raise self.fail(path, str(exc)) from None
        if not math.isfinite(seconds):
            raise self.fail(path, f"expected a finite duration, got {value!r}")
        return seconds

    def list_(self, value: object, path: str, item: Callable[[object, str], T]) -> tuple[T, ...]:
        if not isinstance(value, list | tuple):
            raise self.fail(path, f"expected a list, got {_kind(value)}")
        return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))

    def choice(self, value: object, path: str, choices: tuple[str, ...], what: str,
               also: str = "") -> str:
        if not isinstance(value, str) or value not in choices:
            hint = difflib.get_close_matches(str(value), choices, n=1)
            tip = f" (did you mean {hint[0]!r}?)" if hint else ""
            more = f", {also}" if also else ""
            raise self.fail(path, f"unknown {what} {_short(value)}{tip}; use one of "
                                  f"{_names(choices)}{more}")
        return value

    def one_or_many(self, value: object, path: str, choices: tuple[str, ...], what: str
                    ) -> tuple[str, ...]:
        if isinstance(value, list | tuple):
            return self.list_(value, path, lambda v, p: self.choice(v, p, choices, what))
        return (self.choice(value, path, choices, what),)

    def headers(self, value: object, path: str) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping of header name to value, got {_kind(value)}")
        out: dict[str, str] = {}
        for name, v in value.items():
            if not isinstance(name, str) or not name:
                raise self.fail(path, f"header names must be non-empty strings, got {name!r}")
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise self.fail(_join(path, name), f"expected a string, got {_kind(v)}")
            out[name.lower()] = str(v)
        return out

    # --- the format -------------------------------------------------------------------------

    def scenario(self, doc: object) -> Scenario:
        d = self.mapping(doc, "", SCENARIO_KEYS)
        seed = self.int_(d.get("seed", 0), "seed", minimum=0, maximum=2**63 - 1)
        rules = self.list_(d.get("rules", []), "rules", self.rule)
        models = self.list_(d.get("models", []), "models", self.str_)
        return Scenario(
            name=self.str_(d.get("name", "unnamed"), "name"),
            description=self.str_(d.get("description", ""), "description"),
            seed=seed,
            freeze_time=self.freeze_time(d["freeze_time"]) if "freeze_time" in d else None,
            time_scale=(self.number(d["time_scale"], "time_scale", minimum=1e-6, maximum=1e6)
                        if "time_scale" in d else 1.0),
            chaos=self.list_(d.get("chaos", []), "chaos", self.chaos),
            latency=self.latency(d.get("latency", {}), "latency"),
            limits=self.limits(d.get("limits", {}), "limits"),
            reply=self.reply(d.get("reply", {}), "reply"),
            rules=rules,
            auth=self.auth(d.get("auth", {}), "auth"),
            models=models,
            strict=self.bool_(d.get("strict", False), "strict"),
            cassette=self.cassette(d["cassette"], "cassette") if "cassette" in d else None,
            source=self.source,
            raw=cast("Mapping[str, Any]", doc),
        )

    def freeze_time(self, value: object) -> float | None:
        if value is False or value is None:
            return None
        if value is True:
            return DEFAULT_FROZEN_TIME
        moment: _dt.datetime | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
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
        raise self.fail("freeze_time", "expected true, an epoch second from 0 to 253402300799 "
                                       "or an ISO 8601 date-time such as 2025-01-01T00:00:00Z, "
                                       f"got {_short(value)}")

    def fraction(self, value: object, path: str, maximum: float = 1) -> float:
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                value = float(value.strip()[:-1]) / 100
            except ValueError:
                raise self.fail(path, "expected a fraction such as 0.1 or a percentage such as "
                                      f"10%, got {_short(value)}") from None
        return self.number(value, path, minimum=0, maximum=maximum)

    def latency(self, value: object, path: str) -> Latency:
        d = self.mapping(value, path, ("ttft", "per_token", "jitter", "tokens_per_chunk"))
        jitter, distribution = d.get("jitter", 0), "uniform"
        jpath = _join(path, "jitter")
        if isinstance(jitter, Mapping):
            jd = self.mapping(jitter, jpath, ("distribution", "spread"))
            distribution = self.choice(jd.get("distribution", "uniform"),
                                       _join(jpath, "distribution"), JITTER_DISTRIBUTIONS,
                                       "jitter distribution")
            spread = self.fraction(jd.get("spread", 0.1), _join(jpath, "spread"), 10)
        else:
            spread = self.fraction(jitter, jpath)
        return Latency(
            ttft=self.duration(d.get("ttft", 0), _join(path, "ttft")),
            per_token=self.duration(d.get("per_token", 0), _join(path, "per_token")),
            jitter=spread,
            distribution=distribution,
            tokens_per_chunk=self.int_(d.get("tokens_per_chunk", 1),
                                       _join(path, "tokens_per_chunk"), minimum=1,
                                       maximum=100_000),
        )

    def limits(self, value: object, path: str) -> Limits:
        keys = ("requests_per_minute", "tokens_per_minute", "max_concurrent", "max_request_bytes",
                "by", "quota_requests", "quota_tokens")
        d = self.mapping(value, path, keys)

        def opt(key: str) -> int | None:
            v = d.get(key)
            return None if v is None else self.int_(v, _join(path, key), minimum=1)

        size = d.get("max_request_bytes", Limits.max_request_bytes)
        try:
            max_bytes = parse_size(size)
        except ValueError as exc:
            raise self.fail(_join(path, "max_request_bytes"), str(exc)) from None
        return Limits(opt("requests_per_minute"), opt("tokens_per_minute"),
                      opt("max_concurrent"), max_bytes,
                      self.choice(d.get("by", "tenant"), _join(path, "by"), LIMIT_SCOPES,
                                  "limit scope"),
                      opt("quota_requests"), opt("quota_tokens"))

    def cassette(self, value: object, path: str) -> CassetteSpec:
        if isinstance(value, (str, Path)):
            value = {"path": str(value)}
        d = self.mapping(value, path, CASSETTE_KEYS)
        if "path" not in d:
            raise self.fail(_join(path, "path"), "a cassette needs 'path', the cassette file "
                                                 "to replay, e.g. 'cassette: {path: chat.yaml}'")
        name = self.str_(d["path"], _join(path, "path"))
        spec = CassetteSpec(
            path=name,
            replay_speed=(self.number(d["replay_speed"], _join(path, "replay_speed"),
                                      minimum=0.0, maximum=1e6)
                          if "replay_speed" in d else 1.0),
            strict=self.bool_(d.get("strict", True), _join(path, "strict")),
            ignore=(tuple(sorted(set(self.list_(d["ignore"], _join(path, "ignore"), self.str_))))
                    if "ignore" in d else CassetteSpec.ignore),
        )
        file = Path(name)
        if not file.is_absolute():
            origin = Path(self.source)
            with contextlib.suppress(OSError, ValueError):
                if origin.is_file():
                    file = origin.parent / file
        from llmfake.record._cassette import CassetteError, load

        try:
            loaded = load(file)
        except CassetteError as exc:
            hint = (" (record it first: llmfake record --upstream URL --cassette FILE)"
                    if not file.exists() else "")
            raise self.fail(_join(path, "path"), f"{exc}{hint}") from None
        return dataclasses.replace(spec, path=str(file), cassette=loaded)

    def auth(self, value: object, path: str) -> Auth:
        d = self.mapping(value, path, ("required", "keys"))
        keys = self.list_(d.get("keys", []), _join(path, "keys"), self.str_)
        return Auth(required=self.bool_(d.get("required", bool(keys)), _join(path, "required")),
                    keys=keys)

    def reply(self, value: object, path: str) -> Reply:
        if isinstance(value, str):
            return Reply(text=value)
        d = self.mapping(value, path, REPLY_KEYS)
        generate = None
        if "generate" in d:
            g = d["generate"]
            gp = _join(path, "generate")
            if g is True:
                generate = Generate()
            else:
                gd = self.mapping(g, gp, ("sentences", "words"))
                generate = Generate(
                    sentences=(self.int_(gd["sentences"], _join(gp, "sentences"), minimum=1,
                                         maximum=1000) if "sentences" in gd else None),
                    words=(self.int_(gd["words"], _join(gp, "words"), minimum=1, maximum=100_000)
                           if "words" in gd else None),
                )
        schema = d.get("json_schema")
        if schema is not None and not isinstance(schema, Mapping):
            raise self.fail(_join(path, "json_schema"), "expected a JSON Schema object, "
                                                        f"got {_kind(schema)}")
        if "json" in d:
            try:
                json.dumps(d["json"])
            except (TypeError, ValueError):
                raise self.fail(_join(path, "json"), "expected a JSON value") from None
        dims = None
        if "embedding" in d:
            ep = _join(path, "embedding")
            ed = self.mapping(d["embedding"], ep, ("dimensions",))
            if "dimensions" in ed:
                dims = self.int_(ed["dimensions"], _join(ep, "dimensions"), minimum=1,
                                 maximum=65536)
        finish = d.get("finish_reason")
        return Reply(
            text=self.str_(d["text"], _join(path, "text")) if "text" in d else None,
            echo=self.bool_(d.get("echo", False), _join(path, "echo")),
            generate=generate,
            tool_calls=self.list_(d.get("tool_calls", []), _join(path, "tool_calls"),
                                  self.tool_call),
            json=d.get("json"),
            json_schema=schema,
            embedding_dimensions=dims,
            finish_reason=(None if finish is None else
                           self.choice(finish, _join(path, "finish_reason"), FINISH_REASONS,
                                       "finish reason")),
        )

    def tool_call(self, value: object, path: str) -> ToolCallSpec:
        d = self.mapping(value, path, ("name", "arguments", "id"))
        if "name" not in d:
            raise self.fail(path, "a tool call needs a 'name', such as "
                                  "{name: get_weather, arguments: {city: Paris}}")
        args = d.get("arguments")
        if args is not None and not isinstance(args, (Mapping, str)):
            raise self.fail(_join(path, "arguments"),
                            f"expected an object or a JSON string, got {_kind(args)}")
        return ToolCallSpec(
            name=self.str_(d["name"], _join(path, "name")),
            arguments=args,
            id=self.str_(d["id"], _join(path, "id")) if "id" in d else None,
        )

    def error(self, value: object, path: str, d: Mapping[str, Any], base: str) -> ErrorSpec:
        status: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            status = self.int_(value, path, minimum=400, maximum=599)
            name = STATUS_ERROR.get(status, "server_error" if status >= 500 else "bad_request")
        elif isinstance(value, str) and value.isascii() and value.isdecimal():
            status = self.int_(int(value), path, minimum=400, maximum=599)
            name = STATUS_ERROR.get(status, "server_error" if status >= 500 else "bad_request")
        else:
            name = self.choice(value, path, tuple(ERROR_STATUS), "error",
                               also="or an HTTP status from 400 to 599")
        if "status" in d:
            status = self.int_(d["status"], _join(base, "status"), minimum=400, maximum=599)
        return ErrorSpec(
            name=name,
            status=status,
            message=self.str_(d["message"], _join(base, "message")) if "message" in d else None,
            retry_after=(self.duration(d["retry_after"], _join(base, "retry_after"))
                         if "retry_after" in d else None),
            should_retry=(self.bool_(d["should_retry"], _join(base, "should_retry"))
                          if "should_retry" in d else None),
        )

    def step(self, value: object, path: str, allowed: Iterable[str] = STEP_KEYS) -> Step:
        d = self.mapping(value, path, allowed)
        error = self.error(d["error"], _join(path, "error"), d, path) if "error" in d else None
        fault = None
        if "fault" in d:
            name = self.choice(d["fault"], _join(path, "fault"), FAULTS, "fault")
            fault = FaultSpec(
                name=name,
                after_chunks=(self.int_(d["after_chunks"], _join(path, "after_chunks"))
                              if "after_chunks" in d else None),
                after_bytes=(self.int_(d["after_bytes"], _join(path, "after_bytes"))
                             if "after_bytes" in d else None),
                duration=(self.duration(d["duration"], _join(path, "duration"))
                          if "duration" in d else None),
                error=error if name == "error_event" else None,
            )
            if name == "error_event":
                error = None
        if error is not None and fault is not None and fault.name != "error_event":
            raise self.fail(_join(path, "error"), f"a step has either an 'error' or a "
                                                  f"'{fault.name}' fault, not both ('error' goes "
                                                  "with a fault only for error_event); for a "
                                                  "slow error give the step a 'latency'")
        if "error" not in d:
            for key in ("retry_after", "should_retry", "message", "status"):
                if key in d:
                    raise self.fail(_join(path, key), f"{key!r} goes with 'error'; add an error "
                                                      "such as 'error: rate_limit'")
        if fault is None:
            for key in ("after_chunks", "after_bytes", "duration"):
                if key in d:
                    raise self.fail(_join(path, key), f"{key!r} goes with 'fault'; add a fault "
                                                      "such as 'fault: disconnect'")
        if error is not None and "reply" in d:
            raise self.fail(_join(path, "reply"), "a step has either an 'error' or a 'reply', "
                                                  "not both")
        if fault is not None and fault.name == "error_event" and fault.error is None:
            fault = FaultSpec(fault.name, fault.after_chunks, fault.after_bytes, fault.duration,
                              ErrorSpec("server_error"))
        return Step(
            reply=self.reply(d["reply"], _join(path, "reply")) if "reply" in d else None,
            error=error,
            fault=fault,
            latency=self.latency(d["latency"], _join(path, "latency")) if "latency" in d else None,
            headers=self.headers(d["headers"], _join(path, "headers")) if "headers" in d else {},
        )

    def chaos(self, value: object, path: str) -> Chaos:
        d = self.mapping(value, path, ("probability", *STEP_KEYS))
        if "probability" not in d:
            raise self.fail(path, "a chaos entry needs a 'probability' from 0 to 1, such as "
                                  "{probability: 0.05, error: server_error}")
        p = self.number(d["probability"], _join(path, "probability"), minimum=0, maximum=1)
        step = self.step({k: v for k, v in d.items() if k != "probability"}, path)
        if step.error is None and step.fault is None:
            raise self.fail(path, "a chaos entry needs an 'error' or a 'fault', such as "
                                  "{probability: 0.05, error: server_error} or "
                                  "{probability: 0.02, fault: reset}")
        return Chaos(probability=p, step=step)

    def match(self, value: object, path: str) -> Match:
        d = self.mapping(value, path, MATCH_KEYS)
        after = self.duration(d["after"], _join(path, "after")) if "after" in d else None
        before = self.duration(d["before"], _join(path, "before")) if "before" in d else None
        if after is not None and before is not None and before <= after:
            # An empty window would make the rule dead without a word: say so instead.
            raise self.fail(_join(path, "before"),
                            f"the window ends before it starts: 'before' ({before:g}s) must be "
                            f"later than 'after' ({after:g}s)")
        return Match(
            endpoint=(self.one_or_many(d["endpoint"], _join(path, "endpoint"), ENDPOINTS,
                                       "endpoint") if "endpoint" in d else ()),
            provider=(self.one_or_many(d["provider"], _join(path, "provider"), PROVIDERS,
                                       "provider") if "provider" in d else ()),
            model=self.str_(d["model"], _join(path, "model")) if "model" in d else None,
            contains=(self.str_(d["contains"], _join(path, "contains"))
                      if "contains" in d else None),
            header=self.headers(d["header"], _join(path, "header")) if "header" in d else {},
            stream=self.bool_(d["stream"], _join(path, "stream")) if "stream" in d else None,
            tool_result=(self.bool_(d["tool_result"], _join(path, "tool_result"))
                         if "tool_result" in d else None),
            after=after,
            before=before,
        )

    def rule(self, value: object, path: str) -> Rule:
        d = self.mapping(value, path, RULE_KEYS)
        step_part = {k: v for k, v in d.items() if k in STEP_KEYS and k != "latency"}
        step = self.step(step_part, path)
        script = self.list_(d.get("script", []), _join(path, "script"), self.step)
        if "script" in d and not script:
            raise self.fail(_join(path, "script"), "a script needs at least one step, such as "
                                                  "[{error: rate_limit}, {reply: ok}]; for one "
                                                  "outcome, drop 'script' and give the step's "
                                                  "keys on the rule")
        then = self.choice(d.get("then", "last"), _join(path, "then"),
                           ("last", "cycle", "default"), "'then'")
        return Rule(
            match=self.match(d.get("match", {}), _join(path, "match")),
            step=step,
            script=script,
            then=cast("Any", then),
            chaos=self.list_(d.get("chaos", []), _join(path, "chaos"), self.chaos),
            latency=self.latency(d["latency"], _join(path, "latency")) if "latency" in d else None,
            name=self.str_(d["name"], _join(path, "name")) if "name" in d else None,
        )


_MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _names(names: Iterable[str]) -> str:
    return ", ".join(names)


def _kind(value: object) -> str:
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


def parse_step(doc: Mapping[str, Any], source: str = "<step>") -> Step:
    """Validate one script step (as the ``reply``/``error``/``fault`` helpers build)."""
    return _Reader(source).step(doc, "")


def scenario_from_dict(doc: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """Validate ``doc`` and build a ``Scenario``; errors name ``source`` and the field path."""
    return _Reader(source).scenario(doc)


def scenario_from_text(text: str, source: str = "<text>") -> Scenario:
    """Parse YAML (JSON is YAML too) and build a ``Scenario``."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{where}not valid YAML or JSON: {problem}", source=source) from None
    if doc is None:
        doc = {}
    return scenario_from_dict(doc, source)


def builtin_dirs() -> list[Path]:
    """Folders holding the built-in scenario library (wheel first, then a source checkout)."""
    here = Path(__file__).resolve().parent.parent
    return [p for p in (here / "_scenarios", here.parent / "scenarios") if p.is_dir()]


def builtin_names() -> dict[str, Path]:
    """Built-in scenario names and their files."""
    found: dict[str, Path] = {}
    for folder in reversed(builtin_dirs()):
        for path in sorted(folder.glob("*.y*ml")):
            found[path.stem] = path
    return dict(sorted(found.items()))


def load_scenario(spec: object = None) -> Scenario:
    """Load a scenario from a ``Scenario``, a dict, a file path or a built-in name.

    ``None`` gives the built-in ``default`` scenario. A string that names an existing file is
    read as YAML or JSON; otherwise it must be a built-in name (see ``llmfake scenarios``).
    """
    if spec is None:
        spec = "default"
    if isinstance(spec, Scenario):
        return spec
    if isinstance(spec, Mapping):
        return scenario_from_dict(spec)
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        try:
            is_file = path.is_file()
        except (OSError, ValueError):  # a name too long or odd to be a path is not a file
            is_file = False
        if is_file:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ScenarioError(f"cannot read the file: {exc}; a scenario file is UTF-8 "
                                    "text (YAML or JSON)", source=str(path)) from None
            return scenario_from_text(text, str(path))
        names = builtin_names()
        folder: list[str] | None = None
        with contextlib.suppress(OSError, ValueError):
            if str(spec) not in names and path.is_dir():
                folder = sorted(p.name for p in path.iterdir()
                                if p.suffix in (".yaml", ".yml", ".json"))[:5]
        if folder is not None:
            raise ScenarioError("is a folder, not a scenario file; give one of its files"
                                + (f" ({', '.join(folder)}, ...)" if folder else ""),
                                source=str(spec)[:200])
        if str(spec) in names:
            return scenario_from_text(names[str(spec)].read_text(encoding="utf-8"), str(spec))
        hint = difflib.get_close_matches(str(spec), list(names), n=1)
        tip = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ScenarioError(f"no such file (a relative path starts from {Path.cwd()}), and no "
                            f"built-in scenario of that name{tip}; built-ins: {_names(names)}",
                            source=str(spec)[:200])
    raise ScenarioError("expected a Scenario, a dict, a path or a built-in name, "
                        f"got {_kind(spec)}")
