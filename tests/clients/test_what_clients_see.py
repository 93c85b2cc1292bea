"""What each client raises on each byte-level fault, and whether its retries kick in.

Each cell of the tables in docs/what-your-client-sees.md is one test here: it strikes the fault
at the client, writes down what the client raised and how many attempts reached the server, and
fails if the page says otherwise. Run this file as a script to rewrite the page's tables from
the same code: ``python tests/clients/test_what_clients_see.py``.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import httpx
import httpx2
import openai
import pytest
import requests
import requests.adapters

import llmfake
from llmfake.scenario._model import BYTE_FAULTS, FAULT_NAMES
from llmfake.strategies import RETRYABLE_FAULTS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "what-your-client-sees.md"
FAULTS = [name for name in FAULT_NAMES if name in BYTE_FAULTS]
CLIENTS = ("openai", "anthropic", "httpx", "aiohttp", "requests")
MODES = ("body", "stream")
READ_TIMEOUT = 0.3
"""Every client's read timeout: what ends ``hang_after_headers``, and what ``drip`` outlasts."""
STEPS: dict[str, dict[str, Any]] = {
    "drip": {"drip": {"bytes": 64, "every": "50ms"}},  # each gap under the read timeout
}
LATENCY = {"ttft": "20ms", "per_token": "10ms"}
"""Stream events apart in time, as a model sends them: each reaches the client in a read of its
own, so what a client makes of a broken one does not depend on how the reads fell."""
TEXT = "one two three four five six seven eight"
MESSAGES = [{"role": "user", "content": "hi"}]
CHAT = {"model": "gpt-4o-mini", "messages": MESSAGES}


# --- one call per client -------------------------------------------------------------------------

def _sse(data: bytes) -> None:
    for line in data.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            json.loads(line[6:])


def _openai(base: str, stream: bool) -> None:
    with openai.OpenAI(base_url=base + "/v1", api_key="sk-test", max_retries=1,
                       timeout=httpx2.Timeout(5.0, read=READ_TIMEOUT)) as client:
        if stream:
            for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                    stream=True):
                pass
        else:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def _anthropic(base: str, stream: bool) -> None:
    with anthropic.Anthropic(base_url=base, api_key="sk-ant-test", max_retries=1,
                             timeout=httpx2.Timeout(5.0, read=READ_TIMEOUT)) as client:
        if stream:
            for _ in client.messages.create(model="claude-sonnet-4-5", max_tokens=50,
                                            messages=MESSAGES, stream=True):
                pass
        else:
            client.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=MESSAGES)


def _httpx(base: str, stream: bool) -> None:
    transport = httpx.HTTPTransport(retries=1)
    with httpx.Client(transport=transport, timeout=httpx.Timeout(5.0, read=READ_TIMEOUT)) as c:
        response = c.post(base + "/v1/chat/completions", json={**CHAT, "stream": stream})
        _sse(response.content) if stream else response.json()


def _aiohttp(base: str, stream: bool) -> None:
    async def call() -> None:
        timeout = aiohttp.ClientTimeout(total=5.0, sock_read=READ_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
                base + "/v1/chat/completions", json={**CHAT, "stream": stream}) as response:
            _sse(await response.read()) if stream else await response.json()

    asyncio.run(call())


def _requests(base: str, stream: bool) -> None:
    with requests.Session() as session:
        session.mount("http://", requests.adapters.HTTPAdapter(max_retries=1))
        response = session.post(base + "/v1/chat/completions", json={**CHAT, "stream": stream},
                                timeout=(5.0, READ_TIMEOUT))
        _sse(response.content) if stream else response.json()


CALLS: dict[str, Callable[[str, bool], None]] = {
    "openai": _openai, "anthropic": _anthropic, "httpx": _httpx, "aiohttp": _aiohttp,
    "requests": _requests}


def public_name(cls: type) -> str:
    """The shortest import path of ``cls``: ``httpx.ReadTimeout``, not
    ``httpx._exceptions.ReadTimeout``."""
    parts = cls.__module__.split(".")
    for end in range(1, len(parts) + 1):
        module = importlib.import_module(".".join(parts[:end]))
        if getattr(module, cls.__qualname__, None) is cls:
            return f"{module.__name__}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def observe(server: llmfake.Server, tenant: str, fault: str, client: str, mode: str) -> str:
    """Strike ``fault`` at ``client`` and say what it raised and whether it retried."""
    server.use({"reply": TEXT, "latency": LATENCY,
                "rules": [{"fault": fault, **STEPS.get(fault, {})}]}, tenant)
    try:
        CALLS[client](server.tenant_url(tenant), mode == "stream")
        raised = "no error"
    except Exception as exc:  # what it raises is what we are here to see
        raised = f"`{public_name(type(exc))}`"
    attempts = len(server.journal(tenant))
    return f"{raised}, {'retried' if attempts > 1 else 'not retried'}"


