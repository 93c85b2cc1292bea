"""Answering a request leaves no reference cycle behind.

A cycle is freed only by the cyclic garbage collector, and under load its collections walk the
whole journal (10,000 exchanges): a closure that scheduled itself once made them cost a third of
a stream's time, and stalled every connection ~0.2 s at each full collection. Plain refcounting
frees what a request leaves, so the collector never has to run (speed is measured in
benchmarks/, this checks the cause).
"""

from __future__ import annotations

import gc
import http.client
import json

import pytest

import llmfake

_SCENARIO = {
    "latency": {"ttft": 0.001, "per_token": 0.0005},
    "rules": [
        {"match": {"contains": "limit"}, "error": "rate_limit"},
        {"match": {"contains": "cut"}, "fault": "disconnect", "after_chunks": 2},
    ],
}
_REQUESTS = [
    ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/chat/completions", {"model": "gpt-4o", "stream": True,
                              "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/chat/completions", {"model": "gpt-4o",
                              "messages": [{"role": "user", "content": "limit"}]}),
    ("/v1/messages", {"model": "claude-x", "max_tokens": 50, "stream": True,
                      "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/responses", {"model": "gpt-4o", "input": "hi"}),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"}),
    ("/v1/chat/completions", {"model": "gpt-4o", "messages": "not a list"}),
    ("/v1/chat/completions", {"model": "gpt-4o", "stream": True,
                              "messages": [{"role": "user", "content": "cut"}]}),
]


def _send(port: int, path: str, body: dict) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, json.dumps(body), {"content-type": "application/json",
                                                      "x-api-key": "k"})
        conn.getresponse().read()
    except (http.client.HTTPException, OSError):
        pass  # the cut stream
    finally:
        conn.close()


def _ours(obj: object) -> bool:
    module = getattr(type(obj), "__module__", "") or ""
    if type(obj).__name__ in ("function", "cell", "method"):
        module = getattr(obj, "__module__", None) or getattr(
            getattr(obj, "__func__", None), "__module__", "") or ""
    return module.startswith("llmfake")


@pytest.mark.parametrize(("path", "body"), _REQUESTS, ids=lambda v: str(v)[:30])
def test_a_request_leaves_no_cycle_of_llmfake_objects(path, body):
    with llmfake.serve(_SCENARIO) as server:
        _send(server.port, path, body)  # warm up: caches, first-use objects
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(5):
                _send(server.port, path, body)
            server.journal()  # the exchanges are over once the journal is read back
            gc.collect()
            found = [o for o in gc.garbage if _ours(o)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert not found, f"{len(found)} llmfake objects in cycles, e.g. {found[:5]!r}"
