"""mkdocs hook: fill the generated parts of the reference pages at build time.

A page holds a marker line such as ``<!-- llmfake:generated cli -->``, then the generated
Markdown, then ``<!-- llmfake:end -->``; the text between them is made from the code itself
(``GENERATORS``): the CLI from ``llmfake.cli``'s argparse parser, the scenario format from the
JSON Schema that ``llmfake schema`` prints, the exception classes from ``llmfake.errors`` and
its subclasses, the built-in scenarios from the library ``llmfake scenarios`` lists.

The generated text is committed, so the pages read whole on GitHub too, and every build
generates it afresh, so the site is current even when a commit forgot to. After changing a
flag, a scenario key, an exception or a built-in, run ``python docs/_hooks.py`` to rewrite the
pages; ``tests/test_docs_reference.py`` fails while a committed page is stale, and checks that
every subcommand, flag, schema key, exception and built-in appears in the output.

Registered in mkdocs.yml under ``hooks:``; imports nothing from mkdocs, so tests load it alone.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

MARKER = re.compile(r"^<!-- llmfake:generated ([a-z-]+) -->(?:\n.*?^<!-- llmfake:end -->)?$",
                    re.MULTILINE | re.DOTALL)
"""A generated section: its opening marker, and the text up to its closing marker (absent
in a page whose section was never generated)."""

END = "<!-- llmfake:end -->"


# --- the CLI, from the argparse parser ------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, Any]]:
    """(name, help, parser) of each subcommand, in the parser's order."""
    for action in parser._actions:  # argparse keeps no public list of them
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            name = ", ".join(action.option_strings)
            if action.nargs != 0:
                name += f" {action.metavar or action.dest.upper()}"
        else:
            name = str(action.metavar or action.dest)
            if action.nargs in ("+", "*"):
                name += "..."
        if action.required or not action.option_strings:
            default = "required" if action.nargs not in ("*", "?") else ""
        elif action.nargs == 0:
            default = "off"
        elif action.default in (None, [], ""):
            default = ""
        else:
            default = f"`{action.default}`"
        if isinstance(action, argparse._AppendAction):
            default = "repeatable"
        rows.append(f"| `{_cell(name)}` | {default} | {_cell(action.help or '')} |")
    return rows


def cli_reference() -> str:
    """Markdown for every ``llmfake`` subcommand: its usage line and a table of its arguments."""
    from llmfake.cli import _parser

    parser = _parser()
    out: list[str] = []
    for name, help_, sub in _subcommands(parser):
        sub.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=96)
        usage = " ".join(sub.format_usage().removeprefix("usage: ").split())
        out += [f"### `llmfake {name}`", "", f"{help_[:1].upper()}{help_[1:]}.", "",
                "```text", usage, "```", ""]
        rows = _argument_rows(sub)
        if rows:
            out += ["| argument | default | meaning |", "|---|---|---|", *rows, ""]
    return "\n".join(out)


# --- the scenario format, from the JSON Schema ---------------------------------------------


