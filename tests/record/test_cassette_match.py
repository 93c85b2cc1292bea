"""Cassette loading (llmfake's, pytest-recording's, broken ones), redaction and matching."""

from __future__ import annotations

import textwrap

import pytest

from llmfake.errors import LLMFakeError
from llmfake.record import (
    Cassette,
    CassetteError,
    Chunk,
    Interaction,
    Matcher,
    RecordedRequest,
    RecordedResponse,
    Redactor,
    UnmatchedRequestError,
    load,
    normalise_body,
)

PYTEST_RECORDING = textwrap.dedent('''\
    interactions:
    - request:
        body: '{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": true}'
        headers:
          authorization:
          - DUMMY
          content-type:
          - application/json
        method: POST
        uri: https://api.openai.com/v1/chat/completions
      response:
        body:
          string: 'data: {"choices":[{"delta":{"content":"He"}}]}


            data: {"choices":[{"delta":{"content":"llo"}}]}


            data: [DONE]


            '
        headers:
          Content-Type:
          - text/event-stream; charset=utf-8
        status:
          code: 200
          message: OK
    version: 1
''')


def test_pytest_recording_sse_body_split_into_events(tmp_path):
    p = tmp_path / "old.yaml"
    p.write_text(PYTEST_RECORDING)
    it = load(p).interactions[0]
    assert it.request.json["stream"] is True
    assert it.response.is_stream
    assert it.response.chunks == [
        Chunk(0.0, 'data: {"choices":[{"delta":{"content":"He"}}]}\n\n'),
        Chunk(0.0, 'data: {"choices":[{"delta":{"content":"llo"}}]}\n\n'),
        Chunk(0.0, "data: [DONE]\n\n"),
    ]


def test_round_trip_keeps_chunks_offsets_and_json(tmp_path):
    it = Interaction(
        RecordedRequest("POST", "http://x/api/chat", {"Content-Type": ["application/json"]},
                        '{"b": 1, "a": [1, 2]}'),
        RecordedResponse(200, "OK", {"Content-Type": ["application/x-ndjson"]},
                         chunks=[Chunk(0.05, '{"x": 1}\n'), Chunk(0.07, '{"x": 2}\n')],
                         body='{"x": 1}\n{"x": 2}\n', headers_at=0.01))
    p = tmp_path / "c.yaml"
    Cassette([it]).save(p)
    back = load(p).interactions[0]
    assert back.response.chunks == it.response.chunks
    assert back.response.body == it.response.body
    assert back.response.headers_at == pytest.approx(0.01)
    assert back.request.json == {"b": 1, "a": [1, 2]}
    assert "json:" in p.read_text()


@pytest.mark.parametrize(("text", "needle", "index"), [
    ("version: 1\ninteractions:\n- request: {method: POST, uri: 'http://x\n", "invalid YAML",
     None),
    ("version: 2\ninteractions: []\n", "unknown cassette version;", None),
    ("version: 1\ninteractions:\n- request: {method: GET, uri: 'http://x/'}\n"
     "  response: {status: {code: 200}, body: {string: ''}}\n"
     "- request: {method: GET}\n  response: {status: {code: 200}, body: {string: ''}}\n",
     "request.uri", 1),
    ("version: 1\ninteractions:\n- request: {method: GET, uri: 'http://x/'}\n"
     "  response: {status: {code: OK}, body: {string: ''}}\n", "response.status.code", 0),
    ("version: 1\ninteractions:\n- request: {method: GET, uri: 'http://x/'}\n", "response", 0),
    ("- a list\n", "mapping", None),
])
def test_bad_cassettes_name_file_and_interaction(tmp_path, text, needle, index):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(CassetteError) as info:
        load(p)
    err = info.value
    assert isinstance(err, LLMFakeError) and isinstance(err, ValueError)
    assert str(p) in str(err)
    assert needle in str(err)
    assert err.index == index
    if index is not None:
        assert f"interactions[{index}]" in str(err)


