"""Google Vertex AI: Gemini models (google-genai with ``vertexai=True``) and Anthropic's models
(``anthropic.AnthropicVertex``), on Vertex's own paths.

Gemini on Vertex: ``POST /{v1,v1beta1}/projects/{project}/locations/{location}/publishers/
google/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``, ``:countTokens``),
or ``/{version}/publishers/google/models/...`` in express mode (an API key, no project). The
SDK defaults to ``v1beta1``. Bodies and responses are the Gemini API's, so the Gemini provider
parses and renders them; only the paths, the key and the errors differ.

Claude on Vertex: ``POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/
{model}:rawPredict`` and ``:streamRawPredict``, the body Anthropic's messages body with
``anthropic_version`` (``vertex-2023-10-16``) and without ``model`` (it is in the path);
``stream: true`` stays in the body. Token counting is ``.../models/count-tokens:rawPredict``,
the model in the body. Responses are Anthropic's own, rendered by the Anthropic provider.

Auth: an OAuth access token as ``Authorization: Bearer`` (any token is accepted: clients get
one offline from ``google.oauth2.credentials.Credentials("token")`` or ``access_token=``) or an
express-mode key in ``x-goog-api-key``; either is the call's key.

Errors: Google's ``{"error": {"code", "message", "status"}}``; a 429 is ``RESOURCE_EXHAUSTED``
with Vertex's wording. Errors of a Claude model other than 429 come in Anthropic's shape, as
Vertex passes them through from the model (``overloaded_error`` 529 included).
"""

from __future__ import annotations

import dataclasses
import math
import urllib.parse
from collections.abc import Mapping
from typing import Any

import llmfake.providers.anthropic as anthropic
import llmfake.providers.gemini as gemini
from llmfake.engine._call import Call
from llmfake.engine._plan import Plan
from llmfake.providers._base import Incoming, InvalidRequest, ProviderSpec, Rendered, Route, pretty
from llmfake.scenario._model import ErrorSpec

# Vertex's own wording where it differs from the Gemini API's (code, status, message).
_ERRORS: Mapping[str, tuple[int, str, str]] = {
    "rate_limit": (429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later. "
                   "Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/"
                   "error-code-429 for more details."),
    "quota": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/"
              "generate_content_requests_per_minute_per_project_per_base_model with base model: "
              "gemini. Please submit a quota increase request."),
    "auth": (401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected "
             "OAuth 2 access token, login cookie or other valid authentication credential. See "
             "https://developers.google.com/identity/sign-in/web/devconsole-project."),
    "permission": (403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied "
                   "on resource (or it may not exist)."),
}


def _key(inc: Incoming) -> str | None:
    auth = inc.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return inc.headers.get("x-goog-api-key") or inc.query.get("key") or None


def _where(inc: Incoming) -> dict[str, str]:
    return {k: inc.params[k] for k in ("project", "location") if k in inc.params}


def parse_generate(inc: Incoming) -> Call:
    """Gemini's ``:generateContent`` / ``:streamGenerateContent`` on Vertex."""
    call = gemini.parse_generate(inc)
    return dataclasses.replace(call, provider="vertex", api_key=_key(inc),
                               wire={**call.wire, "publisher": "google", **_where(inc)})


def parse_count(inc: Incoming) -> Call:
    """Gemini's ``:countTokens`` on Vertex."""
    call = gemini.parse_count(inc)
    return dataclasses.replace(call, provider="vertex", api_key=_key(inc),
                               wire={**call.wire, "publisher": "google", **_where(inc)})


def parse_raw_predict(inc: Incoming) -> Call:
    """Claude's ``:rawPredict`` / ``:streamRawPredict``: Anthropic's body, model in the path."""
    body = inc.body
    if not isinstance(body, Mapping):
        raise InvalidRequest("Invalid JSON payload received.")
    if "anthropic_version" not in body:
        raise InvalidRequest("anthropic_version: Field required")
    if "model" in body:
        raise InvalidRequest("model: Extra inputs are not permitted")
    model = urllib.parse.unquote(inc.params["model"])
    stream = inc.path.endswith(":streamRawPredict")
    if body.get("stream") is True and not stream:
        raise InvalidRequest("stream: true needs :streamRawPredict")
    call = anthropic.parse_messages(Incoming(inc.method, inc.path, {}, inc.query, inc.headers,
                                             {**body, "model": model}, inc.tenant))
    return dataclasses.replace(call, provider="vertex", api_key=_key(inc), body=body,
                               stream=stream,
                               wire={"publisher": "anthropic", **_where(inc)})


