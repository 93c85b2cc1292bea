"""OpenAI's Files and Batch APIs through the official openai SDK, over real sockets."""

from __future__ import annotations

import io
import json
import time
import urllib.request
from typing import Any

import openai
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

FAST = {"time_scale": 0.01, "freeze_time": True}
TERMINAL = ("completed", "failed", "expired", "cancelled")
ORDER = ["validating", "in_progress", "finalizing", "cancelling", "completed", "failed",
         "expired", "cancelled"]


def jsonl(n: int, *, url: str = "/v1/chat/completions", model: str = "gpt-4o-mini") -> bytes:
    rows = []
    for i in range(n):
        body: dict[str, Any] = {"model": model}
        if url == "/v1/embeddings":
            body["input"] = f"text {i}"
        else:
            body["messages"] = [{"role": "user", "content": f"question {i}"}]
        rows.append({"custom_id": f"req-{i}", "method": "POST", "url": url, "body": body})
    return "\n".join(json.dumps(r) for r in rows).encode() + b"\n"


def upload(client: openai.OpenAI, data: bytes, name: str = "requests.jsonl") -> str:
    return client.files.create(file=(name, io.BytesIO(data)), purpose="batch").id


def run(client: openai.OpenAI, data: bytes, endpoint: str = "/v1/chat/completions"
        ) -> tuple[Any, list[str]]:
    """Upload, create, and poll the batch to its end: the last batch and the statuses seen."""
    batch = client.batches.create(input_file_id=upload(client, data), endpoint=endpoint,
                                  completion_window="24h")
    seen = [batch.status]
    deadline = time.monotonic() + 10
    while batch.status not in TERMINAL:
        assert time.monotonic() < deadline, f"batch stuck in {batch.status}"
        time.sleep(0.005)
        batch = client.batches.retrieve(batch.id)
        if batch.status != seen[-1]:
            seen.append(batch.status)
    return batch, seen


def lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def test_a_batch_runs_to_completed_and_its_output_parses(fake, client):
    fake.use({**FAST, "time_scale": 0.05,
              "batch": {"validating": "1s", "in_progress": "4s", "finalizing": "1s"}})
    batch, seen = run(client, jsonl(5))
    assert seen[0] == "validating" and seen[-1] == "completed"
    assert "in_progress" in seen
    assert seen == sorted(seen, key=ORDER.index)  # never backwards
    assert batch.request_counts.model_dump() == {"total": 5, "completed": 5, "failed": 0}
    # The scenario's own seconds, from the frozen created_at, whatever the time_scale.
    assert (batch.created_at, batch.in_progress_at, batch.finalizing_at, batch.completed_at,
            batch.expires_at) == (1_700_000_000, 1_700_000_001, 1_700_000_005, 1_700_000_006,
                                  1_700_086_400)
    assert batch.failed_at is None and batch.error_file_id is None
    assert batch.model == "gpt-4o-mini"
    assert batch.usage.total_tokens == batch.usage.input_tokens + batch.usage.output_tokens > 0
    out = lines(client, batch.output_file_id)
    assert [line["custom_id"] for line in out] == [f"req-{i}" for i in range(5)]
    for line in out:
        assert line["id"].startswith("batch_req_") and line["error"] is None
        assert line["response"]["status_code"] == 200
        completion = ChatCompletion.model_validate(line["response"]["body"])
        assert completion.choices[0].message.content
    info = client.files.retrieve(batch.output_file_id)
    assert (info.purpose, info.filename) == ("batch_output", f"batch_{batch.id}_output.jsonl")


def test_an_embeddings_batch(fake, client):
    fake.use(FAST)
    batch, _ = run(client, jsonl(3, url="/v1/embeddings", model="text-embedding-3-small"),
                   endpoint="/v1/embeddings")
    assert batch.status == "completed"
    for line in lines(client, batch.output_file_id):
        body = CreateEmbeddingResponse.model_validate(line["response"]["body"])
        assert len(body.data[0].embedding) == 1536


