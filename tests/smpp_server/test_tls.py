"""SMPP over TLS (``smpp_server.tls_cert_file`` / ``tls_key_file``): a client with Python's
own ssl module binds and submits; textgate's SMPP connector (``tls = true``) binds to it
and sends a message, verifying the certificate against ``tls_ca_file`` and refusing one
the system does not trust; a plaintext client is dropped without an answer and the server
goes on."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.pki import Pki, make_pki
from tests.smpp_server.harness import NUMBER, PASSWORD, SYSTEM_ID, smpp_gateway
from tests.support import HTTP_TIMEOUT, WAIT
from textgate.config import Settings
from textgate.connectors.base import Submission
from textgate.connectors.health import LinkState
from textgate.connectors.smpp.connector import SmppConnector, SmppOptions
from textgate.core.message import DeliveryReport, Status

# SMPP 3.4 5.1.2: command_id values.
BIND_TRANSMITTER, BIND_TRANSMITTER_RESP = 0x00000002, 0x80000002
SUBMIT_SM, SUBMIT_SM_RESP = 0x00000004, 0x80000004
UNBIND, UNBIND_RESP = 0x00000006, 0x80000006
TLS_ALERT = 0x15  # RFC 8446 5.1: ContentType alert


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _tls(pki: Pki) -> dict[str, Path]:
    return {"tls_cert_file": pki.cert_file, "tls_key_file": pki.key_file}


def _c(value: str) -> bytes:
    return value.encode() + b"\0"


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data


def _request(sock: socket.socket, command_id: int, seq: int, body: bytes) -> tuple[int, int, bytes]:
    sock.sendall(struct.pack(">LLLL", 16 + len(body), command_id, 0, seq) + body)
    length, answer_id, status, answered = struct.unpack(">LLLL", _exactly(sock, 16))
    assert answered == seq
    return answer_id, status, _exactly(sock, length - 16)


BIND_BODY = _c(SYSTEM_ID) + _c(PASSWORD) + _c("") + bytes([0x34, 0, 0]) + _c("")  # 4.1.1


def bind_and_submit(port: int, ca_file: Path, text: bytes) -> list[tuple[int, int, bytes]]:
    """Over TLS with Python's ssl module (the certificate and host checked against the test
    CA): bind_transmitter, one submit_sm (4.4.1), unbind; the three answers."""
    context = ssl.create_default_context(cafile=str(ca_file))
    submit = (
        b"\0"  # service_type
        + bytes([5, 0])
        + _c("ACME")
        + bytes([1, 1])
        + _c(NUMBER[1:])
        + bytes([0, 0, 0])  # esm_class, protocol_id, priority_flag
        + b"\0\0"  # schedule_delivery_time, validity_period
        + bytes([0, 0, 0, 0, len(text)])
        + text
    )
    with (
        socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return [
            _request(tls, BIND_TRANSMITTER, 1, BIND_BODY),
            _request(tls, SUBMIT_SM, 2, submit),
            _request(tls, UNBIND, 3, b""),
        ]


def plaintext_bind(port: int) -> bytes:
    """A bind_transmitter sent in clear to the TLS port: every octet that comes back
    before the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(struct.pack(">LLLL", 16 + len(BIND_BODY), BIND_TRANSMITTER, 0, 1) + BIND_BODY)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        return data


async def test_a_tls_client_binds_and_submits(
    settings: Settings, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    async with smpp_gateway(settings, smpp=_tls(pki)) as env:
        bind, submit, unbind = await asyncio.to_thread(
            bind_and_submit, env.port, pki.ca_file, b"over TLS"
        )
        assert bind[:2] == (BIND_TRANSMITTER_RESP, 0)
        assert submit[:2] == (SUBMIT_SM_RESP, 0)
        assert unbind[:2] == (UNBIND_RESP, 0)
        [message] = await env.messages()
        assert message.id == submit[2].rstrip(b"\0").decode()
        assert (message.text, message.recipient, message.sender) == ("over TLS", NUMBER, "ACME")

        # A client speaking SMPP in clear gets no SMPP answer: at most the TLS alert that
        # ends the handshake, then the connection is closed.
        caplog.clear()
        answer = await asyncio.to_thread(plaintext_bind, env.port)
        assert answer == b"" or answer[0] == TLS_ALERT, answer[:16]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert env.server.connections == 0
        # The server goes on.
        bind, submit, _ = await asyncio.to_thread(bind_and_submit, env.port, pki.ca_file, b"2")
        assert (bind[1], submit[1]) == (0, 0)
        assert len(await env.messages()) == 2


class Sink:
    async def __call__(self, reports: Sequence[DeliveryReport]) -> None:
        pass


def _connector(port: int, **options: object) -> SmppConnector:
    return SmppConnector(
        "carrier",
        SmppOptions.from_mapping(
            {
                "host": "127.0.0.1",
                "port": port,
                "system_id": SYSTEM_ID,
                "password": PASSWORD,
                "response_timeout": WAIT,
                "reconnect_initial": 0.05,
                "tls": True,
                **options,
            }
        ),
    )


async def test_the_smpp_connector_sends_over_tls(settings: Settings, pki: Pki) -> None:
    async with smpp_gateway(settings, smpp=_tls(pki)) as env:
        connector = _connector(env.port, tls_ca_file=str(pki.ca_file))
        await connector.start(Sink())
        try:
            assert connector.bound
            [outcome] = await connector.submit(
                [Submission("m-1", NUMBER, "ACME", "via the connector", "gsm7", 1)]
            )
            assert outcome.error is None
            [message] = await env.messages()
            assert outcome.external_id == message.id
            assert (message.text, message.recipient) == ("via the connector", NUMBER)
            assert message.status != Status.REJECTED
        finally:
            await connector.stop()


async def test_the_smpp_connector_verifies_the_certificate(settings: Settings, pki: Pki) -> None:
    async with smpp_gateway(settings, smpp=_tls(pki)) as env:
        # No tls_ca_file: the system's trusted certificates, which do not include the
        # test CA. The link stays down and says why; nothing reaches the server.
        connector = _connector(env.port)
        await connector.start(Sink())
        try:
            [link] = connector.links()
            assert link.state is LinkState.DOWN and not link.up
            assert link.last_error is not None
            assert "CERTIFICATE_VERIFY_FAILED" in link.last_error
            assert env.server.binds(env.account_id) == 0
        finally:
            await connector.stop()


def test_tls_options_are_checked(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="set tls = true"):
        SmppOptions.from_mapping({"tls_ca_file": str(pki.ca_file)})
    with pytest.raises(ValueError, match="is not a file"):
        SmppOptions.from_mapping({"tls": True, "tls_ca_file": str(tmp_path / "none.pem")})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="holds no PEM certificate"):
        SmppOptions.from_mapping({"tls": True, "tls_ca_file": str(garbage)})
    assert SmppOptions.from_mapping({"tls": True}).ssl_context() is not None
    assert SmppOptions().ssl_context() is None
