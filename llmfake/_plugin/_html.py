"""The HTML report of ``--llmfake-report=html:PATH``: one file, no script, no external asset.

Failed tests come first, each opening on its requests' timeline (what the client sent, what it
got, when, and how long it waited before retrying), then the failure, then the exchanges in a
table, then the files the test attached (``ATTACHMENT``: screenshots), embedded as data URIs.
Passed tests follow, folded. The timeline is an inline SVG drawn here: one bar per
exchange from arrival to end, coloured by status, with a tick per stream write and, after a
failed attempt that gave a Retry-After, a dashed mark where that delay ended.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmfake._plugin._fixture import LLMFake

_CSS = """
body { font: 13px/1.4 system-ui, sans-serif; color: #1d2330; margin: 1.5em; }
h1 { font-size: 18px; } h2 { font-size: 15px; margin: 0; display: inline; }
section { border: 1px solid #e3e6ec; border-radius: 6px; margin: 1em 0; padding: .5em .75em; }
section.failed { border-color: #c53030; }
.failed h2::before { content: "FAILED "; color: #c53030; }
.passed h2::before { content: "passed "; color: #1f8a4c; }
summary { cursor: pointer; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { text-align: left; padding: 2px 8px; border-bottom: 1px solid #e3e6ec; }
pre { background: #fdf2f2; padding: .5em; overflow: auto; max-height: 20em; }
svg { width: 100%; max-width: 1100px; display: block; }
.s2 { fill: #1f8a4c; } .s4 { fill: #b7791f; } .s5, .s0 { fill: #c53030; }
.tick { stroke: #fff; stroke-width: 1; } .ra { stroke: #6b7385; stroke-dasharray: 3 2; }
.label { font: 11px ui-monospace, monospace; fill: #1d2330; }
.muted { color: #6b7385; }
figure.attachment { margin: .75em 0; } figure.attachment img { max-width: 100%;
  border: 1px solid #e3e6ec; } figcaption { color: #6b7385; font-size: 11px; }
"""


def exchanges_of(fake: LLMFake) -> list[dict[str, Any]]:
    """The test's exchanges as JSON-ready dicts (they travel on an xdist report)."""
    from llmfake.ui._live import summary

    return [{**summary(e), "sent": [list(s) for s in e.sent]} for e in fake.journal]


def write_report(target: Path, runs: dict[str, dict[str, Any]]) -> None:
    """Write the report of ``runs`` (node id -> outcome, failure, exchanges) to ``target``."""
    order = sorted(runs.items(), key=lambda kv: (kv[1]["outcome"] != "failed", kv[0]))
    failed = sum(1 for _, r in order if r["outcome"] == "failed")
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>llmfake report</title><style>{_CSS}</style></head><body>",
             f"<h1>llmfake report: {len(order)} tests, {failed} failed</h1>"]
    if not order:
        parts.append("<p class='muted'>No test used the llmfake fixture.</p>")
    for nodeid, run in order:
        parts.append(_test(nodeid, run))
    parts.append("</body></html>")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(parts), encoding="utf-8")


def _test(nodeid: str, run: dict[str, Any]) -> str:
    outcome = run["outcome"]
    exchanges = run["exchanges"]
    opened = " open" if outcome == "failed" else ""
    out = [f"<section class='{html.escape(outcome)}' data-nodeid='{html.escape(nodeid)}'>",
           f"<details{opened}><summary><h2>{html.escape(nodeid)}</h2> "
           f"<span class='muted'>{len(exchanges)} exchanges, {run['duration']:.2f} s</span>"
           "</summary>"]
    if exchanges:
        out.append(timeline(exchanges))
    if run["failure"]:
        out.append(f"<pre class='failure'>{html.escape(run['failure'])}</pre>")
    if exchanges:
        out.append(_table(exchanges))
    out += [_figure(Path(p)) for p in run.get("attachments", [])]
    out.append("</details></section>")
    return "".join(out)


_IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
           ".svg": "image/svg+xml"}


def _figure(path: Path) -> str:
    """An attached file: an image inline, anything else (or a file gone) named."""
    name = html.escape(path.name)
    kind = _IMAGES.get(path.suffix.lower())
    try:
        data = path.read_bytes() if kind is not None else None
    except OSError:
        return f"<p class='muted attachment'>{name}: attached, but no longer on disk</p>"
    if data is None:
        return f"<p class='muted attachment'>{name}: attached (not an image)</p>"
    uri = f"data:{kind};base64,{base64.b64encode(data).decode()}"
    return (f"<figure class='attachment'><img src='{uri}' alt='{name}'>"
            f"<figcaption>{html.escape(str(path))}</figcaption></figure>")


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.0f} ms"


def _table(exchanges: list[dict[str, Any]]) -> str:
    rows = ["<table class='exchanges'><tr><th>#</th><th>request</th><th>status</th>"
            "<th>outcome</th><th>decided by</th><th>attempt</th><th>retry-after</th>"
            "<th>ttfb</th><th>duration</th><th>chunks</th></tr>"]
    for e in exchanges:
        cells = [e["seq"], f"{e['method']} {e['path']}" + (" (stream)" if e["stream"] else ""),
                 e["status"] or "cut", e["outcome"], e["source"], e["attempt"],
                 _ms(e["retry_after"]), _ms(e["ttfb"]), _ms(e["duration"]), e["chunks"]]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                    + "</tr>")
    return "".join(rows) + "</table>"


def timeline(exchanges: list[dict[str, Any]]) -> str:
    """An SVG timeline of ``exchanges``: one row each, times from the first arrival."""
    t0 = min(e["started"] for e in exchanges)
    ends = [(e["ended"] if e["ended"] is not None else e["started"] + e["duration"]) - t0
            for e in exchanges]
    marks = [e["started"] - t0 + e["duration"] + (e["retry_after"] or 0) for e in exchanges]
    span = max([*ends, *marks, 0.001])
    row, label_w, width = 18, 230, 1100
    scale = (width - label_w - 10) / span
    height = row * len(exchanges) + 22
    out = [f"<svg class='timeline' viewBox='0 0 {width} {height}' role='img' "
           f"aria-label='request timeline'>"]
    for i, (e, end) in enumerate(zip(exchanges, ends, strict=True)):
        y = i * row + 2
        x0 = label_w + (e["started"] - t0) * scale
        w = max((end - (e["started"] - t0)) * scale, 2)
        label = f"#{e['seq']} {e['status'] or 'cut'} {e['outcome']}"[:34]
        out.append(f"<text class='label' x='0' y='{y + 12}'>{html.escape(label)}</text>")
        out.append(f"<rect class='bar s{str(e['status'])[0]}' x='{x0:.1f}' y='{y}' "
                   f"width='{w:.1f}' height='{row - 5}'><title>{html.escape(e['path'])}: "
                   f"arrived at {_ms(e['started'] - t0)}, took {_ms(e['duration'])}"
                   f"</title></rect>")
        for at, _planned, _chunks in e.get("sent", []):
            x = x0 + at * scale
            out.append(f"<line class='tick' x1='{x:.1f}' x2='{x:.1f}' y1='{y}' "
                       f"y2='{y + row - 5}'/>")
        if e["retry_after"] is not None:
            x = label_w + (e["started"] - t0 + e["duration"] + e["retry_after"]) * scale
            out.append(f"<line class='ra' x1='{x:.1f}' x2='{x:.1f}' y1='{y}' "
                       f"y2='{y + 2 * row}'><title>retry-after "
                       f"{_ms(e['retry_after'])} ends</title></line>")
    axis_y = row * len(exchanges) + 16
    out.append(f"<text class='label' x='{label_w}' y='{axis_y}'>0</text>"
               f"<text class='label' x='{width - 60}' y='{axis_y}'>{_ms(span)}</text></svg>")
    return "".join(out)
