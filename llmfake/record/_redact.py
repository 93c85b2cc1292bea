"""Redaction: secrets never reach a cassette file.

By default the credential headers of every provider (and cookies) are replaced by ``REDACTED``
(the header stays present, so a replay still sees that it was sent) and the ``key`` query
parameter (Gemini) likewise. The secret values found are also scrubbed from every body and
stream chunk, in case the upstream echoed them. Extra header names, query parameters and body
regexes are configurable.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from llmfake.record._cassette import Chunk, Headers, Interaction, RecordedRequest, RecordedResponse

__all__ = ["DEFAULT_HEADERS", "DEFAULT_QUERY", "PLACEHOLDER", "Redactor"]

PLACEHOLDER = "REDACTED"
DEFAULT_HEADERS: frozenset[str] = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key",
    "openai-organization", "openai-project", "cookie", "set-cookie", "x-amz-security-token",
})
DEFAULT_QUERY: frozenset[str] = frozenset({"key"})
_MIN_SECRET = 6  # shorter values are not scrubbed from bodies (too many false hits)


@dataclasses.dataclass(frozen=True)
class Redactor:
    """What to redact. ``headers`` and ``query`` are names (case-insensitive for headers);
    ``body_patterns`` are regexes whose matches in bodies and chunks become ``placeholder``
    (when a pattern has groups, only group 1 is replaced)."""

    headers: frozenset[str] = DEFAULT_HEADERS
    query: frozenset[str] = DEFAULT_QUERY
    body_patterns: tuple[re.Pattern[str], ...] = ()
    placeholder: str = PLACEHOLDER

    @classmethod
    def create(cls, *, extra_headers: Iterable[str] = (), extra_query: Iterable[str] = (),
               body_patterns: Iterable[str | re.Pattern[str]] = (),
               placeholder: str = PLACEHOLDER) -> Redactor:
        """The defaults plus ``extra_headers``, ``extra_query`` and ``body_patterns``."""
        return cls(
            headers=DEFAULT_HEADERS | {h.lower() for h in extra_headers},
            query=DEFAULT_QUERY | set(extra_query),
            body_patterns=tuple(re.compile(p) if isinstance(p, str) else p
                                for p in body_patterns),
            placeholder=placeholder,
        )

    # --- pieces ---------------------------------------------------------------------------

    def redact_headers(self, headers: Headers, secrets: set[str]) -> Headers:
        """A copy of ``headers`` with the secret ones' values replaced; the values found are
        added to ``secrets``."""
        out: Headers = {}
        for name, values in headers.items():
            if name.lower() in self.headers:
                for v in values:
                    _collect(v, secrets)
                out[name] = [self.placeholder for _ in values] or [self.placeholder]
            else:
                out[name] = list(values)
        return out

    def redact_uri(self, uri: str, secrets: set[str]) -> str:
        """``uri`` with the secret query parameters' values replaced."""
        parts = urlsplit(uri)
        if not parts.query:
            return uri
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        changed = False
        out = []
        for k, v in pairs:
            if k in self.query:
                _collect(v, secrets)
                out.append((k, self.placeholder))
                changed = True
            else:
                out.append((k, v))
        if not changed:
            return uri
        return urlunsplit(parts._replace(query=urlencode(out)))

    def redact_text(self, text: str, secrets: Iterable[str]) -> str:
        """``text`` with every known secret value and every body-pattern match replaced."""
        for s in sorted(secrets, key=len, reverse=True):
            text = text.replace(s, self.placeholder)
        for pat in self.body_patterns:
            text = pat.sub(self._sub, text)
        return text

    def _sub(self, m: re.Match[str]) -> str:
        if m.re.groups:
            whole, start = m.group(0), m.start(0)
            return whole[:m.start(1) - start] + self.placeholder + whole[m.end(1) - start:]
        return self.placeholder

    # --- a whole interaction ---------------------------------------------------------------

    def __call__(self, it: Interaction) -> Interaction:
        """A redacted copy of ``it``."""
        secrets: set[str] = set()
        rq_headers = self.redact_headers(it.request.headers, secrets)
        uri = self.redact_uri(it.request.uri, secrets)
        # Only what the client sent is scrubbed from bodies: a response header's value (the
        # organisation OpenAI answers with) is redacted in place, but short ids like it would
        # also hit unrelated body text (llmfake's own "llmfake" hit "fp_llmfake").
        rs_headers = self.redact_headers(it.response.headers, set())
        rq_headers = {k: [self.redact_text(v, secrets) for v in vs]
                      for k, vs in rq_headers.items()}
        rs_headers = {k: [self.redact_text(v, secrets) for v in vs]
                      for k, vs in rs_headers.items()}
        body, raw = it.request.body, it.request.raw
        if raw is not None:  # a binary upload: the client's secrets, byte for byte
            for s in sorted(secrets, key=len, reverse=True):
                raw = raw.replace(s.encode("utf-8"), self.placeholder.encode("utf-8"))
        request = RecordedRequest(
            method=it.request.method, uri=self.redact_text(uri, secrets), headers=rq_headers,
            body=None if body is None else self.redact_text(body, secrets), raw=raw)
        resp = it.response
        chunks = None if resp.chunks is None else [
            self._redact_chunk(c, secrets) for c in resp.chunks]
        response = RecordedResponse(
            status=resp.status, message=resp.message, headers=rs_headers,
            body=resp.body if resp.is_binary
            else "".join(c.data for c in chunks) if chunks is not None
            else self.redact_text(resp.body, secrets),
            chunks=chunks, headers_at=resp.headers_at, raw=resp.raw)
        return Interaction(request, response)


    def _redact_chunk(self, c: Chunk, secrets: set[str]) -> Chunk:
        data = self.redact_text(c.data, secrets)
        if c.raw is None or data == c.data:
            return Chunk(c.offset, data, c.raw)
        # An event-stream message is encoded again around its redacted payload (new lengths
        # and CRCs), so the stream still parses.
        from llmfake.providers import _eventstream as es

        decoded = es.decode(c.raw)
        if decoded is None:
            return Chunk(c.offset, c.data, c.raw)
        return Chunk(c.offset, data, es.message(decoded[0], data.encode("utf-8")))


def _collect(value: str, secrets: set[str]) -> None:
    """Add ``value`` and its token part (``Bearer sk-...`` -> ``sk-...``) to ``secrets``."""
    value = value.strip()
    if len(value) >= _MIN_SECRET:
        secrets.add(value)
    if " " in value:
        token = value.split(None, 1)[1].strip()
        if len(token) >= _MIN_SECRET:
            secrets.add(token)
    for part in re.split(r"[;,]\s*", value):  # cookies: name=value; name2=value2
        if "=" in part:
            v = part.split("=", 1)[1].strip()
            if len(v) >= _MIN_SECRET:
                secrets.add(v)
