"""The ``llmfake`` command: serve, validate, scenarios, schema.

Exit codes: 0 ok, 1 the server failed, 2 usage error or invalid scenario (message on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import signal
import sys
import time
from collections.abc import Sequence

from llmfake._version import __version__
from llmfake.errors import LLMFakeError, ScenarioError
from llmfake.journal import Exchange
from llmfake.scenario._load import builtin_names, load_scenario, scenario_from_text
from llmfake.scenario._schema import schema


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmfake",
        description="A fake LLM API server (OpenAI wire format) driven by scenarios.",
    )
    p.add_argument("--version", action="version", version=f"llmfake {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("serve", help="start the fake server")
    s.add_argument("--scenario", metavar="PATH|NAME", default=None,
                   help="a scenario file or a built-in name (default: the built-in 'default')")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000,
                   help="port to bind (default 8000; 0 picks a free one)")
    s.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    s.add_argument("--quiet", action="store_true", help="do not print a line per request")
    v = sub.add_parser("validate", help="check a scenario file; exit 2 if it is invalid")
    v.add_argument("file", nargs="+", help="scenario files (YAML or JSON), or - for stdin")
    from llmfake.record import add_cli

    add_cli(sub)
    sub.add_parser("scenarios", help="list the built-in scenarios")
    sub.add_parser("schema", help="print the JSON Schema of the scenario format")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "validate":
            return _validate(args.file)
        if args.command == "scenarios":
            return _scenarios()
        if args.command == "record":
            status: int = args.func(args)
            return status
        if args.command == "schema":
            print(json.dumps(schema(), indent=2))
            return 0
    except BrokenPipeError:  # `llmfake schema | head` closed the pipe: not an error
        sys.stderr.close()
        return 0
    except ScenarioError as exc:
        print(f"llmfake: invalid scenario: {exc}", file=sys.stderr)
        return 2
    except LLMFakeError as exc:
        print(f"llmfake: {exc}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - argparse rejects other commands


def _validate(files: Sequence[str]) -> int:
    status = 0
    for name in files:
        try:
            if name == "-":
                sc = scenario_from_text(sys.stdin.read(), "<stdin>")
            else:
                sc = load_scenario(name)
        except ScenarioError as exc:
            print(f"llmfake: invalid scenario: {exc}", file=sys.stderr)
            status = 2
            continue
        print(f"{name}: ok ({sc.name}, {len(sc.rules)} rules)")
    return status


def _scenarios() -> int:
    for name, path in builtin_names().items():
        try:
            description = load_scenario(path).description
        except ScenarioError as exc:  # a broken built-in must not hide the others
            description = f"INVALID: {exc}"
        print(f"{name:24} {description}")
    return 0


def _log_line(exchange: Exchange) -> None:
    state = "" if exchange.completed else " (cut)"
    source = f" [{exchange.source}]" if exchange.source else ""
    line = (f"{time.strftime('%H:%M:%S')} {exchange.method} {exchange.path} "
            f"{exchange.status or '---'} {exchange.outcome}{source} "
            f"{exchange.duration * 1000:.0f}ms{state}")
    if exchange.tenant != "default":
        line += f" tenant={exchange.tenant}"
    print(line, flush=True)


def _serve(args: argparse.Namespace) -> int:
    from llmfake.server import Server

    server = Server(args.scenario, host=args.host, port=args.port, seed=args.seed,
                    log=None if args.quiet else _log_line)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        async with server:
            # Start-up objects (modules, scenario) never die: keep them out of the collector's
            # way, so a full collection under load takes ~2 ms instead of ~40 ms mid-stream.
            gc.freeze()
            url = server.url
            sc = server.scenario
            print(f"llmfake {__version__} serving scenario '{sc.name}' (seed {sc.seed}) "
                  f"on {url}", flush=True)
            print(f"  OpenAI:     {url}/v1   (chat, responses, embeddings, completions, models)")
            print(f"  Anthropic:  {url}      (/v1/messages)")
            print(f"  Gemini:     {url}      (/v1 and /v1beta models/*:generateContent)")
            print(f"  Azure:      {url}      (/openai/deployments/<name>/...)")
            print(f"  Ollama:     {url}      (/api/chat, /api/generate, /api/embed)")
            print(f"  control:    {url}/_llmfake/health  (scenario, journal, reset)")
            print(f"  tenants:    {url}/t/<name>/...  (own scenario, state and journal)")
            for name, value in server.env().items():
                print(f"export {name}={value}")
            print("", flush=True)
            await stop.wait()
        print("llmfake: stopped", flush=True)

    asyncio.run(run())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
