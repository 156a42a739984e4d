"""MailUp SMTP+ transactional email (seed 002: SendMessage, SendTemplate, ListUserInfo):
case table through the real server; mail that is sent is received by a real SMTP relay on
127.0.0.1 and parsed back (parts, headers, attachments, merge tags)."""

from __future__ import annotations

import base64
import codecs
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from tests.dialects.harness import (
    BodyRoute,
    DialectCase,
    Profile,
    Request,
    run_case,
)
from tests.dialects.malformed import malformed
from tests.support import Running, running_gateway, until
from tests.webhooks.relay import Relay, running_relay
from textgate.config import MailSettings, Settings
from textgate.core.lists import ConsoleStatus, TemplateKind
from textgate.storage.txn import Many, Query, Txn

P = "/API/v2.0/messages"
SECRET1, SECRET2, SECRET3 = "{secret1}", "{secret2}", "{secret3}"
USER1, USER2, USER3 = "s10001_1", "s10001_2", "s10001_3"
OK = {"Status": "done", "Code": "0", "Message": "Ok"}
# Seed 002, SendMessage example; the image's bytes arrive as an array of numbers.
IMAGE = bytes(range(256)) * 4
SEED_MESSAGE: dict[str, Any] = {
    "Html": {
        "DocType": None,
        "Head": None,
        "Body": '<div>Hello Mr. [firstname] [lastname] !!!</div><br><img width="600" '
        'height="397" src="cid:img001">',
        "BodyTag": "<body>",
    },
    "Text": "Hello world!!!",
    "Subject": "Hello friend!",
    "From": {"Name": "Test User", "Email": "test@mailup.it"},
    "To": [{"Name": "Massimo", "Email": "info@mailup.it"}],
    "Cc": [],
    "Bcc": [],
    "ReplyTo": None,
    "CharSet": "utf-8",
    "ExtendedHeaders": None,
    "Attachments": None,
    "EmbeddedImages": [{"Filename": "Image.jpg", "ContentId": "img001", "Body": list(IMAGE)}],
    "XSmtpAPI": {
        "CampaignName": "Test Campaign",
        "CampaignCode": "1001",
        "Header": None,
        "Footer": None,
        "ClickTracking": None,
        "ViewTracking": None,
        "Priority": None,
        "Schedule": None,
        "DynamicFields": [{"N": "firstname", "V": "Mario"}, {"N": "lastname", "V": "Rossi"}],
        "CampaignReport": None,
        "SkipDynamicFields": None,
    },
    "User": {"Username": USER1, "Secret": SECRET1},
}
SEED_TEMPLATE: dict[str, Any] = {
    "TemplateId": 1,
    "Subject": "Test message from template",
    "From": {"Name": "Test User", "Email": "test@example.com"},
    "To": [{"Name": "Max", "Email": "info@example.com"}],
    "Cc": [],
    "Bcc": [],
    "ReplyTo": None,
    "CharSet": "utf-8",
    "ExtendedHeaders": None,
    "Attachments": None,
    "EmbeddedImages": None,
    "XSmtpAPI": None,
    "User": {"Username": USER1, "Secret": SECRET1},
}


def _message(**changes: Any) -> Request:
    body = {**SEED_MESSAGE, **changes}
    return Request("POST", f"{P}/sendmessage", json={k: v for k, v in body.items() if v is not ...})


def _template(**changes: Any) -> Request:
    body = {**SEED_TEMPLATE, **changes}
    return Request(
        "POST", f"{P}/sendtemplate", json={k: v for k, v in body.items() if v is not ...}
    )


def _users(**changes: Any) -> Request:
    body = {"User": {"Username": USER1, "Secret": SECRET1}, **changes}
    return Request("POST", f"{P}/listuserinfo", json=body)


def _x(**changes: Any) -> dict[str, Any]:
    return {**SEED_MESSAGE["XSmtpAPI"], **changes}


MAIL = Profile(
    name="mailup-email",
    auth_headers=lambda _: {},
    send=lambda to, text: _message(Text=text, To=[{"Email": t} for t in to]),
    lookup=lambda body: Request("GET", "/"),
    status_of=lambda body: str(body["Status"]),
    error_code_of=lambda body: str(body["Code"]),
    ok_status=200,
    bad_request_status=403,
    unauthorized_status=403,
    body_routes=(BodyRoute("POST", f"{P}/sendmessage"),),
    # "The input is null." (seed 002, "Error codes"): what SMTP+ answers a body it cannot read.
    malformed_code="101",
)


