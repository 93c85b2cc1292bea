"""AWS Signature Version 4 with the stdlib: checking a request's signature, and signing one.

A signed request carries ``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/
<region>/<service>/aws4_request, SignedHeaders=<h1;h2;...>, Signature=<64 hex>`` and
``X-Amz-Date: <yyyymmddThhmmssZ>``. The signature is the HMAC-SHA256, under the signing key, of
the string to sign::

    AWS4-HMAC-SHA256 \\n <X-Amz-Date> \\n <yyyymmdd>/<region>/<service>/aws4_request \\n
    hex(sha256(canonical request))

where the canonical request is the method, the path (dot segments and empty segments removed,
then percent-encoded once more, ``/`` and ``~`` kept: a path sent as ``%3A`` is signed as
``%253A``), the query pairs sorted, each signed header as ``name:value`` (lower-cased name,
value trimmed and inner whitespace collapsed, names sorted), a blank line, the signed header
names joined by ``;``, and the hex SHA-256 of the body (or the ``X-Amz-Content-SHA256`` header's
value when sent), joined by newlines. The signing key is ``HMAC(HMAC(HMAC(HMAC("AWS4" +
secret, yyyymmdd), region), service), "aws4_request")``. This is what botocore's ``SigV4Auth``
computes, and what the tests check against it.

AWS refuses a request (403) whose signature does not match with ``InvalidSignatureException``,
an access key id it does not know (or a session token that is not the key's, or a Bearer API
key) with ``UnrecognizedClientException``, one with no ``Authorization`` at all with
``MissingAuthenticationTokenException``, and one signed more than 15 minutes away from its clock
with ``InvalidSignatureException`` ("Signature expired" / "Signature not yet current").
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
SKEW = 15 * 60
"""Seconds a signature's time may be away from the server's clock."""

MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.")
UNKNOWN_KEY = "The security token included in the request is invalid."
MISSING = "Missing Authentication Token"

_FIELDS = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")
_DATE = re.compile(r"^\d{8}T\d{6}Z$")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why AWS refuses a request: its error type (``x-amzn-ErrorType``) and message."""

    error_type: str
    message: str


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The key a day's signatures for ``region`` and ``service`` are made with."""
    key = _hmac(f"AWS4{secret}".encode(), date)
    return _hmac(_hmac(_hmac(key, region), service), "aws4_request")


def canonical_path(path: str) -> str:
    """The path as SigV4 signs it: dot and empty segments removed, percent-encoded again."""
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "..":
            if out:
                out.pop()
        elif seg and seg != ".":
            out.append(seg)
    norm = "/" + "/".join(out) + ("/" if out and path.endswith("/") else "")
    return quote(norm, safe="/~")


def canonical_query(query: str) -> str:
    """The raw query string's pairs, sorted (the values stay as sent)."""
    if not query:
        return ""
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&"))
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_request(method: str, path: str, query: str, headers: Mapping[str, str],
                      signed: Sequence[str], payload_hash: str) -> str:
    """The canonical request of a request whose ``headers`` have lower-cased names."""
    lines = [f"{name}:{' '.join(headers.get(name, '').split())}" for name in signed]
    return "\n".join([method.upper(), canonical_path(path), canonical_query(query),
                      "\n".join(lines) + "\n", ";".join(signed), payload_hash])


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    """What the signature is the HMAC of."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    """The body's hash as the canonical request holds it."""
    return headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()


