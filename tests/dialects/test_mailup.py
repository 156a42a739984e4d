"""MailUp transactional SMS and ListSecret (seed 002): case table + shared conformance cases
through the real server, with stored effects (messages, campaign statistics, list secrets,
opt-outs) checked."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest

from tests.dialects.harness import (
    NUMBER,
    BodyRoute,
    Context,
    DialectCase,
    Profile,
    Request,
    Stored,
    conformance,
    run_case,
    stored_messages,
)
from tests.dialects.malformed import malformed
from tests.support import Running, running_gateway, until
from textgate.config import ConnectorSettings, Settings
from textgate.core.lists import CampaignStats, TemplateKind
from textgate.core.pricing import parse_amount
from textgate.errors import StorageUnavailable
from textgate.services.submit import SubmitService
from textgate.storage.campaigns import CampaignRepo

ACCOUNT = "10001"
SMS = f"/api/v2.0/sms/{ACCOUNT}"
LISTS = "/api/v2.0/lists"
IT = "+393350000001"
US = "+12025550123"
USERNAME = "m10001"
PASSWORD = "correct horse battery"
OTHER_GUID = "aafa5375-bcf1-4e06-965a-e3a98b626156"
# Placeholders the test replaces with the values of the lists it made.
GUID1, SECRET1, GUID2, SECRET2, GUID3, BASIC = (
    "{guid1}",
    "{secret1}",
    "{guid2}",
    "{secret2}",
    "{guid3}",
    "{basic}",
)
AUTH = {"Authorization": BASIC}


def _sms(list_id: int = 1, **fields: Any) -> Request:
    body: dict[str, Any] = {
        "Content": "Hello",
        "ListGuid": GUID1 if list_id == 1 else GUID2,
        "ListSecret": SECRET1 if list_id == 1 else SECRET2,
        "Recipient": IT,
        "isUnicode": 0,
    }
    body.update(fields)
    return Request("POST", f"{SMS}/{list_id}", json={k: v for k, v in body.items() if v is not ...})


def _send(to: list[str], text: str) -> Request:
    return _sms(Content=text, Recipient=to[0] if to else "")


def _lookup(body: Any) -> Request:
    return Request(
        "GET",
        f"{SMS}/1/{body['Data']['DeliveryId']}",
        params={"ListGuid": GUID1, "ListSecret": SECRET1},
    )


# What the DeliveryId lookup says for each stored status.
STATUS_WORDS = {
    "scheduled": "SCHEDULED",
    "queued": "QUEUED",
    "sending": "QUEUED",
    "sent": "SENT",
    "buffered": "SENT",
    "delivered": "DELIVERED",
    "undelivered": "NOT_DELIVERED",
    "failed": "FAILED",
    "expired": "EXPIRED",
    "cancelled": "CANCELLED",
    "rejected": "REJECTED",
}

MAILUP = Profile(
    name="mailup",
    auth_headers=lambda _: {},
    send=_send,
    lookup=_lookup,
    status_of=lambda body: str(body["Data"]["Status"]),
    error_code_of=lambda body: str(body["Code"]),
    ok_status=200,
    bad_request_status=400,
    unauthorized_status=400,
    status_word=lambda message: STATUS_WORDS[message.status.value],
    body_routes=(BodyRoute("POST", f"{SMS}/1"),),
    # "No request found" (seed 002): what MailUp answers a body it cannot read.
    malformed_code="100",
)


def _first_lookup(ctx: Context) -> Request:
    return _lookup(ctx.setup_responses[0])


def _error(status: int, code: str, label: str, request: Request, **kw: Any) -> DialectCase:
    return DialectCase(label, request, expect_status=status, expect_error_code=code, **kw)


@dataclasses.dataclass
class Lists:
    running: Running
    account_id: str
    keys: dict[str, str]

    def secrets(self) -> tuple[str, ...]:
        """What a MailUp client holds secret: list secrets and the account's login."""
        basic = self.keys[BASIC].removeprefix("Basic ")
        return (self.keys[SECRET1], self.keys[SECRET2], PASSWORD, basic)


Check = Callable[[Lists, Any], Awaitable[None]]