@dataclasses.dataclass
class World:
    running: Running
    relay: Relay
    account_id: str
    secrets: dict[str, str]


async def _mails(world: World, count: int) -> list[EmailMessage]:
    await until(lambda: len(world.relay.received) >= count)
    return [r.message for r in world.relay.received]


async def _outbox(world: World) -> list[Any]:
    def txn() -> Txn[list[Any]]:
        rows = yield Query("SELECT status, next_attempt_at, rcpt_to FROM mail_outbox", ())
        return list(rows or ())

    return await world.running.gateway.db.txn(txn)


async def _seed_message(world: World, body: Any) -> None:
    (mail,) = await _mails(world, 1)
    assert str(mail["From"]) == "Test User <test@mailup.it>"
    assert str(mail["To"]) == "Massimo <info@mailup.it>"
    assert str(mail["Subject"]) == "Hello friend!"
    assert mail["X-Priority"] == "3"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().strip() == "Hello world!!!"
    assert "<div>Hello Mr. Mario Rossi !!!</div>" in html.get_content()
    assert html.get_content().startswith("<html><body>")
    (image,) = [p for p in mail.walk() if p.get("Content-ID")]
    assert image["Content-ID"] == "<img001>"
    assert image.get_content_type() == "image/jpeg"
    assert image.get_filename() == "Image.jpg"
    assert image.get_content() == IMAGE
    (stats,) = await world.running.gateway.services.list_sms.campaigns(world.account_id)
    assert (stats.code, stats.name, stats.emails, stats.messages) == ("1001", "Test Campaign", 1, 0)


async def _attachments(world: World, body: Any) -> None:
    (mail,) = await _mails(world, 1)
    assert mail.get_body(("html",)) is None
    assert mail.get_body(("plain",)).get_content().strip() == "Invoice for Mario"  # type: ignore[union-attr]
    files = {
        a.get_filename(): (a.get_content_type(), a.get_content()) for a in mail.iter_attachments()
    }
    assert files == {
        "invoice.pdf": ("application/pdf", b"%PDF-1.4 test"),
        "notes.txt": ("text/plain", "plain notes"),
    }


async def _headers(world: World, body: Any) -> None:
    (mail,) = await _mails(world, 1)
    received = world.relay.received[0]
    assert set(received.rcpt_to) == {"info@mailup.it", "carla@example.com", "hidden@example.com"}
    assert "Bcc" not in mail
    assert str(mail["Cc"]) == "Carla <carla@example.com>"
    assert str(mail["Reply-To"]) == "replies@mailup.it"
    assert mail["X-Order"] == "42"
    assert mail.get_all("Received") is None
    assert mail["X-Priority"] == "1"
    text = mail.get_body(("plain",))
    assert text is not None
    assert codecs.lookup(text.get_content_charset() or "").name == "iso8859-1"
    assert text.get_content().strip() == "Café crème"


async def _skipped(world: World, body: Any) -> None:
    (mail,) = await _mails(world, 1)
    html = mail.get_body(("html",))
    assert html is not None and "[firstname] [lastname]" in html.get_content()


async def _scheduled(world: World, body: Any) -> None:
    (row,) = await _outbox(world)
    due = datetime(2999, 1, 1, 12, tzinfo=UTC)
    assert row["status"] == "pending" and row["next_attempt_at"] == int(due.timestamp() * 1000)
    assert world.relay.received == []


async def _seed_template(world: World, body: Any) -> None:
    (mail,) = await _mails(world, 1)
    assert str(mail["Subject"]) == "Test message from template"
    assert str(mail["To"]) == "Max <info@example.com>"
    assert mail.get_body(("plain",)).get_content().strip() == "Hello [firstname]"  # type: ignore[union-attr]


async def _template_tags(world: World, body: Any) -> None:
    (mail,) = await _mails(world, 1)
    assert mail.get_body(("plain",)).get_content().strip() == "Hello Max"  # type: ignore[union-attr]
    assert "<p>Hello Max</p>" in mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    (stats,) = await world.running.gateway.services.list_sms.campaigns(world.account_id)
    assert (stats.code, stats.emails) == ("welcome", 1)


