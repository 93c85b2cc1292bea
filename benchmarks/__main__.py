"""The benchmark suite: ``python -m benchmarks`` runs every benchmark and prints the figures
against its targets; ``--write-docs`` puts them in docs/benchmarks.md.

Each benchmark is one of the scripts beside this file, run as its own process with ``--json``
(each starts its own servers on loopback, pins them, and stops them):

  throughput  bench_load.py --mode chat     non-streamed req/s at 32 connections vs reference
  stream      bench_load.py --mode stream   50-token streams/s and chunks/s vs reference
  fidelity    bench_fidelity.py             100 and 1,000 concurrent streams: timing errors
  memory      bench_memory.py               RSS with 1,000 open streams; over 100,000 requests
  startup     bench_startup.py              serve() and `llmfake serve` until the first answer
  plugin      bench_plugin.py               the pytest fixture's cost per test
  replay      bench_replay.py               a replayed cassette's timing vs the recording

    python -m benchmarks                          # everything (about 10 minutes when idle)
    python -m benchmarks throughput stream        # some of them
    python -m benchmarks --quick                  # a smoke run of everything (about 2 minutes)
    python -m benchmarks --wait-idle 300 --write-docs --save results.json
    python -m benchmarks --load results.json --write-docs   # the docs from saved results
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import render, table, write_docs  # noqa: E402

NAMES = ("throughput", "stream", "fidelity", "memory", "startup", "plugin", "replay")


def commands(name: str, args: argparse.Namespace) -> dict[str, list[str]]:
    """The script invocations of benchmark ``name``: {label: argv after the interpreter}."""
    quick = args.quick
    wait = ["--wait-idle", str(args.wait_idle)] if args.wait_idle > 0 else []
    if name in ("throughput", "stream"):
        mode = "chat" if name == "throughput" else "stream"
        rounds = ["--rounds", "1", "--seconds", "3"] if quick else ["--rounds", "3"]
        loops = {"": []}
        if args.asyncio:
            loops["asyncio"] = ["--loop", "asyncio"]
        return {f"{name}{'-' + k if k else ''}": ["bench_load.py", "--mode", mode, *rounds,
                                                  *wait, *extra, "--json"]
                for k, extra in loops.items()}
    if name == "fidelity":
        r100 = ["--quick"] if quick else ["--rounds", "5"]
        r1000 = ["--quick"] if quick else ["--rounds", "3", "--baseline-runs", "2"]
        return {f"fidelity-{n}": ["bench_fidelity.py", "--streams", str(n), *r, *wait, "--json"]
                for n, r in ((100, r100), (1000, r1000))}
    if name == "memory":
        return {"memory": ["bench_memory.py", *(["--quick"] if quick else []), *wait,
                           "--json"]}
    if name == "startup":
        return {"startup": ["bench_startup.py", *(["--quick"] if quick else []), *wait,
                            "--json"]}
    if name == "plugin":
        sizes = (["--per-test", "100", "--rounds", "1", "--startup-runs", "2"] if quick
                 else ["--per-test", "500", "--rounds", "3", "--startup-runs", "5"])
        return {"plugin": ["bench_plugin.py", "--sdk-tests", "0", *sizes, "--cpu", "0", *wait,
                           "--json"]}
    if name == "replay":
        return {"replay": ["bench_replay.py", *(["--quick"] if quick else []), *wait, "--json"]}
    raise ValueError(name)


def run_one(label: str, argv: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / argv[0]), *argv[1:]]
    print(f"--- {label}: python benchmarks/{' '.join(argv)}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}",
                "command": "python benchmarks/" + " ".join(argv)}
    doc: dict[str, Any] = json.loads(proc.stdout)
    doc["suite_command"] = "python benchmarks/" + " ".join(argv)
    doc["suite_seconds"] = round(took, 1)
    print(f"    done in {took:.0f} s", file=sys.stderr, flush=True)
    return doc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="llmfake's benchmark suite: every figure against its target.",
        epilog="Benchmarks: " + ", ".join(NAMES) + ". See benchmarks/README.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("only", nargs="*", metavar="BENCHMARK",
                   help="run only these (default: all): " + ", ".join(NAMES))
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: short runs, fewer rounds (figures not for the docs)")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                   help="before each measurement, wait up to SECONDS for the CPUs to be idle "
                        "(a shared machine)")
    p.add_argument("--asyncio", action="store_true",
                   help="also run throughput and stream with llmfake serve --loop asyncio "
                        "(the default loop is uvloop where installed)")
    p.add_argument("--save", type=Path, metavar="FILE", help="write the results as JSON")
    p.add_argument("--load", type=Path, metavar="FILE",
                   help="do not run: read results saved with --save")
    p.add_argument("--write-docs", action="store_true",
                   help="rewrite the generated part of docs/benchmarks.md with the results")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    unknown = [n for n in args.only if n not in NAMES]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(NAMES)}")
    if args.load:
        results = json.loads(args.load.read_text())
    else:
        results = {"suite_argv": ["python", "-m", "benchmarks", *sys.argv[1:]],
                   "quick": args.quick, "wait_idle": args.wait_idle, "runs": {}}
        started = time.monotonic()
        for name in args.only or NAMES:
            for label, cmd in commands(name, args).items():
                results["runs"][label] = run_one(label, cmd)
        results["suite_seconds"] = round(time.monotonic() - started, 1)
        if args.save:
            args.save.write_text(json.dumps(results, indent=2, default=str))
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print(table(results))
    if args.write_docs:
        path = write_docs(render(results))
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
