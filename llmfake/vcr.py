"""vcrpy and pytest-recording, configured for LLM APIs.

For code that cannot be pointed at a base URL (so ``llmfake record``'s proxy cannot sit between
it and the provider), vcrpy records in-process by patching the HTTP libraries: httpx, httpx2
(what openai 3.x and anthropic 2.x send through), requests, urllib3, aiohttp. This module gives
vcrpy what LLM traffic needs:

- **redaction** of every credential header and query parameter llmfake's ``Redactor`` knows
  (``filter_headers`` / ``filter_query_parameters`` with a placeholder), and of the secret values
  wherever the provider echoes them: request and response bodies, ``set-cookie``;
- **body matching** (``llm_body``): JSON bodies compared with keys in any order and volatile
  fields (``stream_options``, ``user``, ``metadata``, ``seed``) ignored, so two POSTs to
  ``/v1/chat/completions`` with different messages no longer collide;
- **a serializer** writing llmfake's cassette format: vcrpy's YAML layout plus a sibling
  ``llmfake`` key with the bodies as structured data and a stream's SSE events one per entry.
  ``llmfake.record.load`` reads these cassettes and vcrpy reads them with or without it.

Plain vcrpy::

    import llmfake.vcr

    my_vcr = llmfake.vcr.make_vcr(record_mode="once")
    with my_vcr.use_cassette("tests/cassettes/chat.yaml"):
        ...

pytest-recording, in ``conftest.py``::

    import pytest
    import llmfake.vcr

    @pytest.fixture(scope="module")
    def vcr_config():
        return llmfake.vcr.vcr_config()

    def pytest_recording_configure(config, vcr):
        llmfake.vcr.register(vcr)

vcrpy is an optional dependency: importing this module without it raises ``ImportError``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import io
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from llmfake.record._cassette import (
    Cassette,
    Chunk,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    content_type,
    is_stream_type,
    split_stream,
    yaml_text,
)
from llmfake.record._match import DEFAULT_IGNORE, normalise_body
from llmfake.record._redact import Redactor

try:
    _vcrpy: Any = importlib.import_module("vcr")
    _yamlserializer: Any = importlib.import_module("vcr.serializers.yamlserializer")
    _read_body: Callable[[Any], Any] = importlib.import_module("vcr.util").read_body
except ImportError as exc:
    raise ImportError(
        f"llmfake.vcr needs vcrpy, which cannot be imported ({exc}): pip install vcrpy "
        "(or pip install 'llmfake[test]')", name=__name__) from exc

__all__ = [
    "MATCHER",
    "MATCH_ON",
    "SERIALIZER",
    "Serializer",
    "body_matcher",
    "make_vcr",
    "register",
    "serializer",
    "vcr_config",
]

MATCHER = "llm_body"
"""The name ``register`` gives the body matcher, as written in ``match_on``."""
SERIALIZER = "llmfake"
"""The name ``register`` gives the serializer (it also replaces ``"yaml"``, vcrpy's default)."""
MATCH_ON: tuple[str, ...] = ("method", "scheme", "host", "port", "path", MATCHER)
"""What ``vcr_config`` matches requests on: the query string is left out (secrets in it are
redacted anyway) and the body is compared by ``llm_body``."""

_DIFF_LINES = 30


# --- matching -------------------------------------------------------------------------------


def body_matcher(ignore: Iterable[str] = DEFAULT_IGNORE) -> Callable[[Any, Any], None]:
    """A vcrpy matcher comparing request bodies as ``llmfake.record.normalise_body`` does: JSON
    with keys in any order and the top-level ``ignore`` fields left out; a file upload by its
    form's fields (not its boundary, which differs every run); other bodies as text.

    It raises ``AssertionError`` with a diff of the two normalised bodies when they differ,
    which vcrpy shows in its "no match" errors. ``register`` installs it as ``llm_body``.
    """
    skip = frozenset(ignore)

    def llm_body(r1: Any, r2: Any) -> None:
        # vcrpy passes the request being made first, the recorded one second.
        new = normalise_body(_as_bytes(_read_body(r1)), skip, r1.headers.get("Content-Type"))
        recorded = normalise_body(_as_bytes(_read_body(r2)), skip,
                                  r2.headers.get("Content-Type"))
        if new != recorded:
            diff = list(difflib.unified_diff(
                recorded.splitlines(), new.splitlines(), "recorded body", "this request's body",
                n=1, lineterm=""))
            if len(diff) > _DIFF_LINES:
                diff = [*diff[:_DIFF_LINES], f"... ({len(diff) - _DIFF_LINES} more lines)"]
            raise AssertionError("the JSON bodies differ (ignoring "
                                 f"{', '.join(sorted(skip)) or 'nothing'}):\n" + "\n".join(diff))

    llm_body.__qualname__ = MATCHER
    return llm_body


def _as_bytes(body: Any) -> bytes | str | None:
    if body is None or isinstance(body, (bytes, str)):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    return str(body)


# --- redaction ------------------------------------------------------------------------------


class _Scrubber:
    """Redaction for one configuration. vcrpy's ``filter_headers`` / ``filter_query_parameters``
    call ``header`` / ``query``, which note the secret value before answering the placeholder;
    the ``request`` and ``response`` hooks then scrub those values wherever they are echoed.

    vcrpy runs the request hook before the response hook of the same interaction, and
    pytest-recording deep-copies the configuration (and so this object) for each test."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.secrets: set[str] = set()

    def header(self, key: str, value: Any, request: Any = None) -> str:
        """``filter_headers`` replacement: remember ``value``, answer the placeholder."""
        self.redactor.redact_headers({key.lower(): [str(value)]}, self.secrets)
        return self.redactor.placeholder

    def query(self, key: str, value: Any, request: Any = None) -> str:
        """``filter_query_parameters`` replacement: remember ``value``, answer the placeholder."""
        self.redactor.redact_uri("?" + urlencode([(key, str(value))]), self.secrets)
        return self.redactor.placeholder

    def request(self, request: Any) -> Any:
        """``before_record_request`` hook: redact headers, query and body of a vcrpy Request.

        The headers are redacted here too, so that replacing ``filter_headers`` cannot leak."""
        r = self.redactor
        headers = r.redact_headers({str(k): [str(v)] for k, v in request.headers.items()},
                                   self.secrets)
        request.headers = {k: r.redact_text(vs[0], self.secrets) for k, vs in headers.items()}
        request.uri = r.redact_text(r.redact_uri(request.uri, self.secrets), self.secrets)
        body = request.body
        if isinstance(body, (bytes, str)):
            request.body = self._text(body)
        return request

    def response(self, response: Any) -> Any:
        """``before_record_response`` hook: redact the headers (``set-cookie``...) of vcrpy's
        response dict, and scrub the secrets its request carried from them and from the body."""
        if not isinstance(response, dict):
            return response
        r = self.redactor
        headers = response.get("headers")
        if isinstance(headers, Mapping):
            plain = {str(k): [str(v) for v in (vs if isinstance(vs, (list, tuple)) else [vs])]
                     for k, vs in headers.items()}
            # Values learnt here are not scrubbed from bodies: vcrpy runs this hook on every
            # response it loads too, and a replay must answer what the cassette says.
            redacted = r.redact_headers(plain, set())
            response["headers"] = {k: [r.redact_text(v, self.secrets) for v in vs]
                                   for k, vs in redacted.items()}
        body = response.get("body")
        if isinstance(body, dict) and isinstance(body.get("string"), (bytes, str)):
            body["string"] = self._text(body["string"])
        return response

    def _text(self, value: bytes | str) -> bytes | str:
        if isinstance(value, str):
            return self.redactor.redact_text(value, self.secrets)
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return value  # binary (audio, images): nothing to scrub as text
        scrubbed = self.redactor.redact_text(text, self.secrets)
        return value if scrubbed == text else scrubbed.encode("utf-8")


def _hooks(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Iterable):
        return list(value)
    return [value]


# --- configuration --------------------------------------------------------------------------


def vcr_config(*, redactor: Redactor | None = None, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR(**config)``, ``VCR.use_cassette(path, **config)`` or
    pytest-recording's ``vcr_config`` fixture.

    - ``filter_headers`` and ``filter_query_parameters``: every header and query parameter of
      ``redactor`` (default: ``Redactor()``, llmfake's defaults: ``authorization``,
      ``x-api-key``, ``api-key``, ``x-goog-api-key``, ``openai-organization``,
      ``openai-project``, cookies, ``?key=``) replaced by its placeholder (``REDACTED``);
    - ``before_record_request`` / ``before_record_response``: the secret values found there
      scrubbed from bodies, URIs and response headers (``set-cookie`` is redacted too), plus
      ``redactor``'s body patterns. A hook given in ``overrides`` runs first, then these, so an
      override cannot turn redaction off by accident;
    - ``match_on``: ``MATCH_ON`` (method, scheme, host, port, path, ``llm_body``);
    - ``decode_compressed_response``: True, so a gzip body is stored readable.

    ``overrides`` replace these or add any other vcrpy option. ``record_mode`` is only included
    when given: pytest-recording lets a ``record_mode`` in this dict win over
    ``--record-mode``, and without either it plays back only ("none"). ``make_vcr`` defaults it
    to "none" for plain vcrpy.

    The ``llm_body`` matcher and the serializer must be registered on the ``VCR`` instance
    (``register``), or vcrpy raises ``KeyError: 'Matcher llm_body doesn't exist'``.
    """
    scrub = _Scrubber(redactor if redactor is not None else Redactor())
    config: dict[str, Any] = {
        "filter_headers": [(h, scrub.header) for h in sorted(scrub.redactor.headers)],
        "filter_query_parameters": [(q, scrub.query) for q in sorted(scrub.redactor.query)],
        "before_record_request": scrub.request,
        "before_record_response": scrub.response,
        "match_on": list(MATCH_ON),
        "decode_compressed_response": True,
    }
    for hook, ours in (("before_record_request", scrub.request),
                       ("before_record_response", scrub.response)):
        if hook in overrides:
            overrides[hook] = [*_hooks(overrides[hook]), ours]
    config.update(overrides)
    return config


def register(vcr: Any, *, ignore: Iterable[str] = DEFAULT_IGNORE,
             default_serializer: bool = True) -> Any:
    """Register the ``llm_body`` matcher (ignoring the top-level body fields ``ignore``) and the
    ``llmfake`` serializer on the ``vcr.VCR`` instance ``vcr``; return it.

    With ``default_serializer`` (the default) the serializer also replaces ``"yaml"``, vcrpy's
    default, so cassettes are written in llmfake's format without a ``serializer`` option and
    keep the ``.yaml`` suffix pytest-recording derives from the serializer's name. Existing vcrpy
    YAML cassettes still load. Call it from pytest-recording's
    ``pytest_recording_configure(config, vcr)`` hook.

    Warns (``RuntimeWarning``) when httpx2 is installed but this vcrpy cannot patch it (before
    vcrpy 8.2): openai 3.x and anthropic 2.x send through httpx2, so their requests would be
    neither recorded nor replayed, and would reach the network.
    """
    _check_httpx2()
    vcr.register_matcher(MATCHER, body_matcher(ignore))
    vcr.register_serializer(SERIALIZER, serializer)
    if default_serializer:
        vcr.register_serializer("yaml", serializer)
    return vcr


def _check_httpx2() -> None:
    if importlib.util.find_spec("httpx2") is None:
        return
    builder = getattr(importlib.import_module("vcr.patch"), "CassettePatcherBuilder", None)
    if not hasattr(builder, "_httpx2"):
        version = getattr(_vcrpy, "__version__", "?")
        warnings.warn(
            f"vcrpy {version} does not patch httpx2, which openai>=3 and anthropic>=2 send "
            "through: their requests are neither recorded nor replayed and reach the network. "
            'pip install "vcrpy>=8.2"', RuntimeWarning, stacklevel=3)


def make_vcr(*, record_mode: str = "none", ignore: Iterable[str] = DEFAULT_IGNORE,
             redactor: Redactor | None = None, **overrides: Any) -> Any:
    """A ``vcr.VCR`` configured by ``vcr_config(redactor=redactor, **overrides)`` and
    ``register(ignore=ignore)``. ``record_mode`` defaults to "none" (play back only, never
    touch the network), as pytest-recording does; pass "once" to record a missing cassette."""
    config = vcr_config(redactor=redactor, record_mode=record_mode, **overrides)
    return register(_vcrpy.VCR(**config), ignore=ignore)


# --- the serializer -------------------------------------------------------------------------


class Serializer:
    """A vcrpy serializer (``serialize(dict) -> str``, ``deserialize(str) -> dict``) for
    llmfake's cassette format.

    Writing, each interaction keeps vcrpy's ``request`` and ``response`` unchanged and gains a
    sibling ``llmfake`` key that vcrpy ignores: the request and response bodies as structured
    JSON and, for a stream (SSE or NDJSON), its events one per entry. vcrpy buffers a stream
    while recording, so every chunk has offset 0: there is no timing to keep. Chunk offsets of a
    cassette recorded by llmfake's proxy survive vcrpy rewriting the file, as long as the body is
    unchanged.

    Reading accepts these cassettes and any vcrpy YAML cassette. The instance ``serializer`` is
    what ``register`` installs.
    """

    def serialize(self, cassette_dict: Mapping[str, Any]) -> str:
        """vcrpy's cassette data (``version``, ``interactions``, ``metadata``) as YAML text."""
        interactions = []
        for item in cassette_dict.get("interactions") or []:
            request = _plain(item["request"])
            response = _plain(item["response"])
            stash = response.pop(SERIALIZER, None)
            out = {"request": request, "response": response}
            extras = _extras(request, response, stash)
            if extras:
                out[SERIALIZER] = extras
            interactions.append(out)
        data: dict[str, Any] = {"version": cassette_dict.get("version", 1),
                                "interactions": interactions}
        if cassette_dict.get("metadata"):
            data["metadata"] = _plain(cassette_dict["metadata"])
        return yaml_text(data)

    def deserialize(self, cassette_string: str) -> Any:
        """YAML text as vcrpy's cassette data: the ``llmfake`` keys are taken out (a response's
        kept aside in it, for ``serialize``) and a body missing from ``response`` is rebuilt
        from its chunks."""
        data = _yamlserializer.deserialize(cassette_string)
        if isinstance(data, dict):
            for item in data.get("interactions") or []:
                if isinstance(item, dict):
                    _restore(item)
        return data


serializer = Serializer()
"""The serializer instance ``register`` installs."""


def _plain(obj: Any) -> Any:
    """``obj`` as data YAML's safe dumper writes: mappings, lists, text, bytes, numbers."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, io.BytesIO):
        return _plain(obj.getvalue())
    if isinstance(obj, (bytes, bytearray)):
        try:
            return bytes(obj).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(obj)
    if hasattr(obj, "__next__"):  # vcrpy keeps an iterator request body as an iterator
        parts = list(obj)
        return _plain(b"".join(p if isinstance(p, bytes) else str(p).encode() for p in parts))
    return obj


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def _header_lists(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])]
            for k, vs in value.items()}


def _extras(request: Mapping[str, Any], response: Mapping[str, Any],
            stash: Any) -> dict[str, Any]:
    """The ``llmfake`` key of one interaction, as llmfake's own cassette writer makes it."""
    body_d = response.get("body")
    body = _text(body_d.get("string")) if isinstance(body_d, Mapping) else None
    headers = _header_lists(response.get("headers"))
    status = response.get("status")
    code = status.get("code") if isinstance(status, Mapping) else None
    media_type = content_type(headers)
    chunks: list[Chunk] | None = None
    headers_at = 0.0
    if body is not None and is_stream_type(media_type):
        kept = _stashed_chunks(stash)
        if kept is not None and "".join(c.data for c in kept) == body:
            chunks = kept
            headers_at = float(stash.get("headers_at") or 0.0)
        else:
            chunks = [Chunk(0.0, piece) for piece in split_stream(body, media_type)]
    it = Interaction(
        RecordedRequest(method=str(request.get("method") or ""), uri=str(request.get("uri") or ""),
                        headers=_header_lists(request.get("headers")),
                        body=_text(request.get("body"))),
        RecordedResponse(status=code if isinstance(code, int) else 0, headers=headers,
                         body=body or "", chunks=chunks, headers_at=headers_at))
    extras: dict[str, Any] = Cassette([it]).to_dict()["interactions"][0].get(SERIALIZER) or {}
    return extras


def _stashed_chunks(stash: Any) -> list[Chunk] | None:
    if not isinstance(stash, Mapping) or not isinstance(stash.get("chunks"), list):
        return None
    out = []
    for c in stash["chunks"]:
        if not isinstance(c, Mapping) or not isinstance(c.get("data"), str):
            return None
        offset = c.get("offset", 0.0)
        out.append(Chunk(float(offset) if isinstance(offset, (int, float)) else 0.0, c["data"]))
    return out


def _restore(item: dict[str, Any]) -> None:
    """Take an interaction's ``llmfake`` key out, rebuilding what vcrpy needs from it."""
    extras = item.pop(SERIALIZER, None)
    if not isinstance(extras, dict):
        return
    response = item.get("response")
    rextra = extras.get("response")
    if isinstance(response, dict) and isinstance(rextra, dict):
        body = response.setdefault("body", {})
        chunks = _stashed_chunks(rextra)
        if isinstance(body, dict) and not body.get("string") and chunks:
            body["string"] = "".join(c.data for c in chunks)
        if chunks is not None:
            response[SERIALIZER] = {"headers_at": rextra.get("headers_at", 0.0),
                                    "chunks": [{"offset": c.offset, "data": c.data}
                                               for c in chunks]}
