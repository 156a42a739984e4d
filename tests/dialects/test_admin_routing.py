"""The admin API's routing table (``/v1/admin/routing``) and margins (``/v1/admin/margins``),
through the real server: what is stored, what the dispatcher then does with messages sent
through the native API, and the costs, charges and margins summed from the stored messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from tests.support import Running, running_gateway, until
from textgate.config import (
    ConnectorSettings,
    DispatchSettings,
    PricingSettings,
    RoutingSettings,
    Settings,
)
from textgate.core.message import FINAL, Message, Status
from textgate.services.query import MessageFilter

TOKEN = "adm-routing-1"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
FR = [f"+3361234{i:04d}" for i in range(20)]
DE = [f"+491511234{i:04d}" for i in range(20)]
GB = [f"+44740012{i:04d}" for i in range(20)]

CONFIGURED = {
    "rules": [{"name": "config-fr", "countries": ["FR"], "connectors": ["cheap", "dear"]}],
    "costs": {"cheap": {"countries": {"FR": "0.03"}}, "dear": {"default": "0.07"}},
}
STORED = {
    "rules": [
        {"name": "france", "countries": ["FR"], "connectors": ["cheap"]},
        {"name": "germany", "prefixes": ["49"], "connectors": ["dear"]},
        {"name": "britain", "countries": ["GB"], "connectors": ["refuser"]},
    ],
    "costs": {"cheap": {"countries": {"FR": "0.03"}}, "dear": {"default": "0.07"}},
}


def _settings(settings: Settings) -> Settings:
    sim = {"report_delay_ms": 20}
    return settings.model_copy(
        update={
            "admin_token": SecretStr(TOKEN),
            "connectors": [
                ConnectorSettings(name="cheap", options=sim),
                ConnectorSettings(name="dear", options=sim),
                ConnectorSettings(name="refuser", options={**sim, "accept_rate": 0.0}),
            ],
            "routing": RoutingSettings.model_validate({**CONFIGURED, "reload_seconds": 0.2}),
            "pricing": PricingSettings(default_price="0.1"),
            "dispatch": DispatchSettings(poll_seconds=0.05),
        }
    )


@pytest.fixture
async def admin(settings: Settings) -> AsyncIterator[Running]:
    async with running_gateway(_settings(settings)) as running:
        yield running


async def _key(gw: Running, name: str) -> dict[str, str]:
    r = await gw.client.post("/v1/admin/accounts", json={"name": name}, headers=ADMIN)
    assert r.status_code == 201, r.text
    r2 = await gw.client.post(
        f"/v1/admin/accounts/{name}/credit", json={"amount": "100"}, headers=ADMIN
    )
    assert r2.status_code == 200, r2.text
    return {"Authorization": f"Bearer {r.json()['api_key']}"}


async def _send(gw: Running, key: dict[str, str], to: list[str], text: str = "t") -> list[str]:
    r = await gw.client.post("/v1/messages", json={"to": to, "text": text}, headers=key)
    assert r.status_code == 202, r.text
    return [m["id"] for m in r.json()["messages"]]


async def _done(gw: Running, key: dict[str, str], ids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def final() -> bool:
        nonlocal found
        found = [(await gw.client.get(f"/v1/messages/{i}", headers=key)).json() for i in ids]
        return all(Status(m["status"]) in FINAL for m in found)

    await until(final, "every message final")
    return found


async def test_the_table_needs_the_admin_token(admin: Running) -> None:
    for method in ("GET", "PUT", "DELETE"):
        r = await admin.client.request(method, "/v1/admin/routing", json=STORED)
        assert r.status_code == 401, (method, r.text)
        assert r.json()["error"]["code"] == "authentication_failed"
    r = await admin.client.get("/v1/admin/margins")
    assert r.status_code == 401
    assert (await admin.client.get("/v1/admin/routing", headers=ADMIN)).json()["source"] == "config"


async def test_the_config_file_s_table_until_one_is_stored(admin: Running) -> None:
    r = await admin.client.get("/v1/admin/routing", headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "config" and body["updated_at"] is None
    assert [rule["name"] for rule in body["rules"]] == ["config-fr"]
    assert body["rules"][0]["connectors"] == ["cheap", "dear"]
    assert body["costs"]["cheap"] == {"default": None, "countries": {"FR": "0.03"}, "prefixes": {}}
    assert body["default_connector"] == "cheap"
    assert {c["name"]: c["state"] for c in body["connectors"]} == {
        "cheap": "up",
        "dear": "up",
        "refuser": "up",
    }


async def test_a_stored_table_routes_messages_and_outlives_a_restart(
    settings: Settings, admin: Running
) -> None:
    key = await _key(admin, "acme")
    r = await admin.client.put("/v1/admin/routing", json=STORED, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "stored" and r.json()["updated_at"] is not None
    assert [rule["name"] for rule in r.json()["rules"]] == ["france", "germany", "britain"]
    ids = await _send(admin, key, [DE[0], FR[0]])
    de, fr = await _done(admin, key, ids)
    assert (de["status"], fr["status"]) == ("delivered", "delivered")
    sent = {m["to"]: next(e for e in m["history"] if e["status"] == "sent") for m in (de, fr)}
    assert sent[DE[0]]["connector"] == "dear" and sent[DE[0]]["route"] == "germany"
    assert sent[FR[0]]["connector"] == "cheap" and sent[FR[0]]["route"] == "france"
    # Another process on the same database finds the stored table, not its config file's.
    async with running_gateway(_settings(settings)) as other:
        r = await other.client.get("/v1/admin/routing", headers=ADMIN)
        assert r.json()["source"] == "stored"
        assert [rule["name"] for rule in r.json()["rules"]] == ["france", "germany", "britain"]
    r = await admin.client.delete("/v1/admin/routing", headers=ADMIN)
    assert r.status_code == 200 and r.json()["source"] == "config"
    [de2] = await _done(admin, key, await _send(admin, key, [DE[1]]))
    assert [e["route"] for e in de2["history"] if e["status"] == "sent"] == ["default"]


async def test_a_table_stored_by_another_process_is_taken_up(
    settings: Settings, admin: Running
) -> None:
    key = await _key(admin, "acme")
    async with running_gateway(_settings(settings)) as other:
        r = await other.client.put("/v1/admin/routing", json=STORED, headers=ADMIN)
        assert r.status_code == 200, r.text
    dispatcher = admin.gateway.dispatcher
    assert dispatcher is not None
    await until(lambda: bool(dispatcher.table.rules[0].name == "france"), "the table reloaded")
    [de] = await _done(admin, key, await _send(admin, key, [DE[2]]))
    assert [e["route"] for e in de["history"] if e["status"] == "sent"] == ["germany"]


@dataclass(frozen=True)
class BadTable:
    id: str
    body: Any
    message: str
    """A part of the error message (it names the key)."""


BAD_TABLES = [
    BadTable(
        "unknown connector",
        {"rules": [{"name": "x", "connectors": ["cheap", "nowhere"]}]},
        "rules[0].connectors[1] = 'nowhere': allowed: the name of a connector",
    ),
    BadTable(
        "cost table of an unknown connector",
        {"costs": {"nowhere": {"default": "1"}}},
        "costs.nowhere: allowed: a table for a connector",
    ),
    BadTable(
        "bad country",
        {"rules": [{"name": "x", "connectors": ["cheap"], "countries": ["XX"]}]},
        "rules.0.countries.0: Value error, allowed: an ISO 3166-1 alpha-2 country code",
    ),
    BadTable(
        "bad prefix",
        {"rules": [{"name": "x", "connectors": ["cheap"], "prefixes": ["33-6"]}]},
        "rules.0.prefixes.0: Value error, allowed: 1 to 15 digits",
    ),
    BadTable(
        "same name twice",
        {"rules": [{"name": "x", "connectors": ["cheap"]}, {"name": "x", "connectors": ["dear"]}]},
        "rules[1].name = 'x': another rule has this name",
    ),
    BadTable(
        "reserved name",
        {"rules": [{"name": "default", "connectors": ["cheap"]}]},
        "names the route of messages no rule matches",
    ),
    BadTable("no connectors", {"rules": [{"name": "x", "connectors": []}]}, "rules.0.connectors"),
    BadTable(
        "unknown strategy",
        {"rules": [{"name": "x", "connectors": ["cheap"], "strategy": "cheapest"}]},
        "rules.0.strategy",
    ),
    BadTable(
        "unknown key of a rule",
        {"rules": [{"name": "x", "connectors": ["cheap"], "country": ["FR"]}]},
        "rules.0.country: Extra inputs are not permitted",
    ),
    BadTable(
        "negative cost",
        {"costs": {"cheap": {"default": "-0.5"}}},
        "costs.cheap.default",
    ),
    BadTable(
        "too many decimals",
        {"costs": {"cheap": {"countries": {"FR": "0.0000001"}}}},
        "at most six decimals",
    ),
    BadTable("not a table", [1, 2], "Input should be a valid dictionary"),
]


@pytest.mark.parametrize("case", BAD_TABLES, ids=lambda c: c.id)
async def test_a_wrong_table_is_refused_naming_the_key(admin: Running, case: BadTable) -> None:
    r = await admin.client.put("/v1/admin/routing", json=case.body, headers=ADMIN)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert case.message in error["message"], error["message"]
    # Nothing stored: the config file's table is still in force.
    assert (await admin.client.get("/v1/admin/routing", headers=ADMIN)).json()["source"] == "config"


async def test_margins_by_connector_and_country(admin: Running) -> None:
    key = await _key(admin, "acme")
    other = await _key(admin, "other")
    assert (await admin.client.put("/v1/admin/routing", json=STORED, headers=ADMIN)).is_success
    two_parts = "two parts " * 20
    ids = await _send(admin, key, FR[:3])
    ids += await _send(admin, key, DE[:2], text=two_parts)
    ids += await _send(admin, key, GB[:1])
    await _done(admin, key, ids)
    await _done(admin, other, await _send(admin, other, FR[3:5]))
    # What the stored messages say, one by one.
    gw = admin.gateway
    account = await gw.services.accounts.by_name("acme")
    msgs: list[Message] = await gw.services.messages.search(account.id, MessageFilter(), limit=50)
    costs = {(m.recipient[:3], m.connector, m.upstream_cost, m.cost) for m in msgs}
    assert costs == {
        ("+33", "cheap", 30_000, 100_000),
        ("+49", "dear", 140_000, 200_000),
        ("+44", "refuser", None, 100_000),
    }

    r = await admin.client.get("/v1/admin/margins", params={"account": "acme"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["account"] == "acme"
    by_connector = {row.pop("key"): row for row in body["by_connector"]}
    assert by_connector == {
        "cheap": _row(3, 3, "0.3", "0.09", "0.21", 3),
        "dear": _row(2, 4, "0.4", "0.28", "0.12", 2),
        # Refused: refunded, nothing paid upstream.
        "refuser": _row(1, 1, "0", "0", "0", 0),
    }
    by_country = {row.pop("key"): row for row in body["by_country"]}
    assert by_country == {
        "DE": _row(2, 4, "0.4", "0.28", "0.12", 2),
        "FR": _row(3, 3, "0.3", "0.09", "0.21", 3),
        "GB": _row(1, 1, "0", "0", "0", 0),
    }
    assert body["total"] == {"key": "", **_row(6, 8, "0.7", "0.37", "0.33", 5)}

    r = await admin.client.get("/v1/admin/margins", headers=ADMIN)
    everyone = {row["key"]: row for row in r.json()["by_connector"]}
    assert everyone["cheap"]["messages"] == 5 and everyone["cheap"]["margin"] == "0.35"
    assert r.json()["account"] is None


def _row(
    messages: int, parts: int, charged: str, cost: str, margin: str, priced: int
) -> dict[str, Any]:
    return {
        "messages": messages,
        "parts": parts,
        "charged": charged,
        "cost": cost,
        "margin": margin,
        "priced": priced,
    }


MARGIN_ERRORS = [
    ({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, 400, "since must be"),
    ({"since": "2020-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, 400, "at most 400"),
    ({"since": "yesterday"}, 400, "since"),
    ({"account": "nobody"}, 404, "no account"),
]


@pytest.mark.parametrize(("params", "status", "message"), MARGIN_ERRORS)
async def test_margins_refuse_a_wrong_period_or_account(
    admin: Running, params: dict[str, str], status: int, message: str
) -> None:
    r = await admin.client.get("/v1/admin/margins", params=params, headers=ADMIN)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]["message"]