def test_missing_file_is_cassette_error(tmp_path):
    with pytest.raises(CassetteError, match="cannot read"):
        load(tmp_path / "nope.yaml")


def test_redactor_scrubs_echoed_secrets_and_patterns():
    it = Interaction(
        RecordedRequest("POST", "http://x/v1beta/m:gen?key=AIzaSECRET123&alt=sse",
                        {"Authorization": ["Bearer sk-SECRET-abc"], "X-Other": ["keep"]},
                        '{"prompt": "my sk-SECRET-abc and ssn 123-45-6789"}'),
        RecordedResponse(200, "OK", {"Set-Cookie": ["sid=cookieSECRET; Path=/"]},
                         body='{"echo": "AIzaSECRET123"}'))
    out = Redactor.create(body_patterns=[r"\d{3}-\d{2}-\d{4}"])(it)
    text = repr(out)
    assert "SECRET" not in text
    assert "6789" not in text
    assert out.request.headers["Authorization"] == ["REDACTED"]
    assert out.request.headers["X-Other"] == ["keep"]
    assert out.response.headers["Set-Cookie"] == ["REDACTED"]
    assert "alt=sse" in out.request.uri


def _it(body: str, path: str = "/v1/chat/completions", text: str = "") -> Interaction:
    return Interaction(RecordedRequest("POST", f"http://up{path}", {}, body),
                       RecordedResponse(200, body=text))


def test_normalise_ignores_key_order_and_volatile_fields():
    a = '{"model": "m", "messages": [], "seed": 1, "user": "u1", "stream_options": {}}'
    b = '{"messages": [], "model": "m", "metadata": {"run": 7}}'
    assert normalise_body(a) == normalise_body(b)
    assert normalise_body(a, ignore=()) != normalise_body(b, ignore=())


def test_repeated_requests_play_in_recorded_order():
    m = Matcher([_it('{"q": 1}', text="first"), _it('{"q": 2}', text="other"),
                 _it('{"q": 1}', text="second")])
    got = [m.match("POST", "/v1/chat/completions", '{"q":1}') for _ in range(3)]
    assert [g.response.body for g in got if g] == ["first", "second", "second"]
    assert m.unused == [1]
    assert m.match("POST", "/v1/embeddings", '{"q":1}') is None
    no_repeat = Matcher([_it('{"q": 1}')], repeat=False)
    assert no_repeat.match("POST", "/v1/chat/completions", '{"q":1}') is not None
    assert no_repeat.match("POST", "/v1/chat/completions", '{"q":1}') is None


def test_strict_names_nearest_and_shows_diff():
    m = Matcher([_it('{"model": "a", "messages": [{"content": "hello"}]}', path="/v1/embeddings"),
                 _it('{"model": "gpt-4o", "messages": [{"content": "hello"}]}')], strict=True)
    with pytest.raises(UnmatchedRequestError) as info:
        m.match("POST", "/v1/chat/completions",
                '{"model": "gpt-4o", "messages": [{"content": "goodbye"}]}')
    err = info.value
    assert err.nearest == 1
    assert "interactions[1]" in str(err)
    assert '-      "content": "hello"' in err.diff
    assert '+      "content": "goodbye"' in err.diff


def test_a_parsed_body_matches_as_its_text_does():
    # The server matches the JSON it already parsed; it must find what the text would.
    body = '{"model": "gpt-4o", "seed": 1, "messages": [{"role": "user", "content": "hi"}]}'
    m = Matcher([_it('{"messages": [{"role": "user", "content": "other"}], "model": "gpt-4o"}'),
                 _it(body)])
    key = m.key_of_json("POST", "/v1/chat/completions",
                        {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o",
                         "seed": 99})
    assert m.find_key(key) == 1
    assert m.explain_key(m.key_of_json("POST", "/v1/chat/completions", None)).startswith(
        "no recorded interaction for POST /v1/chat/completions")