def _anchor(name: str) -> str:
    return "schema-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _type(node: Mapping[str, Any], path: str, nested: list[tuple[str, Mapping[str, Any]]],
          names: dict[str, list[tuple[str, str]]]) -> str:
    """A short human type for ``node``. Inline objects with keys go on ``nested``, and lists of
    named values with a description each (error and fault names) on ``names``."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    if "enum" in node:
        return " | ".join(f"`{json.dumps(v)}`" if not isinstance(v, str) else f"`{v}`"
                          for v in node["enum"])
    if "const" in node:
        value = node["const"]
        return f"`{value}`" if isinstance(value, str) else f"`{json.dumps(value)}`"
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = node[key]
            named = [o for o in options if "const" in o and "description" in o]
            if len(named) >= 3:  # a vocabulary: list it once, in its own table
                field = path.rsplit(".", 1)[-1]
                names[field] = [(str(o["const"]), o["description"]) for o in named]
                options = [o for o in options if o not in named]
                parts = [f"a name from [{field} names](#{_anchor(field + '-names')})"]
            else:
                parts = []
            parts += [_type(option, path, nested, names) for option in options]
            return " or ".join(dict.fromkeys(p for p in parts if p))
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    words = []
    for k in kinds:
        if k == "array":
            item = node.get("items", {})
            words.append(f"list of {_type(item, path, nested, names) or 'values'}")
        elif k == "object" and "properties" in node:
            nested.append((path, node))
            words.append(f"[object](#{_anchor(path)})")
        elif k == "object" and isinstance(node.get("additionalProperties"), Mapping):
            value = _type(node["additionalProperties"], path + ".*", nested, names)
            words.append(f"mapping of names to {value}")
        elif k == "integer":
            words.append("integer" + _bounds(node))
        elif k == "number":
            words.append("number" + _bounds(node))
        elif k:
            words.append(str(k))
    return " or ".join(words) or "any JSON value"


def _bounds(node: Mapping[str, Any]) -> str:
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None and high < 2**53:
        return f" from {_num(low)} to {_num(high)}"
    if low is not None:
        return f" ≥ {_num(low)}"
    return ""


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _table(title: str, anchor: str, node: Mapping[str, Any],
           nested: list[tuple[str, Mapping[str, Any]]],
           names: dict[str, list[tuple[str, str]]]) -> list[str]:
    out = [f"### {title} {{#{anchor}}}", ""]
    if node.get("description"):
        out += [node["description"], ""]
    required = set(node.get("required", ()))
    out += ["| key | type | meaning |", "|---|---|---|"]
    for key, sub in node.get("properties", {}).items():
        name = f"`{key}`" + (" (required)" if key in required else "")
        kind = _type(sub, f"{title}.{key}", nested, names)
        out.append(f"| {name} | {_cell(kind)} | {_cell(sub.get('description', ''))} |")
    return [*out, ""]


def schema_reference() -> str:
    """Markdown tables for the scenario and each object it is made of, from its JSON Schema."""
    from llmfake.scenario._schema import schema

    root = schema()
    defs: Mapping[str, Any] = root.get("$defs", {})
    nested: list[tuple[str, Mapping[str, Any]]] = []
    names: dict[str, list[tuple[str, str]]] = {}
    out = _table("scenario", _anchor("scenario"), root, nested, names)
    for name, node in defs.items():
        if "properties" in node:
            out += _table(name, _anchor(name), node, nested, names)
        else:
            kind = _type(node, name, nested, names)
            out += [f"### {name} {{#{_anchor(name)}}}", "",
                    f"{node.get('description', '')} Type: {kind}.", ""]
    done: set[str] = set()
    while nested:  # inline objects found while rendering the tables above, breadth first
        path, node = nested.pop(0)
        if path not in done:
            done.add(path)
            out += _table(path, _anchor(path), node, nested, names)
    for field, values in names.items():
        out += [f"### {field} names {{#{_anchor(field + '-names')}}}", "",
                "| name | meaning |", "|---|---|",
                *(f"| `{value}` | {_cell(meaning)} |" for value, meaning in values), ""]
    return "\n".join(out)


# --- the exception classes, from the code -------------------------------------------------

PUBLIC_MODULES = ("llmfake", "llmfake.errors", "llmfake.intercept", "llmfake.record")
"""Where users import exceptions from; each class is listed under the first that exports it."""


def error_classes() -> list[type[BaseException]]:
    """``LLMFakeError`` and every subclass of it in the public modules, depth first."""
    import importlib

    from llmfake.errors import LLMFakeError

    for module in PUBLIC_MODULES:
        importlib.import_module(module)
    found: list[type[BaseException]] = []

    def walk(cls: type[BaseException]) -> None:
        found.append(cls)
        for sub in sorted(cls.__subclasses__(), key=lambda c: c.__name__):
            walk(sub)

    walk(LLMFakeError)
    return found


def _import_path(cls: type[BaseException]) -> str:
    import importlib

    for name in PUBLIC_MODULES:
        if getattr(importlib.import_module(name), cls.__name__, None) is cls:
            return f"{name}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__name__}"


def errors_reference() -> str:
    """A table of llmfake's exception classes: where to import them, what else they are, and
    the first paragraph of their docstring."""
    import inspect

    from llmfake.errors import LLMFakeError

    out = ["| exception | also a | raised when |", "|---|---|---|"]
    for cls in error_classes():
        bases = [b.__name__ for b in cls.__mro__[1:]
                 if b.__module__ == "builtins" and b not in (Exception, BaseException, object)]
        parent = next((b.__name__ for b in cls.__bases__ if issubclass(b, LLMFakeError)), "")
        also = ", ".join(f"`{b}`" for b in ([parent] if parent else []) + bases)
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        out.append(f"| `{_import_path(cls)}` | {also} | {_cell(doc)} |")
    return "\n".join(out) + "\n"


# --- the built-in scenario library ----------------------------------------------------------


def builtin_scenarios() -> str:
    """A table of the built-in scenarios and their descriptions, as ``llmfake scenarios``."""
    from llmfake.scenario._load import builtin_names, load_scenario

    out = ["| name | what it does |", "|---|---|"]
    for name, path in builtin_names().items():
        out.append(f"| `{name}` | {_cell(load_scenario(path).description)} |")
    return "\n".join(out) + "\n"


def metrics_reference() -> str:
    """A table of every Prometheus metric, from the registry ``/metrics`` is served from."""
    from llmfake.metrics import reference

    out = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for name, kind, labels, help_ in reference():
        shown = ", ".join(f"`{label}`" for label in labels)
        out.append(f"| `{name}` | {kind} | {shown} | {_cell(help_)} |")
    return "\n".join(out) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli_reference,
    "scenario-schema": schema_reference,
    "errors": errors_reference,
    "builtin-scenarios": builtin_scenarios,
    "metrics": metrics_reference,
}


def expand(markdown: str) -> str:
    """``markdown`` with every generated section filled afresh, its markers kept."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"unknown generated section {name!r}; known: {', '.join(GENERATORS)}")
        # Blank lines around the text: a Markdown HTML block (the comment) ends at one.
        return (f"<!-- llmfake:generated {name} -->\n\n{GENERATORS[name]().strip()}\n\n"
                + END)

    return MARKER.sub(fill, markdown)


def write_pages(docs: str = "docs") -> list[str]:
    """Rewrite the generated sections of every page under ``docs``; return those changed."""
    from pathlib import Path

    changed = []
    for page in sorted(Path(docs).rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        fresh = expand(text)
        if fresh != text:
            page.write_text(fresh, encoding="utf-8")
            changed.append(str(page))
    return changed


def on_page_markdown(markdown: str, **_: Any) -> str:
    """mkdocs event: expand the markers of each page before it is rendered."""
    return expand(markdown)


if __name__ == "__main__":  # python docs/_hooks.py: commit the generated text
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for name in write_pages(str(Path(__file__).resolve().parent)):
        print(f"rewrote {name}")
