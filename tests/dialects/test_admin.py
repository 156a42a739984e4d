"""The admin API (``/v1/admin``): case table through the real server, then stored effects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from pydantic import SecretStr

from tests.dialects.harness import (
    NUMBER,
    BodyRoute,
    DialectCase,
    Profile,
    Request,
    run_case,
)
from tests.dialects.malformed import malformed
from tests.support import Running, running_gateway
from textgate.config import Settings
from textgate.core.policy import AccountRules
from textgate.dialects.admin.schemas import SettingsIn, SettingsOut

ADMIN_TOKEN = "adm-7f3c1e"
ACME = "/v1/admin/accounts/acme"
FR2 = "+33698765432"
GB = "+447400123456"


def _native_send(to: list[str], text: str) -> Request:
    return Request("POST", "/v1/messages", json={"to": to, "text": text})


# The admin API has no messages of its own; the profile supplies auth and the error shape.
ADMIN = Profile(
    name="admin",
    auth_headers=lambda token: {"Authorization": f"Bearer {token}"},
    send=_native_send,
    lookup=lambda body: Request("GET", f"/v1/messages/{body['messages'][0]['id']}"),
    status_of=lambda body: str(body["status"]),
    error_code_of=lambda body: str(body["error"]["code"]),
    ok_status=202,
    bad_request_status=400,
    unauthorized_status=401,
    body_routes=(BodyRoute("POST", "/v1/admin/accounts"), BodyRoute("PATCH", f"{ACME}/settings")),
    malformed_code="malformed_input",
)

DEFAULTS = AccountRules().to_public()


def _patch(settings: dict[str, Any]) -> Request:
    return Request("PATCH", f"{ACME}/settings", json=settings)


def _bad_setting(label: str, settings: dict[str, Any], message: str | None = None) -> DialectCase:
    return DialectCase(
        f"settings: {label} is refused",
        _patch(settings),
        expect_status=400,
        expect_error_code="invalid_request",
        expect_json=None if message is None else {"error": {"message": message}},
    )


CASES = [
    # --- authentication
    DialectCase(
        "no token",
        Request("GET", ACME),
        auth=False,
        expect_status=401,
        expect_error_code="authentication_failed",
    ),
    DialectCase(
        "wrong token",
        Request("GET", ACME, headers={"Authorization": "Bearer adm-wrong"}),
        expect_status=401,
        expect_error_code="authentication_failed",
    ),
    DialectCase(
        "basic scheme",
        Request("GET", ACME, headers={"Authorization": f"Basic {ADMIN_TOKEN}"}),
        expect_status=401,
        expect_error_code="authentication_failed",
    ),
    DialectCase(
        "an account's API key is not an admin token",
        lambda ctx: Request(
            "GET", ACME, headers={"Authorization": f"Bearer {ctx.setup_responses[0]['api_key']}"}
        ),
        setup=(Request("POST", f"{ACME}/keys"),),
        expect_status=401,
    ),
    DialectCase(
        "malformed body without a token: 401 before the body is read",
        Request(
            "POST",
            "/v1/admin/accounts",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        ),
        auth=False,
        expect_status=401,
    ),
    # --- accounts
    DialectCase(
        "create with settings",
        Request(
            "POST",
            "/v1/admin/accounts",
            json={
                "name": "shop",
                "settings": {"daily_limit": 50, "countries_blocked": ["us"], "overdraft": "2.5"},
            },
        ),
        expect_status=201,
        expect_json={
            "name": "shop",
            "settings": {
                "daily_limit": 50,
                "countries_blocked": ["US"],
                "overdraft": "2.5",
                "batch_limit": 10_000,
            },
        },
    ),
    DialectCase(
        "create, then the account is there",
        Request("GET", "/v1/admin/accounts/shop"),
        setup=(Request("POST", "/v1/admin/accounts", json={"name": "shop"}),),
        expect_json={"name": "shop", "settings": DEFAULTS, "balance": "0"},
    ),
    DialectCase(
        "create a taken name",
        Request("POST", "/v1/admin/accounts", json={"name": "acme"}),
        expect_status=409,
        expect_error_code="conflict",
    ),
    DialectCase(
        "create with an empty name",
        Request("POST", "/v1/admin/accounts", json={"name": " "}),
        expect_status=400,
        expect_error_code="invalid_request",
    ),
    DialectCase(
        "create with a slash in the name",
        Request("POST", "/v1/admin/accounts", json={"name": "a/b"}),
        expect_status=400,
    ),
    DialectCase(
        "create with a name too long",
        Request("POST", "/v1/admin/accounts", json={"name": "x" * 101}),
        expect_status=400,
    ),
    DialectCase(
        "create with a bad setting",
        Request("POST", "/v1/admin/accounts", json={"name": "shop", "settings": {"colour": 1}}),
        expect_status=400,
    ),
    DialectCase(
        "create with a bad setting value",
        Request(
            "POST", "/v1/admin/accounts", json={"name": "shop", "settings": {"timezone": "Mars"}}
        ),
        expect_status=400,
        expect_json={"error": {"message": "unknown time zone 'Mars'"}},
    ),
    DialectCase(
        "show an account",
        Request("GET", ACME),
        expect_json={
            "name": "acme",
            "settings": DEFAULTS,
            "balance": "0",
            "usage_today": {"count": 0},
        },
    ),
    DialectCase(
        "show an unknown account",
        Request("GET", "/v1/admin/accounts/nobody"),
        expect_status=404,
        expect_error_code="not_found",
    ),
    DialectCase(
        "control character in an account name",
        Request("GET", "/v1/admin/accounts/a%00b"),
        expect_status=400,
    ),
    # --- settings
    DialectCase(
        "change some settings",
        _patch(
            {
                "countries_blocked": ["US", "ca"],
                "dedupe": True,
                "default_sender": "ACME",
                "price_default": 0.05,
                "prices": {"fr": "0.04"},
                "allowed_ips": ["10.0.0.0/8", "127.0.0.1"],
            }
        ),
        expect_json={
            "settings": {
                "countries_blocked": ["US", "CA"],
                "dedupe": True,
                "default_sender": "ACME",
                "price_default": "0.05",
                "prices": {"FR": "0.04"},
                "allowed_ips": ["10.0.0.0/8", "127.0.0.1"],
                "daily_limit": 100_000,
            }
        },
    ),
    DialectCase(
        "changed settings are stored",
        Request("GET", ACME),
        setup=(_patch({"daily_limit": 5, "timezone": "Europe/Paris"}),),
        expect_json={"settings": {"daily_limit": 5, "timezone": "Europe/Paris", "dedupe": False}},
    ),
    DialectCase(
        "a later change keeps the earlier ones",
        _patch({"batch_limit": 7}),
        setup=(_patch({"daily_limit": 5}),),
        expect_json={"settings": {"daily_limit": 5, "batch_limit": 7}},
    ),
    DialectCase(
        "null restores the default, other settings stay",
        _patch({"dedupe": None, "default_sender": None, "timezone": None}),
        setup=(
            _patch(
                {
                    "dedupe": True,
                    "default_sender": "ACME",
                    "timezone": "Asia/Tokyo",
                    "countries_blocked": ["US"],
                }
            ),
        ),
        expect_json={
            "settings": {
                "dedupe": False,
                "default_sender": None,
                "timezone": "UTC",
                "countries_blocked": ["US"],
            }
        },
    ),
    DialectCase(
        "an explicit default value also resets",
        Request("GET", ACME),
        setup=(_patch({"dedupe": True}), _patch({"dedupe": False})),
        expect_json={"settings": {"dedupe": False}},
    ),
    DialectCase(
        "change settings of an unknown account",
        Request("PATCH", "/v1/admin/accounts/nobody/settings", json={"daily_limit": 5}),
        expect_status=404,
        expect_error_code="not_found",
    ),
    _bad_setting(
        "a three-letter country",
        {"countries_blocked": ["USA"]},
        "not an ISO 3166 country code: 'USA'",
    ),
    _bad_setting(
        "an unknown time zone", {"timezone": "Mars/Base"}, "unknown time zone 'Mars/Base'"
    ),
    _bad_setting("a bad address", {"allowed_ips": ["300.1.1.1"]}),
    _bad_setting("a zero batch limit", {"batch_limit": 0}, "batch_limit: 1 to 10,000"),
    _bad_setting("a negative overdraft", {"overdraft": "-1"}),
    _bad_setting("seven decimals", {"overdraft": "0.0000001"}),
    _bad_setting("a limit as text", {"daily_limit": "many"}),
    _bad_setting("a boolean limit", {"daily_limit": True}),
    _bad_setting("prices that are not a table", {"prices": "x"}),
    _bad_setting("a list as a string", {"countries_blocked": "US"}),
    _bad_setting("an unknown setting", {"colour": "red"}),
    # --- credit
    DialectCase(
        "credit as a string",
        Request("POST", f"{ACME}/credit", json={"amount": "10.5", "note": "welcome"}),
        expect_json={"balance": "10.5"},
    ),
    DialectCase(
        "credits add up; a negative one debits",
        Request("POST", f"{ACME}/credit", json={"amount": -0.5}),
        setup=(Request("POST", f"{ACME}/credit", json={"amount": 10}),),
        expect_json={"balance": "9.5"},
    ),
    DialectCase(
        "the balance shows on the account",
        Request("GET", ACME),
        setup=(Request("POST", f"{ACME}/credit", json={"amount": "0.045"}),),
        expect_json={"balance": "0.045"},
    ),
    DialectCase(
        "credit of zero",
        Request("POST", f"{ACME}/credit", json={"amount": "0"}),
        expect_status=400,
        expect_error_code="invalid_request",
    ),
    DialectCase(
        "credit that is not an amount",
        Request("POST", f"{ACME}/credit", json={"amount": "ten"}),
        expect_status=400,
        expect_json={"error": {"message": "not an amount: 'ten'"}},
    ),
    DialectCase(
        "credit as a boolean",
        Request("POST", f"{ACME}/credit", json={"amount": True}),
        expect_status=400,
    ),
    DialectCase(
        "credit without an amount",
        Request("POST", f"{ACME}/credit", json={"note": "x"}),
        expect_status=400,
    ),
    DialectCase(
        "credit an unknown account",
        Request("POST", "/v1/admin/accounts/nobody/credit", json={"amount": "1"}),
        expect_status=404,
    ),
    # --- ledger
    DialectCase(
        "ledger of a new account",
        Request("GET", f"{ACME}/ledger"),
        expect_json={"data": []},
    ),
    DialectCase(
        "ledger limit out of range",
        Request("GET", f"{ACME}/ledger", params={"limit": "0"}),
        expect_status=400,
    ),
    DialectCase(
        "ledger of an unknown account",
        Request("GET", "/v1/admin/accounts/nobody/ledger"),
        expect_status=404,
    ),
    # --- keys
    DialectCase("issue a key", Request("POST", f"{ACME}/keys"), expect_status=201),
    DialectCase(
        "issue a key for an unknown account",
        Request("POST", "/v1/admin/accounts/nobody/keys"),
        expect_status=404,
    ),
    # --- opt-outs
    DialectCase(
        "add opt-outs",
        Request("POST", f"{ACME}/opt-outs", json={"numbers": [FR2, NUMBER]}),
        expect_status=201,
    ),
    DialectCase(
        "a national number without a default country",
        Request("POST", f"{ACME}/opt-outs", json={"numbers": ["06 98 76 54 32"]}),
        expect_status=400,
        expect_error_code="invalid_number",
    ),
    DialectCase(
        "opt-out of something that is not a number",
        Request("POST", f"{ACME}/opt-outs", json={"numbers": ["ACME"]}),
        expect_status=400,
        expect_error_code="invalid_number",
    ),
    DialectCase(
        "opt-out of nothing",
        Request("POST", f"{ACME}/opt-outs", json={"numbers": []}),
        expect_status=400,
    ),
    DialectCase(
        "opt-outs of a new account",
        Request("GET", f"{ACME}/opt-outs"),
        expect_json={"data": []},
    ),
    DialectCase(
        "remove an opt-out",
        Request("DELETE", f"{ACME}/opt-outs/{NUMBER}"),
        setup=(Request("POST", f"{ACME}/opt-outs", json={"numbers": [NUMBER]}),),
        expect_json={"data": []},
    ),
    DialectCase(
        "remove an opt-out of an unknown account",
        Request("DELETE", f"/v1/admin/accounts/nobody/opt-outs/{NUMBER}"),
        expect_status=404,
    ),
]


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})


@pytest.fixture
async def admin(admin_settings: Settings) -> AsyncIterator[Running]:
    async with running_gateway(admin_settings) as running:
        yield running


@pytest.fixture
async def acme_key(admin: Running) -> str:
    accounts = admin.gateway.services.accounts
    account = await accounts.create("acme")
    return (await accounts.issue_key(account.id)).token


HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


MALFORMED = malformed(ADMIN, injections=False)


@pytest.mark.parametrize("case", [*CASES, *MALFORMED], ids=lambda c: c.label)
async def test_admin(case: DialectCase, admin: Running, acme_key: str) -> None:
    accounts = admin.gateway.services.accounts
    account = await accounts.by_name("acme")
    body = await run_case(case, admin, ADMIN, ADMIN_TOKEN, account.id)
    assert ADMIN_TOKEN not in str(body)
    if any(case is bad for bad in MALFORMED):
        # Nothing changed: no account made, acme's settings as they were.
        assert [a.account.name for a in await accounts.listing()] == ["acme"]
        assert (await accounts.by_name("acme")).rules == account.rules


ROUTES = [
    ("POST", "/v1/admin/accounts"),
    ("GET", ACME),
    ("PATCH", f"{ACME}/settings"),
    ("POST", f"{ACME}/credit"),
    ("GET", f"{ACME}/ledger"),
    ("POST", f"{ACME}/keys"),
    ("GET", f"{ACME}/opt-outs"),
    ("POST", f"{ACME}/opt-outs"),
    ("DELETE", f"{ACME}/opt-outs/{NUMBER}"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_no_admin_token_configured_means_no_admin_api(
    method: str, path: str, gateway: Running, api_key: str
) -> None:
    for headers in ({}, {"Authorization": "Bearer x"}, {"Authorization": f"Bearer {api_key}"}):
        r = await gateway.client.request(method, path, headers=headers, json={"amount": "1"})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found"


async def test_non_ascii_token_is_refused(admin: Running) -> None:
    r = await admin.client.get(ACME, headers={"Authorization": "Bearer adm-\u00e9".encode()})
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"


async def test_an_empty_admin_token_does_not_open_the_api(settings: Settings) -> None:
    empty = settings.model_copy(update={"admin_token": SecretStr("")})
    async with running_gateway(empty) as running:
        for token in ("Bearer", "Bearer x"):
            r = await running.client.get(ACME, headers={"Authorization": token})
            assert r.status_code == 404


async def test_created_account_key_works_on_the_native_api(admin: Running) -> None:
    r = await admin.client.post(
        "/v1/admin/accounts",
        headers=HEADERS,
        json={"name": "shop", "settings": {"default_country": "fr"}},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["api_key"].startswith("tg_")
    assert created["settings"]["default_country"] == "FR"
    more = await admin.client.post("/v1/admin/accounts/shop/keys", headers=HEADERS)
    assert more.status_code == 201
    for key in (created["api_key"], more.json()["api_key"]):
        me = await admin.client.get("/v1/account", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200, me.text
        assert me.json()["id"] == created["id"]
        assert me.json()["default_country"] == "FR"


async def test_settings_apply_to_sending(admin: Running, acme_key: str) -> None:
    native = {"Authorization": f"Bearer {acme_key}"}
    r = await admin.client.patch(
        f"{ACME}/settings",
        headers=HEADERS,
        json={"countries_blocked": ["FR"], "default_country": "GB"},
    )
    assert r.status_code == 200, r.text
    me = await admin.client.get("/v1/account", headers=native)
    assert me.json()["default_country"] == "GB"
    sent = await admin.client.post(
        "/v1/messages", headers=native, json={"to": [NUMBER, "07400 123456"], "text": "hi"}
    )
    assert sent.status_code == 202, sent.text
    by_number = {m["to"]: m for m in sent.json()["messages"]}
    assert by_number[NUMBER]["status"] == "rejected"
    assert by_number[NUMBER]["error_code"] == "country_blocked"
    assert by_number[GB]["status"] != "rejected"
    view = (await admin.client.get(ACME, headers=HEADERS)).json()
    assert view["usage_today"]["count"] == 1
    datetime.fromisoformat(view["usage_today"]["day"])


async def test_credit_and_ledger(admin: Running, acme_key: str) -> None:
    for amount, note in (("10.5", "welcome"), (-0.5, None)):
        r = await admin.client.post(
            f"{ACME}/credit", headers=HEADERS, json={"amount": amount, "note": note}
        )
        assert r.status_code == 200, r.text
    assert r.json() == {"balance": "10"}
    # Messages now cost 0.25 a part: the charge shows in the ledger.
    await admin.client.patch(f"{ACME}/settings", headers=HEADERS, json={"price_default": "0.25"})
    sent = await admin.client.post(
        "/v1/messages",
        headers={"Authorization": f"Bearer {acme_key}"},
        json={"to": NUMBER, "text": "hi"},
    )
    assert sent.status_code == 202, sent.text
    message = sent.json()["messages"][0]

    ledger = (await admin.client.get(f"{ACME}/ledger", headers=HEADERS)).json()["data"]
    assert [(e["kind"], e["amount"], e["balance_after"], e["note"]) for e in ledger] == [
        ("charge", "-0.25", "9.75", None),
        ("credit", "-0.5", "10", None),
        ("credit", "10.5", "10.5", "welcome"),
    ]
    assert ledger[0]["message_id"] == message["id"] or ledger[0]["order_id"] == message["order_id"]
    assert ledger[0]["id"] > ledger[1]["id"] > ledger[2]["id"]
    for entry in ledger:
        assert datetime.fromisoformat(entry["created_at"]).tzinfo is not None
    one = await admin.client.get(f"{ACME}/ledger", headers=HEADERS, params={"limit": 1})
    assert [e["id"] for e in one.json()["data"]] == [ledger[0]["id"]]
    view = (await admin.client.get(ACME, headers=HEADERS)).json()
    assert view["balance"] == "9.75"


async def test_opt_outs_are_listed_and_refused(admin: Running, acme_key: str) -> None:
    added = await admin.client.post(
        f"{ACME}/opt-outs", headers=HEADERS, json={"numbers": [NUMBER, FR2, NUMBER]}
    )
    assert added.status_code == 201, added.text
    listed = (await admin.client.get(f"{ACME}/opt-outs", headers=HEADERS)).json()["data"]
    assert added.json()["data"] == listed
    assert [(o["number"], o["source"]) for o in listed] == [(NUMBER, "api"), (FR2, "api")]
    datetime.fromisoformat(listed[0]["created_at"])

    native = {"Authorization": f"Bearer {acme_key}"}
    sent = await admin.client.post(
        "/v1/messages", headers=native, json={"to": [NUMBER, GB], "text": "hi"}
    )
    by_number = {m["to"]: m for m in sent.json()["messages"]}
    assert by_number[NUMBER]["error_code"] == "opted_out"
    assert by_number[GB]["status"] != "rejected"

    removed = await admin.client.delete(f"{ACME}/opt-outs/{NUMBER}", headers=HEADERS)
    assert [o["number"] for o in removed.json()["data"]] == [FR2]
    listed = (await admin.client.get(f"{ACME}/opt-outs", headers=HEADERS)).json()["data"]
    assert [o["number"] for o in listed] == [FR2]
    again = await admin.client.delete(f"{ACME}/opt-outs/{NUMBER}", headers=HEADERS)
    assert again.status_code == 200  # removing is idempotent


async def test_opt_outs_are_stored_in_e164(admin: Running, acme_key: str) -> None:
    await admin.client.patch(f"{ACME}/settings", headers=HEADERS, json={"default_country": "FR"})
    r = await admin.client.post(
        f"{ACME}/opt-outs",
        headers=HEADERS,
        json={"numbers": ["06 98 76 54 32", "0033 6 12 34 56 78", "+44 7400 123456"]},
    )
    assert r.status_code == 201, r.text
    assert [o["number"] for o in r.json()["data"]] == [NUMBER, FR2, GB]
    # The path takes the number as written too.
    r = await admin.client.delete(f"{ACME}/opt-outs/0698765432", headers=HEADERS)
    assert [o["number"] for o in r.json()["data"]] == [NUMBER, GB]


async def test_openapi_documents_the_admin_api(admin: Running) -> None:
    spec = (await admin.client.get("/openapi.json")).json()
    op = spec["paths"]["/v1/admin/accounts/{name}/settings"]["patch"]
    assert op["tags"] == ["admin"]
    assert {"AdminToken": []} in op["security"]


def test_wire_settings_match_the_account_rules() -> None:
    """A setting added to AccountRules must be added to the admin API's schemas too."""
    public = set(AccountRules().to_public())
    assert set(SettingsIn.model_fields) == public
    assert set(SettingsOut.model_fields) == public
