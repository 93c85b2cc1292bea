"""A minimal plain aiohttp server: the baseline llmfake's throughput is compared with.

``POST /v1/chat/completions`` reads and parses the JSON request body and answers a fixed,
pre-rendered chat completion JSON body of ``--body-bytes`` bytes (padded to match llmfake's
response size), or exactly the bytes of ``--body-file``. With ``"stream": true`` in the request
it answers instead a fixed, pre-rendered SSE stream of ``--stream-bytes`` bytes (or
``--stream-file``'s), in one write, as llmfake does when no latency is configured.
No routing table beyond that, no parsing, no per-request work: what aiohttp itself costs.

Run: ``python benchmarks/_baseline_server.py --port 0``; it prints its URL on the first line.
Stop it with SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
from pathlib import Path

from aiohttp import web


def chat_body(size: int) -> bytes:
    """A chat.completion JSON body, pretty-printed like OpenAI's, padded to ``size`` bytes."""

    def render(content: str) -> bytes:
        doc = {
            "id": "chatcmpl-baseline0000000000000000000",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                                                 "refusal": None, "annotations": []},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
            "service_tier": "default",
            "system_fingerprint": "fp_baseline",
        }
        return json.dumps(doc, indent=2).encode()

    return render("x" * max(size - len(render("")), 0))


def stream_body(size: int) -> bytes:
    """A chat.completion.chunk SSE stream ending with ``[DONE]``, about ``size`` bytes."""
    head = ('{"id":"chatcmpl-baseline0000000000000000000","object":"chat.completion.chunk",'
            '"created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":'
            '{"content":" word"},"logprobs":null,"finish_reason":null}]}')
    event = f"data: {head}\n\n".encode()
    done = b"data: [DONE]\n\n"
    count = max((size - len(done)) // len(event), 1)
    return event * count + done


def create_app(body_bytes: int, stream_bytes: int, body: bytes | None = None,
               stream: bytes | None = None) -> web.Application:
    """The baseline application (``body``/``stream``: the exact bytes to answer)."""
    body = body if body is not None else chat_body(body_bytes)
    stream = stream if stream is not None else stream_body(stream_bytes)
    headers = {"content-type": "application/json"}
    sse_headers = {"content-type": "text/event-stream; charset=utf-8",
                   "cache-control": "no-cache"}

    async def chat(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        doc = json.loads(raw)  # what any real handler does first, as in the reference
        if doc.get("stream") is True:
            response = web.StreamResponse(headers=sse_headers)
            await response.prepare(request)
            await response.write(stream)
            await response.write_eof()
            return response
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def serve(host: str, port: int, body_bytes: int, stream_bytes: int,
                body: bytes | None = None, stream: bytes | None = None) -> None:
    """Serve until SIGINT or SIGTERM."""
    sock = socket.create_server((host, port), backlog=1024)
    runner = web.AppRunner(create_app(body_bytes, stream_bytes, body, stream), access_log=None,
                           handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    await web.SockSite(runner, sock, shutdown_timeout=0.5).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    print(f"baseline aiohttp server on http://{host}:{sock.getsockname()[1]}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        sock.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    p.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    p.add_argument("--body-bytes", type=int, default=1100,
                   help="size of the non-streamed JSON body (default 1100)")
    p.add_argument("--stream-bytes", type=int, default=15000,
                   help="approximate size of the streamed body (default 15000)")
    p.add_argument("--body-file", type=Path, default=None,
                   help="answer exactly these bytes to a non-streamed request")
    p.add_argument("--stream-file", type=Path, default=None,
                   help="answer exactly these bytes (SSE) to a streamed request")
    args = p.parse_args()
    body = args.body_file.read_bytes() if args.body_file else None
    stream = args.stream_file.read_bytes() if args.stream_file else None
    asyncio.run(serve(args.host, args.port, args.body_bytes, args.stream_bytes, body, stream))


if __name__ == "__main__":
    main()
