"""Outbound mail end to end: notifications fed from events and mail queued by interfaces,
delivered to a real SMTP relay on 127.0.0.1 (or to files), with retries and replay."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.support import HTTP_TIMEOUT, Running, free_port, running_gateway, until
from tests.webhooks.relay import running_relay
from tests.webhooks.test_webhooks import FAST
from textgate.config import InboundSettings, MailSettings, Settings
from textgate.core.inbound import InboundMessage
from textgate.core.mail import Attachment, Email, build
from textgate.errors import InvalidRequest
from textgate.storage.txn import Query, Txn

OURS = "+33700000001"
FROM = "gateway@textgate.test"


def _mail(port: int | None = None, **changes: Any) -> MailSettings:
    base: dict[str, Any] = {
        "from_address": FROM,
        "poll_seconds": 0.05,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.3,
        "timeout_seconds": HTTP_TIMEOUT,
    }
    if port is not None:
        base.update(transport="smtp", smtp_host="127.0.0.1", smtp_port=port)
    return MailSettings(**(base | changes))


def _start(settings: Settings, mail: MailSettings) -> Any:
    return running_gateway(
        settings.model_copy(
            update={
                "webhooks": FAST,
                "mail": mail,
                "inbound": InboundSettings(numbers={OURS: "acme"}),
            }
        )
    )


async def _account(running: Running, name: str = "acme") -> tuple[str, dict[str, str]]:
    accounts = running.gateway.services.accounts
    account = await accounts.create(name)
    key = (await accounts.issue_key(account.id)).token
    return account.id, {"Authorization": f"Bearer {key}"}


async def _rows(running: Running, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    def txn() -> Txn[list[Any]]:
        return list((yield Query(sql, params)) or ())

    return await running.gateway.db.txn(txn)


async def test_mailto_subscription_emails_each_event_through_the_relay(
    settings: Settings,
) -> None:
    with running_relay() as relay:
        async with _start(settings, _mail(relay.port)) as running:
            _, auth = await _account(running)
            r = await running.client.post(
                "/v1/webhooks",
                json={
                    "url": "mailto:Ops Team <ops@example.com>",
                    "events": ["message.delivered", "inbound.received"],
                },
                headers=auth,
            )
            assert r.status_code == 201, r.text
            sent = await running.client.post(
                "/v1/messages",
                json={"to": ["+33612345601", "+33612345602"], "text": "hi", "reference": "r-1"},
                headers=auth,
            )
            assert sent.status_code == 202, sent.text
            ids = {m["id"] for m in sent.json()["messages"]}
            assert running.gateway.inbound is not None
            await running.gateway.inbound(
                [
                    InboundMessage(
                        connector="sim",
                        sender="+33612345699",
                        recipient=OURS,
                        text="Réponse ✓",
                        received_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
                    )
                ]
            )
            await until(lambda: len(relay.received) >= 3)
            done = "SELECT COUNT(*) FROM mail_outbox WHERE status = 'sent'"
            await until(lambda: _count_is(running, done, 3))

    assert len(relay.received) == 3
    assert all(m.mail_from == FROM and m.rcpt_to == ("ops@example.com",) for m in relay.received)
    messages = [m.message for m in relay.received]
    delivered = [m for m in messages if "delivered" in str(m["Subject"])]
    assert len(delivered) == 2
    bodies = {m.get_content() for m in delivered}
    assert {i for i in ids for b in bodies if i in b} == ids
    assert all("Your reference: r-1" in b for b in bodies)
    [inbound] = [m for m in messages if str(m["Subject"]).startswith("SMS from")]
    assert "Réponse ✓" in inbound.get_content()
    assert str(inbound["To"]) == "Ops Team <ops@example.com>"


async def _count_is(running: Running, sql: str, want: int) -> bool:
    return int((await _rows(running, sql))[0][0]) == want


async def test_a_relay_that_is_down_gets_the_mail_once_it_is_up(settings: Settings) -> None:
    port = free_port()
    async with _start(settings, _mail(port)) as running:
        account_id, auth = await _account(running)
        mail_id = await running.gateway.services.mail.queue(
            Email(sender=FROM, to=("someone@example.com",), subject="Hello", text="body"),
            account_id=account_id,
            source="test",
        )

        async def failed_twice() -> bool:
            got = await running.client.get(f"/v1/emails/{mail_id}", headers=auth)
            assert got.status_code == 200, got.text
            return bool(got.json()["attempts"] >= 2 and got.json()["status"] == "pending")

        await until(failed_twice)
        got = (await running.client.get(f"/v1/emails/{mail_id}", headers=auth)).json()
        assert got["last_error"] and got["to"] == ["someone@example.com"]
        with running_relay(port) as relay:
            await until(lambda: len(relay.received) == 1)
            await until(lambda: _status_is(running, mail_id, "sent"))
        assert relay.received[0].message["Subject"] == "Hello"
        listed = (await running.client.get("/v1/emails", headers=auth)).json()["data"]
        assert [m["id"] for m in listed] == [mail_id]
        assert listed[0]["status"] == "sent" and listed[0]["last_error"] is None


async def _status_is(running: Running, mail_id: str, want: str) -> bool:
    rows = await _rows(running, "SELECT status FROM mail_outbox WHERE id = ?", (mail_id,))
    return bool(rows[0][0] == want)


async def test_a_permanent_refusal_dead_letters_at_once_and_can_be_replayed(
    settings: Settings,
) -> None:
    with running_relay() as relay:
        relay.answer = "550 5.1.1 No such user"
        async with _start(settings, _mail(relay.port)) as running:
            account_id, auth = await _account(running)
            mail_id = await running.gateway.services.mail.queue(
                Email(sender=FROM, to=("gone@example.com",), subject="x", text="y"),
                account_id=account_id,
                source="test",
            )
            await until(lambda: _status_is(running, mail_id, "dead"))
            got = (await running.client.get(f"/v1/emails/{mail_id}", headers=auth)).json()
            assert got["attempts"] == 1 and "550" in got["last_error"]
            assert relay.attempts == 1
            relay.answer = "250 OK"
            again = await running.client.post(f"/v1/emails/{mail_id}/retry", headers=auth)
            assert again.status_code == 202 and again.json()["status"] == "pending"
            await until(lambda: _status_is(running, mail_id, "sent"))
            assert len(relay.received) == 1
            _, other = await _account(running, "other")
            hidden = await running.client.get(f"/v1/emails/{mail_id}", headers=other)
            assert hidden.status_code == 404


async def test_the_file_sink_writes_each_mail_whole(settings: Settings, tmp_path: Path) -> None:
    directory = tmp_path / "outbox"
    async with _start(settings, _mail(directory=directory)) as running:
        account_id, _ = await _account(running)
        mail_id = await running.gateway.services.mail.queue(
            Email(
                sender="Textgate <gateway@textgate.test>",
                to=("Zoë <zoe@example.com>",),
                bcc=("hidden@example.com",),
                subject="Livraison réussie ✓",
                text="Le message est arrivé.",
                html='<p>Le message est <b>arrivé</b> <img src="cid:logo"></p>',
                attachments=(
                    Attachment("report.csv", b"a,b\n1,2\n", "text/csv"),
                    Attachment("logo.png", b"\x89PNG\r\n", "image/png", content_id="logo"),
                ),
                headers=(("X-Campaign", "spring"),),
            ),
            account_id=account_id,
            source="test",
        )
        path = directory / f"{mail_id}.eml"
        await until(lambda: path.exists())
    data = path.read_bytes()
    data.decode("ascii")  # transfer-encoded: the stored message is plain ASCII
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["X-Textgate-Envelope-To"] == "zoe@example.com, hidden@example.com"
    assert parsed["Subject"] == "Livraison réussie ✓"
    assert parsed["Bcc"] is None
    assert parsed["X-Campaign"] == "spring"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and text.get_content().strip() == "Le message est arrivé."
    assert html is not None and "<b>arrivé</b>" in html.get_content()
    files = {p.get_filename(): p.get_content() for p in parsed.iter_attachments()}
    assert files == {"report.csv": "a,b\n1,2\n"}
    related = [p for p in parsed.walk() if p.get("Content-ID") == "<logo>"]
    assert len(related) == 1 and related[0].get_content() == b"\x89PNG\r\n"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"subject": "Hi\r\nBcc: victim@example.com"}, "subject"),
        ({"headers": (("X-Ok", "a\r\nBcc: victim@example.com"),)}, "X-Ok"),
        ({"headers": (("From", "boss@example.com"),)}, "From"),
        ({"to": ("not an address",)}, "to"),
        ({"to": ("a@example.com, b@example.com",)}, "to"),
        ({"to": (), "bcc": ()}, "recipient"),
        ({"text": None}, "body"),
        ({"charset": "klingon-8"}, "charset"),
        ({"charset": "ascii", "text": "café"}, "ascii"),
    ],
)
def test_mail_that_cannot_be_sent_safely_is_refused(change: dict[str, Any], reason: str) -> None:
    base: dict[str, Any] = {"sender": FROM, "to": ("a@example.com",), "subject": "s", "text": "t"}
    with pytest.raises(InvalidRequest) as caught:
        build(Email(**(base | change)), now=datetime(2026, 11, 22, tzinfo=UTC))
    assert reason in caught.value.message


def test_declared_charsets_are_used_for_the_body() -> None:
    mail = build(
        Email(sender=FROM, to=("a@example.com",), subject="s", text="Grüße", charset="latin-1"),
        now=datetime(2026, 11, 22, tzinfo=UTC),
    )
    parsed = message_from_bytes(mail.raw.encode(), policy=policy.default)
    assert parsed.get_content_charset() == "iso-8859-1"
    assert isinstance(parsed, EmailMessage) and parsed.get_content().strip() == "Grüße"
    assert mail.rcpt_to == ("a@example.com",)
