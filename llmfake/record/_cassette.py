"""The cassette: recorded interactions in vcrpy's YAML layout, plus llmfake's extras.

A cassette file looks like::

    version: 1
    interactions:
    - request: {method: POST, uri: http://host/v1/chat/completions, body: '{...}',
                headers: {content-type: [application/json]}}
      response:
        status: {code: 200, message: OK}
        headers: {content-type: [text/event-stream]}
        body: {string: "data: {...}\\n\\ndata: [DONE]\\n\\n"}
      llmfake:
        request: {json: {...}}             # the request body as structured data (an upload:
                                           # {form: {purpose: batch, file: {content: ...}}})
        response:
          json: {...}                      # a JSON response body, structured
          headers_at: 0.051                # seconds from the request start to the headers
          chunks:                          # a stream, one entry per SSE event / NDJSON line
          - {offset: 0.052, data: "data: {...}\\n\\n"}

A binary body (Bedrock's AWS event stream, ``application/vnd.amazon.eventstream``) is written
as YAML's ``!!binary`` (base64) in ``response.body.string``, which vcrpy reads back as bytes, and
its chunks are its event-stream messages decoded: each message's string headers and its
payload as text, from which loading re-encodes the very same bytes (prelude, CRCs)::

          - offset: 0.052
            headers:
              :event-type: contentBlockDelta
              :content-type: application/json
              :message-type: event
            data: '{"contentBlockIndex":0,"delta":{"text":"Hello"}}'

A request body that is not UTF-8 (an uploaded image) is written as ``!!binary`` in
``request.body`` and loaded as ``RecordedRequest.raw``.

A message that would not re-encode byte for byte (a header of another type, a payload that is
not UTF-8) is kept as ``{offset, base64}``.

vcrpy and pytest-recording read ``request`` and ``response`` and ignore ``llmfake`` (vcrpy builds
its request with ``Request(**request)``, so llmfake's extras cannot live inside ``request``).
``response.body.string`` always holds the whole body (the chunks concatenated), so vcrpy replays a
stream buffered. Cassettes written by vcrpy or pytest-recording load too: a buffered SSE or NDJSON
body is split back into its events, all at offset 0.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from llmfake._multipart import is_form, parse_form
from llmfake._yaml import safe_load
from llmfake.errors import CassetteError

__all__ = [
    "Cassette",
    "CassetteError",
    "Chunk",
    "Interaction",
    "RecordedRequest",
    "RecordedResponse",
    "dump",
    "load",
    "split_stream",
]

VERSION = 1
STREAM_TYPES = ("text/event-stream", "application/x-ndjson", "application/jsonl",
                "application/json-seq", "application/vnd.amazon.eventstream")
BINARY_STREAM = "application/vnd.amazon.eventstream"
"""AWS event streams (Bedrock): binary, cut into messages by their length prelude."""




Headers = dict[str, list[str]]


@dataclasses.dataclass
class Chunk:
    """One streamed piece as the upstream sent it: an SSE event (with its terminating blank
    line) or an NDJSON line (with its newline), ``offset`` seconds after the request started."""

    offset: float
    data: str
    raw: bytes | None = None
    """The bytes, when they are binary (an AWS event-stream message); ``data`` is then its
    payload as text (for reading, matching and redaction)."""

    @property
    def content(self) -> bytes:
        """The bytes that go on the wire."""
        return self.raw if self.raw is not None else self.data.encode("utf-8")


@dataclasses.dataclass
class RecordedRequest:
    """A request as recorded (after redaction)."""

    method: str
    uri: str
    headers: Headers = dataclasses.field(default_factory=dict)
    body: str | None = None
    raw: bytes | None = None
    """The body's bytes when they are not UTF-8 (an uploaded image); ``body`` is then None."""

    @property
    def content(self) -> str | bytes | None:
        """The body as sent: its bytes when binary, else its text."""
        return self.raw if self.raw is not None else self.body

    @property
    def path(self) -> str:
        """The URI's path (``/v1/chat/completions``)."""
        return urlsplit(self.uri).path or "/"

    @property
    def query(self) -> str:
        """The URI's query string, without ``?``."""
        return urlsplit(self.uri).query

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        return parse_json(self.body)


