"""Record real API sessions into cassettes (vcrpy's YAML layout, streams kept chunk by chunk
with their timing, secrets redacted) and match requests against them.

Record::

    from llmfake.record import record
    with record("https://api.openai.com", "tests/cassettes/chat.yaml") as proxy:
        client = openai.OpenAI(base_url=proxy.openai_base_url)
        ...

Load and match::

    from llmfake.record import Matcher, load
    cassette = load("tests/cassettes/chat.yaml")
    interaction = Matcher(cassette.interactions, strict=True).match("POST", path, body)
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from llmfake.record._cassette import (
    Cassette,
    CassetteError,
    Chunk,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    dump,
    load,
    loads,
    split_stream,
)
from llmfake.record._match import DEFAULT_IGNORE, Matcher, UnmatchedRequestError, normalise_body
from llmfake.record._redact import DEFAULT_HEADERS, DEFAULT_QUERY, PLACEHOLDER, Redactor

__all__ = [
    "DEFAULT_HEADERS",
    "DEFAULT_IGNORE",
    "DEFAULT_QUERY",
    "PLACEHOLDER",
    "Cassette",
    "CassetteError",
    "Chunk",
    "Interaction",
    "Matcher",
    "RecordedRequest",
    "RecordedResponse",
    "Recorder",
    "Redactor",
    "StreamSplitter",
    "UnmatchedRequestError",
    "add_cli",
    "create_proxy_app",
    "dump",
    "load",
    "loads",
    "normalise_body",
    "record",
    "run_cli",
    "split_stream",
]


_PROXY_NAMES = ("Recorder", "StreamSplitter", "create_proxy_app", "record")


def __getattr__(name: str) -> Any:
    # The proxy needs aiohttp; loading a cassette (a scenario's `cassette:`) must not.
    if name in _PROXY_NAMES:
        from llmfake.record import _proxy

        return getattr(_proxy, name)
    raise AttributeError(f"module 'llmfake.record' has no attribute {name!r}")


if TYPE_CHECKING:
    from llmfake.record._proxy import Recorder, StreamSplitter, create_proxy_app, record


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``record --upstream URL --cassette FILE [--port N] [--host H] [--append]
    [--redact-header NAME]...`` to an argparse ``subparsers``; the parser's ``func`` default is
    ``run_cli``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "record", help="record a real API session to a cassette through a proxy")
    p.add_argument("--upstream", required=True, help="the real API's root URL")
    p.add_argument("--cassette", required=True, help="the cassette YAML file to write")
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--append", action="store_true",
                   help="keep the interactions already in the cassette")
    p.add_argument("--redact-header", action="append", default=[], metavar="NAME",
                   help="another header to redact (repeatable)")
    p.add_argument("--redact-body", action="append", default=[], metavar="REGEX",
                   help="a regex to redact in bodies (repeatable)")
    p.set_defaults(func=run_cli)
    return p


def run_cli(args: argparse.Namespace) -> int:
    """Run ``llmfake record`` until interrupted; return the exit status."""
    import contextlib
    import sys
    import threading

    from llmfake.cli import _log_line
    from llmfake.record._journal import exchange_of
    from llmfake.record._proxy import record

    redactor = Redactor.create(extra_headers=args.redact_header, body_patterns=args.redact_body)
    count = 0

    def log(it: Interaction, started: float, ended: float, recorded: bool) -> None:
        nonlocal count
        count += 1
        exchange = exchange_of(it, seq=count, tenant="default", started=started, ended=ended)
        print(f"{_log_line(exchange)} -> {args.cassette} #{count}", flush=True)

    with record(args.upstream, args.cassette, host=args.host, port=args.port,
                redactor=redactor, append=args.append) as proxy:
        proxy.observe(log)
        print(f"llmfake record: {proxy.url} -> {args.upstream}, writing {args.cassette} "
              "(Ctrl-C to stop)", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0
