"""Byte-level faults over raw sockets: the exact bytes each one puts on the wire.

What each client makes of them is tests/clients/test_what_clients_see.py's; this checks the
framing itself, byte by byte, and that the server stays healthy after each.
"""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any

import httpx
import pytest

from llmfake.scenario._model import BYTE_FAULTS, FAULT_NAMES

TEXT = "one two three four five six"
SCENARIO = {"seed": 3, "freeze_time": True, "reply": TEXT}


def request(fake: Any, body: dict[str, Any], *, timeout: float = 3.0,
            close_after: float | None = None) -> tuple[bytes, str]:
    """POST ``body`` to the chat endpoint over a raw socket; every byte read until the server
    ends the connection, and how it ended (``fin``, ``reset`` or ``timeout``)."""
    host, port = fake.server.host, fake.server.port
    payload = json.dumps(body).encode()
    path = f"/t/{fake.tenant}/v1/chat/completions"
    data = (f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n\r\n").encode() + payload
    got = b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        deadline = time.monotonic() + (close_after if close_after is not None else timeout)
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                return got, "reset"
            except TimeoutError:
                return got, "timeout"
            if not piece:
                return got, "fin"
            got += piece


def split(raw: bytes) -> tuple[list[bytes], bytes]:
    """The head's lines (the date line left out: it changes every second) and the rest."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.startswith(b"date: ")]
    return lines, rest


def header(lines: list[bytes], name: bytes) -> bytes | None:
    for line in lines:
        key, _, value = line.partition(b": ")
        if key.lower() == name:
            return value
    return None


def dechunk(data: bytes) -> list[bytes]:
    """The chunks of a well-framed chunked body, up to (not including) the last one."""
    out = []
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out.append(data[:n])
        assert data[n:n + 2] == b"\r\n"
        data = data[n + 2:]
    return out


def settled(fake: Any) -> Any:
    """The last exchange, once the server has finished with it (it may still be winding up
    when the client has read the last byte)."""
    deadline = time.monotonic() + 2
    while fake.journal[-1].ended is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return fake.journal[-1]


def healthy(fake: Any) -> None:
    fake.use({"reply": "ok"})
    raw, _ = request(fake, CHAT, close_after=1.0)
    lines, body = split(raw)
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert json.loads(body)["choices"][0]["message"]["content"] == "ok"


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**CHAT, "stream": True}


def use(fake: Any, **step: Any) -> None:
    fake.use({**SCENARIO, "rules": [step]})


def test_the_byte_faults_are_the_last_names_and_each_is_described():
    names = list(FAULT_NAMES)
    assert set(names[-len(BYTE_FAULTS):]) == BYTE_FAULTS
    assert len(BYTE_FAULTS) == 8
    assert all(FAULT_NAMES[n] for n in BYTE_FAULTS)


def test_length_short_announces_fewer_bytes_than_follow(fake):
    use(fake, fault="length_short", after_bytes=20)
    raw, end = request(fake, CHAT)
    lines, rest = split(raw)
    assert end == "fin"
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert header(lines, b"content-length") == b"20"
    assert json.loads(rest)["choices"][0]["message"]["content"] == TEXT  # the whole body came
    assert fake.journal[-1].outcome == "fault length_short"
    healthy(fake)


def test_length_short_defaults_to_half_the_body(fake):
    use(fake, fault="length_short")
    lines, rest = split(request(fake, CHAT)[0])
    assert header(lines, b"content-length") == b"%d" % (len(rest) // 2)


def test_length_long_announces_twice_the_body_then_closes(fake):
    use(fake, fault="length_long")
    raw, end = request(fake, CHAT)
    lines, rest = split(raw)
    assert end == "fin"
    assert header(lines, b"content-length") == b"%d" % (2 * len(rest))
    json.loads(rest)


def test_length_long_holds_the_connection_for_duration(fake):
    use(fake, fault="length_long", duration="300ms")
    start = time.monotonic()
    _, end = request(fake, CHAT)
    assert end == "fin" and 0.25 < time.monotonic() - start < 2


def test_length_short_on_a_stream_drops_the_chunked_framing(fake):
    use(fake, fault="length_short", after_bytes=10)
    lines, rest = split(request(fake, STREAM)[0])
    assert header(lines, b"transfer-encoding") is None
    assert header(lines, b"content-length") == b"10"
    assert rest.startswith(b"data: {") and rest.endswith(b"data: [DONE]\n\n")


def test_bad_chunking_on_a_stream_breaks_after_good_chunks(fake):
    use(fake, fault="bad_chunking", after_chunks=2)
    raw, end = request(fake, STREAM)
    lines, rest = split(raw)
    assert end == "fin"
    assert header(lines, b"transfer-encoding") == b"chunked"
    good, _, bad = rest.rpartition(b"xyz\r\n")
    chunks = dechunk(good)
    assert len(chunks) == 3  # the role delta, then two content chunks
    deltas = [json.loads(c.removeprefix(b"data: "))["choices"][0]["delta"] for c in chunks]
    assert [d.get("content") for d in deltas] == ["", "one", " two"]
    assert bad.startswith(b"data: {") and bad.endswith(b"\n\n\r\n")
    assert settled(fake).chunks == 2


def test_bad_chunking_on_a_body(fake):
    use(fake, fault="bad_chunking")
    lines, rest = split(request(fake, CHAT)[0])
    assert header(lines, b"transfer-encoding") == b"chunked"
    assert header(lines, b"content-length") is None
    assert rest.startswith(b"xyz\r\n{") and rest.endswith(b"}\r\n")
    json.loads(rest[5:-2])


@pytest.mark.parametrize("payload", [CHAT, STREAM], ids=["body", "stream"])
def test_reset_after_headers_sends_a_complete_head_then_rst(fake, payload):
    use(fake, fault="reset_after_headers")
    raw, end = request(fake, payload)
    lines, rest = split(raw)
    assert end == "reset"
    assert lines[0] == b"HTTP/1.1 200 OK" and raw.endswith(b"\r\n\r\n") and rest == b""
    framing = b"transfer-encoding" if payload is STREAM else b"content-length"
    assert header(lines, framing) is not None
    healthy(fake)


@pytest.mark.parametrize("payload", [CHAT, STREAM], ids=["body", "stream"])
def test_hang_after_headers_is_silent_until_duration(fake, payload):
    use(fake, fault="hang_after_headers", duration="400ms")
    start = time.monotonic()
    raw, end = request(fake, payload)
    assert 0.35 < time.monotonic() - start < 2
    assert end == "reset" and raw.endswith(b"\r\n\r\n")
    assert split(raw)[0][0] == b"HTTP/1.1 200 OK"


def test_hang_after_headers_without_duration_waits_for_the_client(fake):
    use(fake, fault="hang_after_headers")
    raw, end = request(fake, CHAT, close_after=0.5)
    assert end == "timeout" and raw.endswith(b"\r\n\r\n")
    healthy(fake)


def test_garbage_status_replaces_the_status_line(fake):
    use(fake, fault="garbage_status")
    raw, end = request(fake, CHAT)
    assert end == "fin"
    assert raw.startswith(b"GARBAGE \x00\xff not HTTP\r\n")
    lines, rest = split(raw)
    assert header(lines, b"content-type") == b"application/json"
    assert json.loads(rest)["choices"][0]["message"]["content"] == TEXT
    assert settled(fake).status == 0


def test_half_close_ends_the_sending_side_mid_body(fake):
    use(fake, fault="half_close", after_bytes=15)
    raw, end = request(fake, CHAT, close_after=1.0)
    lines, rest = split(raw)
    assert end == "fin"  # a clean end of stream, short of the content-length
    assert int(header(lines, b"content-length") or 0) > 15 and len(rest) == 15


def test_half_close_keeps_reading(fake):
    """After the FIN the server still reads: the client can write, and no RST comes back."""
    use(fake, fault="half_close", after_chunks=1)
    host, port = fake.server.host, fake.server.port
    payload = json.dumps(STREAM).encode()
    with socket.create_connection((host, port), timeout=3) as sock:
        sock.sendall(f"POST /t/{fake.tenant}/v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                     f"content-length: {len(payload)}\r\n\r\n".encode() + payload)
        got = b""
        while piece := sock.recv(65536):
            got += piece
        sock.sendall(b"still here")  # the server's side is open for reading: no error
        time.sleep(0.1)
        sock.sendall(b"and here")
    chunks = dechunk(split(got)[1] + b"0\r\n\r\n")
    assert len(chunks) == 2 and settled(fake).chunks == 1


@pytest.mark.parametrize("payload", [CHAT, STREAM], ids=["body", "stream"])
def test_drip_sends_every_byte_slowly(fake, payload):
    use(fake, fault="drip", drip={"bytes": 64, "every": "20ms"})
    start = time.monotonic()
    host, port = fake.server.host, fake.server.port
    body = json.dumps(payload).encode()
    reads = []
    with socket.create_connection((host, port), timeout=3) as sock:
        sock.sendall(f"POST /t/{fake.tenant}/v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                     f"content-length: {len(body)}\r\n\r\n".encode() + body)
        got = b""
        while not (got.endswith(b"0\r\n\r\n") if payload is STREAM
                   else re.search(rb"\r\n\r\n\{.*\}$", got, re.DOTALL)):
            piece = sock.recv(65536)
            assert piece, "the connection closed before the response was complete"
            reads.append(piece)
            got += piece
    elapsed = time.monotonic() - start
    writes = (len(got) + 63) // 64
    # The client may read two writes at once when it is slow to get to them, never faster
    # than the server sends them.
    assert len(reads) >= 2 and len(reads[0]) <= 64
    assert elapsed > (writes - 1) * 0.02 * 0.9
    lines, rest = split(got)
    assert lines[0] == b"HTTP/1.1 200 OK"
    if payload is STREAM:
        assert dechunk(rest)[-1] == b"data: [DONE]\n\n"
    else:
        json.loads(rest)
    entry = settled(fake)
    assert entry.completed and entry.outcome == "fault drip"


def test_drip_keeps_the_connection_alive(fake):
    use(fake, fault="drip", drip={"bytes": 4096, "every": "1ms"})
    host, port = fake.server.host, fake.server.port
    body = json.dumps(CHAT).encode()
    req = (f"POST /t/{fake.tenant}/v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
           f"content-length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection((host, port), timeout=3) as sock:
        sock.sendall(req + req)
        got = b""
        while got.count(b"HTTP/1.1 200 OK") < 2 or not got.endswith(b"}"):
            piece = sock.recv(65536)
            assert piece
            got += piece
    assert len(fake.journal) == 2


def test_drip_follows_the_time_scale(fake):
    fake.use({**SCENARIO, "time_scale": 0.01,
              "rules": [{"fault": "drip", "drip": {"bytes": 64, "every": "1s"}}]})
    start = time.monotonic()
    response = httpx.post(fake.base_url + "/chat/completions", json=CHAT, timeout=20)
    assert response.json()["choices"][0]["message"]["content"] == TEXT
    assert time.monotonic() - start < 3  # unscaled: some ten writes, a second apart


def test_drip_goes_with_its_fault_only():
    from llmfake.scenario import scenario_from_dict

    with pytest.raises(ValueError, match="'drip' goes with 'fault: drip'"):
        scenario_from_dict({"rules": [{"fault": "stall", "drip": {"bytes": 1}}]})
    with pytest.raises(ValueError, match="'drip' goes with 'fault'"):
        scenario_from_dict({"rules": [{"reply": "x", "drip": {"bytes": 1}}]})
    with pytest.raises(ValueError, match="bytes"):
        scenario_from_dict({"rules": [{"fault": "drip", "drip": {"bytes": 0}}]})
    sc = scenario_from_dict({"time_scale": 0.5,
                             "rules": [{"fault": "drip", "drip": {"every": "1s"}}]})
    assert sc.rules[0].step.fault is not None
    assert sc.rules[0].step.fault.drip is not None
    assert sc.rules[0].step.fault.drip.bytes == 16