# --- the page ------------------------------------------------------------------------------------

def _begin(mode: str) -> str:
    return f"<!-- table {mode}: written by tests/clients/test_what_clients_see.py -->"


_END = "<!-- end of table -->"


def render(mode: str, cells: dict[tuple[str, str], str]) -> str:
    rows = ["| fault | " + " | ".join(CLIENTS) + " |", "|---" * (len(CLIENTS) + 1) + "|"]
    for fault in FAULTS:
        rows.append(f"| `{fault}` | " + " | ".join(cells[fault, c] for c in CLIENTS) + " |")
    return "\n".join(rows)


def page_cells(mode: str) -> dict[tuple[str, str], str]:
    text = PAGE.read_text(encoding="utf-8")
    table = text.split(_begin(mode), 1)[1].split(_END, 1)[0]
    cells = {}
    for line in table.strip().splitlines()[2:]:
        fault, *row = [cell.strip() for cell in line.strip("|").split(" | ")]
        cells.update({(fault.strip("`"), c): cell for c, cell in zip(CLIENTS, row, strict=True)})
    return cells


def write_page(server: llmfake.Server) -> None:
    text = PAGE.read_text(encoding="utf-8")
    counter = itertools.count()
    for mode in MODES:
        cells = {(f, c): observe(server, f"see-{next(counter)}", f, c, mode)
                 for f in FAULTS for c in CLIENTS}
        begin, rest = text.split(_begin(mode), 1)
        text = f"{begin}{_begin(mode)}\n{render(mode, cells)}\n{_END}{rest.split(_END, 1)[1]}"
    PAGE.write_text(text, encoding="utf-8")


# --- the tests -----------------------------------------------------------------------------------

def test_the_page_has_a_cell_for_every_fault_and_client():
    for mode in MODES:
        assert set(page_cells(mode)) == {(f, c) for f in FAULTS for c in CLIENTS}


def test_the_page_names_the_installed_releases():
    """Each cell is what one release does: a cell that changes with an upgrade must be told
    apart from one that changes with llmfake, so the page names every release it was made
    with, and the test extras pin them."""
    rows = {line.split("|")[1].strip(): line for line in PAGE.read_text().split("## ", 1)[0]
            .splitlines() if line.startswith("| ") and line.split("|")[1].strip() in CLIENTS}
    assert set(rows) == set(CLIENTS)
    for client, dists in {"openai": ("openai", "httpx2"), "anthropic": ("anthropic", "httpx2"),
                          "httpx": ("httpx",), "aiohttp": ("aiohttp",),
                          "requests": ("requests",)}.items():
        for dist in dists:
            version = importlib.metadata.version(dist)
            assert f" {version}" in rows[client], f"the {client} row does not name {dist} {version}"


def test_the_sdks_run_over_httpx2():
    """The page says so; if an SDK moves to another HTTP client, the page must say that."""
    with openai.OpenAI(api_key="x") as oai, anthropic.Anthropic(api_key="x") as ant:
        for sdk in (oai, ant):
            assert isinstance(sdk._client, httpx2.Client)


def test_the_retryable_faults_are_those_the_sdks_retry():
    """``llmfake.strategies.RETRYABLE_FAULTS`` says which faults the SDKs retry on a request
    that does not stream; for the byte-level ones, the page's cells are the evidence."""
    cells = page_cells("body")
    for fault in FAULTS:
        retried = {cells[fault, sdk].endswith(", retried") for sdk in ("openai", "anthropic")}
        assert retried == {fault in RETRYABLE_FAULTS}, fault


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("mode", MODES)
def test_what_the_client_sees(fake, mode, fault, client):
    seen = observe(fake.server, fake.tenant, fault, client, mode)
    assert seen == page_cells(mode)[fault, client], (
        f"docs/what-your-client-sees.md is stale for {fault} x {client} ({mode}): the client "
        f"now gives {seen!r}; rewrite the page with python tests/clients/{Path(__file__).name}")


if __name__ == "__main__":
    with llmfake.serve() as srv:
        write_page(srv)
    sys.exit(0)
