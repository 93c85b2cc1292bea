"""Re-signing an AWS SigV4 request for the upstream the recording proxy forwards it to.

A client pointed at the proxy signs for the proxy's host (``Host`` is a signed header), so AWS
would refuse the request as forwarded. The proxy signs it again for the upstream's host, with
the real credentials from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``), keeping the region and service the client signed for and the headers it
signed (those the proxy forwards). Without credentials in the environment the request goes as
the client signed it. A Bedrock API key (``Authorization: Bearer``) names no host, so needs
nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

__all__ = ["resign"]

_REPLACED = frozenset({"authorization", "x-amz-date", "x-amz-security-token", "host"})


def resign(method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes,
           environ: Mapping[str, str] | None = None) -> list[tuple[str, str]] | None:
    """``headers`` signed anew for ``url`` (whose path and query go on the wire as given), or
    None when the request is not SigV4-signed or the environment holds no credentials."""
    from llmfake.providers import _sigv4 as sigv4

    env = os.environ if environ is None else environ
    lower = {k.lower(): v for k, v in headers}
    scope = sigv4.scope_of(lower.get("authorization", ""))
    key_id, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if scope is None or not key_id or not secret:
        return None
    _, _, region, service = scope
    fields = dict(part.strip().split("=", 1) for part in
                  lower["authorization"].split(" ", 1)[1].split(",") if "=" in part)
    signed = [n for n in fields.get("SignedHeaders", "").split(";")
              if n and n not in _REPLACED and n in lower]
    parts = urlsplit(url)
    kept = [(k, v) for k, v in headers if k.lower() not in _REPLACED]
    new = sigv4.sign(method, parts.path or "/", parts.query,
                     {**{k.lower(): v for k, v in kept}, "host": parts.netloc}, body,
                     access_key_id=key_id, secret_access_key=secret, region=region,
                     service=service, session_token=env.get("AWS_SESSION_TOKEN") or None,
                     signed=signed)
    return kept + list(new.items())
