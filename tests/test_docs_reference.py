"""The generated reference pages are complete, and every page is in the site's nav.

docs/_hooks.py fills the ``<!-- llmfake:generated ... -->`` markers of the reference pages at
every ``mkdocs build`` (CI runs ``mkdocs build --strict``); these tests load the hook without
mkdocs and check that what it writes names every subcommand, flag, scenario key and exception
the code has, so a generator that silently drops something fails here.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from llmfake.cli import _parser
from llmfake.scenario._schema import schema

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llmfake_docs_hooks", DOCS / "_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = load_hooks()


def test_the_cli_reference_names_every_subcommand_and_option():
    text = hooks.cli_reference()
    parser = _parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert len(subparsers.choices) >= 5
    for name, sub in subparsers.choices.items():
        assert f"### `llmfake {name}`" in text
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in text, f"llmfake {name} {option} is not documented"


def _keys(node: Mapping[str, Any], defs: Mapping[str, Any], seen: set[str]) -> Iterator[str]:
    """Every property name reachable from ``node``."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            yield from _keys(defs[name], defs, seen)
        return
    for key, sub in node.get("properties", {}).items():
        yield key
        yield from _keys(sub, defs, seen)
    for key in ("anyOf", "oneOf"):
        for option in node.get(key, ()):
            yield from _keys(option, defs, seen)
    if isinstance(node.get("items"), Mapping):
        yield from _keys(node["items"], defs, seen)


def test_the_schema_reference_names_every_key_error_and_fault():
    from llmfake.scenario._schema import ERROR_NAMES, FAULT_NAMES

    text = hooks.schema_reference()
    root = schema()
    keys = set(_keys(root, root["$defs"], set()))
    assert {"seed", "rules", "script", "retry_after", "after_chunks", "tokens_per_chunk"} <= keys
    for key in keys:
        assert f"| `{key}`" in text, f"scenario key {key!r} is missing from the schema reference"
    for name in (*ERROR_NAMES, *FAULT_NAMES):
        assert f"| `{name}` |" in text, f"{name!r} is missing from the name tables"
    anchors = set(re.findall(r"\{#([a-z0-9-]+)\}", text))
    for link in re.findall(r"\]\(#([^)]+)\)", text):
        assert link in anchors, f"the schema reference links to #{link}, which it never defines"


def test_the_errors_reference_names_every_exception_class():
    from llmfake.errors import LLMFakeError

    text = hooks.errors_reference()
    classes = hooks.error_classes()
    assert LLMFakeError in classes and len(classes) >= 4
    for cls in classes:
        assert f".{cls.__name__}`" in text
    assert "`llmfake.ScenarioError` | `LLMFakeError`, `ValueError` |" in text


def test_the_builtin_scenarios_are_all_listed():
    from llmfake.scenario._load import builtin_names

    text = hooks.builtin_scenarios()
    names = builtin_names()
    assert "default" in names
    for name in names:
        assert f"| `{name}` |" in text


def test_every_marker_in_the_docs_is_expanded():
    pages = [p for p in DOCS.rglob("*.md") if hooks.MARKER.search(p.read_text(encoding="utf-8"))]
    names = {m.group(1) for p in pages for m in hooks.MARKER.finditer(p.read_text("utf-8"))}
    assert names == set(hooks.GENERATORS)  # each generator is used, and only those exist


def test_the_committed_generated_text_is_current():
    # Read on GitHub, a page shows what is committed between its markers: it must be what the
    # build generates, or the reader sees last month's flags.
    stale = [str(p.relative_to(ROOT)) for p in sorted(DOCS.rglob("*.md"))
             if hooks.expand(text := p.read_text(encoding="utf-8")) != text]
    assert not stale, f"stale generated text in {stale}: run python docs/_hooks.py and commit"
    for page in DOCS.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert text.count("<!-- llmfake:generated ") == text.count(hooks.END), page


def test_expanding_keeps_the_markers_and_is_idempotent():
    once = hooks.expand("x\n<!-- llmfake:generated errors -->\nold text\n<!-- llmfake:end -->\ny\n")
    assert once.startswith("x\n<!-- llmfake:generated errors -->\n\n| exception |")
    assert "old text" not in once and once.endswith("<!-- llmfake:end -->\ny\n")
    assert hooks.expand(once) == once
    fresh = hooks.expand("<!-- llmfake:generated errors -->\n")  # never generated yet
    assert fresh.endswith(hooks.END + "\n") and "| exception |" in fresh


def test_an_unknown_marker_is_an_error():
    with pytest.raises(ValueError, match="unknown generated section 'nope'"):
        hooks.expand("<!-- llmfake:generated nope -->\n")


def _nav_files(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _nav_files(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nav_files(value)


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = list(_nav_files(config["nav"]))
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(nav) == pages
    assert config["hooks"] == ["docs/_hooks.py"]
