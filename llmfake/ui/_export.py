"""Exchanges exported from the dashboard as a pytest test that replays them.

The test sends the same requests (method, path, JSON body) to its own tenant, whose scenario is
a script of the outcomes the fake gave them: the reply's text, the error with its Retry-After,
the fault. It asserts each status, and that a request whose connection the fault cut is cut
again. It needs only the plugin (``llmfake`` fixture) and httpx.
"""

from __future__ import annotations

import pprint
from typing import Any

from llmfake.journal import Exchange


def step_of(e: Exchange) -> dict[str, Any]:
    """The scenario step that gives ``e``'s outcome again."""
    kind, _, name = e.outcome.partition(" ")
    if kind == "error":
        step: dict[str, Any] = {"error": name}
        if e.retry_after is not None:
            step["retry_after"] = e.retry_after
        return step
    if kind == "fault":
        return {"fault": name}
    return {"reply": e.response_text or ""}


def _cut(e: Exchange) -> bool:
    return e.outcome.startswith("fault ") and not e.completed


def pytest_module(exchanges: list[Exchange]) -> str:
    """The source of a test module replaying ``exchanges`` (one tenant's, in order)."""
    if not exchanges:
        raise ValueError("no exchanges to export: select some first")
    tenant = exchanges[0].tenant
    seqs = ", ".join(f"#{e.seq}" for e in exchanges)
    scenario = {"name": f"exported from tenant {tenant}",
                "rules": [{"script": [step_of(e) for e in exchanges]}]}
    rows = "\n".join(f"    {(e.method, e.path, e.body, None if _cut(e) else e.status)!r},"
                     for e in exchanges)
    return f'''"""Exchanges {seqs} of tenant {tenant!r}, exported from the llmfake dashboard:
the same requests, against a script of the outcomes the fake gave them."""

import httpx
import pytest

SCENARIO = {pprint.pformat(scenario, width=92, sort_dicts=False)}

# (method, path, JSON body, status; None: the fault cuts the connection)
REQUESTS = [
{rows}
]


@pytest.mark.llmfake(scenario=SCENARIO)
def test_exported_exchanges(llmfake):
    with httpx.Client(timeout=30) as client:
        for method, path, body, status in REQUESTS:
            if status is None:
                with pytest.raises(httpx.TransportError):
                    client.request(method, llmfake.url + path, json=body).read()
                continue
            assert client.request(method, llmfake.url + path, json=body).status_code == status
'''
