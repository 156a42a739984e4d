"""ASPSMS ``Notify=`` (seed 004): which status changes are emailed to the sender, captured by
a local SMTP relay."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

from tests.smtp.harness import ASP, ORIGINATOR_ADDRESS, PASSWORD, Env, email, send, smtp_gateway
from tests.support import until
from textgate.config import Settings
from textgate.core.message import DeliveryReport, Status

TEXTSMS = f"textsms@{ASP}"


async def _textsms(env: Env, sender: str, number: str, notify: str | None) -> None:
    subject = f"U={env.account_id},P={PASSWORD},R={number}"
    if notify is not None:
        subject += f",Notify={notify}"
    data = email(sender=sender, to=[TEXTSMS], subject=subject, text="hello")
    out = await send(env, sender, [TEXTSMS], data)
    assert out.code == 250, out.text


def _mails(env: Env) -> list[tuple[str, str]]:
    """(recipient, subject) of every notification received so far."""
    found = []
    for got in env.relay.received:
        parsed = message_from_bytes(got.data, policy=policy.default)
        found.append((got.rcpt_to[0], str(parsed["Subject"])))
    return sorted(found)


async def _sentinel(env: Env, count: int) -> None:
    """A last message with Notify=ALWAYS: its notification arriving means every earlier
    event was fed (the feed reads events in order), so absent mails are really absent."""
    await _textsms(env, "sentinel@client.example", "0041790009999", "ALWAYS")
    await env.all_final(count)
    await until(
        lambda: ("sentinel@client.example", "SMS to +41790009999: delivered") in _mails(env)
    )


async def test_notify_modes_when_delivered(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        await _textsms(env, "none@client.example", "0041790000001", "NONE")
        await _textsms(env, "failed@client.example", "0041790000002", "FAILED")
        await _textsms(env, "default@client.example", "0041790000003", None)
        await _textsms(env, "empty@client.example", "0041790000004", "")
        await _textsms(env, "always@client.example", "0041790000005", "always")
        await env.all_final(5)
        await _sentinel(env, 6)
        assert _mails(env) == [
            ("always@client.example", "SMS to +41790000005: delivered"),
            ("default@client.example", "SMS to +41790000003: delivered"),
            ("empty@client.example", "SMS to +41790000004: delivered"),
            ("sentinel@client.example", "SMS to +41790009999: delivered"),
        ]
        assert all(m.status == Status.DELIVERED for m in await env.messages())


async def test_notify_modes_when_undelivered(settings: Settings) -> None:
    async with smtp_gateway(settings, simulator={"final_mix": {"undelivered": 1.0}}) as env:
        await _textsms(env, "none@client.example", "0041790000001", "NONE")
        await _textsms(env, "failed@client.example", "0041790000002", "FAILED")
        await _textsms(env, "default@client.example", "0041790000003", None)
        await _textsms(env, "always@client.example", "0041790000004", "ALWAYS")
        await _textsms(env, "none@client.example", "0041790000006", "NONE")
        await env.all_final(5)
        # Sent once the others are final: its notification comes after all of theirs.
        await _textsms(env, "last@client.example", "0041790000007", "ALWAYS")
        await env.all_final(6)
        await until(lambda: any(r == "last@client.example" for r, _ in _mails(env)))
        assert _mails(env) == [
            ("always@client.example", "SMS to +41790000004: undelivered"),
            ("default@client.example", "SMS to +41790000003: undelivered"),
            ("failed@client.example", "SMS to +41790000002: undelivered"),
            ("last@client.example", "SMS to +41790000007: undelivered"),
        ]


async def _sent(env: Env, count: int) -> None:
    """Wait until ``count`` messages are with the operator (their ids recorded)."""

    async def sent() -> bool:
        msgs = await env.messages()
        return len(msgs) == count and all(m.external_id for m in msgs)

    await until(sent, f"{count} messages sent")


async def _report(env: Env, status: Status, numbers: set[str]) -> None:
    """The operator's report of ``status`` for the messages to ``numbers``, handed to the
    gateway as a connector would."""
    receiver = env.running.gateway.receiver
    assert receiver is not None
    now = datetime.now(UTC)
    await receiver(
        [
            DeliveryReport("sim", m.external_id or "", status, now)
            for m in await env.messages()
            if m.recipient in numbers
        ]
    )


async def test_notify_always_includes_buffered(settings: Settings) -> None:
    # The simulator's own reports would come after the test: every report is the test's,
    # so "buffered" cannot lose a race with "delivered" on a busy machine.
    async with smtp_gateway(settings, simulator={"report_delay_ms": 600_000}) as env:
        await _textsms(env, "always@client.example", "0041790000001", "ALWAYS")
        await _textsms(env, "default@client.example", "0041790000002", None)
        await _sent(env, 2)
        both = {"+41790000001", "+41790000002"}
        await _report(env, Status.BUFFERED, both)
        await _report(env, Status.DELIVERED, both)
        await env.all_final(2)
        await until(lambda: len(_mails(env)) >= 3)
        # A last message with Notify=ALWAYS (see _sentinel): once its mail is in, every
        # earlier event was fed, so a mail absent now is really absent.
        await _textsms(env, "sentinel@client.example", "0041790009999", "ALWAYS")
        await _sent(env, 3)
        await _report(env, Status.DELIVERED, {"+41790009999"})
        await env.all_final(3)
        await until(
            lambda: ("sentinel@client.example", "SMS to +41790009999: delivered") in _mails(env)
        )
        assert _mails(env) == [
            ("always@client.example", "SMS to +41790000001: buffered"),
            ("always@client.example", "SMS to +41790000001: delivered"),
            ("default@client.example", "SMS to +41790000002: delivered"),
            ("sentinel@client.example", "SMS to +41790009999: delivered"),
        ]


async def test_number_addresses_notify_only_when_notify_is_given(settings: Settings) -> None:
    """``<00number>@`` mails nothing unless the subject has ``Notify=``; given empty, it is
    the seed's ``<Empty>``: delivered and failed are mailed."""
    async with smtp_gateway(settings) as env:
        for number, subject in (("0041790000001", None), ("0041790000002", "Notify=")):
            data = email(
                sender=ORIGINATOR_ADDRESS, to=[f"{number}@{ASP}"], subject=subject, text="hi"
            )
            out = await send(env, ORIGINATOR_ADDRESS, [f"{number}@{ASP}"], data)
            assert out.code == 250, out.text
        await env.all_final(2)
        await _sentinel(env, 3)
        assert _mails(env) == [
            (ORIGINATOR_ADDRESS, "SMS to +41790000002: delivered"),
            ("sentinel@client.example", "SMS to +41790009999: delivered"),
        ]
