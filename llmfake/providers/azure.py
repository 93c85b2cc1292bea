"""Azure OpenAI: OpenAI's wire format behind deployment URLs, with Azure's errors and headers.

The bodies are OpenAI's, so this module wraps the OpenAI provider's parsers and renderers. It
adds the routes: ``/openai/deployments/{deployment}/...?api-version=...`` (what ``AzureOpenAI``
calls), ``/openai/responses`` and ``/openai/models`` beside them, and the v1 API at
``/openai/v1/...`` (the plain ``OpenAI`` client pointed at ``{endpoint}/openai/v1/``). The
deployment is the model rules match on; the provider is ``azure``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from llmfake.engine._call import Call
from llmfake.engine._plan import Plan
from llmfake.providers import _openai_responses as responses
from llmfake.providers import openai
from llmfake.providers._base import Incoming, InvalidRequest, ProviderSpec, Rendered, Route, dumps
from llmfake.providers._openai_common import JSON_TYPE, error_object, is_content, retry_headers
from llmfake.scenario._model import ErrorSpec

Parse = Callable[[Incoming], Call]
Render = Callable[[Plan], Rendered]

_OPENAI_ONLY = frozenset({"openai-organization", "openai-project", "openai-version"})
_OPERATIONS = {"chat": "ChatCompletions_Create", "completions": "Completions_Create",
               "embeddings": "Embeddings_Create", "responses": "Responses_Create",
               "models": "Models_List"}
_HEX = re.compile(r"[0-9a-f]{32}\Z")
_QUOTA = ("Please go here: https://aka.ms/oai/quotaincrease if you would like to further "
          "increase the default rate limit.")


def request_uuid(request_id: str) -> str:
    """The plan's request id as the UUID Azure sends in ``apim-request-id``/``x-request-id``."""
    digits = request_id.removeprefix("req_")
    if not _HEX.match(digits):
        digits = hashlib.sha256(request_id.encode()).hexdigest()[:32]
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _parse(parse: Parse, *, versioned: bool) -> Parse:
    """``parse`` for an Azure route: api-version checked, the deployment as the model."""

    def azure_parse(inc: Incoming) -> Call:
        version = inc.query.get("api-version", "")
        if versioned and not version:  # Azure's answer to a URL without one
            raise InvalidRequest("Resource not found", status=404, code="404")
        deployment = inc.params.get("deployment")
        body = inc.body
        if deployment is not None and isinstance(body, Mapping) and body.get("model") is None:
            # OpenAI's parsers require a model; the body stays as sent (replay matches by it).
            call = dataclasses.replace(parse(dataclasses.replace(
                inc, body={**body, "model": deployment})), body=body)
        else:
            call = parse(inc)
        # Azure's 429 text names the api-version, which only the query holds.
        return dataclasses.replace(call, provider="azure", model=deployment or call.model,
                                   wire={"api_version": version} if version else {})

    return azure_parse


def _filter_results(flagged: bool) -> dict[str, Any]:
    out: dict[str, Any] = {k: {"filtered": False, "severity": "safe"}
                           for k in ("hate", "self_harm", "sexual", "violence")}
    if flagged:  # which category tripped is not modelled; violence stands for any
        out["violence"] = {"filtered": True, "severity": "medium"}
    return out


def _with_filter_results(body: bytes) -> bytes:
    """A chat completion with the content-filter annotations Azure adds to every one."""
    doc = json.loads(body)
    doc["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": {
        **_filter_results(False), "jailbreak": {"filtered": False, "detected": False}}}]
    for choice in doc.get("choices", []):
        choice["content_filter_results"] = {
            **_filter_results(choice.get("finish_reason") == "content_filter"),
            "protected_material_code": {"filtered": False, "detected": False},
            "protected_material_text": {"filtered": False, "detected": False}}
    return dumps(doc).encode("utf-8")


def _render(render: Render, *, chat: bool = False) -> Render:
    """``render`` for an Azure route: OpenAI's body, without OpenAI's account headers."""

    def azure_render(plan: Plan) -> Rendered:
        out = render(plan)
        headers = {k: v for k, v in out.headers.items() if k not in _OPENAI_ONLY}
        body = _with_filter_results(out.body) if chat and out.events is None else out.body
        return dataclasses.replace(out, headers=headers, body=body)

    return azure_render


def _routes() -> tuple[Route, ...]:
    # (path, endpoint, parse, render, by deployment): by-deployment paths also exist under
    # /openai/deployments/{deployment}; the others sit at /openai/... with an api-version.
    table: list[tuple[str, str, Parse, Render, bool]] = [
        ("/chat/completions", "chat", openai.parse_chat, _render(openai.render_chat, chat=True),
         True),
        ("/completions", "completions", openai.parse_completions,
         _render(openai.render_completions), True),
        ("/embeddings", "embeddings", openai.parse_embeddings, _render(openai.render_embeddings),
         True),
        ("/responses", "responses", responses.parse, _render(responses.render), False),
        ("/models", "models", openai.parse_models, _render(openai.render_models), False),
        ("/models/{model}", "models", openai.parse_models, _render(openai.render_models), False),
    ]
    routes = []
    for path, endpoint, parse, render, by_deployment in table:
        method = "GET" if endpoint == "models" else "POST"
        prefix = "/openai/deployments/{deployment}" if by_deployment else "/openai"
        routes.append(Route(method, prefix + path, "azure", endpoint,
                            _parse(parse, versioned=True), render))
        routes.append(Route(method, "/openai/v1" + path, "azure", endpoint,
                            _parse(parse, versioned=False), render))
    return tuple(routes)