async def _one_user(world: World, body: Any) -> None:
    (user,) = body["UserList"]
    assert user["Username"] == USER2
    assert (user["IdConsole"], user["IdList"], user["IsEnabled"], user["AdminBlock"]) == (
        10001,
        1,
        True,
        False,
    )
    assert (user["Priority"], user["Note"], user["DomainList"], user["SenderList"]) == (
        3,
        "",
        "",
        "",
    )
    assert user["BlockUntil"] == "0001-01-01T00:00:00"
    assert len(user["CreationDate"]) == len("2015-03-31T12:12:04")
    assert "Secret" not in user


async def _blocked_user(world: World, body: Any) -> None:
    (user,) = body["UserList"]
    assert (user["Username"], user["IsEnabled"], user["AdminBlock"]) == (USER1, False, True)
    assert user["BlockUntil"] == "2999-01-01T00:00:00"


async def _all_users(world: World, body: Any) -> None:
    assert [u["Username"] for u in body["UserList"]] == [USER1, USER2]


async def _nothing_sent(world: World, body: Any) -> None:
    assert await _outbox(world) == []


async def _drop_console(world: World) -> None:
    def txn() -> Txn[None]:
        yield Many("DELETE FROM mailup_consoles WHERE account_id = ?", [(world.account_id,)])

    await world.running.gateway.db.txn(txn)


def _user1(**changes: Any) -> Callable[[World], Awaitable[Any]]:
    return lambda world: world.running.gateway.services.smtp_users.update(USER1, changes)


def _console(status: ConsoleStatus) -> Callable[[World], Awaitable[Any]]:
    return lambda world: world.running.gateway.services.lists.set_console_status(
        world.account_id, status
    )


async def _one_mail(world: World, body: Any) -> None:
    await _mails(world, 1)


async def _user2_deleted(world: World) -> None:
    await world.running.gateway.services.smtp_users.update(USER2, {"deleted": True})


def _error(
    status: int, code: str, message: str, label: str, request: Request, **kw: Any
) -> DialectCase:
    return DialectCase(
        label,
        request,
        expect_status=status,
        expect_error_code=code,
        expect_json={"Status": "error", "Code": code, "Message": message},
        **kw,
    )


