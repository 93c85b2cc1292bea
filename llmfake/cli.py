"""The ``llmfake`` command: serve, validate, scenarios, schema, record, replay.

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
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from llmfake._version import __version__
from llmfake.errors import LLMFakeError, ScenarioError, StateError
from llmfake.journal import JOURNAL_LIMIT, Exchange
from llmfake.scenario._load import builtin_names, load_scenario, scenario_from_text
from llmfake.scenario._schema import schema

if TYPE_CHECKING:  # the server's imports wait for a command that serves
    from llmfake.server import Server


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmfake",
        description="A fake LLM API server driven by scenarios: the OpenAI, Anthropic, Gemini, "
                    "Azure OpenAI and Ollama wire formats on one port.",
    )
    p.add_argument("--version", action="version", version=f"llmfake {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("serve", help="start the fake server")
    s.add_argument("--scenario", metavar="PATH|NAME", default=None,
                   help="a scenario file or a built-in name (default: the built-in 'default')")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000,
                   help="port to bind (default 8000; 0 picks a free one)")
    s.add_argument("--seed", type=_whole(0), default=None, metavar="N",
                   help="override the scenario's seed (a whole number >= 0)")
    s.add_argument("--quiet", action="store_true", help="do not print a line per request")
    s.add_argument("--journal-size", type=_positive, default=JOURNAL_LIMIT, metavar="N",
                   help="exchanges each tenant's journal keeps, a ring: the oldest are "
                        f"dropped first (default {JOURNAL_LIMIT})")
    s.add_argument("--workers", type=_positive, default=1, metavar="N",
                   help="serve from N processes on one port (SO_REUSEPORT), for load tests "
                        "beyond one core; a request goes to whichever worker the kernel "
                        "picks. With --state memory each worker has its own state (tenants, "
                        "journals, scripts, rate and concurrency limits are per worker); with "
                        "--state redis they share it (default 1)")
    s.add_argument("--state", default=None, metavar="memory|redis|URL",
                   help="where tenants, scenarios, limits, scripts, chaos and the journal live: "
                        "memory (this process; the default), a Redis URL "
                        "(redis://HOST:PORT/DB) shared by every worker and every llmfake serve "
                        "using it, or redis: a private redis-server started for this run and "
                        "stopped at exit (needs redis-server on PATH). Default: $LLMFAKE_STATE, "
                        "else memory")
    s.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                   help="event loop: auto (default: uvloop where it is installed, as it is "
                        "on Linux and macOS), asyncio or uvloop")
    v = sub.add_parser("validate", help="check a scenario file; exit 2 if it is invalid")
    v.add_argument("file", nargs="+", help="scenario files (YAML or JSON), or - for stdin")
    from llmfake.record import add_cli

    add_cli(sub)
    r = sub.add_parser("replay", help="serve a recorded cassette: the recorded answers at the "
                                      "recorded pace, with a scenario's faults overlaid")
    r.add_argument("cassette", help="the cassette file (llmfake, vcrpy or pytest-recording)")
    r.add_argument("--scenario", metavar="PATH|NAME", default=None,
                   help="a scenario whose rules overlay the replay (e.g. make the 2nd call a 429)")
    r.add_argument("--speed", type=float, default=None, metavar="X",
                   help="1: the recorded pace (default); 2: twice as fast; 0: no delays")
    r.add_argument("--lenient", action="store_true",
                   help="answer unmatched requests from the scenario instead of a 500")
    r.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    r.add_argument("--port", type=int, default=8000,
                   help="port to bind (default 8000; 0 picks a free one)")
    r.add_argument("--quiet", action="store_true", help="do not print a line per request")
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
        if args.command == "replay":
            return _replay(args)
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
        _invalid(exc)
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
            _invalid(exc)
            status = 2
            continue
        rules = f"{len(sc.rules)} rule{'s' * (len(sc.rules) != 1)}"
        print(f"{name}: ok ({sc.name}, {rules})")
    return status


def _invalid(exc: ScenarioError) -> None:
    """Print every mistake of a scenario, one a line."""
    for line in str(exc).splitlines():
        print(f"llmfake: invalid scenario: {line}", file=sys.stderr)


def _replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llmfake.scenario._load import scenario_from_dict

    base = load_scenario(args.scenario)
    if not Path(args.cassette).is_file():
        print(f"llmfake replay: no cassette file {args.cassette} (cassette.path); record one "
              "with: llmfake record --upstream URL --cassette FILE", file=sys.stderr)
        return 2
    cassette: dict[str, object] = {"path": str(Path(args.cassette).resolve())}
    if args.speed is not None:
        cassette["replay_speed"] = args.speed
    if args.lenient:
        cassette["strict"] = False
    doc = {**base.raw, "cassette": {**_as_dict(base.raw.get("cassette")), **cassette}}
    if "name" not in base.raw:
        doc["name"] = f"replay {Path(args.cassette).name}"
    try:
        scenario = scenario_from_dict(doc, base.source if args.scenario else args.cassette)
    except ScenarioError as exc:
        print(f"llmfake replay: cannot replay: {exc}", file=sys.stderr)
        return 2
    serve_args = _parser().parse_args(["serve"])  # every serve option at its default
    for name in ("host", "port", "quiet"):
        setattr(serve_args, name, getattr(args, name))
    serve_args.scenario = scenario
    return _serve(serve_args)


def _as_dict(value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return dict(value)
    return {"path": value} if isinstance(value, str) else {}


def _scenarios() -> int:
    for name, path in builtin_names().items():
        try:
            description = load_scenario(path).description
        except ScenarioError as exc:  # a broken built-in must not hide the others
            description = f"INVALID: {exc}"
        print(f"{name:24} {description}")
    return 0


def _whole(minimum: int) -> Callable[[str], int]:
    """An argparse type for whole numbers >= ``minimum``, with a message saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value}")
        return value

    return parse


