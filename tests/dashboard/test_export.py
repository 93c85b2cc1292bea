"""Exchanges exported from the dashboard as a pytest test: it replays them, faults included."""

from __future__ import annotations

import ast

import httpx
import openai
import pytest
from test_dashboard import run_exported

import llmfake

USER = [{"role": "user", "content": "hi"}]


def test_an_exported_chain_with_a_cut_and_an_error_replays_green(tmp_path):
    script = [{"fault": "disconnect"}, {"error": "unavailable", "retry_after": 0.05},
              {"reply": "at last"}]
    with llmfake.serve({"rules": [{"script": script}]}) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=2)
        reply = client.chat.completions.create(model="gpt-4o", messages=USER)
        assert reply.choices[0].message.content == "at last"
        seqs = ",".join(str(e.seq) for e in server.journal())
        resp = httpx.get(f"{server.url}/_llmfake/ui/api/export?seqs={seqs}")
    assert resp.status_code == 200
    text = resp.text
    assert "{'fault': 'disconnect'}" in text
    assert "{'error': 'unavailable', 'retry_after': 0.05}" in text
    assert "{'reply': 'at last'}" in text
    requests = next(ast.literal_eval(node.value) for node in ast.parse(text).body
                    if isinstance(node, ast.Assign) and node.targets[0].id == "REQUESTS")
    assert [r[3] for r in requests] == [None, 503, 200]
    run_exported(tmp_path, text)


def test_exporting_nothing_is_a_clear_error():
    with llmfake.serve() as server:
        resp = httpx.get(server.url + "/_llmfake/ui/api/export?seqs=")
    assert resp.status_code == 400
    assert resp.json() == {"error": "no exchanges to export: select some first"}


@pytest.mark.parametrize("path", ["/_llmfake/ui/static/../__init__.py",
                                  "/_llmfake/ui/static/nothing.js", "/_llmfake/ui/nowhere"])
def test_the_dashboard_serves_only_its_own_files(path):
    with llmfake.serve() as server:
        assert httpx.get(server.url + path).status_code == 404