CASES: list[DialectCase] = [
    DialectCase(
        "SendMessage: the seed's example",
        _message(),
        expect_json=OK,
        expect_stored=(),
        checks=(_seed_message,),
    ),
    DialectCase(
        "SendMessage: CamelCase path",
        dataclasses.replace(_message(), path=f"{P}/SendMessage"),
        expect_json=OK,
        checks=(_one_mail,),
    ),
    # MailUp's servers ignore the path's case and doubled or trailing slashes: a POST
    # client does not follow a redirect, so each is answered where it was sent.
    DialectCase(
        "SendMessage: trailing slash",
        dataclasses.replace(_message(), path=f"{P}/sendmessage/"),
        expect_json=OK,
        checks=(_one_mail,),
    ),
    DialectCase(
        "SendMessage: path in another case, doubled slash",
        dataclasses.replace(_message(), path="/api/V2.0/Messages//SENDMESSAGE"),
        expect_json=OK,
        checks=(_one_mail,),
    ),
    DialectCase(
        "SendMessage: text only, attachments as byte arrays and base64",
        _message(
            Html=None,
            Text="Invoice for [firstname]",
            EmbeddedImages=None,
            Attachments=[
                {"Filename": "invoice.pdf", "Body": list(b"%PDF-1.4 test")},
                {"Filename": "notes.txt", "Body": base64.b64encode(b"plain notes").decode()},
            ],
        ),
        expect_json=OK,
    ),
    DialectCase(
        "SendMessage: Cc, Bcc, ReplyTo, CharSet, ExtendedHeaders, Priority",
        _message(
            Text="Café crème",
            Html=None,
            EmbeddedImages=None,
            Cc=[{"Name": "Carla", "Email": "carla@example.com"}],
            Bcc=[{"Name": "Hidden", "Email": "hidden@example.com"}],
            ReplyTo="replies@mailup.it",
            CharSet="iso-8859-1",
            ExtendedHeaders=[{"N": "X-Order", "V": "42"}, {"N": "Received", "V": "forged"}],
            XSmtpAPI=_x(Priority=1, DynamicFields=None),
        ),
        expect_json=OK,
        checks=(_headers,),
    ),
    DialectCase(
        "SendMessage: SkipDynamicFields leaves merge tags",
        _message(XSmtpAPI=_x(SkipDynamicFields=True)),
        expect_json=OK,
        checks=(_skipped,),
    ),
    DialectCase(
        "SendMessage: Schedule holds the mail until then",
        _message(XSmtpAPI=_x(Schedule="2999-01-01T12:00:00")),
        expect_json=OK,
        checks=(_scheduled,),
    ),
    DialectCase(
        "SendMessage: sender allowed by the user's SenderList and DomainList",
        _message(),
        expect_json=OK,
        arrange=_user1(sender_list="Test@MailUp.it", domain_list="example.org, mailup.it"),
        checks=(_seed_message,),
    ),
    DialectCase(
        "SendTemplate: the seed's example", _template(), expect_json=OK, checks=(_seed_template,)
    ),
    DialectCase(
        "SendTemplate: merge tags and a campaign",
        _template(
            XSmtpAPI={
                "CampaignCode": "welcome",
                "DynamicFields": [{"N": "firstname", "V": "Max"}],
            }
        ),
        expect_json=OK,
        checks=(_template_tags,),
    ),
    DialectCase(
        "ListUserInfo: the seed's example",
        _users(Username=USER2),
        expect_json=OK,
        checks=(_one_user,),
    ),
    DialectCase(
        "ListUserInfo: every user of the list", _users(), expect_json=OK, checks=(_all_users,)
    ),
    DialectCase(
        "ListUserInfo: a blocked user reads its own state",
        _users(Username=USER1),
        expect_json=OK,
        arrange=_user1(
            admin_block=True, enabled=False, block_until=datetime(2999, 1, 1, tzinfo=UTC)
        ),
        checks=(_blocked_user,),
    ),
    DialectCase(
        "ListUserInfo: CamelCase path",
        dataclasses.replace(_users(), path=f"{P}/ListUserInfo"),
        expect_json=OK,
        checks=(_all_users,),
    ),
    # The seed's error table, code by code.
    _error(
        400,
        "1",
        "The operation failed. from: 'nobody' is not an email address",
        "1 bad address",
        _message(From={"Email": "nobody"}),
    ),
    _error(
        403,
        "101",
        "The input is null.",
        "101 empty body",
        Request("POST", f"{P}/sendmessage", content=b""),
    ),
    _error(403, "101", "The input is null.", "101 no User", _message(User=...)),
    _error(
        403,
        "101",
        "The input is null.",
        "101 ListUserInfo without a body",
        Request("POST", f"{P}/listuserinfo", content=b"null"),
    ),
    _error(
        403,
        "102",
        "The operation is not authorized.",
        "102 wrong secret",
        _message(User={"Username": USER1, "Secret": "wrong"}),
    ),
    _error(
        403,
        "102",
        "The operation is not authorized.",
        "102 unknown user",
        _message(User={"Username": "s1_1", "Secret": SECRET1}),
    ),
    _error(
        403,
        "102",
        "The operation is not authorized.",
        "102 sender not in the user's list",
        _message(),
        arrange=_user1(sender_list="someone@mailup.it, other@mailup.it"),
    ),
    _error(
        403,
        "102",
        "The operation is not authorized.",
        "102 sender's domain not in the user's list",
        _message(),
        arrange=_user1(domain_list="example.org; example.net"),
    ),
    _error(
        403,
        "102",
        "The operation is not authorized.",
        "102 a user of another list",
        _users(Username=USER3),
    ),
    _error(
        403,
        "103",
        "The user is not enabled.",
        "103 user not enabled",
        _message(),
        arrange=_user1(enabled=False),
    ),
    _error(
        403,
        "104",
        "The user is blocked.",
        "104 user blocked",
        _message(),
        arrange=_user1(admin_block=True),
    ),
    _error(
        403,
        "105",
        "The user is blocked until this date.",
        "105 user blocked until",
        _message(),
        arrange=_user1(block_until=datetime.now(UTC) + timedelta(days=1)),
    ),
    _error(
        403,
        "106",
        "The MailUp account cannot be found.",
        "106 account not found",
        _message(),
        arrange=_drop_console,
    ),
    _error(
        403,
        "107",
        "The MailUp account has been suspended.",
        "107 account suspended",
        _message(),
        arrange=_console(ConsoleStatus.SUSPENDED),
    ),
    _error(
        403,
        "108",
        "The MailUp account has been deleted.",
        "108 account deleted",
        _message(),
        arrange=_console(ConsoleStatus.DELETED),
    ),
    _error(
        403,
        "109",
        "At least one recipient is required.",
        "109 no recipient",
        _message(To=[], Cc=[], Bcc=[]),
    ),
    _error(403, "110", "The sender is required.", "110 no sender", _message(From=None)),
    _error(
        403, "111", "The template is not found.", "111 unknown template", _template(TemplateId=694)
    ),
    _error(
        403, "111", "The template is not found.", "111 an SMS template", _template(TemplateId=2)
    ),
    _error(
        403, "112", "User is deleted.", "112 user deleted", _message(), arrange=_user1(deleted=True)
    ),
    _error(
        403,
        "112",
        "User is deleted.",
        "112 ListUserInfo of a deleted user",
        _users(Username=USER2),
        arrange=_user2_deleted,
    ),
]


