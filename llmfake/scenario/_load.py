"""Build a ``Scenario`` from YAML, JSON, a dict or a built-in name.

The format and its checks are declared in ``_format``; this module reads text and files, finds
the built-in library, and turns what the checks found into one ``ScenarioError`` that lists
every mistake with its path.

A scenario may come from anyone who can reach the control API, so its size is bounded before
anything reads it: at most ``MAX_VALUES`` values once YAML aliases are expanded (a "billion
laughs" document is a few hundred bytes that alias its way to billions of values, which
``reply.json`` would then write out on every request), nesting at most ``MAX_DEPTH`` deep, no
alias inside its own anchor, and at most ``MAX_RULES`` rules.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError

from llmfake._yaml import safe_load
from llmfake.errors import ScenarioError
from llmfake.scenario import _format
from llmfake.scenario._model import Scenario, Step
from llmfake.scenario._values import DEFAULT_FROZEN_TIME as DEFAULT_FROZEN_TIME
from llmfake.scenario._values import kind


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _error(exc: ValidationError, source: str) -> ScenarioError:
    problems = [(_dotted(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
    return ScenarioError(problems[0][1], path=problems[0][0], source=source, problems=problems)


MAX_VALUES = 1_000_000
"""Values (mappings, lists and scalars) in a scenario once YAML aliases are expanded."""
MAX_DEPTH = 100
"""How deep a scenario's mappings and lists may nest."""
MAX_RULES = 10_000
"""Rules in one scenario."""


def check_size(doc: object, source: str) -> None:
    """Refuse (``ScenarioError``) a document over ``MAX_VALUES``, ``MAX_DEPTH`` or
    ``MAX_RULES``. Aliased values are measured once and counted each time they appear, so the
    check costs the document's size in memory, not its expanded size."""
    sizes: dict[int, tuple[int, int]] = {}  # id -> (expanded values, height)
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(doc, False)] if isinstance(doc, (dict, list)) else []
    while stack:
        node, done = stack.pop()
        children = list(node.values()) if isinstance(node, dict) else node
        key = id(node)
        if done:
            open_.discard(key)
            count, height = 1 + (len(node) if isinstance(node, dict) else 0), 0
            for child in children:
                c, h = sizes.get(id(child), (1, 0)) if isinstance(child, (dict, list)) else (1, 0)
                count, height = min(count + c, MAX_VALUES + 1), max(height, h + 1)
            sizes[key] = (count, height)
            continue
        if key in sizes:
            continue
        open_.add(key)
        stack.append((node, True))
        for child in children:
            if isinstance(child, (dict, list)):
                if id(child) in open_:
                    raise ScenarioError("a YAML alias refers to a value that contains it; a "
                                        "scenario cannot contain itself", source=source)
                if id(child) not in sizes:
                    stack.append((child, False))
    count, height = sizes.get(id(doc), (1, 0))
    if height > MAX_DEPTH:
        raise ScenarioError(f"nested {height} levels deep; a scenario may nest at most "
                            f"{MAX_DEPTH}", source=source)
    if count > MAX_VALUES:
        raise ScenarioError(f"over {MAX_VALUES} values once YAML aliases are expanded; keep "
                            "large replies in a file the scenario names (a cassette), or "
                            "anchors from repeating themselves", source=source)
    rules = doc.get("rules") if isinstance(doc, dict) else None
    if isinstance(rules, list) and len(rules) > MAX_RULES:
        raise ScenarioError(f"{len(rules)} rules; a scenario may have at most {MAX_RULES}",
                            path="rules", source=source)


def parse_step(doc: Mapping[str, Any], source: str = "<step>") -> Step:
    """Validate one script step (as the ``reply``/``error``/``fault`` helpers build)."""
    try:
        return _format.Step.model_validate(doc).step()
    except ValidationError as exc:
        raise _error(exc, source) from None


def scenario_from_dict(doc: Mapping[str, Any], source: str = "<dict>", *,
                       cassette_dirs: Sequence[Path] | None = None) -> Scenario:
    """Validate ``doc`` and build a ``Scenario``; errors name ``source`` and each field path.
    ``cassette_dirs``: the folders a ``cassette:`` path must be under (None: anywhere), for a
    scenario that came over HTTP."""
    check_size(doc, source)
    try:
        parsed = _format.Scenario.model_validate(
            doc, context={"source": source, "cassette_dirs": cassette_dirs})
    except ValidationError as exc:
        raise _error(exc, source) from None
    return parsed.build(source, doc)


def scenario_from_text(text: str, source: str = "<text>", *,
                       cassette_dirs: Sequence[Path] | None = None) -> Scenario:
    """Parse YAML (JSON is YAML too) and build a ``Scenario`` (``cassette_dirs``: as above)."""
    try:
        doc = safe_load(text)
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):  # libyaml's own limit (1000): no need to parse again
            raise ScenarioError(f"nested too deeply; a scenario may nest at most {MAX_DEPTH} "
                                "levels", source=source) from None
        _not_yaml(text, source)
    except RecursionError:
        raise ScenarioError(f"nested too deeply; a scenario may nest at most {MAX_DEPTH} "
                            "levels", source=source) from None
    if doc is None:
        doc = {}
    return scenario_from_dict(doc, source, cassette_dirs=cassette_dirs)


def _not_yaml(text: str, source: str) -> NoReturn:
    """Say where ``text`` stops being YAML, in PyYAML's own words: libyaml's differ and are
    vaguer ("did not find expected ','" where PyYAML says what it got instead)."""
    try:
        yaml.load(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ScenarioError(f"nested too deeply; a scenario may nest at most {MAX_DEPTH} "
                            "levels", source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{where}not valid YAML or JSON: {problem}", source=source) from None
    raise ScenarioError("not valid YAML or JSON", source=source)  # pragma: no cover - libyaml only


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
                            f"built-in scenario of that name{tip}; built-ins: {', '.join(names)}",
                            source=str(spec)[:200])
    raise ScenarioError("expected a Scenario, a dict, a path or a built-in name, "
                        f"got {kind(spec)}")