async def _campaign(lists: Lists, body: Any) -> None:
    assert isinstance(body["Data"]["DeliveryId"], int) and body["Data"]["DeliveryId"] > 0
    assert body["Data"]["Cost"] == 0.0
    (stats,) = await lists.running.gateway.services.list_sms.campaigns(lists.account_id)
    assert (stats.code, stats.messages, stats.emails) == ("Welcome messages", 1, 0)


async def _secret_is(lists: Lists, list_id: int, expected: str | None) -> None:
    got = await lists.running.gateway.services.lists.secret(lists.account_id, list_id)
    assert got == expected


async def _created(lists: Lists, body: Any) -> None:
    secret = body["Data"]["ListSecret"]
    assert isinstance(secret, str) and len(secret) == 36
    await _secret_is(lists, 3, secret)


async def _deleted(lists: Lists, body: Any) -> None:
    await _secret_is(lists, 1, None)


async def _changed(lists: Lists, body: Any) -> None:
    assert body["Data"]["ListSecret"] != lists.keys[SECRET1]
    await _secret_is(lists, 1, body["Data"]["ListSecret"])


async def _secret_kept(lists: Lists, body: Any) -> None:
    await _secret_is(lists, 1, lists.keys[SECRET1])


async def _no_delivery(lists: Lists, body: Any) -> None:
    assert body["Data"] is None
    assert body["Description"]


async def _list_opt_out(lists: Lists) -> None:
    services = lists.running.gateway.services
    await services.lists.add_opt_outs(lists.account_id, 1, ["3350000001"])
    assert await services.lists.opt_outs(lists.account_id, 1) == [IT]


SEED_EXAMPLE = {
    "Content": "Hi [Name], welcome to [City]",
    "Recipient": "+393350000001",
    "CampaignCode": "Welcome messages",
    "DynamicFields": [{"N": "Name", "V": "John"}, {"N": "City", "V": "Cremona"}],
    "isUnicode": 0,
}

