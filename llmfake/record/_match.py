"""Matching an incoming request to the recorded interactions.

Two requests match when their method and path are equal and their JSON bodies are equal after
normalisation: key order does not matter and volatile top-level fields (``stream_options``,
``user``, ``metadata``, ``seed`` by default) are ignored. A ``multipart/form-data`` body (a file
upload) is compared by its fields: each field's content, and for a file part its content-type,
but not the boundary, which every client run draws afresh, nor the file's name, which a
temporary file changes from run to run. Other non-JSON bodies are compared as text. The query
string is not compared.

Repeated identical requests get the recorded interactions in recorded order (so a batch polled
with the same ``GET`` replays its statuses as they advanced); once all are used, the last one is
played again (unless ``repeat=False``).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from llmfake._multipart import is_form
from llmfake.errors import UnmatchedRequestError
from llmfake.record._cassette import Interaction, form_fields, header, parse_json

__all__ = ["DEFAULT_IGNORE", "Key", "Matcher", "UnmatchedRequestError", "normalise_body",
           "normalise_value"]

Key = tuple[str, str, str]
"""(method, path, normalised body): what two requests must share to match."""

DEFAULT_IGNORE: frozenset[str] = frozenset({"stream_options", "user", "metadata", "seed"})


def normalise_body(body: str | bytes | None, ignore: Iterable[str] = DEFAULT_IGNORE,
                   content_type: str | None = None) -> str:
    """The canonical form of a request body: JSON with sorted keys and the ``ignore`` top-level
    fields removed, a form's fields (``content_type`` is ``multipart/form-data``), or the text
    itself when it is neither."""
    if is_form(content_type) and body:
        form = form_fields(content_type or "", body)
        if form is not None:
            return normalise_value(form, ())
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    data = parse_json(body)
    if data is None:
        return body or ""
    return normalise_value(data, ignore)


def normalise_value(data: Any, ignore: Iterable[str] = DEFAULT_IGNORE) -> str:
    """``normalise_body`` of a body already parsed from JSON."""
    if isinstance(data, dict):
        skip = set(ignore)
        data = {k: v for k, v in data.items() if k not in skip}
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)


class Matcher:
    """Finds the interaction to replay for each request, consuming them in recorded order.

    ``strict=True`` makes ``match`` raise ``UnmatchedRequestError`` instead of returning None.
    """

    def __init__(self, interactions: Sequence[Interaction], *,
                 ignore: Iterable[str] = DEFAULT_IGNORE, strict: bool = False,
                 repeat: bool = True) -> None:
        self.interactions = list(interactions)
        self.ignore = frozenset(ignore)
        self.strict = strict
        self.repeat = repeat
        self.used = [False] * len(self.interactions)
        self._keys = [self.key_of(i.request.method, i.request.path, i.request.content,
                                  header(i.request.headers, "content-type"))
                      for i in self.interactions]

    def key_of(self, method: str, path: str, body: str | bytes | None,
               content_type: str | None = None) -> Key:
        """The matching key of a request as received (``content_type``: its header, which
        says whether the body is a form), for ``find_key`` and ``explain_key``."""
        return (method.upper(), path.rstrip("/") or "/",
                normalise_body(body, self.ignore, content_type))

    def key_of_json(self, method: str, path: str, data: Any) -> Key:
        """The matching key of a request whose body is already parsed (None: no body), for
        ``find_key`` and ``explain_key``: the server has the JSON, not the text."""
        body = "" if data is None else normalise_value(data, self.ignore)
        return (method.upper(), path.rstrip("/") or "/", body)

    def find(self, method: str, path: str, body: str | bytes | None,
             content_type: str | None = None) -> int | None:
        """The index of the interaction for this request (marking it used), or None.

        A recorded path that ends with the request's path matches too: a cassette recorded
        against an upstream with a base path (``https://host/openai/v1``) replays for a client
        pointed at the fake's root."""
        return self.find_key(self.key_of(method, path, body, content_type))

    def find_key(self, key: Key) -> int | None:
        """``find`` for a key from ``key_of`` or ``key_of_json``."""
        last: int | None = None
        for i, k in enumerate(self._keys):
            if k == key or (k[0] == key[0] and k[2] == key[2] and key[1] != "/"
                            and k[1].endswith(key[1])):
                if not self.used[i]:
                    self.used[i] = True
                    return i
                last = i
        if self.repeat and last is not None:
            return last
        if self.strict:
            raise self._error(key)
        return None

    def match(self, method: str, path: str, body: str | bytes | None,
              content_type: str | None = None) -> Interaction | None:
        """The interaction for this request, or None (strict: ``UnmatchedRequestError``)."""
        i = self.find(method, path, body, content_type)
        return None if i is None else self.interactions[i]

    @property
    def unused(self) -> list[int]:
        """Indexes of the interactions not played yet."""
        return [i for i, u in enumerate(self.used) if not u]

    def nearest(self, method: str, path: str, body: str | bytes | None,
                content_type: str | None = None) -> int | None:
        """The index of the recorded request most like this one (same method and path first,
        then the most similar body), or None when nothing is recorded."""
        return self._nearest(self.key_of(method, path, body, content_type))

    def _nearest(self, key: Key) -> int | None:
        best: tuple[float, int] | None = None
        for i, k in enumerate(self._keys):
            score = (2.0 if k[0] == key[0] else 0.0) + (4.0 if k[1] == key[1] else 0.0)
            score += difflib.SequenceMatcher(None, k[2], key[2]).ratio()
            score += 0.5 if not self.used[i] else 0.0
            if best is None or score > best[0]:
                best = (score, i)
        return None if best is None else best[1]

    def explain(self, method: str, path: str, body: str | bytes | None,
                content_type: str | None = None) -> str:
        """Why this request matches nothing: the nearest recorded request and a diff of the
        two bodies (the message ``UnmatchedRequestError`` carries in strict mode)."""
        return self.explain_key(self.key_of(method, path, body, content_type))

    def explain_key(self, key: Key) -> str:
        """``explain`` for a key from ``key_of`` or ``key_of_json``."""
        return str(self._error(key))

    def _error(self, key: Key) -> UnmatchedRequestError:
        where = f"{key[0]} {key[1]}"
        i = self._nearest(key)
        if i is None:
            return UnmatchedRequestError(f"no recorded interaction for {where}: the cassette "
                                         "is empty")
        k = self._keys[i]
        diff = "".join(difflib.unified_diff(
            _lines(k[2]), _lines(key[2]),
            fromfile=f"recorded interactions[{i}] body", tofile="request body"))
        state = "already played" if self.used[i] and not self.repeat else "differs"
        msg = (f"no recorded interaction for {where}; nearest is interactions[{i}] "
               f"({k[0]} {k[1]}, {state})")
        if k[:2] != key[:2]:
            msg += f"; method/path differ: recorded {k[0]} {k[1]}"
        if diff:
            msg += "\n" + diff
        return UnmatchedRequestError(msg, nearest=i, diff=diff)


def _lines(text: str) -> list[str]:
    return [line if line.endswith("\n") else line + "\n" for line in text.splitlines()]
