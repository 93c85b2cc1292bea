"""AWS event-stream framing (``application/vnd.amazon.eventstream``), as Bedrock streams.

Each message is, all integers big-endian::

    total length (4) | headers length (4) | prelude CRC (4) | headers | payload | message CRC (4)

The prelude CRC is the CRC32 of the first 8 bytes, the message CRC the CRC32 of everything
before it. A header is its name's length (1 byte), the name, a type (7: a string), the
value's length (2 bytes) and the value. Bedrock's events carry three string headers:
``:event-type`` (the union member: ``chunk``, ``contentBlockDelta``...), ``:content-type``
(``application/json``) and ``:message-type`` (``event``); an error inside the stream is a
message whose ``:message-type`` is ``exception`` and whose ``:exception-type`` names the member
(``throttlingException``), its payload ``{"message": ...}``. botocore's ``EventStreamBuffer``
checks both CRCs and the lengths, and so does every other AWS SDK.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def _headers(headers: Sequence[tuple[str, str]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def message(headers: Sequence[tuple[str, str]], payload: bytes) -> bytes:
    """One event-stream message: string ``headers`` in order, then ``payload``."""
    head = _headers(headers)
    prelude = struct.pack(">II", 12 + len(head) + len(payload) + 4, len(head))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(event_type: str, payload: bytes) -> bytes:
    """An ``event`` message of member ``event_type`` with a JSON payload."""
    return message([(":event-type", event_type), (":content-type", "application/json"),
                    (":message-type", "event")], payload)


def exception(exception_type: str, payload: bytes) -> bytes:
    """An ``exception`` message of member ``exception_type`` (``throttlingException``)."""
    return message([(":exception-type", exception_type), (":content-type", "application/json"),
                    (":message-type", "exception")], payload)


def frame_length(data: bytes | bytearray) -> int | None:
    """The total length of the message ``data`` starts with, once its first 4 bytes are in."""
    return struct.unpack_from(">I", data)[0] if len(data) >= 4 else None


def decode(frame: bytes) -> tuple[list[tuple[str, str]], bytes] | None:
    """The string headers and payload of one whole message, or None when ``message`` would not
    give these bytes back (a header of another type, a bad length or CRC): such a frame is
    kept as bytes."""
    if len(frame) < 16:
        return None
    total, head_len = struct.unpack_from(">II", frame)
    if total != len(frame) or 12 + head_len + 4 > total:
        return None
    headers: list[tuple[str, str]] = []
    pos, end = 12, 12 + head_len
    try:
        while pos < end:
            name_len = frame[pos]
            name = frame[pos + 1:pos + 1 + name_len].decode("utf-8")
            pos += 1 + name_len
            kind, value_len = struct.unpack_from(">BH", frame, pos)
            if kind != _STRING:
                return None
            headers.append((name, frame[pos + 3:pos + 3 + value_len].decode("utf-8")))
            pos += 3 + value_len
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    payload = frame[end:total - 4]
    return (headers, payload) if message(headers, payload) == frame else None