def _fill(value: Any, keys: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return keys.get(value, value)
    if isinstance(value, dict):
        return {k: _fill(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, keys) for v in value]
    return value


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    with running_relay() as relay:
        mail = MailSettings(
            from_address="gateway@textgate.test",
            poll_seconds=0.05,
            retry_base_seconds=0.05,
            retry_max_seconds=0.3,
            transport="smtp",
            smtp_host="127.0.0.1",
            smtp_port=relay.port,
        )
        async with running_gateway(settings.model_copy(update={"mail": mail})) as running:
            services = running.gateway.services
            account = await services.accounts.create("acme")
            lists = services.lists
            await lists.create(account.id, "customers")
            await lists.create(account.id, "others")
            secrets = {}
            for key, list_id in ((SECRET1, 1), (SECRET2, 1), (SECRET3, 2)):
                user, secret = await services.smtp_users.create(account.id, list_id)
                secrets[key] = secret
            assert user.username == USER3
            await lists.add_template(
                account.id,
                TemplateKind.EMAIL,
                "welcome",
                subject="Welcome [firstname]",
                text="Hello [firstname]",
                html="<p>Hello [firstname]</p>",
            )
            await lists.add_template(account.id, TemplateKind.SMS, "sms", text="sms")
            yield World(running, relay, account.id, secrets)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
async def test_mailup_email(case: DialectCase, world: World) -> None:
    request = case.request
    assert isinstance(request, Request)
    filled = dataclasses.replace(
        case, request=dataclasses.replace(request, json=_fill(request.json, world.secrets))
    )
    body = await run_case(
        filled,
        world.running,
        MAIL,
        "",
        world.account_id,
        world=world,
        secrets=tuple(world.secrets.values()),
    )
    assert all(isinstance(body[k], str) for k in ("Status", "Code", "Message"))
    if case.expect_status != 200:
        await _nothing_sent(world, body)


async def test_template_subject_used_when_the_request_has_none(world: World) -> None:
    body = {
        **SEED_TEMPLATE,
        "Subject": None,
        "User": {"Username": USER1, "Secret": world.secrets[SECRET1]},
    }
    body["XSmtpAPI"] = {"DynamicFields": [{"N": "firstname", "V": "Eva"}]}
    r = await world.running.client.post(f"{P}/sendtemplate", json=body)
    assert r.status_code == 200, r.text
    (mail,) = await _mails(world, 1)
    assert str(mail["Subject"]) == "Welcome Eva"


# Fields of the wrong types are SMTP+'s generic failure (400, code 1), not a refusal of its
# table: its own cases above check that answer.
MALFORMED = [c for c in malformed(MAIL, injections=False) if "wrong types" not in c.label]


@pytest.mark.parametrize("case", MALFORMED, ids=lambda c: c.label)
async def test_malformed_input(case: DialectCase, world: World) -> None:
    body = await run_case(case, world.running, MAIL, "", world.account_id, world=world)
    assert body["Status"] == "error" and body["Code"] != "0"
    await _nothing_sent(world, body)
