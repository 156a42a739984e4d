"""A real SMTP relay on 127.0.0.1 (aiosmtpd) that records what it is sent and can refuse."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_to: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Relay:
    port: int
    answer: str = "250 OK"
    received: list[Received] = field(default_factory=list)
    attempts: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.answer.startswith("250"):
            self.received.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content))
            )
        return self.answer


@contextlib.contextmanager
def running_relay(port: int | None = None) -> Iterator[Relay]:
    for attempt in range(20):
        relay = Relay(port or free_port())
        controller = Controller(relay, hostname="127.0.0.1", port=relay.port)
        try:
            controller.start()
            break
        except OSError as exc:
            # A free port picked here can be taken by another process before the relay
            # binds it: pick another (a port given by the caller is not retried).
            if port is not None or exc.errno != errno.EADDRINUSE or attempt == 19:
                raise
    try:
        yield relay
    finally:
        controller.stop()
