"""The quickstart's story runs as written: its test fails against app.py, passes against the fix.

The page's ```py title="FILE" blocks are files a new user saves (``app.py``, ``test_app.py``,
then ``app.py (fixed)`` over the first ``app.py``); its ```text blocks after "Run it" quote what
pytest prints. Both runs happen in a child process with the plugin loaded, as on a fresh
machine, and every quoted line must occur in pytest's output.
"""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
TITLED = re.compile(r'^```py title="([^"]+)"\n(.*?)^```', re.MULTILINE | re.DOTALL)
TEXT = re.compile(r"^```text\n(.*?)^```", re.MULTILINE | re.DOTALL)


def files() -> dict[str, str]:
    """Titled blocks of the page by title, in order."""
    return {m.group(1): m.group(2) for m in TITLED.finditer(PAGE.read_text(encoding="utf-8"))}


def quoted_output(after: str) -> list[str]:
    """Lines of the first ```text block that follows the block titled ``after``."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f'```py title="{after}"')
    block = TEXT.search(text, start)
    assert block is not None, f"no ```text block after {after}"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def _squeeze(line: str) -> str:
    return " ".join(line.split())


def check_quoted(result, lines: list[str]) -> None:
    """Every quoted line occurs in one output line, white space squeezed; ``...`` stands for
    any text (a line of just ``...`` for lines left out)."""
    out = [_squeeze(line) for line in result.outlines]
    for line in lines:
        parts = [p for p in _squeeze(line).split("...") if p.strip()]
        if not parts:
            continue

        def fits(candidate: str, parts: list[str] = parts) -> bool:
            at = 0
            for part in parts:
                at = candidate.find(part.strip(), at)
                if at < 0:
                    return False
            return True

        assert any(fits(o) for o in out), (
            f"the quickstart quotes {line!r}, which pytest no longer prints:\n"
            + "\n".join(result.outlines))


def test_the_page_tells_the_story():
    assert list(files()) == ["app.py", "test_app.py", "app.py (fixed)"]


def test_the_test_fails_on_the_bug_and_passes_on_the_fix(inner):
    blocks = files()
    inner.makepyfile(app=blocks["app.py"], test_app=blocks["test_app.py"])
    failing = inner.run_subprocess("test_app.py")
    failing.assert_outcomes(failed=1)
    check_quoted(failing, quoted_output("test_app.py"))

    inner.makepyfile(app=blocks["app.py (fixed)"])
    fixed = inner.run_subprocess("test_app.py")
    fixed.assert_outcomes(passed=1)
    check_quoted(fixed, quoted_output("app.py (fixed)"))
