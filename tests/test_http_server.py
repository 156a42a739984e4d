"""The HTTP server as `textgate serve` runs it: responses leave in one write; idle
connections are kept longer than clients keep them."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from tests.support import running_gateway
from textgate.config import Settings
from textgate.http_server import CoalescedWrites, server_config


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.extra = {"peername": ("127.0.0.1", 5000)}

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def write_eof(self) -> None:
        self.writes.append(b"<eof>")

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)


async def turn() -> None:
    """Let the loop run the callbacks scheduled so far."""
    await asyncio.sleep(0)


async def test_writes_of_one_turn_leave_together() -> None:
    inner = FakeTransport()
    t = CoalescedWrites(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    t.write(b"")
    t.writelines([b"o", bytearray(b"k")])
    assert inner.writes == []
    await turn()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    t.write(b"next")  # a later turn: a write of its own
    await turn()
    assert inner.writes[1:] == [b"next"]


async def test_close_and_eof_send_what_is_held_first() -> None:
    inner = FakeTransport()
    t = CoalescedWrites(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"last words")
    t.write_eof()
    assert inner.writes == [b"last words", b"<eof>"]
    t.write(b"bye")
    t.close()
    assert inner.writes[-1] == b"bye" and inner.closed
    await turn()  # the flush scheduled by the write finds nothing more to send
    assert inner.writes[-1] == b"bye"


async def test_writes_after_the_connection_closed_go_nowhere() -> None:
    inner = FakeTransport()
    t = CoalescedWrites(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"too late")
    inner.closed = True  # the peer went away before the loop turned
    await turn()
    assert inner.writes == []
    # Everything else is the transport's own.
    assert t.get_extra_info("peername") == ("127.0.0.1", 5000)
    assert t.is_closing()


@pytest.mark.parametrize("requests", [1, 3])
async def test_the_server_answers_each_request_in_one_write(
    settings: Settings, requests: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over a real socket, as `textgate serve` configures uvicorn: each response (status
    line, headers, body) reaches the socket in one write; pipelined requests are all
    answered, in order."""
    sent: list[bytes] = []
    flush = CoalescedWrites.flush

    def recording(self: CoalescedWrites) -> None:
        if self._parts and not self._inner.is_closing():
            sent.append(b"".join(self._parts))
        flush(self)

    monkeypatch.setattr(CoalescedWrites, "flush", recording)
    async with running_gateway(settings) as gw:
        port = int(gw.base_url.rsplit(":", 1)[1])

        def exchange() -> list[bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" * requests)
                answers: list[bytes] = []
                data = b""
                while len(answers) < requests:
                    data += sock.recv(65536)
                    while (answer := _one_response(data)) is not None:
                        answers.append(answer)
                        data = data[len(answer) :]
                return answers

        answers = await asyncio.to_thread(exchange)
    assert len(answers) == requests
    assert all(a.startswith(b"HTTP/1.1 200") and a.endswith(b"}") for a in answers)
    # Pipelined requests are answered one after the other: a write per response.
    assert sent == answers


def _one_response(data: bytes) -> bytes | None:
    """The first whole response in ``data`` (Content-Length framed), or None."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    if len(rest) < length:
        return None
    return head + sep + rest[:length]


async def test_an_idle_connection_is_closed_after_the_keep_alive_setting(
    settings: Settings,
) -> None:
    """``http.keep_alive_seconds`` reaches the server: an idle connection is closed once it
    has passed (a short one here, so the test need not wait)."""
    settings = settings.model_copy(
        update={"http": settings.http.model_copy(update={"keep_alive_seconds": 0.3})}
    )
    async with running_gateway(settings) as gw:
        port = int(gw.base_url.rsplit(":", 1)[1])

        def idle_until_closed() -> tuple[bytes, bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                data = b""
                while _one_response(data) is None:
                    data += sock.recv(65536)
                # Nothing more is sent: the server's close is the next thing read.
                return data, sock.recv(65536)

        answer, after = await asyncio.to_thread(idle_until_closed)
    assert answer.startswith(b"HTTP/1.1 200")
    assert after == b""


def test_the_server_outwaits_common_clients_idle_timeouts(settings: Settings) -> None:
    """By default an idle connection stays open longer than httpx (5 s), a load balancer
    (AWS ALB 60 s) or Go's http.Transport (90 s) keep one: the client closes first, so it
    never sends on a connection the server is closing."""
    config = server_config(settings, app=lambda *a: None)  # type: ignore[arg-type,return-value]
    assert settings.http.keep_alive_seconds == 120
    assert config.timeout_keep_alive == 120
    assert config.timeout_keep_alive > max(httpx.Limits().keepalive_expiry or 0, 60, 90)
