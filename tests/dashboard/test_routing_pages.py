"""The operator's routing page and the cost and margin on the overview, over plain HTTP
against the real server; account holders see neither."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from tests.dashboard.conftest import ADMIN_TOKEN, PASSWORD, USERNAME, csrf_of, sign_in
from tests.support import HTTP_TIMEOUT, Running, free_port, running_gateway, until
from textgate.config import ConnectorSettings, PricingSettings, RoutingSettings, Settings
from textgate.core.message import FINAL, Status

ROUTING = {
    "rules": [
        {
            "name": "fr-cheapest",
            "countries": ["FR"],
            "connectors": ["backup", "cheap"],
            "strategy": "least_cost",
        },
        {"name": "acme-otp", "accounts": ["acme"], "senders": ["ACME"], "connectors": ["cheap"]},
    ],
    "costs": {"cheap": {"countries": {"FR": "0.02"}}, "backup": {"default": "0.01"}},
}


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[Running]:
    down = ConnectorSettings(
        name="backup",
        type="smpp",
        options={"host": "127.0.0.1", "port": free_port(), "system_id": "x"},
        required=False,
    )
    update = {
        "admin_token": SecretStr(ADMIN_TOKEN),
        "connectors": [ConnectorSettings(name="cheap", options={"report_delay_ms": 20}), down],
        "routing": RoutingSettings.model_validate(ROUTING),
        "pricing": PricingSettings(default_price="0.05"),
    }
    async with running_gateway(settings.model_copy(update=update)) as running:
        services = running.gateway.services
        account = await services.accounts.create("acme")
        await services.accounts.credit(account.id, 100_000_000)
        await running.gateway.credentials.set_login(account.id, USERNAME, PASSWORD)
        yield running


async def _operator(client: httpx.AsyncClient) -> None:
    page = await client.get("/dashboard/login")
    r = await client.post(
        "/dashboard/login", data={"csrf_token": csrf_of(page.text), "admin_token": ADMIN_TOKEN}
    )
    assert r.status_code == 303


def _row(text: str, marker: str) -> str:
    start = text.index(marker)
    return html.unescape(text[start : text.index("</tr>", start)])


async def test_the_routing_page_lists_rules_costs_and_health(site: Running) -> None:
    async with httpx.AsyncClient(base_url=site.base_url, timeout=HTTP_TIMEOUT) as c:
        await _operator(c)
        page = (await c.get("/dashboard/routing")).text
    assert "The config file's table" in page
    first = _row(page, 'data-rule="fr-cheapest"')
    assert "countries: FR" in first and "backup → cheap" in first and "least cost" in first
    second = _row(page, 'data-rule="acme-otp"')
    assert "accounts: acme" in second and "senders: ACME" in second and "in order" in second
    assert "FR: 0.02" in _row(page, 'data-costs="cheap"')
    assert "<td>0.01</td>" in _row(page, 'data-costs="backup"')
    assert 'data-connector="backup" data-state="down"' in page
    assert 'data-connector="cheap" data-state="up"' in page
    assert "the default connector, <strong>cheap</strong>" in page


async def test_the_operator_s_overview_shows_cost_and_margin(site: Running) -> None:
    services = site.gateway.services
    account = await services.accounts.by_name("acme")
    key = (await services.accounts.issue_key(account.id)).token
    r = await site.client.post(
        "/v1/messages",
        json={"to": ["+33612345678", "+33612345679"], "text": "x"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 202, r.text
    ids = [m["id"] for m in r.json()["messages"]]

    async def delivered() -> bool:
        found = [await services.messages.get(account.id, i) for i in ids]
        return all(m.status in FINAL for m in found)

    await until(delivered, "both messages final")
    found = [await services.messages.get(account.id, i) for i in ids]
    # The cheaper link is down: the other one took them, at its price.
    assert {(m.status, m.connector, m.upstream_cost) for m in found} == {
        (Status.DELIVERED, "cheap", 20_000)
    }
    async with httpx.AsyncClient(base_url=site.base_url, timeout=HTTP_TIMEOUT) as c:
        await _operator(c)
        page = (await c.get("/dashboard/", params={"account": "acme"})).text
        one = await c.get(f"/dashboard/messages/{ids[0]}", params={"account": "acme"})
    # The timeline names the connector and the rule of each hand-off.
    assert "via cheap (route fr-cheapest)" in one.text
    assert 'id="margin-charged">0.1<' in page
    assert 'id="margin-cost">0.04<' in page
    assert 'id="margin-total">0.06<' in page
    cheap = _row(page[page.index('id="margins-by-connector"') :], 'data-key="cheap"')
    assert "<td>2</td><td>0.1</td><td>0.04</td><td>0.06</td>" in cheap
    fr = _row(page[page.index('id="margins-by-country"') :], 'data-key="FR"')
    assert "<td>2</td><td>0.1</td><td>0.04</td><td>0.06</td>" in fr


async def test_account_holders_see_no_routing_and_no_margin(site: Running) -> None:
    async with httpx.AsyncClient(base_url=site.base_url, timeout=HTTP_TIMEOUT) as c:
        await sign_in(c)
        r = await c.get("/dashboard/routing")
        assert r.status_code == 400 and "operator" in r.text
        overview = (await c.get("/dashboard/")).text
        assert "Overview · acme" in overview
        assert "Cost and margin" not in overview and 'href="/dashboard/routing"' not in overview