def test_a_script_failing_every_third_line_fills_the_error_file(fake, client):
    fake.use({**FAST, "rules": [{"match": {"endpoint": "chat"}, "then": "cycle", "script": [
        {"reply": "fine"}, {"reply": "fine"}, {"error": "rate_limit"}]}]})
    batch, _ = run(client, jsonl(9))
    assert batch.status == "completed"
    assert batch.request_counts.model_dump() == {"total": 9, "completed": 6, "failed": 3}
    errors = lines(client, batch.error_file_id)
    assert [e["custom_id"] for e in errors] == ["req-2", "req-5", "req-8"]
    for line in errors:
        assert line["error"] is None  # an HTTP error is the response, as the API puts it
        assert line["response"]["status_code"] == 429
        error = line["response"]["body"]["error"]
        assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    good = lines(client, batch.output_file_id)
    assert {g["response"]["body"]["choices"][0]["message"]["content"] for g in good} == {"fine"}


def test_chaos_fails_some_lines_the_same_way_for_the_same_seed(fake, client, server):
    scenario = {**FAST, "seed": 5, "chaos": [{"probability": 0.2, "error": "server_error"}]}
    fake.use(scenario)
    batch, _ = run(client, jsonl(40))
    errors = lines(client, batch.error_file_id)
    assert 0 < len(errors) < 40
    assert batch.request_counts.failed == len(errors)
    assert {e["response"]["status_code"] for e in errors} == {500}
    assert {e["response"]["body"]["error"]["type"] for e in errors} == {"server_error"}
    fake.use(scenario)  # a reset: the same uploads get the same ids and the same bytes
    again, _ = run(client, jsonl(40))
    assert again.id == batch.id
    assert client.files.content(again.error_file_id).content == (
        "\n".join(json.dumps(e, separators=(",", ":")) for e in errors) + "\n").encode()


def test_an_expired_batch_keeps_what_it_answered(fake, client):
    fake.use({**FAST, "batch": {"outcome": "expired", "progress": "40%"}})
    batch, seen = run(client, jsonl(5))
    assert seen[-1] == "expired" and "finalizing" not in seen
    assert batch.expired_at is not None and batch.completed_at is None
    assert batch.request_counts.model_dump() == {"total": 5, "completed": 2, "failed": 3}
    assert [o["custom_id"] for o in lines(client, batch.output_file_id)] == ["req-0", "req-1"]
    errors = lines(client, batch.error_file_id)
    assert [e["custom_id"] for e in errors] == ["req-2", "req-3", "req-4"]
    assert errors[0]["response"] is None
    assert errors[0]["error"]["code"] == "batch_expired"


def test_a_failed_batch_says_why(fake, client):
    fake.use({**FAST, "batch": {"outcome": "failed"}})
    batch, seen = run(client, jsonl(3))
    assert seen == ["validating", "failed"]
    assert batch.failed_at is not None and batch.output_file_id is None
    assert batch.errors is not None
    assert [e.code for e in batch.errors.data] == ["token_limit_exceeded"]
    assert "Enqueued token limit reached for gpt-4o-mini" in (batch.errors.data[0].message or "")


def test_a_batch_cancelled_by_the_scenario(fake, client):
    fake.use({**FAST, "batch": {"outcome": "cancelled", "progress": 1}})
    batch, seen = run(client, jsonl(4))
    assert seen[-1] == "cancelled"
    assert batch.cancelling_at is not None and batch.cancelled_at is not None
    assert batch.request_counts.completed == 4 and batch.error_file_id is None


def test_a_client_cancels_a_batch(fake, client):
    fake.use({**FAST, "batch": {"validating": "50s"}})  # 0.5 s of validating at time_scale 0.01
    batch = client.batches.create(input_file_id=upload(client, jsonl(3)),
                                  endpoint="/v1/chat/completions", completion_window="24h")
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at is not None
    deadline = time.monotonic() + 5
    while (batch := client.batches.retrieve(batch.id)).status != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert batch.in_progress_at is None
    assert batch.request_counts.model_dump() == {"total": 3, "completed": 0, "failed": 3}
    assert batch.output_file_id is None
    codes = [e["error"]["code"] for e in lines(client, batch.error_file_id)]
    assert codes == ["batch_cancelled"] * 3
    assert client.batches.cancel(batch.id).status == "cancelled"  # again: nothing changes
    done, _ = run(client, jsonl(1))
    with pytest.raises(openai.BadRequestError, match="Cannot cancel a batch with status"):
        client.batches.cancel(done.id)


