"""The recording proxy: forward to the upstream, stream through, record every chunk with timing.

``with record("https://api.openai.com", "tests/cassettes/x.yaml") as proxy:`` then point the SDK
at ``proxy.openai_base_url``. The cassette is written (redacted) after every interaction and on
close, so nothing is lost if the process dies.

Bedrock's streams are binary (AWS event stream): they are cut into messages by their length
prelude, each kept as its bytes (the cassette holds it decoded, re-encoded byte for byte on
loading). A SigV4-signed request is signed again for the upstream's host
(``llmfake.record._resign``), as the client signed it for the proxy's.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import aiohttp
import yarl
from aiohttp import web

from llmfake.record._cassette import (
    BINARY_STREAM,
    Cassette,
    Chunk,
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    binary_chunk,
    content_type,
    dump,
    is_stream_type,
    load,
)
from llmfake.record._match import Matcher
from llmfake.record._redact import Redactor
from llmfake.record._resign import resign
from llmfake.server._background import Listener

__all__ = ["HOP_BY_HOP", "FrameSplitter", "Recorder", "StreamSplitter", "Upstream",
           "create_proxy_app", "record"]

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length",
})
_NOT_TO_CLIENT = HOP_BY_HOP | {"content-encoding"}


class StreamSplitter:
    """Cuts a byte stream into SSE events (ending in a blank line) or NDJSON lines, stamping
    each with the time its last byte arrived."""

    def __init__(self, media_type: str) -> None:
        self.sse = media_type == "text/event-stream"
        self._buf = ""
        self._decoder = _utf8_decoder()
        self.chunks: list[Chunk] = []

    def feed(self, data: bytes, offset: float) -> None:
        """Add bytes received ``offset`` seconds after the request start."""
        self._buf += self._decoder.decode(data)
        while True:
            end = self._boundary()
            if end < 0:
                return
            self.chunks.append(Chunk(offset, self._buf[:end]))
            self._buf = self._buf[end:]

    def close(self, offset: float) -> list[Chunk]:
        """Flush what is left (an unterminated last piece) and return every chunk."""
        self._buf += self._decoder.decode(b"", final=True)
        if self._buf:
            self.chunks.append(Chunk(offset, self._buf))
            self._buf = ""
        return self.chunks

    def _boundary(self) -> int:
        buf = self._buf
        if not self.sse:
            i = buf.find("\n")
            return -1 if i < 0 else i + 1
        best = -1
        for sep in ("\r\n\r\n", "\n\n", "\r\r"):
            i = buf.find(sep)
            if i >= 0 and (best < 0 or i + len(sep) < best):
                best = i + len(sep)
        return best


class FrameSplitter:
    """Cuts an AWS event stream into its messages by their length prelude, stamping each with
    the time its last byte arrived (``StreamSplitter``'s interface, for binary streams)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.chunks: list[Chunk] = []

    def feed(self, data: bytes, offset: float) -> None:
        """Add bytes received ``offset`` seconds after the request start."""
        self._buf += data
        while len(self._buf) >= 4:
            size = max(int.from_bytes(self._buf[:4], "big"), 1)
            if len(self._buf) < size:
                return
            self.chunks.append(binary_chunk(offset, bytes(self._buf[:size])))
            del self._buf[:size]

    def close(self, offset: float) -> list[Chunk]:
        """Keep what is left (a truncated last message) as one chunk and return every chunk."""
        if self._buf:
            self.chunks.append(binary_chunk(offset, bytes(self._buf)))
            self._buf.clear()
        return self.chunks


def _utf8_decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


def _to_headers(items: Iterable[tuple[str, str]]) -> Headers:
    out: Headers = {}
    for k, v in items:
        out.setdefault(str(k), []).append(str(v))
    return out


Upstream = str | Mapping[str, str]
"""One root URL, or one per provider (``{"openai": "https://api.openai.com", ...}``; the key
``default`` catches requests of providers not listed)."""


class _State:
    def __init__(self, upstream: Upstream, cassette: Cassette, path: Path, redactor: Redactor,
                 replay: bool = False) -> None:
        self.upstreams = ({"default": upstream} if isinstance(upstream, str)
                          else dict(upstream))
        self.cassette = cassette
        self.path = path
        self.redactor = redactor
        self.session: aiohttp.ClientSession | None = None
        self.lock = asyncio.Lock()
        # new_episodes: what was recorded before is answered from the file, the rest recorded
        self.matcher = Matcher(list(cassette.interactions)) if replay else None
        self.observers: list[Observer] = []
        self.active = 0  # requests being forwarded (see Recorder.settle)

    def upstream_for(self, path: str, headers: Mapping[str, str]) -> str:
        """The upstream root for a request: the one of the provider whose client sends it."""
        if len(self.upstreams) == 1:
            return next(iter(self.upstreams.values())).rstrip("/")
        from llmfake.providers import owner_of

        name = owner_of(path, {k.lower(): v for k, v in headers.items()}).name
        url = self.upstreams.get(name) or self.upstreams.get("default")
        if url is None:
            raise LookupError(f"no upstream for {name} requests ({path}); give one for "
                              f"{name!r} or 'default'")
        return url.rstrip("/")

    async def save(self, it: Interaction, started: float) -> None:
        async with self.lock:
            redacted = self.redactor(it)
            self.cassette.interactions.append(redacted)
            dump(self.cassette, self.path)
        self.notify(redacted, started, recorded=True)

    def notify(self, it: Interaction, started: float, *, recorded: bool) -> None:
        """Tell the observers (the pytest journal, the CLI log) about an interaction."""
        for observe in self.observers:
            observe(it, started, time.monotonic(), recorded)


Observer = Callable[[Interaction, float, float, bool], None]
"""Called with each interaction the proxy answered (redacted), its start and end
(``time.monotonic()``) and whether it was recorded now (False: answered from the cassette)."""


_STATE = web.AppKey("llmfake_record_state", _State)


def create_proxy_app(upstream: Upstream, cassette: str | os.PathLike[str] | Cassette, *,
                     redactor: Redactor | None = None, append: bool = False,
                     replay: bool = False) -> web.Application:
    """An aiohttp app forwarding every request to ``upstream`` and recording it to
    ``cassette`` (a path, or a ``Cassette`` with a ``path``). ``append=True`` keeps the
    interactions of an existing file; otherwise the file is replaced at the first interaction.
    ``replay=True`` (with ``append``) answers requests the file already holds from it, at once,
    and records only the new ones (pytest-recording's ``new_episodes``)."""
    if isinstance(cassette, Cassette):
        if cassette.path is None:
            raise ValueError("create_proxy_app: the Cassette has no path to write to")
        cas, path = cassette, cassette.path
    else:
        path = Path(cassette)
        cas = load(path) if append and path.exists() else Cassette(path=path)
    state = _State(upstream, cas, path, redactor or Redactor(), replay=replay)
    app = web.Application(client_max_size=1 << 30)
    app[_STATE] = state

    async def on_startup(app: web.Application) -> None:
        state.session = aiohttp.ClientSession(
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=30))

    async def on_cleanup(app: web.Application) -> None:
        if state.session is not None:
            await state.session.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    async def handle(request: web.Request) -> web.StreamResponse:
        state.active += 1
        try:
            return await _forward(state, request)
        finally:
            state.active -= 1

    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _forward(state: _State, request: web.Request) -> web.StreamResponse:
    t0 = time.monotonic()
    body = await request.read()
    if state.matcher is not None:
        index = state.matcher.find(request.method, request.path, body,
                                   request.headers.get("Content-Type"))
        if index is not None:
            state.notify(state.matcher.interactions[index], t0, recorded=False)
            return _recorded(state.matcher.interactions[index])
    try:
        root = state.upstream_for(request.path, request.headers)
    except LookupError as exc:
        return web.Response(status=502, text=f"llmfake record: {exc}\n")
    url = root + request.rel_url.raw_path_qs
    fwd = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP
           and k.lower() != "accept-encoding"]
    fwd.append(("Accept-Encoding", "identity"))  # record readable bodies, not gzip
    req_headers = _to_headers(request.headers.items())
    for h in list(req_headers):
        if h.lower() in HOP_BY_HOP:
            del req_headers[h]
    recorded_req = RecordedRequest(request.method, url, req_headers)
    if body:
        try:
            recorded_req.body = body.decode("utf-8")
        except UnicodeDecodeError:  # an uploaded image: kept as bytes, not mangled
            recorded_req.raw = body
    target: str | yarl.URL = url
    signed = resign(request.method, url, fwd, body)
    if signed is not None:  # sent as signed: yarl would decode %3A in Bedrock's model ids
        target, fwd = yarl.URL(url, encoded=True), signed
    assert state.session is not None
    try:
        upstream = await state.session.request(
            request.method, target, headers=fwd, data=body or None, allow_redirects=False,
            skip_auto_headers=("User-Agent", "Content-Type"))
    except aiohttp.ClientError as exc:
        return web.Response(status=502, text=f"llmfake record: upstream {url} failed: {exc}\n")
    async with upstream:
        headers_at = time.monotonic() - t0
        resp_headers = _to_headers(upstream.headers.items())
        mt = content_type(resp_headers)
        stream = is_stream_type(mt)
        out = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for k, v in upstream.headers.items():
            if k.lower() not in _NOT_TO_CLIENT:
                out.headers.add(k, v)
        encoded = "content-encoding" in {k.lower() for k in resp_headers}
        length = upstream.headers.get("Content-Length")
        if length is not None and not encoded and not stream:
            out.content_length = int(length)
        await out.prepare(request)
        splitter: StreamSplitter | FrameSplitter | None = None
        if stream:
            splitter = FrameSplitter() if mt == BINARY_STREAM else StreamSplitter(mt)
        raw = bytearray()
        async for data in upstream.content.iter_any():
            offset = time.monotonic() - t0
            raw += data
            if splitter is not None:
                splitter.feed(data, offset)
                await out.write(data)  # a stream goes through at the upstream's pace
        chunks = splitter.close(time.monotonic() - t0) if splitter is not None else None
        # Saved before the client sees the end, so the cassette is complete when it returns.
        await state.save(_interaction(recorded_req, upstream, resp_headers, raw, chunks,
                                      headers_at), t0)
        if splitter is None:
            await out.write(bytes(raw))
        await out.write_eof()
    return out