def _ids(request_id: str) -> dict[str, str]:
    uid = request_uuid(request_id)
    return {"apim-request-id": uid, "x-request-id": uid, "x-ms-region": "East US"}


def headers(plan: Plan) -> dict[str, str]:
    """Headers on every Azure response of ``plan``: request ids, and rate limits when set."""
    out = _ids(plan.request_id)
    limits = plan.rate_limit
    if limits is not None and limits.requests_limit is not None:
        out["x-ratelimit-remaining-requests"] = str(limits.requests_remaining)
    if limits is not None and limits.tokens_limit is not None:
        out["x-ratelimit-remaining-tokens"] = str(limits.tokens_remaining)
    return out


def error_body(spec: ErrorSpec, call: Call | None, request_id: str) -> tuple[int, dict[str, Any]]:
    """The status and ``error`` object Azure sends for ``spec`` (OpenAI's where they agree)."""
    endpoint = call.endpoint if call is not None else "chat"
    operation = _OPERATIONS.get(endpoint, "ChatCompletions_Create")
    version = call.wire.get("api_version", "v1") if call is not None else "v1"
    wait = math.ceil(spec.retry_after) if spec.retry_after is not None else 1
    seconds = f"{wait} second{'s' if wait != 1 else ''}"
    limited = (f"Requests to the {operation} Operation under Azure OpenAI API version {version} "
               "have exceeded {} rate limit of your current OpenAI S0 pricing tier. Please retry "
               f"after {seconds}. {_QUOTA}")
    own: dict[str, tuple[int, str, str]] = {
        "auth": (401, "401", "Access denied due to invalid subscription key or wrong API "
                 "endpoint. Make sure to provide a valid key for an active subscription and use "
                 "a correct regional API endpoint for your resource."),
        "permission": (403, "PermissionDenied", "Principal does not have access to "
                       "API/Operation."),
        "not_found": (404, "DeploymentNotFound", "The API deployment for this resource does not "
                      "exist. If you created the deployment within the last 5 minutes, please "
                      "wait a moment and try again."),
        "rate_limit": (429, "429", limited.format(
            "call" if spec.limit_hit is not None and spec.limit_hit.kind == "requests"
            else "token")),
        "quota": (429, "429", limited.format("call")),
    }
    if spec.name in own:
        status, code, message = own[spec.name]
        return spec.status or status, {"code": code, "message": spec.message or message}
    status, obj = error_object(spec, call)
    if spec.name == "server_error" and spec.message is None:
        obj["message"] = (
            "The server had an error processing your request. Sorry about that! You can retry "
            "your request, or contact us through an Azure support request at: "
            "https://go.microsoft.com/fwlink/?linkid=2213926 if you keep seeing this error. "
            f"(Please include the request ID {request_uuid(request_id)} in your email.)")
    return status, obj


def render_error(spec: ErrorSpec, request_id: str, call: Call | None) -> Rendered:
    """An Azure error response; the SDK raises the matching ``openai`` exception."""
    status, obj = error_body(spec, call, request_id)
    return Rendered(status, {"content-type": JSON_TYPE, **_ids(request_id),
                             **retry_headers(spec)}, dumps({"error": obj}).encode("utf-8"))


def render_invalid(exc: InvalidRequest, request_id: str) -> Rendered:
    """A request Azure rejects: OpenAI's body, or Azure's own for an unknown resource."""
    if exc.status == 404:
        obj: dict[str, Any] = {"code": exc.code or "404", "message": exc.message}
    else:
        obj = {"message": exc.message, "type": "invalid_request_error", "param": exc.param,
               "code": exc.code}
    return Rendered(exc.status, {"content-type": JSON_TYPE, **_ids(request_id)},
                    dumps({"error": obj}).encode("utf-8"))


def stream_error(spec: ErrorSpec, plan: Plan) -> bytes:
    """An error inside a stream, in the stream's own framing."""
    if plan.call.endpoint == "responses":
        return responses.stream_error(spec, plan)
    _, obj = error_body(spec, plan.call, plan.request_id)
    return f"data: {dumps({'error': obj})}\n\n".encode()


def _claim(path: str, headers: Mapping[str, str]) -> int:
    return 4 if path.startswith("/openai/") else 0


PROVIDER = ProviderSpec(
    name="azure",
    routes=_routes(),
    error=render_error,
    invalid=render_invalid,
    stream_error=stream_error,
    headers=headers,
    claim=_claim,
    is_content=is_content,
    env={"AZURE_OPENAI_ENDPOINT": "{url}", "AZURE_OPENAI_API_KEY": "llmfake",
         "OPENAI_API_VERSION": "2024-10-21"},
    key_variables=("AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION"),
    # No fixed upstream: each Azure resource has its own endpoint.
    upstream_variable="AZURE_OPENAI_ENDPOINT",
    hosts=("*.openai.azure.com",),
)
"""Azure OpenAI: its routes, errors, headers and where its clients and its real API are."""
