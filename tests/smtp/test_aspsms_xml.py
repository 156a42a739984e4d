"""ASPSMS xml@ (seed 004): XML requests by email, replies mailed back to the sender."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import pytest

from tests.smtp.harness import ASP, PASSWORD, Env, email, send, smtp_gateway
from tests.support import until
from tests.webhooks.receiver import running_receiver
from textgate.config import Settings
from textgate.core.message import Status
from textgate.storage.txn import Query, Txn

XML_TO = f"xml@{ASP}"
CLIENT = "app@client.example"


def request(env: Env, body: str, *, password: str = PASSWORD, action: str = "SendTextSMS") -> str:
    return (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<aspsms>\n'
        f"  <Userkey>{env.account_id}</Userkey>\n  <Password>{password}</Password>\n"
        f"{body}\n  <Action>{action}</Action>\n</aspsms>\n"
    )


SEND_TWO = """  <Originator>MyShop</Originator>
  <Recipient><PhoneNumber>0041790000001</PhoneNumber><TransRefNumber>ref-1</TransRefNumber></Recipient>
  <Recipient><PhoneNumber>0041790000002</PhoneNumber><TransRefNumber>ref-2</TransRefNumber></Recipient>
  <MessageData>Grüezi, code 4711 (5 €)</MessageData>"""


async def _outbox(env: Env) -> list[Any]:
    def txn() -> Txn[list[Any]]:
        sql = "SELECT account_id, rcpt_to FROM mail_outbox WHERE source = 'aspsms-xml'"
        return list((yield Query(sql, ())) or ())

    return await env.running.gateway.db.txn(txn)


async def _reply(env: Env) -> str:
    await until(lambda: len(env.relay.received) >= 1)
    [got] = env.relay.received
    assert got.rcpt_to == (CLIENT,)
    parsed = message_from_bytes(got.data, policy=policy.default)
    assert parsed["Subject"] == "ASPSMS XML reply"
    body = parsed.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def test_send_text_sms_and_the_reply_is_mailed_back(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        data = email(
            sender=CLIENT,
            to=[XML_TO],
            subject=None,
            text=request(env, SEND_TWO),
            charset="iso-8859-15",
        )
        out = await send(env, CLIENT, [XML_TO], data)
        assert out.code == 250, out.text
        msgs = await env.all_final(2)
        assert [(m.recipient, m.client_ref, m.sender) for m in msgs] == [
            ("+41790000001", "ref-1", "MyShop"),
            ("+41790000002", "ref-2", "MyShop"),
        ]
        assert all(
            m.status == Status.DELIVERED and m.text == "Grüezi, code 4711 (5 €)" for m in msgs
        )
        reply = await _reply(env)
        assert "<ErrorCode>1</ErrorCode>" in reply and "<ErrorDescription>Ok" in reply
        assert [tuple(r) for r in await _outbox(env)] == [(env.account_id, CLIENT)]


async def test_show_credits(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        await env.services.accounts.credit(env.account_id, 12_500_000)
        data = email(
            sender=CLIENT, to=[XML_TO], subject="", text=request(env, "", action="ShowCredits")
        )
        assert (await send(env, CLIENT, [XML_TO], data)).code == 250
        reply = await _reply(env)
        assert "<ErrorCode>1</ErrorCode>" in reply and "<Credits>12.5</Credits>" in reply


@pytest.mark.parametrize(
    ("body", "password", "code", "words"),
    [
        (SEND_TWO, "wrong-password", "3", "Authorization failed"),
        ("<MessageData>hello</MessageData>", PASSWORD, "20", "Missing a recipient"),
        (
            "<Recipient><PhoneNumber>0041790000001</PhoneNumber></Recipient>"
            "<Originator>WAYTOOLONGNAME</Originator><MessageData>hi</MessageData>",
            PASSWORD,
            "10",
            "Invalid originator",
        ),
    ],
    ids=["bad password", "no recipient", "bad originator"],
)
async def test_refusals_are_answered_in_xml(
    body: str, password: str, code: str, words: str, settings: Settings
) -> None:
    async with smtp_gateway(settings) as env:
        data = email(
            sender=CLIENT, to=[XML_TO], subject=None, text=request(env, body, password=password)
        )
        assert (await send(env, CLIENT, [XML_TO], data)).code == 250
        reply = await _reply(env)
        assert f"<ErrorCode>{code}</ErrorCode>" in reply and words in reply
        assert await env.messages() == []


async def test_without_a_sender_the_reply_is_discarded(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        data = email(sender=None, to=[XML_TO], subject=None, text=request(env, SEND_TWO))
        out = await send(env, "", [XML_TO], data)
        assert out.code == 250, out.text
        assert len(await env.all_final(2)) == 2
        # The reply would have been queued before the 250: nothing was.
        assert await _outbox(env) == []


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<aspsms><MessageData>&lol4;</MessageData></aspsms>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE aspsms [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<aspsms><MessageData>&secret;</MessageData></aspsms>"""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (BOMB, "may not use a DTD"),
        (EXTERNAL, "may not use a DTD"),
        ("<aspsms><Userkey>x</Userkey>", "not well-formed"),
        ("<other/>", "<aspsms> as its root"),
    ],
    ids=["billion laughs", "external entity", "not well-formed", "wrong root"],
)
async def test_unreadable_xml_is_refused(body: str, words: str, settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        data = email(sender=CLIENT, to=[XML_TO], subject=None, text=body)
        out = await send(env, CLIENT, [XML_TO], data)
        assert out.code == 554 and words in out.text, out.text
        assert await env.messages() == [] and await _outbox(env) == []


async def test_notification_urls_become_webhooks(settings: Settings) -> None:
    async with running_receiver() as receiver, smtp_gateway(settings) as env:
        body = (
            "<Recipient><PhoneNumber>0041790000001</PhoneNumber></Recipient>"
            "<MessageData>hi</MessageData>"
            f"<URLDeliveryNotification>{receiver.url}</URLDeliveryNotification>"
            f"<URLNonDeliveryNotification>{receiver.url}</URLNonDeliveryNotification>"
        )
        data = email(sender=CLIENT, to=[XML_TO], subject=None, text=request(env, body))
        assert (await send(env, CLIENT, [XML_TO], data)).code == 250
        [msg] = await env.all_final(1)
        await until(lambda: len(receiver.accepted()) == 1)
        [hit] = receiver.accepted().values()
        assert hit.event["type"] == "message.delivered"
        assert hit.event["data"]["message_id"] == msg.id
        assert "<ErrorCode>1</ErrorCode>" in await _reply(env)


async def _messages_stored(env: Env, count: int) -> list[Any]:
    async def stored() -> bool:
        return len(await env.messages()) == count

    await until(stored)
    return await env.messages()


async def test_deferred_delivery_time_schedules_the_messages(settings: Settings) -> None:
    """ASPSMS's ``DeferredDeliveryTime`` (``ddmmyyyyhhmmss``, GMT+1 unless ``TimeZone``
    says otherwise): the messages wait for that time, and the reply says Ok."""
    async with smtp_gateway(settings) as env:
        body = (
            "<Recipient><PhoneNumber>0041790000001</PhoneNumber></Recipient>"
            "<MessageData>later</MessageData>"
            "<DeferredDeliveryTime>24122099183000</DeferredDeliveryTime>"
        )
        data = email(sender=CLIENT, to=[XML_TO], subject=None, text=request(env, body))
        assert (await send(env, CLIENT, [XML_TO], data)).code == 250
        [msg] = await _messages_stored(env, 1)
        assert msg.status == Status.SCHEDULED
        assert msg.scheduled_at == datetime(2099, 12, 24, 17, 30, tzinfo=UTC)
        assert "<ErrorCode>1</ErrorCode>" in await _reply(env)


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (
            "<DeferredDeliveryTime>2099-12-24 18:30</DeferredDeliveryTime>",
            "22",
            "Invalid deferred delivery time",
        ),
        (
            "<DeferredDeliveryTime>31022099183000</DeferredDeliveryTime>",
            "22",
            "Invalid deferred delivery time",
        ),
        ("<FlashingSMS>1</FlashingSMS>", "11", "FlashingSMS&gt; is not supported"),
        ("<BinaryFileDataHex>0B05</BinaryFileDataHex>", "12", "Invalid binary data"),
        ("<MCC>228</MCC>", "14", "Invalid MCC"),
        (
            "<URLDeliveryNotification>https://hooks.example/ok</URLDeliveryNotification>"
            "<URLNonDeliveryNotification>not a url</URLNonDeliveryNotification>",
            "19",
            "Invalid URL non delivery notification string",
        ),
        (
            "<URLBufferedMessageNotification>ftp://x.example/</URLBufferedMessageNotification>",
            "17",
            "Invalid URL buffered message notification string",
        ),
    ],
    ids=[
        "deferred time in another format",
        "deferred time not a date",
        "flashing SMS unsupported",
        "binary data unsupported",
        "MCC unsupported",
        "invalid non-delivery URL under its own code",
        "invalid buffered URL under its own code",
    ],
)
async def test_what_cannot_be_carried_out_is_answered_not_ignored(
    body: str, code: str, words: str, settings: Settings
) -> None:
    async with smtp_gateway(settings) as env:
        full = (
            "<Recipient><PhoneNumber>0041790000001</PhoneNumber></Recipient>"
            f"<MessageData>hi</MessageData>{body}"
        )
        data = email(sender=CLIENT, to=[XML_TO], subject=None, text=request(env, full))
        assert (await send(env, CLIENT, [XML_TO], data)).code == 250
        reply = await _reply(env)
        assert f"<ErrorCode>{code}</ErrorCode>" in reply and words in reply, reply
        assert await env.messages() == []


async def test_without_an_originator_the_default_is_sms(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        body = (
            "<Recipient><PhoneNumber>0041790000001</PhoneNumber></Recipient>"
            "<MessageData>hi</MessageData>"
        )
        data = email(sender=CLIENT, to=[XML_TO], subject=None, text=request(env, body))
        assert (await send(env, CLIENT, [XML_TO], data)).code == 250
        [msg] = await env.all_final(1)
        assert msg.sender == "SMS"