def _recorded(it: Interaction) -> web.Response:
    """An interaction recorded earlier, answered at once."""
    resp = it.response
    headers = [(k, v) for k, vs in resp.headers.items()
               if k.lower() not in _NOT_TO_CLIENT | {"set-cookie"} for v in vs]
    return web.Response(status=resp.status, headers=headers, body=resp.content)


def _interaction(recorded_req: RecordedRequest, upstream: aiohttp.ClientResponse,
                 resp_headers: Headers, raw: bytearray, chunks: list[Chunk] | None,
                 headers_at: float) -> Interaction:
    for h in list(resp_headers):
        if h.lower() in ("transfer-encoding", "connection", "keep-alive"):
            del resp_headers[h]
    binary: bytes | None = None
    if chunks is not None:
        text = "" if any(c.raw is not None for c in chunks) else "".join(c.data for c in chunks)
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # kept as bytes, not mangled into replacement characters
            text, binary = "", bytes(raw)
    response = RecordedResponse(status=upstream.status, message=upstream.reason or "",
                                headers=resp_headers, body=text, chunks=chunks,
                                headers_at=headers_at, raw=binary)
    return Interaction(recorded_req, response)


class Recorder(Listener):
    """A running recording proxy (``with record(...) as proxy``, or ``async with``).

    ``url`` is the proxy's root; point an SDK at it exactly as at the upstream.
    """

    thread_name = "llmfake-record"

    def __init__(self, upstream: Upstream, cassette: str | os.PathLike[str], *,
                 host: str = "127.0.0.1", port: int = 0, redactor: Redactor | None = None,
                 append: bool = False, replay: bool = False) -> None:
        super().__init__(host, port)
        self.upstream = upstream
        self.cassette_path = Path(cassette)
        self._app = create_proxy_app(upstream, self.cassette_path, redactor=redactor,
                                     append=append, replay=replay)

    def make_app(self) -> web.Application:
        """The proxy app (one per recorder: it holds the cassette being written)."""
        return self._app

    @property
    def cassette(self) -> Cassette:
        """The cassette recorded so far (a live object; read it after the ``with`` block)."""
        return self._app[_STATE].cassette

    def observe(self, observer: Observer) -> None:
        """Call ``observer(interaction, started, ended, recorded)`` after each interaction the
        proxy answers (in the proxy's thread): the pytest plugin journals them, ``llmfake
        record`` prints a line for each."""
        self._app[_STATE].observers.append(observer)

    def settle(self, timeout: float = 5.0) -> None:
        """Wait (up to ``timeout`` seconds) until no request is being forwarded: a client that
        stops reading at a stream's last event returns before the proxy has seen the end."""
        deadline = time.monotonic() + timeout
        while self._app[_STATE].active and time.monotonic() < deadline:
            time.sleep(0.001)


def record(upstream: Upstream, cassette: str | os.PathLike[str], *, host: str = "127.0.0.1",
           port: int = 0, redactor: Redactor | None = None, append: bool = False,
           replay: bool = False) -> Recorder:
    """A recording proxy from ``host:port`` to ``upstream``, writing ``cassette``.

    ``upstream`` is one root URL, or one per provider (``{"openai": ..., "anthropic": ...}``;
    each request goes to the provider whose client sends it, told by path and headers).
    ``with record(upstream, "x.yaml") as proxy:`` runs it in a thread, ``async with`` in the
    running loop. Port 0 picks a free port. The cassette is rewritten (redacted) after every
    interaction; ``append=True`` keeps an existing file's interactions, and ``replay=True``
    answers the requests it holds from it instead of forwarding them again.
    """
    return Recorder(upstream, cassette, host=host, port=port, redactor=redactor, append=append,
                    replay=replay)
