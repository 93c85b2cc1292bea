"""The protocol-level reference: what Python can do on one core for this job.

An ``asyncio.Protocol`` on uvloop (where installed) fed by httptools, parsing each request's
JSON body with orjson and answering canned bytes (llmfake's own answer, read from it first, so
both send the same bytes): no routing, no engine, no journal. llmfake's throughput over this
server's is the share of the machine's ceiling it reaches.

    python benchmarks/_reference_server.py --port 0 --body-file B --stream-file S
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

import httptools
import orjson


def _response(body: bytes, content_type: bytes, chunked: bool) -> bytes:
    if chunked:
        return (b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type
                + b"\r\ntransfer-encoding: chunked\r\n\r\n"
                + b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body))
    return (b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type
            + b"\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body))


class _Protocol(asyncio.Protocol):
    def __init__(self, chat: bytes, stream: bytes) -> None:
        self._chat, self._stream = chat, stream
        self._parser = httptools.HttpRequestParser(self)
        self._body: list[bytes] = []
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        request = orjson.loads(b"".join(self._body) or b"{}")
        self._body.clear()
        if self._transport is not None:
            self._transport.write(self._stream if request.get("stream") else self._chat)


async def _serve(port: int, chat: bytes, stream: bytes) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.create_server(("127.0.0.1", port), backlog=1024)
    server = await loop.create_server(lambda: _Protocol(chat, stream), sock=sock)
    print(f"reference on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--body-file", type=Path, required=True)
    p.add_argument("--stream-file", type=Path, required=True)
    args = p.parse_args()
    chat = _response(args.body_file.read_bytes(), b"application/json", chunked=False)
    stream = _response(args.stream_file.read_bytes(), b"text/event-stream; charset=utf-8",
                       chunked=True)
    try:
        import uvloop

        uvloop.run(_serve(args.port, chat, stream))
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(_serve(args.port, chat, stream))


if __name__ == "__main__":
    main()