def parse_count_tokens(inc: Incoming) -> Call:
    """Claude's ``count-tokens:rawPredict``: Anthropic's count_tokens body, model included."""
    if not isinstance(inc.body, Mapping):
        raise InvalidRequest("Invalid JSON payload received.")
    call = anthropic.parse_count_tokens(inc)
    return dataclasses.replace(call, provider="vertex", api_key=_key(inc),
                               wire={"publisher": "anthropic", **_where(inc)})


def _anthropic_call(call: Call | None) -> bool:
    return call is not None and call.wire.get("publisher") == "anthropic"


def render_error(spec: ErrorSpec, request_id: str, call: Call | None) -> Rendered:
    """Google's error shape with Vertex's wording; a Claude model's non-429 errors in
    Anthropic's shape."""
    if _anthropic_call(call) and spec.name not in ("rate_limit", "quota") \
            and spec.status != 429:
        return anthropic.render_error(spec, request_id, call)
    obj = gemini.error_object(spec, call)
    if spec.name in _ERRORS and spec.status is None:
        code, status, message = _ERRORS[spec.name]
        obj = {"code": code, "message": spec.message if spec.message is not None else message,
               "status": status}
        if spec.retry_after is not None:  # the RetryInfo detail Gemini's table would add
            obj["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                               "retryDelay": f"{math.ceil(spec.retry_after)}s"}]
    headers = {"content-type": gemini.JSON_TYPE}
    if spec.retry_after is not None:
        headers["retry-after"] = str(math.ceil(spec.retry_after))
    return Rendered(obj["code"], headers, pretty({"error": obj}))


def stream_error(spec: ErrorSpec, plan: Plan) -> bytes:
    """The error event of the stream's own framing (Gemini's SSE, or Anthropic's)."""
    if _anthropic_call(plan.call):
        return anthropic.stream_error(spec, plan)
    return gemini.stream_error(spec, plan)


def _routes() -> tuple[Route, ...]:
    google = [(":generateContent", "chat", parse_generate, gemini.render_generate),
              (":streamGenerateContent", "chat", parse_generate, gemini.render_generate),
              (":countTokens", "count_tokens", parse_count, gemini.render_count)]
    # count-tokens first: the {model} pattern would take it too.
    claude = [("count-tokens:rawPredict", "count_tokens", parse_count_tokens,
               anthropic.render_count_tokens),
              ("{model}:rawPredict", "chat", parse_raw_predict, anthropic.render_messages),
              ("{model}:streamRawPredict", "chat", parse_raw_predict, anthropic.render_messages)]
    located = "/projects/{project}/locations/{location}/publishers"
    out: list[Route] = []
    for version in ("/v1", "/v1beta1"):
        for prefix in (version + located, version + "/publishers"):
            out += [Route("POST", f"{prefix}/google/models/{{model}}{method}", "vertex",
                          endpoint, parse, render) for method, endpoint, parse, render in google]
        out += [Route("POST", f"{version}{located}/anthropic/models/{method}", "vertex",
                      endpoint, parse, render) for method, endpoint, parse, render in claude]
    return tuple(out)


def _claim(path: str, headers: Mapping[str, str]) -> int:
    return 4 if "/publishers/" in path or path.split("/")[2:3] == ["projects"] else 0


def _is_content(payload: Mapping[str, Any]) -> bool:
    # Claude's events are typed; Gemini's chunks carry candidates, every one content.
    return anthropic.PROVIDER.is_content(payload) if "type" in payload else True


PROVIDER = ProviderSpec(
    name="vertex",
    routes=_routes(),
    error=render_error,
    invalid=gemini.render_invalid,
    stream_error=stream_error,
    claim=_claim,
    is_content=_is_content,
    env={"GOOGLE_VERTEX_BASE_URL": "{url}", "ANTHROPIC_VERTEX_BASE_URL": "{url}/v1",
         "GOOGLE_CLOUD_PROJECT": "llmfake-project", "GOOGLE_CLOUD_LOCATION": "us-central1",
         "ANTHROPIC_VERTEX_PROJECT_ID": "llmfake-project", "CLOUD_ML_REGION": "us-east5"},
    upstream="https://us-central1-aiplatform.googleapis.com",
    hosts=("aiplatform.googleapis.com", "*.aiplatform.googleapis.com"),
)
"""Vertex AI: its routes, errors and where its clients and its real API are."""