CASES: list[DialectCase] = [
    DialectCase(
        "seed example: merge tags, campaign code, list sender",
        _sms(**SEED_EXAMPLE),
        expect_json={"Code": "0", "Description": "", "State": "DONE"},
        expect_stored=(Stored(IT, text="Hi John, welcome to Cremona", sender="ACME"),),
        checks=(_campaign,),
    ),
    DialectCase(
        "keys in other cases (ListGUID, listsecret, recipient)",
        Request(
            "POST",
            f"{SMS}/1",
            json={"content": "hi", "ListGUID": GUID1, "listsecret": SECRET1, "RECIPIENT": IT},
        ),
        expect_stored=(Stored(IT, text="hi"),),
    ),
    DialectCase(
        "no prefix: the list's default prefix is applied",
        _sms(Recipient="3350000001"),
        expect_stored=(Stored(IT),),
    ),
    DialectCase("00 prefix", _sms(Recipient="00393350000001"), expect_stored=(Stored(IT),)),
    DialectCase(
        "Sender given", _sms(Sender="MyShop1"), expect_stored=(Stored(IT, sender="MyShop1"),)
    ),
    DialectCase(
        "isUnicode 1 sends UCS-2",
        _sms(Content="plain", isUnicode=1),
        expect_stored=(Stored(IT, encoding="ucs2", segments=1),),
    ),
    DialectCase(
        "isUnicode 0 sends GSM-7",
        _sms(Content="plain", isUnicode=0),
        expect_stored=(Stored(IT, encoding="gsm7", segments=1),),
    ),
    DialectCase(
        "TemplateId takes the stored SMS template",
        _sms(Content=..., TemplateId=1, DynamicFields=[{"N": "code", "V": "4711"}]),
        expect_stored=(Stored(IT, text="Your code is 4711"),),
    ),
    DialectCase(
        "content over 670 characters is truncated",
        _sms(Content="a" * 700),
        expect_stored=(Stored(IT, text="a" * 670, segments=5),),
    ),
    # MailUp's servers ignore the path's case and doubled or trailing slashes.
    DialectCase(
        "path with a trailing slash",
        dataclasses.replace(_sms(), path=f"{SMS}/1/"),
        expect_json={"Code": "0", "State": "DONE"},
        expect_stored=(Stored(IT),),
    ),
    DialectCase(
        "path with doubled slashes, in upper case",
        dataclasses.replace(_sms(), path=f"/API/V2.0//SMS/{ACCOUNT}//1"),
        expect_json={"Code": "0", "State": "DONE"},
        expect_stored=(Stored(IT),),
    ),
    DialectCase(
        "cost in credits",
        _sms(),
        expect_json={"Data": {"Cost": 0.05}},
        expect_stored=(Stored(IT),),
        rules={"price_default": "0.05"},
        credit="10",
    ),
    _error(
        400, "100", "100 empty body", Request("POST", f"{SMS}/1", content=b""), expect_stored=()
    ),
    _error(400, "100", "100 not JSON", Request("POST", f"{SMS}/1", content=b"Content=hi")),
    _error(400, "101", "101 no Content", _sms(Content=...), expect_stored=()),
    _error(400, "101", "101 empty Content", _sms(Content=""), expect_stored=()),
    _error(400, "101", "101 no ListGuid", _sms(ListGuid=...), expect_stored=()),
    _error(400, "101", "101 no ListSecret", _sms(ListSecret=...), expect_stored=()),
    _error(400, "101", "101 unknown TemplateId", _sms(Content=..., TemplateId=99)),
    _error(400, "101", "101 TemplateId of an email template", _sms(Content=..., TemplateId=2)),
    _error(400, "102", "102 ListGUID of another list", _sms(ListGuid=OTHER_GUID), expect_stored=()),
    _error(400, "103", "103 wrong ListSecret", _sms(ListSecret=OTHER_GUID), expect_stored=()),
    _error(
        400,
        "103",
        "103 ListSecret deleted",
        _sms(),
        setup=(
            Request("DELETE", f"{LISTS}/1/listsecret", params={"listGUID": GUID1}, headers=AUTH),
        ),
        expect_stored=(),
    ),
    _error(
        400,
        "104",
        "104 no sender for the list",
        _sms(2),
        expect_json={"Description": "SMS sender name is empty for list nr. 2"},
        expect_stored=(),
    ),
    _error(400, "105", "105 no prefix and none for the list", _sms(2, Recipient="3350000001")),
    _error(400, "106", "106 recipient invalid", _sms(Recipient="+39abc"), expect_stored=()),
    _error(400, "107", "107 content too long", _sms(Content="a" * 10_001), expect_stored=()),
    _error(
        403,
        "201",
        "201 unknown list",
        Request(
            "POST", f"{SMS}/9", json={**SEED_EXAMPLE, "ListGuid": GUID1, "ListSecret": SECRET1}
        ),
    ),
    _error(
        403,
        "201",
        "201 unknown account",
        Request(
            "POST",
            "/api/v2.0/sms/999/1",
            json={**SEED_EXAMPLE, "ListGuid": GUID1, "ListSecret": SECRET1},
        ),
    ),
    _error(403, "202", "202 ListGUID format", _sms(ListGuid="xxxxxxxx-aaa-bbbb")),
    _error(403, "203", "203 ListSecret format", _sms(ListSecret="not a guid")),
    _error(
        403,
        "204",
        "204 USA refused when the country is blocked",
        _sms(Recipient=US),
        expect_json={"Description": "Cannot send SMS to USA recipient", "State": "ERROR"},
        expect_stored=(),
        rules={"countries_blocked": ["US"]},
    ),
    _error(
        403,
        "204",
        "204 another blocked country is named",
        _sms(Recipient=NUMBER),
        expect_json={"Description": "Cannot send SMS to FR recipient"},
        rules={"countries_blocked": ["FR"]},
    ),
    _error(
        403,
        "205",
        "205 no credits",
        _sms(),
        expect_json={"Description": "Sending denied: NO CREDITS"},
        expect_stored=(),
        rules={"price_default": "0.05"},
        checks=(_no_delivery,),
    ),
    _error(
        403,
        "206",
        "206 opted out of the list",
        _sms(),
        expect_json={"Description": f"SMS number {IT} is in optout state for list nr.1."},
        expect_stored=(),
        arrange=_list_opt_out,
    ),
    _error(403, "206", "206 opted out of the account", _sms(), expect_stored=(), opt_outs=(IT,)),
    _error(403, "207", "207 sender with other characters", _sms(Sender="My Shop!")),
    _error(
        403,
        "207",
        "207 sender not allowed for the account",
        _sms(Sender="OTHER"),
        rules={"allowed_senders": ["ACME"]},
    ),
    _error(
        403,
        "250",
        "250 address not allowed",
        _sms(),
        expect_stored=(),
        rules={"allowed_ips": ["192.0.2.1"]},
    ),
    _error(
        403,
        "250",
        "250 daily limit",
        _sms(Content="two"),
        setup=(_sms(Content="one"),),
        expect_stored=(Stored(IT, text="one"),),
        rules={"daily_limit": 1},
    ),
    _error(
        500,
        "302",
        "302 duplicate",
        _sms(Content="same"),
        setup=(_sms(Content="same"),),
        expect_json={"Description": f"Error delivering message to {IT}"},
        expect_stored=(Stored(IT, text="same"),),
        rules={"dedupe": True},
    ),
    # Delivery status by DeliveryId.
    DialectCase(
        "delivery status with the list's credentials",
        _first_lookup,
        setup=(_sms(),),
        wait_final=True,
        expect_json={"Data": {"Status": "DELIVERED", "Recipient": IT}, "Code": "0"},
    ),
    DialectCase(
        "delivery status with HTTP Basic",
        lambda ctx: Request(
            "GET", f"{SMS}/1/{ctx.setup_responses[0]['Data']['DeliveryId']}", headers=AUTH
        ),
        setup=(_sms(),),
        expect_json={"Data": {"Recipient": IT}, "Code": "0"},
    ),
    _error(
        400,
        "103",
        "delivery status with a wrong secret",
        Request("GET", f"{SMS}/1/1", params={"ListGuid": GUID1, "ListSecret": OTHER_GUID}),
    ),
    _error(
        404,
        "100",
        "delivery status of an unknown DeliveryId",
        Request("GET", f"{SMS}/1/12345", params={"ListGuid": GUID1, "ListSecret": SECRET1}),
    ),
    _error(400, "100", "unknown path", Request("GET", "/api/v2.0/nothing")),
    # ListSecret (HTTP Basic with the account's login).
    DialectCase(
        "GET listsecret when none exists",
        Request("GET", f"{LISTS}/3/listsecret", headers=AUTH),
        expect_json={"Data": {"ListSecret": None}, "Code": "0", "Description": "", "State": "DONE"},
    ),
    DialectCase(
        "GET listsecret when it exists",
        Request("GET", f"{LISTS}/1/listsecret", headers=AUTH),
        expect_json={"Data": {"ListSecret": SECRET1}, "Code": "0", "State": "DONE"},
    ),
    DialectCase(
        "GET listsecret: trailing slash, path in another case",
        Request("GET", "/API/v2.0/Lists/1/ListSecret/", headers=AUTH),
        expect_json={"Data": {"ListSecret": SECRET1}, "Code": "0", "State": "DONE"},
    ),
    DialectCase(
        "POST listsecret creates one",
        Request("POST", f"{LISTS}/3/listsecret", json={"ListGUID": GUID3}, headers=AUTH),
        expect_json={"Code": "0", "State": "DONE"},
        checks=(_created,),
    ),
    DialectCase(
        "POST listsecret keeps an existing one",
        Request("POST", f"{LISTS}/1/listsecret", json={"ListGUID": GUID1}, headers=AUTH),
        expect_json={"Data": {"ListSecret": SECRET1}},
    ),
    DialectCase(
        "DELETE listsecret",
        Request("DELETE", f"{LISTS}/1/listsecret", params={"listGUID": GUID1}, headers=AUTH),
        expect_json={"Code": "0", "State": "DONE"},
        checks=(_deleted,),
    ),
    DialectCase(
        "POST after DELETE changes the secret",
        Request("POST", f"{LISTS}/1/listsecret", json={"ListGUID": GUID1}, headers=AUTH),
        setup=(
            Request("DELETE", f"{LISTS}/1/listsecret", params={"listGUID": GUID1}, headers=AUTH),
        ),
        expect_json={"Code": "0"},
        checks=(_changed,),
    ),
    _error(
        400,
        "102",
        "listsecret: GUID of another list",
        Request("POST", f"{LISTS}/1/listsecret", json={"ListGUID": OTHER_GUID}, headers=AUTH),
        checks=(_secret_kept,),
    ),
    _error(
        400,
        "102",
        "listsecret: DELETE with another list's GUID",
        Request("DELETE", f"{LISTS}/1/listsecret", params={"listGUID": GUID3}, headers=AUTH),
    ),
    _error(
        403,
        "202",
        "listsecret: GUID format",
        Request("POST", f"{LISTS}/1/listsecret", json={"ListGUID": "nope"}, headers=AUTH),
    ),
    _error(
        400, "101", "listsecret: no GUID", Request("POST", f"{LISTS}/1/listsecret", headers=AUTH)
    ),
    _error(
        403,
        "201",
        "listsecret: unknown list",
        Request("GET", f"{LISTS}/7/listsecret", headers=AUTH),
    ),
    _error(403, "250", "listsecret: no credentials", Request("GET", f"{LISTS}/1/listsecret")),
    _error(
        403,
        "250",
        "listsecret: wrong password",
        Request("GET", f"{LISTS}/1/listsecret", headers={"Authorization": "{bad_basic}"}),
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


def with_keys(case: DialectCase, keys: Mapping[str, str]) -> DialectCase:
    if not case.auth:
        # The SMS API's credentials are in the body: without them means a wrong secret.
        keys = {**keys, SECRET1: OTHER_GUID}

    def fill(req: Request) -> Request:
        return dataclasses.replace(
            req,
            json=_fill(req.json, keys),
            params=_fill(req.params, keys),
            headers=_fill(dict(req.headers), keys),
        )

    original = case.request
    request = (lambda ctx: fill(original(ctx))) if callable(original) else fill(original)
    return dataclasses.replace(
        case,
        request=request,
        setup=tuple(fill(r) for r in case.setup),
        expect_json=_fill(case.expect_json, keys),
        auth=True,
    )


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


async def make_lists(running: Running) -> Lists:
    services = running.gateway.services
    account = await services.accounts.create("acme")
    await running.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
    lists = services.lists
    one = await lists.create(account.id, "customers", default_prefix="39", sms_sender="ACME")
    two = await lists.create(account.id, "bare")
    three = await lists.create(account.id, "disabled")
    assert (await lists.console(account.id)).console_id == int(ACCOUNT)
    secret1 = await lists.create_secret(account.id, 1, one.guid)
    secret2 = await lists.create_secret(account.id, 2, two.guid)
    await lists.add_template(account.id, TemplateKind.SMS, "otp", text="Your code is [Code]")
    await lists.add_template(account.id, TemplateKind.EMAIL, "mail", subject="s", text="t")
    keys = {
        GUID1: one.guid,
        SECRET1: secret1,
        GUID2: two.guid,
        SECRET2: secret2,
        GUID3: three.guid,
        BASIC: _basic(USERNAME, PASSWORD),
        "{bad_basic}": _basic(USERNAME, "wrong password"),
    }
    return Lists(running, account.id, keys)


@pytest.mark.parametrize(
    "case", [*CASES, *conformance(MAILUP), *malformed(MAILUP)], ids=lambda c: c.label
)
async def test_mailup_sms(case: DialectCase, gateway: Running) -> None:
    lists = await make_lists(gateway)
    body = await run_case(
        with_keys(case, lists.keys),
        gateway,
        MAILUP,
        "",
        lists.account_id,
        world=lists,
        secrets=lists.secrets(),
    )
    assert set(body) == {"Data", "Code", "Description", "State"}
    assert isinstance(body["Code"], str)
    if case.expect_status >= 400:
        assert body["State"] == "ERROR" and body["Data"] is None


async def _send_campaigns(running: Running, lists: Lists) -> None:
    services = running.gateway.services
    await services.accounts.update_settings(lists.account_id, {"price_default": "0.5"})
    await services.accounts.credit(lists.account_id, parse_amount("10"))
    for to, code in ((IT, "spring"), ("+393350000002", "spring"), ("+393350000003", "autumn")):
        req = with_keys(DialectCase("x", _sms(Recipient=to, CampaignCode=code)), lists.keys)
        assert isinstance(req.request, Request)
        r = await running.client.post(req.request.path, json=req.request.json)
        assert r.status_code == 200, r.text
        assert r.json()["Data"]["Cost"] == 0.5


async def _settled(running: Running, lists: Lists) -> dict[str, CampaignStats]:
    stats: dict[str, CampaignStats] = {}

    async def settled() -> bool:
        nonlocal stats
        found = await running.gateway.services.list_sms.campaigns(lists.account_id)
        stats = {s.code: s for s in found}
        return all(s.pending == 0 for s in found)

    await until(settled, "every campaign message to settle")
    return stats


async def test_campaign_statistics_count_deliveries(gateway: Running) -> None:
    """count, cost and delivered per CampaignCode, also through the native API."""
    lists = await make_lists(gateway)
    await _send_campaigns(gateway, lists)
    stats = await _settled(gateway, lists)
    assert (stats["spring"].messages, stats["spring"].cost) == (2, parse_amount("1"))
    assert (stats["spring"].delivered, stats["spring"].failed) == (2, 0)
    assert (stats["autumn"].messages, stats["autumn"].delivered) == (1, 1)
    client = gateway.client
    key = (await gateway.gateway.services.accounts.issue_key(lists.account_id)).token
    auth = {"Authorization": f"Bearer {key}"}
    r = await client.get("/v1/campaigns/spring", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "code": "spring",
        "name": "spring",
        "messages": 2,
        "cost": "1",
        "delivered": 2,
        "failed": 0,
        "pending": 0,
        "emails": 0,
    }
    listed = await client.get("/v1/campaigns", headers=auth)
    assert [c["code"] for c in listed.json()["data"]] == ["autumn", "spring"]
    missing = await client.get("/v1/campaigns/nope", headers=auth)
    assert missing.status_code == 404
    assert len(await stored_messages(gateway, lists.account_id)) == 3


async def test_campaign_statistics_count_failures(settings: Settings) -> None:
    undelivered = {"report_delay_ms": 20, "final_mix": {"undelivered": 1.0}}
    changed = settings.model_copy(
        update={
            "connectors": [ConnectorSettings(name="sim", type="simulator", options=undelivered)]
        }
    )
    async with running_gateway(changed) as running:
        lists = await make_lists(running)
        await _send_campaigns(running, lists)
        stats = await _settled(running, lists)
    assert (stats["spring"].messages, stats["spring"].delivered) == (2, 0)
    assert stats["spring"].failed == 2
    assert stats["autumn"].failed == 1


async def test_templates_through_the_native_api(gateway: Running) -> None:
    lists = await make_lists(gateway)
    key = (await gateway.gateway.services.accounts.issue_key(lists.account_id)).token
    auth = {"Authorization": f"Bearer {key}"}
    client = gateway.client
    made = await client.post(
        "/v1/templates", json={"kind": "sms", "name": "hi", "text": "Hi [Name]"}, headers=auth
    )
    assert made.status_code == 201, made.text
    assert made.json()["id"] == 3
    r = await client.post(
        f"{SMS}/1",
        json={
            "TemplateId": 3,
            "ListGuid": lists.keys[GUID1],
            "ListSecret": lists.keys[SECRET1],
            "Recipient": IT,
            "DynamicFields": [{"N": "Name", "V": "Ann"}],
        },
    )
    assert r.status_code == 200, r.text
    assert [m.text for m in await stored_messages(gateway, lists.account_id)] == ["Hi Ann"]
    listed = await client.get("/v1/templates", headers=auth)
    assert [t["id"] for t in listed.json()["data"]] == [1, 2, 3]
    bad = await client.post("/v1/templates", json={"kind": "sms", "name": "x"}, headers=auth)
    assert bad.status_code == 400
    gone = await client.delete("/v1/templates/3", headers=auth)
    assert gone.status_code == 204
    assert [
        t.template_id for t in await gateway.gateway.services.lists.templates(lists.account_id)
    ] == [1, 2]
    # Client code moving from MailUp keeps sending the TemplateId it had there.
    kept = {"id": 694, "kind": "sms", "name": "kept", "text": "Kept [Name]"}
    made = await client.post("/v1/templates", json=kept, headers=auth)
    assert made.status_code == 201, made.text
    assert made.json()["id"] == 694
    taken = await client.post("/v1/templates", json=kept, headers=auth)
    assert taken.status_code == 409, taken.text
    for bad_id in (0, -1, 2**31):
        refused = await client.post("/v1/templates", json={**kept, "id": bad_id}, headers=auth)
        assert refused.status_code == 400, refused.text
    r = await client.post(
        f"{SMS}/1",
        json={
            "TemplateId": 694,
            "ListGuid": lists.keys[GUID1],
            "ListSecret": lists.keys[SECRET1],
            "Recipient": IT,
            "DynamicFields": [{"N": "Name", "V": "Bo"}],
        },
    )
    assert r.status_code == 200, r.text
    assert "Kept Bo" in [m.text for m in await stored_messages(gateway, lists.account_id)]
    listed = await client.get("/v1/templates", headers=auth)
    assert [t["id"] for t in listed.json()["data"]] == [1, 2, 694]


async def test_statistics_lost_is_301_with_delivery_id_0(
    gateway: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed 002: 200 / 301 when the message was sent but its statistics could not be kept."""
    lists = await make_lists(gateway)

    async def broken(*args: Any) -> int:
        raise StorageUnavailable("database unavailable")

    monkeypatch.setattr(CampaignRepo, "add_delivery", broken)
    req = with_keys(DialectCase("x", _sms()), lists.keys).request
    assert isinstance(req, Request)
    r = await gateway.client.post(req.path, json=req.json)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "Data": {"DeliveryId": 0, "Cost": 0.0},
        "Code": "301",
        "Description": "The message was sent but the statistics are incorrect due to an error",
        "State": "DONE",
    }
    assert len(await stored_messages(gateway, lists.account_id)) == 1


async def test_unexpected_failure_is_300(gateway: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    lists = await make_lists(gateway)

    async def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(SubmitService, "submit", broken)
    req = with_keys(DialectCase("x", _sms()), lists.keys).request
    assert isinstance(req, Request)
    r = await gateway.client.post(req.path, json=req.json)
    assert r.status_code == 500
    assert r.json()["Code"] == "300"
    assert r.json()["Description"] == "Operation failed: a generic error occur"


async def test_lists_and_opt_outs_through_the_native_api(gateway: Running) -> None:
    services = gateway.gateway.services
    account = await services.accounts.create("shop")
    key = (await services.accounts.issue_key(account.id)).token
    auth = {"Authorization": f"Bearer {key}"}
    client = gateway.client
    empty = await client.get("/v1/lists", headers=auth)
    assert empty.json() == {"console_id": None, "data": []}
    made = await client.post(
        "/v1/lists",
        json={"name": "customers", "default_prefix": "+39", "sms_sender": "SHOP"},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    assert made.json() | {"guid": "-"} == {
        "id": 1,
        "name": "customers",
        "guid": "-",
        "secret_set": False,
        "default_prefix": "39",
        "sms_sender": "SHOP",
    }
    bad = await client.post("/v1/lists", json={"name": "x", "default_prefix": "abc"}, headers=auth)
    assert bad.status_code == 400
    changed = await client.patch("/v1/lists/1", json={"sms_sender": "OTHER"}, headers=auth)
    assert changed.json()["sms_sender"] == "OTHER"
    added = await client.post(
        "/v1/lists/1/opt-outs", json={"numbers": ["3350000001", IT, "+393350000002"]}, headers=auth
    )
    assert added.json() == {"data": [IT, IT, "+393350000002"]}
    removed = await client.request(
        "DELETE", "/v1/lists/1/opt-outs", json={"numbers": ["+393350000002"]}, headers=auth
    )
    assert removed.status_code == 204
    assert await services.lists.opt_outs(account.id, 1) == [IT]
    listed = await client.get("/v1/lists/1/opt-outs", headers=auth)
    assert listed.json() == {"data": [IT]}
    unknown = await client.get("/v1/lists/9/opt-outs", headers=auth)
    assert unknown.status_code == 404
    overview = await client.get("/v1/lists", headers=auth)
    assert overview.json()["console_id"] == 10001
    assert [x["id"] for x in overview.json()["data"]] == [1]
