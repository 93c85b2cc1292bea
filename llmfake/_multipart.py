"""``multipart/form-data`` bodies (RFC 7578): what the openai SDK sends to upload a file.

The server reads an upload's fields with it, and cassettes match a recorded upload by them: the
boundary is drawn afresh by every client run, so the raw bytes of two identical uploads differ.
Each part is ``--boundary``, its headers (``Content-Disposition: form-data; name="purpose"``,
with a ``filename`` for a file), a blank line and its content, ended by CRLF; the body ends with
``--boundary--``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Part", "is_form", "parse_form"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_DISPOSITION = re.compile(r'\b(name|filename)="((?:[^"\\]|\\.)*)"', re.IGNORECASE)
_TYPE = re.compile(rb"^content-type:[ \t]*([^\r\n]*)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Part:
    """One field of a form."""

    content: bytes
    """Its content as sent."""
    filename: str | None = None
    """The file's name, for a file part."""
    content_type: str | None = None
    """The part's own content-type header, when it has one."""


def is_form(content_type: str | None) -> bool:
    """Whether a request's content-type says its body is ``multipart/form-data``."""
    return content_type is not None and content_type.lower().lstrip().startswith(
        "multipart/form-data")


def parse_form(content_type: str, raw: bytes) -> dict[str, Part]:
    """The fields of ``raw``, by name, in body order.

    Raises ``ValueError`` when the content-type names no boundary or a part has no blank line
    after its headers."""
    found = _BOUNDARY.search(content_type)
    if not is_form(content_type) or found is None:
        raise ValueError(f"not a multipart/form-data content-type with a boundary: "
                         f"{content_type or 'none'!r}")
    delimiter = b"--" + found.group(1).encode("latin-1")
    fields: dict[str, Part] = {}
    for part in raw.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("a part has no blank line after its headers")
        names = {k.lower(): v for k, v in _DISPOSITION.findall(head.decode("latin-1"))}
        if "name" not in names:
            continue
        filename = names.get("filename")
        ctype = _TYPE.search(head)
        fields[names["name"]] = Part(
            content.removesuffix(b"\r\n"),
            None if filename is None else filename.encode("latin-1").decode("utf-8", "replace"),
            None if ctype is None else ctype.group(1).decode("latin-1").strip())
    return fields
