"""Header blocks: response headers as the bytes of an HTTP/1.1 header section.

The HTTP core writes every response's headers with ``head_block``; a compiled route
(``providers.PlainRoute``) writes its answers' blocks beforehand with the same function.
"""

from __future__ import annotations

from collections.abc import Mapping

_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "date"})


_forms: dict[tuple[str, ...], str] = {}
"""The header block of a tuple of names, a format with a slot for each value; empty when the
names hold a framing one (a few tuples per provider)."""


def head_block(headers: Mapping[str, str]) -> bytes:
    """``headers`` as an HTTP header block, without the framing headers the connection writes."""
    names = tuple(headers)
    form = _forms.get(names)
    if form is None:
        form = ("" if any(name.lower() in _FRAMING for name in names)
                else "".join(f"{name.replace('%', '%%')}: %s\r\n" for name in names))
        if len(_forms) < 4096:
            _forms[names] = form
    if form:
        text = form % tuple(headers.values())
        # Every line ends in one CR LF: any other line break is in a name or a value.
        if text.count("\n") == len(names) and text.count("\r") == len(names):
            return text.encode("utf-8")
    return _checked_block(headers)


def _checked_block(headers: Mapping[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        if name.lower() in _FRAMING:
            continue
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("utf-8")
