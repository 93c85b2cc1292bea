"""Exchanges exported from the dashboard as a cassette that ``llmfake replay`` serves.

Each exchange becomes one interaction, in journal order: the request as the journal has it, and
the response as the fake rendered it (``_kept``): status, headers, the body or each stream event
at the time the scenario's schedule gave it, so the export of one scenario and seed is the same
file every time. Secrets are redacted as the recorder redacts them (``llmfake.record.Redactor``):
the journal already masks keys, the recorder's placeholder replaces what is left of them.

A cassette holds whole responses: a response a fault cut is exported whole, and the file's
opening comment gives the scenario that cuts it again when the cassette is replayed under it.
A response too large to keep whole (``KEEP_BYTES``, ``KEEP_EVENTS``) is exported as it was
kept, and said so.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import yaml

from llmfake.journal import Exchange
from llmfake.record import Cassette, Chunk, Interaction, RecordedRequest, RecordedResponse, Redactor
from llmfake.ui._kept import KEEP_RECENT, body_due, fault, kept, schedule

_HOST = "http://llmfake.invalid"
"""The host of exported request URIs: matching reads only method, path and body."""


def interaction(e: Exchange) -> Interaction:
    """``e`` as a cassette interaction, redacted."""
    k = kept(e)
    if k is None:
        raise ValueError(f"exchange #{e.seq} of tenant {e.tenant} has no response kept: it is "
                         f"still in flight, or older than the latest {KEEP_RECENT} exchanges")
    _, rendered, _ = k
    body = e.body if e.body is None or isinstance(e.body, str) else json.dumps(e.body)
    request = RecordedRequest(e.method, _HOST + e.path,
                              {k: [v] for k, v in e.headers.items()}, body)
    try:
        message = HTTPStatus(rendered.status).phrase
    except ValueError:
        message = ""
    headers = {k: [v] for k, v in rendered.headers.items()}
    times = schedule(e)
    if rendered.events is None or times is None:
        response = RecordedResponse(rendered.status, message, headers,
                                    rendered.body.decode("utf-8", "replace"),
                                    headers_at=body_due(e))
    else:
        chunks = [Chunk(round(at, 4), ev.data.decode("utf-8", "replace"))
                  for (at, _), ev in zip(times, rendered.events, strict=True)]
        response = RecordedResponse(rendered.status, message, headers,
                                    "".join(c.data for c in chunks), chunks)
    return Redactor()(Interaction(request, response))


def cassette_text(exchanges: list[Exchange]) -> str:
    """The YAML of a cassette replaying ``exchanges`` (one tenant's, in order)."""
    if not exchanges:
        raise ValueError("no exchanges to export: select some first")
    cassette = Cassette([interaction(e) for e in exchanges])
    seqs = ", ".join(f"#{e.seq}" for e in exchanges)
    head = [f"# Exchanges {seqs} of tenant {exchanges[0].tenant!r}, exported from the llmfake "
            "dashboard.", "# Replay: llmfake replay THIS_FILE --speed 0"]
    short = [e for e in exchanges if (kept(e) or (None, None, False))[2]]
    if short:
        head.append("# Kept cut short (too large to keep whole): "
                    + ", ".join(f"#{e.seq}" for e in short))
    steps = [_fault_step(e) for e in exchanges]
    if any(steps):
        overlay = yaml.safe_dump({"rules": [{"script": steps, "then": "default"}]},
                                 default_flow_style=True, width=10_000,
                                 sort_keys=False).strip()
        head += ["# A fault cut some of these responses; the cassette holds them whole. To",
                 "# cut them again, replay it under this scenario (--scenario FILE):",
                 f"#   {overlay}"]
    return "\n".join(head) + "\n" + cassette.dumps()


def _fault_step(e: Exchange) -> dict[str, Any]:
    """The overlay step striking ``e``'s fault again ({}: the recording as it is)."""
    spec = fault(e)
    if spec is None:
        return {}
    return {"fault": spec["name"], **{k: v for k, v in spec.items()
                                      if k != "name" and v is not None}}