_positive = _whole(1)


def _log_line(exchange: Exchange) -> str:
    """``12:00:01 POST /v1/chat/completions 429 error rate_limit [rule 0 step 0] 2ms
    model=gpt-4o stream chunks=3 retry=1 retry-after=50ms``: what was asked, what the fake
    did and why, how long it took; the fields after the duration only when they apply."""
    e = exchange
    state = "" if e.completed else " (cut)"
    source = f" [{e.source}]" if e.source else ""
    outcome = e.outcome
    if e.source.endswith(" unmatched"):  # a replay's 500, not a scripted server error
        outcome = "no recording matched"
    line = (f"{time.strftime('%H:%M:%S')} {e.method} {e.path} {e.status or '---'} "
            f"{outcome}{source} {e.duration * 1000:.0f}ms{state}")
    if e.model:
        line += f" model={e.model}"
    if e.stream:
        line += f" stream chunks={e.chunks}"
    if e.attempt > 0:
        line += f" retry={e.attempt}"
    if e.retry_after is not None:
        line += f" retry-after={_seconds(e.retry_after)}"
    if e.tenant != "default":
        line += f" tenant={e.tenant}"
    return line


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:g}s"


class _RequestLog:
    """The per-request lines, off the request's path: a request only queues its exchange; a
    timer prints the queued lines every ``interval`` in one write, at most ``per_flush`` of
    them, and says how many it skipped. Printing (and flushing) a line per request cost the
    server ~20 us a request and blocked its loop whenever the terminal or pipe was slow."""

    def __init__(self, prefix: str = "", interval: float = 0.1, per_flush: int = 50) -> None:
        self._prefix = prefix
        self._interval = interval
        self._per_flush = per_flush
        self._queued: list[Exchange] = []
        self._skipped = 0
        self._timer: asyncio.TimerHandle | None = None

    def __call__(self, exchange: Exchange) -> None:
        if len(self._queued) < self._per_flush:
            self._queued.append(exchange)
        else:
            self._skipped += 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        """Print what is queued."""
        self._timer = None
        lines = [self._prefix + _log_line(e) for e in self._queued]
        if self._skipped:
            lines.append(f"{self._prefix}... and {self._skipped} more requests (at most "
                         f"{self._per_flush / self._interval:.0f} lines/s are printed; the "
                         "journal has them all)")
        self._queued, self._skipped = [], 0
        if lines:
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()


def _serve(args: argparse.Namespace) -> int:
    import os

    from llmfake.server._runner import state_url

    state = args.state or os.environ.get("LLMFAKE_STATE") or "memory"
    private = None
    if state == "redis":
        from llmfake._redis_server import RedisServer

        private = RedisServer()
        state = private.url
    try:
        try:
            args.state = state_url(state)
        except ValueError as exc:
            raise LLMFakeError(f"--state: {exc}") from None
        if args.state != "memory":
            _ping(args.state)  # before forking: one clear error, not one per worker
        if args.workers > 1:
            return _serve_workers(args)
        return _serve_one(args, None, banner=True)
    finally:
        if private is not None:
            private.stop()