def sign(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, *,
         access_key_id: str, secret_access_key: str, region: str, service: str,
         session_token: str | None = None, signed: Sequence[str] = (),
         now: float | None = None) -> dict[str, str]:
    """The headers that sign a request (``authorization``, ``x-amz-date``, and
    ``x-amz-security-token`` with a session token), to set over ``headers``.

    ``headers`` (lower-cased names) must hold ``host``; ``signed`` names the headers to sign
    besides ``host``, ``x-amz-date`` and the token (those of them the request lacks are left
    out)."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    out = {"x-amz-date": amz_date}
    if session_token:
        out["x-amz-security-token"] = session_token
    merged = {**headers, **out}
    names = sorted({"host", *out, *(n.lower() for n in signed if n.lower() in merged)})
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    canonical = canonical_request(method, path, query, merged, names,
                                  payload_hash(merged, body))
    signature = hmac.new(signing_key(secret_access_key, amz_date[:8], region, service),
                         string_to_sign(amz_date, scope, canonical).encode(),
                         hashlib.sha256).hexdigest()
    out["authorization"] = (f"{ALGORITHM} Credential={access_key_id}/{scope}, "
                            f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return out


def scope_of(authorization: str) -> tuple[str, str, str, str] | None:
    """The (key id, date, region, service) a SigV4 ``Authorization`` header signs for."""
    if not authorization.startswith(ALGORITHM):
        return None
    fields = dict(_FIELDS.findall(authorization))
    parts = fields.get("Credential", "").split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return parts[0], parts[1], parts[2], parts[3]


def verify(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, *,
           access_key_id: str, secret_access_key: str, service: str,
           session_token: str | None = None, now: float | None = None) -> Refusal | None:
    """None when the request (lower-cased ``headers``, the raw ``path`` and ``query`` as sent)
    is signed for this key pair and ``service``, in any region; else AWS's refusal."""
    auth = headers.get("authorization", "")
    if not auth:
        return Refusal("MissingAuthenticationTokenException", MISSING)
    if auth[:7].lower() == "bearer ":  # a Bedrock API key: not this key pair
        return Refusal("UnrecognizedClientException", UNKNOWN_KEY)
    fields = dict(_FIELDS.findall(auth))
    scope = scope_of(auth)
    if scope is None or "SignedHeaders" not in fields or "Signature" not in fields:
        return Refusal("IncompleteSignatureException",
                       f"Authorization header requires 'Credential', 'Signature' and "
                       f"'SignedHeaders' parameters of the {ALGORITHM} scheme. "
                       f"Authorization={auth.split(' ', 1)[0]}")
    key_id, date, region, scope_service = scope
    if key_id != access_key_id or (session_token is not None
                                   and headers.get("x-amz-security-token") != session_token):
        return Refusal("UnrecognizedClientException", UNKNOWN_KEY)
    amz_date = headers.get("x-amz-date", "")
    if not _DATE.match(amz_date):
        return Refusal("IncompleteSignatureException",
                       "Authorization header requires existence of either a 'X-Amz-Date' or "
                       "a 'Date' header.")
    if scope_service != service or date != amz_date[:8]:
        return Refusal("InvalidSignatureException",
                       f"Credential should be scoped to correct service: '{service}'. "
                       if scope_service != service else
                       f"Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                       f"version of date from HTTP: '{date}' != '{amz_date[:8]}', from "
                       f"'{amz_date}'.")
    expired = _expired(amz_date, time.time() if now is None else now)
    if expired is not None:
        return Refusal("InvalidSignatureException", expired)
    signed = fields["SignedHeaders"].split(";")
    canonical = canonical_request(method, path, query, headers, signed,
                                  payload_hash(headers, body))
    expected = hmac.new(signing_key(secret_access_key, date, region, service),
                        string_to_sign(amz_date, f"{date}/{region}/{service}/aws4_request",
                                       canonical).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"]):
        return Refusal("InvalidSignatureException", MISMATCH)
    return None


def _expired(amz_date: str, now: float) -> str | None:
    signed_at = _epoch(amz_date)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    if signed_at < now - SKEW:
        earliest = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now - SKEW))
        return (f"Signature expired: {amz_date} is now earlier than {earliest} "
                f"({stamp} - 15 min.)")
    if signed_at > now + SKEW:
        latest = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now + SKEW))
        return (f"Signature not yet current: {amz_date} is still later than {latest} "
                f"({stamp} + 15 min.)")
    return None


def _epoch(amz_date: str) -> float:
    return float(calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")))