@dataclasses.dataclass
class RecordedResponse:
    """A response as recorded. ``chunks`` is None for a buffered (non-stream) body."""

    status: int
    message: str = "OK"
    headers: Headers = dataclasses.field(default_factory=dict)
    body: str = ""
    chunks: list[Chunk] | None = None
    headers_at: float = 0.0
    """Seconds from the request start until the upstream's status and headers arrived."""
    raw: bytes | None = None
    """The body's bytes when it is binary (an AWS event stream); ``body`` is then empty."""

    @property
    def content(self) -> bytes:
        """The body's bytes, as they go on the wire."""
        if self.raw is not None:
            return self.raw
        if self.chunks is not None and self.is_binary:
            return b"".join(c.content for c in self.chunks)
        return self.body.encode("utf-8")

    @property
    def is_binary(self) -> bool:
        """True when the body is bytes, not text (written as ``!!binary``)."""
        return self.raw is not None or (
            self.chunks is not None and any(c.raw is not None for c in self.chunks))

    @property
    def is_stream(self) -> bool:
        """True for a streamed response (it has chunks)."""
        return self.chunks is not None

    @property
    def content_type(self) -> str:
        """The media type of the body, lower case, without parameters."""
        return content_type(self.headers)

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None for a stream or a non-JSON body)."""
        return None if self.is_stream else parse_json(self.body)


@dataclasses.dataclass
class Interaction:
    """One request and the response the upstream gave it."""

    request: RecordedRequest
    response: RecordedResponse


@dataclasses.dataclass
class Cassette:
    """An ordered list of interactions, and the file it was loaded from or is written to."""

    interactions: list[Interaction] = dataclasses.field(default_factory=list)
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.interactions)

    def to_dict(self) -> dict[str, Any]:
        """The cassette as the plain data written to YAML."""
        return {"version": VERSION,
                "interactions": [_interaction_to_dict(i) for i in self.interactions]}

    def dumps(self) -> str:
        """The cassette as YAML text."""
        return yaml_text(self.to_dict())

    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write the cassette atomically (a temporary file renamed over ``path``)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("Cassette.save: no path given and the cassette has none")
        dump(self, target)


# --- helpers --------------------------------------------------------------------------------


def _es() -> Any:
    """The event-stream codec, imported when a binary stream is met (importing the providers
    would triple the import time of ``llmfake.record``)."""
    from llmfake.providers import _eventstream

    return _eventstream


def header(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), or None."""
    low = name.lower()
    for key, values in headers.items():
        if key.lower() == low and values:
            return values[0]
    return None


def content_type(headers: Mapping[str, Sequence[str]]) -> str:
    """The media type of ``headers``' content-type, lower case, without parameters."""
    value = header(headers, "content-type") or ""
    return value.split(";", 1)[0].strip().lower()


def is_stream_type(media_type: str) -> bool:
    """True when ``media_type`` is a streaming one (SSE or NDJSON)."""
    return media_type in STREAM_TYPES


def parse_json(text: str | None) -> Any:
    """``text`` parsed as JSON, or None when it is empty or not JSON."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


_SSE_BOUNDARY = re.compile(r"\r\n\r\n|\n\n|\r\r")


def form_fields(content_type: str, body: str | bytes) -> dict[str, Any] | None:
    """A form's fields as data: a field's content as text, a file part's as ``{"content":
    text, "content_type": ...}`` (content that is not UTF-8 as its size and sha256); None when
    the body does not parse. What ``llmfake.request.form`` shows, and what matching compares:
    no boundary, no file name."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    try:
        parts = parse_form(content_type, raw)
    except ValueError:
        return None
    out: dict[str, Any] = {}
    for name, part in parts.items():
        try:
            text = part.content.decode("utf-8")
        except UnicodeDecodeError:
            text = (f"<{len(part.content)} bytes, sha256 "
                    f"{hashlib.sha256(part.content).hexdigest()}>")
        out[name] = (text if part.filename is None
                     else {"content": text, "content_type": part.content_type})
    return out