def _ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise StateError(f"the shared state at {url} is unavailable ({exc}); start Redis there, "
                         "use --state redis for a private one, or --state memory") from None
    finally:
        client.close()


def _serve_one(args: argparse.Namespace, sock: object, *, banner: bool, prefix: str = "",
               parent: int | None = None) -> int:
    import socket

    from llmfake.server import Server
    from llmfake.server._collector import QuietCollections
    from llmfake.server._pacer import pacer

    log = None if args.quiet else _RequestLog(prefix)
    server = Server(args.scenario, host=args.host, port=args.port, seed=args.seed, log=log,
                    sock=sock if isinstance(sock, socket.socket) else None,
                    journal_size=args.journal_size, state=args.state)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        if parent is not None:  # a worker outlives no parent, even one killed with SIGKILL
            _watch_parent(loop, parent, stop)
        async with server:
            # Start-up objects (modules, scenario) never die: keep them out of the collector's
            # way, so a full collection under load takes ~2 ms instead of ~40 ms mid-stream.
            gc.freeze()
            # Middle and full collections wait for a moment when no stream is paced (_collector).
            collections = QuietCollections(loop, pacer(loop).pacing, lambda: server.turns)
            collections.start()
            try:
                if banner:
                    _print_banner(args, server)
                await stop.wait()
                if log is not None:
                    log.flush()
            finally:
                collections.stop()
        if banner:
            print("llmfake: stopped", flush=True)

    _run(run(), args.loop)
    return 0


def _print_banner(args: argparse.Namespace, server: Server) -> None:
    """What ``llmfake serve`` prints once it listens: where each provider is served."""
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
    if args.state != "memory":
        print(f"  state:      {args.state} (shared: tenants, scenarios, limits, "
              "scripts, chaos and the journal are global to every instance using it)")
    if args.workers > 1 and args.state == "memory":
        print(f"  workers:    {args.workers} processes on this port; state is PER "
              "WORKER: each has its own tenants, journals, scripts and limits (an RPM "
              f"of 60 admits up to {60 * args.workers}); --state redis shares it")
    elif args.workers > 1:
        print(f"  workers:    {args.workers} processes on this port, sharing the state")
    for name, value in server.env().items():
        print(f"export {name}={value}")
    print("", flush=True)


def _watch_parent(loop: asyncio.AbstractEventLoop, parent: int, stop: asyncio.Event) -> None:
    import os

    if os.getppid() != parent:
        stop.set()
        return
    loop.call_later(1.0, _watch_parent, loop, parent, stop)


def _run(main: Coroutine[Any, Any, None], loop: str) -> None:
    if loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                raise LLMFakeError("--loop uvloop needs uvloop, a dependency of llmfake that "
                                   "is not built for this platform; use --loop asyncio"
                                   ) from None
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def _serve_workers(args: argparse.Namespace) -> int:
    """``--workers N``: N forked processes, each with its own listening socket on one port
    (SO_REUSEPORT: the kernel spreads the connections), its own loop and its own state."""
    import os
    import socket

    if not hasattr(socket, "SO_REUSEPORT") or not hasattr(os, "fork"):
        raise LLMFakeError("--workers needs SO_REUSEPORT and fork (Linux, macOS, BSD)")
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    socks: list[socket.socket] = []
    try:
        for _ in range(args.workers):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((args.host, socks[0].getsockname()[1] if socks else args.port))
            s.listen(1024)
            socks.append(s)
    except OSError as exc:
        for s in socks:
            s.close()
        raise LLMFakeError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}; if the "
                           "port is taken, pick another --port (0 picks a free one); if the "
                           "address is wrong, fix --host") from None
    sys.stdout.flush()
    from llmfake.metrics import share_between_workers

    unshare_metrics = share_between_workers()  # every worker's /metrics sums them all
    parent = os.getpid()
    children: list[int] = []
    for index, sock in enumerate(socks):
        pid = os.fork()
        if pid == 0:  # a worker: serve on its own socket until SIGTERM
            code = 1
            try:
                for other in socks:
                    if other is not sock:
                        other.close()
                code = _serve_one(args, sock, banner=index == 0, prefix=f"[worker {index}] ",
                                  parent=parent)
            finally:
                sys.stdout.flush()
                os._exit(code)
        children.append(pid)
    for s in socks:
        s.close()
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    for pid in children:
        while True:
            try:
                _, code = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        if os.waitstatus_to_exitcode(code) not in (0, -signal.SIGTERM) and not stopping:
            status = 1
    unshare_metrics()
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
