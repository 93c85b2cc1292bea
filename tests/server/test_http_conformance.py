"""The HTTP core against a strict client: raw request bytes in, every response read by h11.

One test per behaviour the core promises (llmfake/server/_http.py's docstring): keep-alive,
pipelining, chunked request bodies, ``Expect: 100-continue``, HTTP/1.0, ``Connection: close``,
413/414/431, header, body and idle timeouts, streamed (chunked) responses, slow readers and
half-closed clients. h11 refusing a response fails the test with its own error
(``h11.RemoteProtocolError``), so every assertion here also checks the framing.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from rawhttp import Site, request, sse_data, wait_for

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
BODY = json.dumps(CHAT).encode()
STREAM = json.dumps({**CHAT, "stream": True}).encode()


def chat(prompt: str, *, stream: bool = False) -> bytes:
    return json.dumps({"model": "gpt-4o", "stream": stream,
                       "messages": [{"role": "user", "content": prompt}]}).encode()


def content(reply_body: bytes) -> str:
    return str(json.loads(reply_body)["choices"][0]["message"]["content"])


def streamed_text(reply_body: bytes) -> str:
    data = sse_data(reply_body)
    assert data[-1] == b"[DONE]"
    return "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                   for d in data[:-1] if json.loads(d)["choices"])


def test_keep_alive_carries_many_requests(site: Site) -> None:
    site.use({"reply": "kept"})
    wire = site.connect()
    for _ in range(3):
        wire.send(request("POST", site.chat, BODY, {"content-type": "application/json"}))
        reply = wire.reply()
        assert reply.status == 200
        assert reply.version == b"1.1"
        assert reply.keep_alive
        assert int(reply.headers["content-length"]) == len(reply.body)
        assert "date" in reply.headers
        assert content(reply.body) == "kept"
    # HEAD: the same head, no body; the request after it must still be read right.
    wire.send(request("HEAD", f"/t/{site.tenant}/_llmfake/health"))
    assert wire.reply("HEAD").body == b""
    wire.send(request("GET", f"/t/{site.tenant}/_llmfake/health"))
    assert json.loads(wire.reply("GET").body)["status"] == "ok"


def test_pipelined_requests_are_answered_in_order(site: Site) -> None:
    site.use({"rules": [{"match": {"contains": w}, "reply": w.upper()}
                        for w in ("one", "two", "three", "four")]})
    wire = site.connect()
    wire.send(request("POST", site.chat, chat("one"))
              + request("POST", site.chat, chat("two", stream=True))
              + request("GET", f"/t/{site.tenant}/_llmfake/health")
              + request("POST", site.chat, chat("three"))
              + request("POST", site.chat, chat("four", stream=True)))
    assert content(wire.reply().body) == "ONE"
    second = wire.reply()
    assert second.headers["transfer-encoding"] == "chunked"
    assert streamed_text(second.body) == "TWO"
    assert json.loads(wire.reply("GET").body)["tenant"] == site.tenant
    assert content(wire.reply().body) == "THREE"
    assert streamed_text(wire.reply().body) == "FOUR"
    assert [e.body["messages"][0]["content"] for e in site.server.journal(site.tenant)] == [
        "one", "two", "three", "four"]


def test_a_stream_due_at_once_goes_out_whole_whatever_its_length(site: Site) -> None:
    # A stream with no latency is held for the end of the loop iteration with the answers
    # before and after it (one write), up to a few pieces; a longer one writes through the
    # transport. Either way: headers first, every event once, in order, then the next answer.
    words = [f"w{i}" for i in range(3000)]
    site.use({"rules": [{"match": {"contains": "long"}, "reply": " ".join(words)},
                        {"match": {"contains": "short"}, "reply": "tiny"}]})
    wire = site.connect()
    wire.send(request("POST", site.chat, chat("short", stream=True))
              + request("POST", site.chat, chat("long", stream=True))
              + request("POST", site.chat, chat("short"))
              + request("POST", site.chat, chat("short", stream=True)))
    assert streamed_text(wire.reply().body) == "tiny"
    assert streamed_text(wire.reply().body).split() == words
    assert content(wire.reply().body) == "tiny"
    assert streamed_text(wire.reply().body) == "tiny"


def test_chunked_request_body(site: Site) -> None:
    site.use({"reply": "got it"})
    wire = site.connect()
    wire.send(f"POST {site.chat} HTTP/1.1\r\nhost: fake\r\ntransfer-encoding: chunked\r\n"
              "content-type: application/json\r\n\r\n".encode())
    pieces = [BODY[:5], BODY[5:20], BODY[20:]]
    for i, piece in enumerate(pieces):
        ext = b";note=x" if i == 1 else b""
        wire.send(b"%x%b\r\n%b\r\n" % (len(piece), ext, piece))
        time.sleep(0.02)
    wire.send(b"0\r\nx-trailer: yes\r\n\r\n")
    reply = wire.reply()
    assert reply.status == 200
    assert content(reply.body) == "got it"
    assert site.server.journal(site.tenant)[-1].body == CHAT


def test_expect_100_continue(site: Site) -> None:
    site.use({"reply": "continued"})
    wire = site.connect()
    wire.send(request("POST", site.chat, b"", {"content-length": str(len(BODY)),
                                                "expect": "100-continue"}))
    assert wire.interim() == 100  # before the body was sent
    wire.send(BODY)
    reply = wire.reply()
    assert reply.informational == [100]
    assert reply.status == 200
    assert content(reply.body) == "continued"
    assert reply.keep_alive


def test_expect_100_continue_refused_with_413(site: Site) -> None:
    site.use({"limits": {"max_request_bytes": "1kb"}})
    wire = site.connect()
    wire.send(request("POST", site.chat, b"", {"content-length": "5000",
                                                "expect": "100-continue"}))
    reply = wire.reply(expect_continue=True)
    assert reply.informational == []  # no 100: the body is not welcome
    assert reply.status == 413
    assert not reply.keep_alive
    # The body will not come: the server closes now rather than wait for it.
    assert wire.closed_by_server(within=2.5)


def test_expect_100_continue_behind_a_pipelined_request(site: Site) -> None:
    site.use({"reply": "first", "latency": {"ttft": "200ms"}})
    wire = site.connect()
    wire.send(request("POST", site.chat, BODY)
              + request("POST", site.chat, b"", {"content-length": str(len(BODY)),
                                                  "expect": "100-continue"}))
    assert content(wire.reply().body) == "first"
    # Its turn has come: the second request is told to send its body.
    assert wire.interim() == 100
    wire.send(BODY)
    reply = wire.reply()
    assert reply.informational == [100]
    assert content(reply.body) == "first"


def test_http_1_0_is_answered_in_1_0_and_closed(site: Site) -> None:
    site.use({"reply": "old"})
    wire = site.connect()
    wire.send(request("POST", site.chat, BODY, version="1.0"))
    reply = wire.reply()
    assert reply.version == b"1.0"
    assert content(reply.body) == "old"
    assert int(reply.headers["content-length"]) == len(reply.body)
    assert not reply.keep_alive
    assert wire.closed_by_server()


def test_http_1_0_keep_alive(site: Site) -> None:
    site.use({"reply": "again"})
    wire = site.connect()
    for _ in range(2):
        wire.send(request("POST", site.chat, BODY, {"connection": "keep-alive"}, version="1.0"))
        reply = wire.reply()
        assert reply.version == b"1.0"
        assert reply.headers["connection"] == "keep-alive"
        assert content(reply.body) == "again"


def test_http_1_0_stream_ends_with_the_connection(site: Site) -> None:
    site.use({"reply": "to the end of the line"})
    wire = site.connect()
    wire.send(request("POST", site.chat, STREAM, {"connection": "keep-alive"}, version="1.0"))
    reply = wire.reply()
    assert reply.version == b"1.0"
    assert "transfer-encoding" not in reply.headers  # HTTP/1.0 knows no chunked encoding
    assert "content-length" not in reply.headers
    assert streamed_text(reply.body) == "to the end of the line"


def test_connection_close_is_honoured(site: Site) -> None:
    wire = site.connect()
    wire.send(request("POST", site.chat, BODY, {"connection": "close"})
              + request("POST", site.chat, BODY))  # never read: the first one closes
    reply = wire.reply(close=True)
    assert reply.status == 200
    assert reply.headers["connection"] == "close"
    assert wire.closed_by_server()
    assert len(site.server.journal(site.tenant)) == 1


def test_answers_held_for_the_end_of_a_turn_go_out_before_what_follows(site: Site) -> None:
    # Whole answers are written at the end of the loop's turn; a close, a refusal or a stream
    # that comes after them on the connection must not overtake or drop them.
    site.use({"reply": "held"})
    wire = site.connect()
    wire.send(request("POST", site.chat, BODY) + request("POST", site.chat, BODY)
              + request("POST", site.chat, BODY, {"connection": "close"}))
    assert [content(wire.reply().body) for _ in range(2)] == ["held", "held"]
    assert wire.reply(close=True).headers["connection"] == "close"
    assert wire.closed_by_server()
    wire = site.connect()
    wire.send(request("POST", site.chat, BODY) + b"NOT HTTP AT ALL\r\n\r\n")
    assert content(wire.reply().body) == "held"
    assert wire.reply("GET").status == 400
    assert wire.closed_by_server()


def test_streamed_chat_is_chunked_then_keeps_alive(site: Site) -> None:
    site.use({"reply": "a b c d e f g", "latency": {"per_token": "5ms"}})
    wire = site.connect()
    wire.send(request("POST", site.chat, STREAM))
    reply = wire.reply()
    assert reply.status == 200
    assert reply.headers["transfer-encoding"] == "chunked"
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert streamed_text(reply.body) == "a b c d e f g"
    assert reply.keep_alive
    wire.send(request("POST", site.chat, BODY))
    assert content(wire.reply().body) == "a b c d e f g"


def _assert_413(reply_body: bytes) -> None:
    error = json.loads(reply_body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "request_too_large"
    assert "1000 bytes" in error["message"]


@pytest.mark.parametrize("size", [5000, 4 << 20])
def test_body_over_the_tenant_limit_gets_413_after_the_whole_body(site: Site,
                                                                   size: int) -> None:
    site.use({"limits": {"max_request_bytes": "1kb"}})
    wire = site.connect()
    # The whole body is out before the client reads: it must find the 413, not a reset.
    wire.send(request("POST", site.chat, b"x" * size))
    reply = wire.reply()
    assert reply.status == 413
    _assert_413(reply.body)
    assert reply.headers["connection"] == "close"
    assert wire.closed_by_server()


def test_chunked_body_over_the_limit_gets_413(site: Site) -> None:
    site.use({"limits": {"max_request_bytes": "1kb"}})
    wire = site.connect()
    wire.send(f"POST {site.chat} HTTP/1.1\r\nhost: fake\r\ntransfer-encoding: chunked\r\n\r\n"
              .encode() + b"400\r\n" + b"x" * 1024 + b"\r\n" + b"10\r\n" + b"y" * 16 + b"\r\n"
              + b"0\r\n\r\n")
    reply = wire.reply()
    assert reply.status == 413
    _assert_413(reply.body)
    assert wire.closed_by_server()


def test_refused_body_that_stops_coming_is_closed(site: Site) -> None:
    site.use({"limits": {"max_request_bytes": "1kb"}})
    wire = site.connect()
    wire.send(request("POST", site.chat, b"", {"content-length": str(10 << 20)}) + b"x" * 5000)
    reply = wire.reply()
    assert reply.status == 413
    # The server reads what comes of the body, to keep the 413 from a reset, but not forever.
    assert wire.closed_by_server(within=3.0)


def test_headers_too_large_get_431(site: Site) -> None:
    wire = site.connect()
    wire.send(request("POST", site.chat, BODY, {"x-big": "y" * 70_000}))
    reply = wire.reply()
    assert reply.status == 431
    assert not reply.keep_alive
    assert wire.closed_by_server()


def test_target_too_long_gets_414(site: Site) -> None:
    wire = site.connect()
    wire.send(request("GET", site.chat + "?q=" + "z" * 9000))
    reply = wire.reply("GET")
    assert reply.status == 414
    assert not reply.keep_alive
    assert wire.closed_by_server()


def test_malformed_request_gets_400(site: Site) -> None:
    wire = site.connect()
    wire.send(b"POST /v1/chat/completions HTTP/1.1\r\nhost: fake\r\ncontent-length: nope\r\n\r\n")
    reply = wire.reply()
    assert reply.status == 400
    assert not reply.keep_alive
    assert wire.closed_by_server()


def test_requests_before_a_malformed_one_are_answered(site: Site) -> None:
    site.use({"reply": "fine"})
    wire = site.connect()
    wire.send(request("POST", site.chat, BODY) + request("POST", site.chat, BODY)
              + b"BREW /pot HTCPCP/1.0\r\n\r\n")
    assert content(wire.reply().body) == "fine"
    assert content(wire.reply().body) == "fine"
    reply = wire.reply()
    assert reply.status == 400
    assert wire.closed_by_server()


def test_two_host_headers_get_400(site: Site) -> None:
    wire = site.connect()  # RFC 9112, 3.2: which host is meant is unknowable
    wire.send(request("GET", f"/t/{site.tenant}/_llmfake/health", headers={"host": "other"}))
    reply = wire.reply("GET")
    assert reply.status == 400
    assert wire.closed_by_server()


def test_header_timeout_gets_408(site: Site) -> None:
    wire = site.connect()
    wire.send(f"POST {site.chat} HTTP/1.1\r\nhost: fake\r\n".encode())  # and nothing more
    start = time.monotonic()
    reply = wire.reply()
    assert reply.status == 408
    assert 0.5 <= time.monotonic() - start < 3.0
    assert wire.closed_by_server()


def test_body_timeout_gets_408(site: Site) -> None:
    wire = site.connect()
    wire.send(request("POST", site.chat, b"", {"content-length": "100"}) + b'{"model"')
    reply = wire.reply()
    assert reply.status == 408
    assert wire.closed_by_server()
    assert len(site.server.journal(site.tenant)) == 0


def test_idle_keep_alive_connection_is_closed(site: Site) -> None:
    wire = site.connect()
    wire.send(request("POST", site.chat, BODY))
    assert wire.reply().keep_alive
    assert wire.closed_by_server(within=3.0)  # QUICK: idle for 0.5 s, swept once a second
    silent = site.connect()  # a connection that never sends a byte
    assert silent.closed_by_server(within=3.0)


def test_slow_reader_is_paused_not_buffered(site: Site) -> None:
    words = 60_000
    text = "abcdefghij " * words
    site.use({"reply": text})  # no latency: every chunk is due at once
    wire = site.connect(rcvbuf=4096, timeout=20.0)
    wire.send(request("POST", site.chat, STREAM))
    journal = site.server.journal(site.tenant)
    wait_for(lambda: len(journal) == 1 and journal[0].bytes_sent > 0, timeout=10.0)
    time.sleep(0.5)
    held = journal[0].bytes_sent
    time.sleep(0.3)
    assert journal[0].bytes_sent == held  # paused while the client reads nothing
    total = words * 2 * 140  # at least 140 bytes an event, two events a word
    # What the server handed to the transport: the kernel's buffers and a write or two, not the
    # stream (which is several times larger).
    assert held < total / 2, (held, total)
    reply = wire.reply()
    assert streamed_text(reply.body) == text
    assert journal[0].completed


def test_half_closed_client_still_gets_its_answer(site: Site) -> None:
    site.use({"reply": "after the FIN", "latency": {"ttft": "50ms"}})
    for body in (BODY, STREAM):
        wire = site.connect()
        wire.send(request("POST", site.chat, body))
        wire.sock.shutdown(socket.SHUT_WR)
        reply = wire.reply()
        assert reply.status == 200
        text = streamed_text(reply.body) if body is STREAM else content(reply.body)
        assert text == "after the FIN"
        assert wire.closed_by_server()