def split_frames(body: bytes) -> list[bytes]:
    """Split a buffered AWS event stream into its messages (a truncated end as one piece)."""
    out: list[bytes] = []
    pos = 0
    while pos < len(body):
        size = _es().frame_length(body[pos:pos + 4]) or len(body)
        out.append(body[pos:pos + max(size, 1)])
        pos += max(size, 1)
    return out


def binary_chunk(offset: float, frame: bytes) -> Chunk:
    """A chunk of an event-stream message: its payload as ``data``, its bytes as ``raw``."""
    decoded = _es().decode(frame)
    text = decoded[1].decode("utf-8", errors="replace") if decoded is not None else ""
    return Chunk(offset, text, frame)


def split_stream(body: str, media_type: str) -> list[str]:
    """Split a buffered stream body into its events: SSE events end with a blank line, NDJSON
    lines with a newline. Each piece keeps its terminator, so ``"".join(pieces) == body``."""
    pieces: list[str] = []
    if media_type == "text/event-stream":
        start = 0
        for m in _SSE_BOUNDARY.finditer(body):
            pieces.append(body[start:m.end()])
            start = m.end()
        if start < len(body):
            pieces.append(body[start:])
    else:
        pieces = body.splitlines(keepends=True)
    return pieces


# --- writing --------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as block scalars, so SSE bodies stay readable."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data and not re.search(r"[ \t]\n|\r", data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_representer)


def yaml_text(data: Any) -> str:
    """``data`` as cassette YAML: keys in their order, multi-line strings as block scalars."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _interaction_to_dict(it: Interaction) -> dict[str, Any]:
    req, resp = it.request, it.response
    out: dict[str, Any] = {
        "request": {"method": req.method, "uri": req.uri, "body": req.content,
                    "headers": {k: list(v) for k, v in req.headers.items()}},
        "response": {"status": {"code": resp.status, "message": resp.message},
                     "headers": {k: list(v) for k, v in resp.headers.items()},
                     "body": {"string": resp.content if resp.is_binary else resp.body}},
    }
    extra: dict[str, Any] = {}
    req_json = req.json
    if req_json is not None:
        extra["request"] = {"json": req_json}
    elif req.content:
        form = _form(req)
        if form is not None:
            extra["request"] = {"form": form}
    rextra: dict[str, Any] = {"headers_at": round(resp.headers_at, 4)}
    if resp.chunks is not None:
        rextra["chunks"] = [_chunk_to_dict(c) for c in resp.chunks]
    else:
        resp_json = resp.json
        if resp_json is not None:
            rextra["json"] = resp_json
    extra["response"] = rextra
    out["llmfake"] = extra
    return out


def _form(req: RecordedRequest) -> dict[str, Any] | None:
    """An upload's fields, to read (the body, boundary and all, is what is replayed)."""
    ctype = header(req.headers, "content-type")
    if not is_form(ctype) or not req.content:
        return None
    return form_fields(ctype or "", req.content)


def _chunk_to_dict(c: Chunk) -> dict[str, Any]:
    offset = round(c.offset, 4)
    if c.raw is None:
        return {"offset": offset, "data": c.data}
    decoded = _es().decode(c.raw)
    if decoded is not None and _es().message(decoded[0], c.data.encode("utf-8")) == c.raw:
        return {"offset": offset, "headers": dict(decoded[0]), "data": c.data}
    return {"offset": offset, "base64": base64.b64encode(c.raw).decode("ascii")}