def test_a_cancel_during_in_progress_keeps_the_lines_answered(fake, client):
    fake.use({**FAST, "batch": {"validating": 0, "in_progress": "200s"}})
    batch = client.batches.create(input_file_id=upload(client, jsonl(20)),
                                  endpoint="/v1/chat/completions", completion_window="24h")
    time.sleep(0.2)
    client.batches.cancel(batch.id)
    deadline = time.monotonic() + 5
    while (batch := client.batches.retrieve(batch.id)).status != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.005)
    counts = batch.request_counts
    assert 0 < counts.completed < 20 and counts.completed + counts.failed == 20
    out = lines(client, batch.output_file_id)
    errors = lines(client, batch.error_file_id)
    assert [o["custom_id"] for o in out] == [f"req-{i}" for i in range(counts.completed)]
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    assert len(out) + len(errors) == 20


def test_a_bad_jsonl_file_fails_validation_with_line_numbers(fake, client):
    fake.use(FAST)
    good = json.loads(jsonl(1))
    rows = [
        json.dumps(good),
        "{not json",
        json.dumps({k: v for k, v in good.items() if k != "url"}),
        json.dumps({**good, "custom_id": "other", "url": "/v1/embeddings"}),
        json.dumps(good),  # the first line's custom_id again
        json.dumps({**good, "custom_id": "m", "body": {**good["body"], "model": "gpt-4o"}}),
        json.dumps({**good, "custom_id": "g", "method": "GET"}),
    ]
    batch, seen = run(client, "\n".join(rows).encode())
    assert seen == ["validating", "failed"]
    assert batch.errors is not None
    found = [(e.line, e.code, e.param) for e in batch.errors.data]
    assert found == [(2, "invalid_json_line", None), (3, "missing_required_parameter", "url"),
                     (4, "invalid_url", "url"), (5, "duplicate_custom_id", "custom_id"),
                     (6, "mismatched_model", "body.model"), (7, "invalid_method", "method")]
    assert batch.request_counts.total == 0 and batch.output_file_id is None
    empty, _ = run(client, b"\n")
    assert empty.errors is not None
    assert [(e.code, e.line) for e in empty.errors.data] == [("empty_file", None)]


def test_bad_batch_requests_get_the_apis_errors(fake, client):
    fake.use(FAST)
    with pytest.raises(openai.NotFoundError, match="No such File object: file-nope"):
        client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions",
                              completion_window="24h")
    other = client.files.create(file=("notes.txt", io.BytesIO(b"hi")), purpose="user_data")
    with pytest.raises(openai.BadRequestError, match="purpose 'batch'"):
        client.batches.create(input_file_id=other.id, endpoint="/v1/chat/completions",
                              completion_window="24h")
    file_id = upload(client, jsonl(1))
    with pytest.raises(openai.BadRequestError) as info:
        client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                              completion_window="48h")  # type: ignore[arg-type]
    assert info.value.param == "completion_window"
    with pytest.raises(openai.BadRequestError, match=r"Must be \.jsonl"):
        client.files.create(file=("requests.json", io.BytesIO(jsonl(1))), purpose="batch")
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")


def test_batches_list_pages_as_the_sdk_asks(fake, client):
    fake.use(FAST)
    file_id = upload(client, jsonl(1))
    made = [client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                                  completion_window="24h").id for _ in range(5)]
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == made[::-1][:2]
    assert first.has_more is True
    assert [b.id for b in client.batches.list(limit=2)] == made[::-1]  # every page, in turn
    pages = [e.path for e in fake.journal if e.path.startswith("/v1/batches?")]
    assert pages[-3:] == ["/v1/batches?limit=2", f"/v1/batches?limit=2&after={made[3]}",
                          f"/v1/batches?limit=2&after={made[1]}"]
    with pytest.raises(openai.BadRequestError):
        client.batches.list(limit=101)


def test_files_list_retrieve_download_delete(fake, client):
    fake.use(FAST)
    ids = [upload(client, jsonl(i + 1), f"f{i}.jsonl") for i in range(3)]
    notes = client.files.create(file=("n.txt", io.BytesIO(b"notes")), purpose="user_data").id
    assert [f.id for f in client.files.list()] == [notes, *ids[::-1]]
    assert [f.id for f in client.files.list(purpose="batch", order="asc", limit=2)] == ids
    info = client.files.retrieve(ids[1])
    assert (info.filename, info.bytes, info.purpose) == ("f1.jsonl", len(jsonl(2)), "batch")
    assert info.expires_at == info.created_at + 30 * 86400
    assert client.files.content(ids[1]).content == jsonl(2)
    deleted = client.files.delete(ids[1])
    assert (deleted.id, deleted.deleted) == (ids[1], True)
    assert ids[1] not in [f.id for f in client.files.list()]
    with pytest.raises(openai.NotFoundError, match=f"No such File object: {ids[1]}"):
        client.files.retrieve(ids[1])
    with pytest.raises(openai.NotFoundError):
        client.files.content(ids[1])


