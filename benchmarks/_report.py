"""The suite's report: the figures against their targets, as a text table and as the
generated part of docs/benchmarks.md (between the ``<!-- suite:begin -->`` and
``<!-- suite:end -->`` markers; the rest of that page is written by hand)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- suite:begin -->", "<!-- suite:end -->"

Row = tuple[str, str, str, str]  # figure, measured, target, verdict


def _get(doc: dict[str, Any] | None, *path: str) -> Any:
    cur: Any = doc
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return cur


def _num(x: Any, digits: int = 0) -> str:
    if not isinstance(x, (int, float)) or x != x:
        return "n/a"
    return f"{x:,.{digits}f}"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def rows(results: dict[str, Any]) -> list[Row]:
    """Every figure with its target and whether it is met."""
    runs = results.get("runs", {})
    out: list[Row] = []
    for label, mode, unit in (("throughput", "chat", "req/s"), ("stream", "stream", "streams/s"),
                              ("throughput-asyncio", "chat", "req/s"),
                              ("stream-asyncio", "stream", "streams/s")):
        t = _get(runs.get(label), "modes", mode)
        if not t or "llmfake" not in t:
            continue
        f, ratios = t["llmfake"], t.get("ratios") or {"reference": t.get("ratio")}
        others = ", ".join(f"{k} {_num(t[k]['req_per_s'])}" for k in ratios if k in t)
        loop = " (`--loop asyncio`)" if label.endswith("asyncio") else ""
        what = ("non-streaming chat" if mode == "chat" else
                "streaming chat, 50 tokens, zero latency")
        peer = ratios.get("aimock")
        out.append((f"{what} {unit}, 32 connections, journal and log on{loop}",
                    f"{_num(f['req_per_s'])} ({others}); x{_num(peer, 2)} aimock, "
                    f"x{_num(ratios.get('reference'), 2)} the protocol-level reference; "
                    f"{_num(f['server_us_per_req'])} us CPU per request",
                    ">= 1.5 x aimock" if not loop else "",
                    _verdict(peer >= 1.5 if isinstance(peer, (int, float)) else None)
                    if not loop else ""))
        if mode == "chat" and not loop:
            out.append(("non-streaming p99 latency, 32 connections",
                        f"{_num(f['p99_ms'], 2)} ms (" + ", ".join(
                            f"{k} {_num(t[k]['p99_ms'], 2)} ms" for k in ratios if k in t)
                        + ")", "< 5 ms",
                        _verdict(f["p99_ms"] is not None and f["p99_ms"] < 5)))
    for n, gap_t, first_t in ((100, 1.0, 3.0), (1000, 5.0, 10.0)):
        fid = _get(runs.get(f"fidelity-{n}"), "results", "concurrent")
        streams = _get(runs.get(f"fidelity-{n}"), "streams")
        rounds = _get(runs.get(f"fidelity-{n}"), "results", "rounds") or []
        if fid:
            fb, gap = fid["first_byte_abs"], fid["gap_abs"]
            single = _get(runs.get(f"fidelity-{n}"), "results", "baseline") or {}

            def spread(key: str, rounds: list[dict[str, Any]] = rounds) -> str:
                vals = [r["concurrent"][key]["p99_ms"] for r in rounds]
                return (f"; p99 per round {min(vals):.2f}-{max(vals):.2f} ms"
                        if len(vals) > 1 else "")

            alone = _get(single, "first_byte_abs", "p99_ms")
            out.append((f"timing fidelity, {streams} concurrent streams: first byte, abs. error "
                        "p50 / p99", f"{_num(fb['p50_ms'], 2)} / {_num(fb['p99_ms'], 2)} ms"
                        f"{spread('first_byte_abs')} (one stream alone: p99 "
                        f"{_num(alone, 2)} ms)", f"p99 < {first_t:g} ms",
                        _verdict(fb["p99_ms"] < first_t)))
            alone = _get(single, "gap_abs", "p99_ms")
            out.append((f"timing fidelity, {streams} concurrent streams: chunk gaps, abs. error "
                        "p50 / p99", f"{_num(gap['p50_ms'], 2)} / {_num(gap['p99_ms'], 2)} ms"
                        f"{spread('gap_abs')} (one stream alone: p99 {_num(alone, 2)} ms)",
                        f"p99 < {gap_t:g} ms", _verdict(gap["p99_ms"] < gap_t)))
    m = runs.get("memory")
    if m and "open_streams" in m:
        o = m["open_streams"]
        out.append((f"memory, {o['streams']:,} open stalled streams",
                    f"{_num(o['rss_mb'], 1)} MiB RSS, peak {_num(o['peak_rss_mb'], 1)} MiB "
                    f"(idle {_num(m['idle_rss_mb'], 1)} MiB)", "< 100 MiB",
                    _verdict(o["peak_rss_mb"] < 100)))
        req = m["requests"]
        growth = m.get("growth_after_journal_full_mb")
        window = m.get("growth_window")
        out.append((f"memory over {req[-1]['requests']:,} requests (journal ring "
                    f"{m.get('journal_size') or 10000:,})",
                    f"{_num(req[0]['rss_mb'], 1)} -> {_num(req[-1]['rss_mb'], 1)} MiB; "
                    f"{_num(growth, 1)} MiB from {window[0]:,} to {window[1]:,} requests"
                    if window else f"{_num(req[-1]['rss_mb'], 1)} MiB",
                    "flat once the journal is full",
                    _verdict(growth is not None and growth < 5)))
    st = runs.get("startup")
    if st and "in_process" in st:
        i, c = st["in_process"], st["cli"]
        out.append(("start-up: llmfake.serve() until the first answered request",
                    f"{_num(i['serve_to_first_answer_ms'], 1)} ms (imports before it: llmfake "
                    f"{_num(i['import_ms'])} ms, its server "
                    f"{_num(i['import_server_ms'])} ms)", "< 50 ms",
                    _verdict(i["serve_to_first_answer_ms"] < 50)))
        out.append(("start-up: `llmfake serve` process start until the first answer",
                    f"{_num(c['start_to_first_answer_ms'])} ms", "", ""))
    pl = runs.get("plugin")
    if pl and "per_test" in pl:
        per = pl["per_test"]
        cost = per["fixture_setup_teardown_ms"]
        wall = per.get("wall_difference_per_test_ms")
        after = per.get("wall_difference_per_test_after_first_ms")
        # The phase-timing difference is within pytest's own noise (it can come out below
        # zero); the wall-clock difference per test bounds it from above. The server's start
        # is paid once, in the first test's setup (the session start-up row's business):
        # the per-test bound leaves it out when the run measured it apart.
        shown = (f"{_num(wall, 3)} ms of wall time per test, start-up included"
                 + (f", {_num(after, 3)} ms after the first test" if after is not None else "")
                 + f"; setup + teardown phases {_num(cost, 3)} ms apart ({per['tests']} tests)"
                 if wall is not None else f"{_num(cost, 3)} ms ({per['tests']} tests)")
        per_test = after if after is not None else wall
        bound = max(cost, per_test) if per_test is not None else cost
        out.append(("pytest plugin: the `llmfake` fixture's cost per test", shown, "< 1 ms",
                    _verdict(bound < 1)))
    rp = runs.get("replay")
    if rp and "first_byte_late_ms" in rp:
        f, g = rp["first_byte_late_ms"], rp["gap_error_ms"]
        out.append((f"replay of a recorded {rp['events_recorded']}-event stream at "
                    "replay_speed 1: first byte late / gap error, p50 / p99",
                    f"{_num(f['p50'], 2)} / {_num(f['p99'], 2)} ms; {_num(g['p50'], 2)} / "
                    f"{_num(g['p99'], 2)} ms ({rp['runs']} replays)", "within 10 ms",
                    _verdict(f["p99"] < 10 and g["p99"] < 10)))
    for label, doc in runs.items():
        if "error" in doc:
            out.append((f"{label}: FAILED", doc["error"][:200], "", ""))
    return out


def table(results: dict[str, Any]) -> str:
    """The rows as plain text."""
    lines = []
    for figure, measured, target, verdict in rows(results):
        lines.append(f"{figure}\n    {measured}" + (f"    [{target}: {verdict.strip('*')}]"
                                                    if target else ""))
    return "\n".join(lines)


def _environment(results: dict[str, Any]) -> dict[str, Any]:
    for doc in results.get("runs", {}).values():
        env = doc.get("environment")
        if env:
            return dict(env)
    return {}


def _others(results: dict[str, Any]) -> str:
    """How busy the machine was: the most other processes took during the measurements."""
    notes = []
    runs = results.get("runs", {})
    for label in ("throughput", "stream"):
        for mode in (_get(runs.get(label), "modes") or {}).values():
            for who in ("llmfake", "reference"):
                x = mode[who].get("others_on_server_cpu_pct_max")
                if x is not None:
                    notes.append(x)
    shares = []
    for label in ("fidelity-100", "fidelity-1000"):
        for r in _get(runs.get(label), "results", "rounds") or []:
            if r.get("others_cpu_share") is not None:
                shares.append(r["others_cpu_share"] * 100)
    parts = []
    if notes:
        parts.append(f"other processes took at most {max(notes):.0f}% of the server's CPU "
                     "during the throughput runs")
    if shares:
        parts.append(f"at most {max(shares):.0f}% of a CPU during the fidelity rounds")
    return "; ".join(parts) or "not measured"


def render(results: dict[str, Any]) -> str:
    """The generated part of docs/benchmarks.md."""
    env = _environment(results)
    runs = results.get("runs", {})
    load = runs.get("throughput") or runs.get("stream") or {}
    lines = [
        BEGIN,
        "<!-- Generated by `python -m benchmarks --write-docs`; edits here are overwritten. -->",
        "",
        "## Results against the targets",
        "",
        "| figure | measured | target | |",
        "| --- | --- | --- | --- |",
    ]
    for figure, measured, target, verdict in rows(results):
        lines.append(f"| {figure} | {measured} | {target} | {verdict} |")
    lines += [
        "",
        "### Machine and command",
        "",
        "| | |",
        "| --- | --- |",
        f"| date | {env.get('date', 'n/a')} |",
        f"| CPU | {env.get('cpu', 'n/a')}, {env.get('cpu_count', '?')} CPUs |",
        f"| platform | {env.get('platform', 'n/a')} |",
        f"| Python | {env.get('implementation', '')} {env.get('python', '')} |",
        f"| aiohttp | {env.get('aiohttp', 'n/a')} |",
        f"| llmfake | {env.get('llmfake', 'n/a')}, commit `{env.get('git', 'n/a')}` |",
        f"| load generator | {load.get('driver', 'n/a')} (one thread, "
        f"{load.get('connections', 32)} keep-alive connections) |",
        f"| load average at start | {env.get('load_average', 'n/a')} |",
        f"| others | {_others(results)} |",
        "| layout | servers pinned to CPU 0, the load generator to CPU 1, loopback |",
        f"| suite time | {results.get('suite_seconds', 'n/a')} s |",
        "",
        "```sh",
        " ".join(results.get("suite_argv", ["python", "-m", "benchmarks"])),
        "```",
        "",
        "Each benchmark ran as (from the repository root):",
        "",
        "```sh",
    ]
    lines += [doc.get("suite_command", "") for doc in runs.values() if doc.get("suite_command")]
    lines += ["```", "", END]
    return "\n".join(lines)


def write_docs(block: str, path: Path = DOC) -> Path:
    """Replace the generated part of ``path`` (or put it after the first paragraph)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text,
                      count=1, flags=re.S)
    else:
        head, sep, rest = text.partition("\n## ")
        text = head.rstrip() + "\n\n" + block + "\n" + (sep + rest if sep else "")
    path.write_text(text)
    return path