def dump(cassette: Cassette, path: str | os.PathLike[str]) -> None:
    """Write ``cassette`` to ``path`` atomically, creating parent directories."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = cassette.dumps()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- reading --------------------------------------------------------------------------------


MAX_CASSETTE_BYTES = 64 << 20
"""The largest cassette file read: a scenario may name any path, and ``/dev/zero`` never ends."""


def load(path: str | os.PathLike[str]) -> Cassette:
    """Load a cassette written by llmfake, vcrpy or pytest-recording.

    Raises ``CassetteError`` naming the file (and the interaction) when it is not a regular
    file (a named pipe would block the read forever, a device never end), is over
    ``MAX_CASSETTE_BYTES``, unreadable, truncated, of an unknown version or missing fields.
    Messages say what is wrong without quoting the file's content.
    """
    p = Path(path)
    source = str(p)
    try:
        info = p.stat()
        if not stat.S_ISREG(info.st_mode):
            raise CassetteError("not a regular file; a cassette is a YAML file", source=source)
        if info.st_size > MAX_CASSETTE_BYTES:
            raise CassetteError(f"over {MAX_CASSETTE_BYTES} bytes; split the recording",
                                source=source)
        with p.open("rb") as f:
            data = f.read(MAX_CASSETTE_BYTES + 1)  # the size can grow after stat
    except OSError as exc:
        raise CassetteError(f"cannot read: {exc.strerror or exc}", source=source) from None
    if len(data) > MAX_CASSETTE_BYTES:
        raise CassetteError(f"over {MAX_CASSETTE_BYTES} bytes; split the recording",
                            source=source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CassetteError(f"not UTF-8 text (byte {exc.start})", source=source) from None
    cassette = loads(text, source=source)
    cassette.path = p
    return cassette


def loads(text: str, *, source: str = "<cassette>") -> Cassette:
    """Parse cassette YAML ``text``; ``source`` names it in errors."""
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not YAML"
        problem = re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", problem)  # quotes would echo the file
        raise CassetteError(f"invalid YAML{where}: {problem} (is the file truncated?)",
                            source=source) from None
    if not isinstance(data, dict):
        raise CassetteError("expected a mapping with 'version' and 'interactions'",
                            source=source)
    version = data.get("version")
    if version != VERSION:
        raise CassetteError("unknown cassette version; only version 1 "
                            "(vcrpy's format) is supported", source=source)
    items = data.get("interactions")
    if not isinstance(items, list):
        raise CassetteError("'interactions' must be a list", source=source)
    return Cassette([_interaction_from_dict(d, source, i) for i, d in enumerate(items)])


def _need(d: Any, key: str, kind: type | tuple[type, ...], what: str, source: str,
          index: int) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise CassetteError(f"missing field '{what}'", source=source, index=index)
    value = d[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise CassetteError(f"field '{what}' must be {names}, not {type(value).__name__}",
                            source=source, index=index)
    return value


def _headers(value: Any, what: str, source: str, index: int) -> Headers:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CassetteError(f"field '{what}' must be a mapping", source=source, index=index)
    out: Headers = {}
    for k, v in value.items():
        if isinstance(v, list):
            out[str(k)] = [str(x) for x in v]
        elif v is None:
            out[str(k)] = []
        else:
            out[str(k)] = [str(v)]
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    return json.dumps(value)  # a structured body written by hand


def _interaction_from_dict(d: Any, source: str, index: int) -> Interaction:
    if not isinstance(d, dict):
        raise CassetteError("an interaction must be a mapping with 'request' and 'response'",
                            source=source, index=index)
    rq = _need(d, "request", dict, "request", source, index)
    rs = _need(d, "response", dict, "response", source, index)
    method = _need(rq, "method", str, "request.method", source, index)
    uri = _need(rq, "uri", str, "request.uri", source, index)
    rq_body = rq.get("body")
    rq_raw: bytes | None = None
    if isinstance(rq_body, bytes):  # !!binary: text unless it is not UTF-8
        try:
            rq_body = rq_body.decode("utf-8")
        except UnicodeDecodeError:
            rq_raw, rq_body = rq_body, None
    request = RecordedRequest(method=method.upper(), uri=uri,
                              headers=_headers(rq.get("headers"), "request.headers", source,
                                               index),
                              body=_text(rq_body), raw=rq_raw)
    status = _need(rs, "status", dict, "response.status", source, index)
    code = _need(status, "code", int, "response.status.code", source, index)
    message = status.get("message") or ""
    body_d = _need(rs, "body", dict, "response.body", source, index)
    raw = body_d.get("string", "")
    headers = _headers(rs.get("headers"), "response.headers", source, index)
    mt = content_type(headers)
    binary: bytes | None = None
    if isinstance(raw, bytes):
        if mt == BINARY_STREAM:
            binary, raw = raw, ""
        else:
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                binary, raw = raw, ""
    body = _text(raw) or ""
    extra = d.get("llmfake")
    rextra = extra.get("response") if isinstance(extra, dict) else None
    chunks: list[Chunk] | None = None
    headers_at = 0.0
    if isinstance(rextra, dict):
        headers_at = float(rextra.get("headers_at") or 0.0)
        raw_chunks = rextra.get("chunks")
        if raw_chunks is not None:
            chunks = _chunks(raw_chunks, source, index)
            if not body and all(c.raw is None for c in chunks):
                body = "".join(c.data for c in chunks)
    if chunks is not None and any(c.raw is not None for c in chunks):
        binary, body = None, ""  # the chunks hold the bytes
    elif chunks is None and mt == BINARY_STREAM:
        chunks = [binary_chunk(0.0, f) for f in split_frames(binary or body.encode("utf-8"))]
        binary, body = None, ""
    elif chunks is None and is_stream_type(mt):
        chunks = [Chunk(0.0, piece) for piece in split_stream(body, mt)]
    response = RecordedResponse(status=code, message=str(message), headers=headers, body=body,
                                chunks=chunks, headers_at=headers_at, raw=binary)
    return Interaction(request, response)


def _chunks(value: Any, source: str, index: int) -> list[Chunk]:
    if not isinstance(value, list):
        raise CassetteError("field 'llmfake.response.chunks' must be a list", source=source,
                            index=index)
    out: list[Chunk] = []
    last = 0.0
    for j, c in enumerate(value):
        what = f"llmfake.response.chunks[{j}]"
        if not isinstance(c, dict) or ("data" not in c and "base64" not in c):
            raise CassetteError(f"field '{what}' must be a mapping with 'offset' and 'data'",
                                source=source, index=index)
        offset = c.get("offset", last)
        if not isinstance(offset, (int, float)) or isinstance(offset, bool) or offset < 0:
            raise CassetteError(f"field '{what}.offset' must be a number of seconds >= 0",
                                source=source, index=index)
        out.append(_chunk(c, float(offset), what, source, index))
        last = float(offset)
    return out


def _chunk(c: dict[str, Any], offset: float, what: str, source: str, index: int) -> Chunk:
    """A chunk as written: text, an event-stream message (headers and data) or base64."""
    if "base64" in c:
        try:
            return binary_chunk(offset, base64.b64decode(str(c["base64"]), validate=True))
        except ValueError:
            raise CassetteError(f"field '{what}.base64' is not base64", source=source,
                                index=index) from None
    headers = c.get("headers")
    if headers is None:
        return Chunk(offset, str(c["data"]))
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise CassetteError(f"field '{what}.headers' must map header names to strings",
                            source=source, index=index)
    data = str(c["data"])
    frame = _es().message([(str(k), v) for k, v in headers.items()], data.encode("utf-8"))
    return Chunk(offset, data, frame)
