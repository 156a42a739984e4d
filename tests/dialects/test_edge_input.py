"""Input no storage can take, refused at the edge in each dialect's own format: ids outside
1..2^63-1 (and digits int() misreads), NUL and unpaired surrogates. Through the real server,
with nothing stored; on PostgreSQL too, where ids above 2^31-1 once failed the query and NUL
cannot be stored at all."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.dialects.harness import stored_messages
from tests.support import Running
from textgate.core.message import Message

USERNAME = "edge"
PASSWORD = "edge password 1"
NUMBER = "+393350000001"
HUGE = "9223372036854775808"  # 2^63: no BIGINT holds it
WIDE = "3000000000"  # above 2^31-1: a BIGINT does, an INTEGER did not
# A JSON string holding one unpaired surrogate, and one holding NUL, as the wire spells them.
SURROGATE = '"\\ud800"'
NUL = '"a\\u0000b"'

Shape = Callable[[Any], bool]


def native(body: Any) -> bool:
    return isinstance(body.get("error"), dict) and "code" in body["error"]


def smsend(body: Any) -> bool:
    return body.get("result") == "KO"


def mailup(body: Any) -> bool:
    # The seed answers a list or console that is not the caller's, and failed credentials,
    # with 403 and its own codes (201, 250).
    return {"Code", "Description"} <= set(body)


def smsmobileapi(body: Any) -> bool:
    return isinstance(body.get("result"), dict) and "error" in body["result"]


def oauth(body: Any) -> bool:
    return "error" in body


@dataclass(frozen=True)
class Case:
    label: str
    method: str
    path: str
    status: int
    shape: Shape
    json_text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def _smsend_send(order_id: str) -> str:
    return (
        '{"message_type": "N", "message": "hi", "recipient": ["' + NUMBER + '"], '
        '"order_id": ' + order_id + "}"
    )


def _mailup_send(campaign: str) -> str:
    return (
        '{"Content": "hi", "ListGuid": "{guid}", "ListSecret": "{secret}", '
        '"Recipient": "' + NUMBER + '", "CampaignCode": ' + campaign + "}"
    )


def _native_send(reference: str) -> str:
    return '{"to": ["' + NUMBER + '"], "text": "hi", "reference": ' + reference + "}"


BEARER = {"Authorization": "Bearer {api_key}"}
BASIC = {"Authorization": "Basic {basic}"}
SMSEND = {"user_key": "{user_key}", "Session_key": "{session_key}"}

CASES = [
    # -- ids ------------------------------------------------------------------------------
    Case("native id above 2^31", "DELETE", f"/v1/templates/{WIDE}", 404, native, headers=BEARER),
    Case("native id of 2^63", "DELETE", f"/v1/templates/{HUGE}", 400, native, headers=BEARER),
    Case("native id 0", "DELETE", "/v1/templates/0", 400, native, headers=BEARER),
    Case(
        "native list id of 2^63", "GET", f"/v1/lists/{HUGE}/opt-outs", 400, native, headers=BEARER
    ),
    Case(
        "native list id above 2^31",
        "GET",
        f"/v1/lists/{WIDE}/opt-outs",
        404,
        native,
        headers=BEARER,
    ),
    Case(
        "mailup list of 2^63",
        "GET",
        f"/api/v2.0/lists/{HUGE}/listsecret",
        403,
        mailup,
        headers=BASIC,
    ),
    Case(
        "mailup list above 2^31",
        "GET",
        f"/api/v2.0/lists/{WIDE}/listsecret",
        403,
        mailup,
        headers=BASIC,
    ),
    Case(
        "mailup list in superscript",
        "GET",
        "/api/v2.0/lists/%C2%B2/listsecret",
        403,
        mailup,
        headers=BASIC,
    ),
    Case(
        "mailup console of 2^63",
        "POST",
        f"/api/v2.0/sms/{HUGE}/1",
        403,
        mailup,
        json_text=_mailup_send('"c"'),
    ),
    Case(
        "mailup delivery of 2^63",
        "GET",
        f"/api/v2.0/sms/{{console}}/1/{HUGE}",
        400,
        mailup,
        headers=BASIC,
    ),
    Case(
        "mailup template of 2^63",
        "POST",
        "/api/v2.0/sms/{console}/1",
        400,
        mailup,
        json_text=_mailup_send('"c"').replace('"CampaignCode"', f'"TemplateId": {HUGE}, "X"'),
    ),
    Case(
        "smsend page in superscript",
        "GET",
        "/API/v1.0/REST/smshistory",
        400,
        smsend,
        headers=SMSEND,
        params={"pageNumber": "\u00b2"},
    ),
    Case(
        "smsend page of 2^63",
        "GET",
        "/API/v1.0/REST/smshistory",
        400,
        smsend,
        headers=SMSEND,
        params={"pageNumber": HUGE},
    ),
    Case(
        "smsmobileapi port in superscript",
        "GET",
        "/sendsms/",
        400,
        smsmobileapi,
        params={"apikey": "{api_key}", "recipients": NUMBER, "message": "hi", "port": "\u00b2"},
    ),
    Case(
        "smsmobileapi before in superscript",
        "GET",
        "/log/sent/sms/",
        200,
        lambda b: True,
        params={"apikey": "{api_key}", "before": "\u00b2"},
    ),
    # -- unpaired surrogates -----------------------------------------------------------------
    Case(
        "smsend order_id",
        "POST",
        "/API/v1.0/REST/sms",
        400,
        smsend,
        headers=SMSEND,
        json_text=_smsend_send(SURROGATE),
    ),
    Case(
        "mailup CampaignCode",
        "POST",
        "/api/v2.0/sms/{console}/1",
        400,
        mailup,
        json_text=_mailup_send(SURROGATE),
    ),
    Case(
        "oauth client id",
        "POST",
        "/oauth2/token/",
        400,
        oauth,
        json_text='{"grant_type": "client_credentials", "client_id": '
        + SURROGATE
        + ', "client_secret": "x"}',
    ),
    Case(
        "oauth client secret",
        "POST",
        "/oauth2/token/",
        400,
        oauth,
        json_text='{"grant_type": "client_credentials", "client_id": "x", "client_secret": '
        + SURROGATE
        + "}",
    ),
    Case(
        "native reference",
        "POST",
        "/v1/messages",
        400,
        native,
        headers=BEARER,
        json_text=_native_send(SURROGATE),
    ),
    Case(
        "a pair is one character",
        "POST",
        "/v1/messages",
        202,
        lambda b: "order_id" in b,
        headers=BEARER,
        json_text=_native_send('"\\ud83d\\ude00"'),
    ),
    # -- NUL ---------------------------------------------------------------------------------
    Case(
        "native reference NUL",
        "POST",
        "/v1/messages",
        400,
        native,
        headers=BEARER,
        json_text=_native_send(NUL),
    ),
    Case(
        "native NUL in a key",
        "POST",
        "/v1/messages",
        400,
        native,
        headers=BEARER,
        json_text='{"to": ["' + NUMBER + '"], "text": "hi", "a\\u0000": 1}',
    ),
    Case("native NUL in the path", "GET", "/v1/campaigns/a%00b", 400, native, headers=BEARER),
    Case(
        "native NUL in the query",
        "GET",
        "/v1/messages",
        400,
        native,
        headers=BEARER,
        params={"to": "a\x00b"},
    ),
    Case(
        "smsend order_id NUL",
        "POST",
        "/API/v1.0/REST/sms",
        400,
        smsend,
        headers=SMSEND,
        json_text=_smsend_send(NUL),
    ),
    Case(
        "smsend NUL in a login",
        "GET",
        "/API/v1.0/REST/login",
        400,
        smsend,
        params={"username": "a\x00", "password": "b"},
    ),
    Case(
        "mailup NUL in Basic",
        "GET",
        "/api/v2.0/lists/1/listsecret",
        403,
        mailup,
        headers={"Authorization": "Basic " + base64.b64encode(b"a\x00:b").decode()},
    ),
    Case(
        "smsmobileapi NUL in a form",
        "POST",
        "/sendsms/",
        400,
        lambda b: True,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        json_text="apikey={api_key}&recipients=%2B393350000001&message=a%00b",
    ),
]


@dataclass
class Values:
    account_id: str
    values: dict[str, str]

    def fill(self, text: str) -> str:
        for name, value in self.values.items():
            text = text.replace("{" + name + "}", value)
        return text


async def _values(gateway: Running) -> Values:
    services = gateway.gateway.services
    account = await services.accounts.create("edge")
    api_key = (await services.accounts.issue_key(account.id)).token
    await services.credentials.set_login(account.id, USERNAME, PASSWORD)
    console = await services.lists.console(account.id)
    made = await services.lists.create(account.id, "news")
    secret = await services.lists.create_secret(account.id, made.list_id, made.guid)
    login = await gateway.client.get(
        "/API/v1.0/REST/login", params={"username": USERNAME, "password": PASSWORD}
    )
    user_key, session_key = login.text.split(";")
    return Values(
        account.id,
        {
            "api_key": api_key,
            "basic": base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode(),
            "console": str(console.console_id),
            "guid": made.guid,
            "secret": secret,
            "user_key": user_key,
            "session_key": session_key,
        },
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
async def test_unusable_input_is_bad_input(case: Case, gateway: Running) -> None:
    values = await _values(gateway)
    headers = {k: values.fill(v) for k, v in case.headers.items()}
    content = None if case.json_text is None else values.fill(case.json_text).encode()
    if content is not None and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    answer = await gateway.client.request(
        case.method,
        values.fill(case.path),
        headers=headers,
        params={k: values.fill(v) for k, v in case.params.items()},
        content=content,
    )
    assert answer.status_code == case.status, answer.text
    assert case.shape(answer.json()), answer.text
    stored: list[Message] = await stored_messages(gateway, values.account_id)
    assert len(stored) == (1 if case.status == 202 else 0)