def test_storage_is_bounded_per_tenant(fake, client):
    fake.use({"batch": {"max_files": 2, "max_storage": 100}})
    first = upload(client, b"x" * 60 + b"\n", "a.jsonl")
    with pytest.raises(openai.BadRequestError, match="storage past its limit of 100 bytes"):
        upload(client, b"y" * 60 + b"\n", "b.jsonl")
    upload(client, b"z\n", "c.jsonl")
    with pytest.raises(openai.BadRequestError, match="limit of 2 files"):
        upload(client, b"w\n", "d.jsonl")
    client.files.delete(first)
    upload(client, b"y" * 60 + b"\n", "b.jsonl")  # deleting frees room


def test_a_reset_forgets_the_tenants_files_and_batches(fake, client, server):
    fake.use(FAST)
    batch, _ = run(client, jsonl(1))
    assert len(client.files.list().data) == 2
    with openai.OpenAI(base_url=server.tenant_url(fake.tenant + "-other") + "/v1",
                       api_key="sk-other") as other:
        assert other.files.list().data == []  # another tenant sees none of them
        with pytest.raises(openai.NotFoundError):
            other.batches.retrieve(batch.id)
    with urllib.request.urlopen(urllib.request.Request(fake.url + "/_llmfake/reset",
                                                       method="POST")) as response:
        assert response.status == 200
    assert client.files.list().data == []
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve(batch.id)


def test_files_obey_the_scenarios_auth(fake):
    fake.use({"auth": {"keys": ["sk-test-key-0123456789"]}})  # the key fake.client() sends
    with openai.OpenAI(base_url=fake.base_url, api_key="sk-wrong", max_retries=0) as wrong, \
            pytest.raises(openai.AuthenticationError):
        wrong.files.list()
    with fake.client() as right:
        assert right.files.list().data == []


async def test_the_async_client_runs_a_batch(fake, aclient):
    fake.use(FAST)
    uploaded = await aclient.files.create(file=("a.jsonl", io.BytesIO(jsonl(2))),
                                          purpose="batch")
    batch = await aclient.batches.create(input_file_id=uploaded.id,
                                         endpoint="/v1/chat/completions",
                                         completion_window="24h")
    ids = [b.id async for b in aclient.batches.list()]
    assert ids == [batch.id]
    assert (await aclient.files.retrieve(uploaded.id)).bytes == len(jsonl(2))


def test_a_responses_batch_renders_refused_lines_in_the_error_file(fake, client):
    fake.use(FAST)
    rows = [{"custom_id": "ok", "method": "POST", "url": "/v1/responses",
             "body": {"model": "gpt-4o", "input": "hi"}},
            {"custom_id": "stream", "method": "POST", "url": "/v1/responses",
             "body": {"model": "gpt-4o", "input": "hi", "stream": True}},
            {"custom_id": "bad", "method": "POST", "url": "/v1/responses",
             "body": {"model": "gpt-4o", "input": 5}}]
    batch, _ = run(client, "\n".join(json.dumps(r) for r in rows).encode(), "/v1/responses")
    assert batch.request_counts.model_dump() == {"total": 3, "completed": 1, "failed": 2}
    (ok,) = lines(client, batch.output_file_id)
    assert openai.types.responses.Response.model_validate(ok["response"]["body"]).output_text
    refused = {e["custom_id"]: e["response"] for e in lines(client, batch.error_file_id)}
    assert refused["stream"]["status_code"] == refused["bad"]["status_code"] == 400
    assert refused["stream"]["body"]["error"]["param"] == "stream"
    assert refused["bad"]["body"]["error"]["param"] == "input"  # the endpoint's own 400


def test_an_upload_that_is_not_multipart_gets_a_400_saying_so(fake, client):
    fake.use(FAST)
    with pytest.raises(openai.BadRequestError, match="Expected a multipart/form-data upload"):
        client.post("/files", body={"purpose": "batch"}, cast_to=object)
