"""The dashboard in a real browser against the real server: sign in, send, watch delivery,
keys, rules, inbox, operator pages. Screenshots of every page go to tests/artifacts/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Browser, Locator, expect

from tests.dashboard.browser import Tab, launch, open_tab
from tests.dashboard.conftest import (
    ADMIN_TOKEN,
    INBOUND_NUMBER,
    PASSWORD,
    USERNAME,
    Site,
    wait_status,
)
from tests.support import free_port, until
from textgate.core.devices import SimCard
from textgate.core.inbound import InboundMessage
from textgate.services.devices import RegistrationAuth

FR = "+33612345678"
GB = "+447400123456"
# What Chromium logs when a form is answered 400 (the page shows the form with the reason).
REFUSED = "Failed to load resource: the server responded with a status of 400 (Bad Request)"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async for b in launch():
        yield b


@pytest.fixture
async def tab(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Tab]:
    t = await open_tab(browser, request.node.name)
    yield t
    await t.page.context.close()
    assert t.errors == [], f"console errors: {t.errors}"


async def _sign_in(tab: Tab, site: Site) -> None:
    page = tab.page
    await page.goto(site.base + "/")
    await expect(page).to_have_url(site.base + "/login?next=%2Fdashboard%2F")
    await tab.shot("sign-in")
    form = page.locator("#account-login")
    await form.get_by_label("Username").fill(USERNAME)
    await form.get_by_label("Password").fill(PASSWORD)
    await form.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Overview · acme")


async def test_sign_in_send_watch_delivered_and_open_the_timeline(tab: Tab, site: Site) -> None:
    page = tab.page
    await _sign_in(tab, site)
    await page.get_by_role("link", name="Send").click()
    counter = page.locator("#counter")
    text = page.get_by_label("Text")
    await text.fill("x" * 160)
    await expect(counter).to_have_attribute("data-parts", "1")
    await text.fill("x" * 161)
    await expect(counter).to_have_attribute("data-parts", "2")
    await expect(counter).to_contain_text("GSM-7")
    await text.fill("{" * 80)  # extension characters: two septets each
    await expect(counter).to_contain_text("160 septets")
    await text.fill("{" * 81)
    await expect(counter).to_have_attribute("data-parts", "2")
    await text.fill("Привет " * 10)  # 70 UTF-16 units
    await expect(counter).to_have_attribute("data-encoding", "UCS-2")
    await expect(counter).to_have_attribute("data-parts", "1")
    await text.fill("Привет " * 10 + "!")
    await expect(counter).to_have_attribute("data-parts", "2")
    await text.fill("Hello from the dashboard <b>bold</b>")
    await page.get_by_label("To").fill(FR)
    await tab.shot("send")
    await page.get_by_role("button", name="Send").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Messages")
    row = page.locator("#messages tbody tr").first
    await expect(row).to_contain_text(FR)
    # The list refreshes itself until the simulator's delivery report has come back.
    await expect(row).to_have_attribute("data-status", "delivered")
    await expect(row.locator(".status")).to_have_text("delivered")
    await expect(row.locator("td.text")).to_have_text("Hello from the dashboard <b>bold</b>")
    await tab.shot("messages")

    await row.get_by_role("link").click()
    await expect(page.locator("#status")).to_have_text("delivered")
    timeline = page.locator("#timeline li")
    await expect(timeline).to_have_count(5)
    await expect(timeline.nth(0)).to_contain_text("submitted")
    await expect(timeline.nth(1)).to_contain_text("queued")
    await expect(timeline.nth(4)).to_contain_text("delivered")
    await tab.shot("message")

    await page.get_by_role("link", name="Overview").click()
    await expect(page.locator("#total")).to_have_text("1")
    await expect(page.locator("#rate")).to_have_text("100.0%")
    await expect(page.locator("svg.chart")).to_have_count(5)
    await tab.shot("overview-24h")
    await page.get_by_label("Range").select_option("7d")
    await expect(page).to_have_url(site.base + "/?range=7d")
    await expect(page.locator("#total")).to_have_text("1")
    await tab.shot("overview-7d")


async def test_create_a_key_use_it_then_revoke_it(tab: Tab, site: Site) -> None:
    page = tab.page
    await _sign_in(tab, site)
    await page.get_by_role("link", name="API keys").click()
    await page.get_by_label("Label").fill("ci")
    await page.get_by_role("button", name="Create key").click()
    token = (await page.locator("#new-token").inner_text()).strip()
    assert token.startswith("tg_")
    await tab.shot("keys-created")
    key_id = token.split("_")[1]

    client = site.running.client
    auth = {"Authorization": f"Bearer {token}"}
    sent = await client.post("/v1/messages", json={"to": FR, "text": "by key"}, headers=auth)
    assert sent.status_code == 202

    # The page after creating is a POST answer; reload the list as a person would.
    await page.get_by_role("link", name="API keys").click()
    row = page.locator(f'tr[data-key="{key_id}"]')
    await expect(row).to_contain_text("active")
    await row.get_by_role("button", name="Revoke").click()
    await expect(row).to_contain_text("revoked")
    await tab.shot("keys-revoked")
    refused = await client.post("/v1/messages", json={"to": FR, "text": "x"}, headers=auth)
    assert refused.status_code == 401


async def test_a_rule_changed_in_settings_is_enforced(tab: Tab, site: Site) -> None:
    page = tab.page
    await _sign_in(tab, site)
    await page.get_by_role("link", name="Settings").click()
    await tab.shot("settings")
    await page.locator("#f-countries_blocked").fill("GB")
    await page.locator("#f-default_sender").fill("ACME")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Settings saved.")
    await expect(page.locator("#f-countries_blocked")).to_have_value("GB")
    await tab.shot("settings-saved")

    await page.get_by_role("link", name="Send").click()
    await page.get_by_label("To").fill(f"{GB}, {FR}")
    await page.get_by_label("Text").fill("rules apply")
    await page.get_by_role("button", name="Send").click()
    rows = page.locator("#messages tbody tr")
    await expect(rows).to_have_count(2)
    gb = rows.filter(has_text=GB)
    await expect(gb).to_have_attribute("data-status", "rejected")
    await expect(gb).to_contain_text("country")
    await expect(rows.filter(has_text=FR)).to_have_attribute("data-status", "delivered")
    await tab.shot("rule-enforced")

    # A bad value is refused with the reason and changes nothing.
    await page.get_by_role("link", name="Settings").click()
    await page.locator("#f-batch_limit").fill("0")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_contain_text("batch_limit")
    assert tab.take_errors() == [REFUSED]
    account = await site.running.gateway.services.accounts.get(site.account.id)
    assert account.rules.batch_limit == 10_000
    assert account.rules.countries_blocked == ("GB",)
    assert account.rules.default_sender == "ACME"


async def test_inbox_webhooks_and_sign_out(tab: Tab, site: Site) -> None:
    gw = site.running.gateway
    assert gw.inbound is not None
    await gw.inbound(
        [InboundMessage("sim", FR, INBOUND_NUMBER, "Is <this> on?", datetime.now(UTC))]
    )
    page = tab.page
    await _sign_in(tab, site)
    await page.get_by_role("link", name="Inbox").click()
    await expect(page.locator("#threads tbody tr")).to_have_count(1)
    await expect(page.locator("#threads")).to_contain_text("Is <this> on?")
    await tab.shot("inbox")
    await page.get_by_role("link", name=FR).click()
    await expect(page.locator(".bubble.inbound .text")).to_have_text("Is <this> on?")
    await tab.shot("conversation")

    await page.get_by_role("link", name="Webhooks").click()
    await tab.shot("webhooks")
    await page.get_by_label("URL").fill("ftp://127.0.0.1/sms")
    await page.get_by_label("message.delivered").check()
    await page.get_by_role("button", name="Add").click()
    await expect(page.get_by_role("alert")).to_contain_text("url")
    assert tab.take_errors() == [REFUSED]
    await tab.shot("webhooks-refused")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    await page.goto(site.base + "/messages")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


async def test_operator_sees_all_accounts_and_live_connectors(tab: Tab, site: Site) -> None:
    client: httpx.AsyncClient = site.running.client
    key = (await site.running.gateway.services.accounts.issue_key(site.account.id)).token
    auth = {"Authorization": f"Bearer {key}"}
    r = await client.post("/v1/messages", json={"to": [FR, GB], "text": "hi"}, headers=auth)
    assert r.status_code == 202
    for m in r.json()["messages"]:
        await wait_status(client, key, m["id"], "delivered")
    page = tab.page
    await page.goto(site.base + "/login")
    form = page.locator("#operator-login")
    await form.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await form.get_by_role("button", name="Sign in as operator").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Overview · all accounts")
    await expect(page.locator("#total")).to_have_text("2")
    await tab.shot("operator-overview")

    await page.get_by_role("link", name="Connectors").click()
    sim = page.locator('tr[data-connector="sim"]')
    await expect(sim).to_contain_text("simulated")
    # The table refreshes itself; the second look has a throughput figure.
    await expect(sim.locator("td").nth(6)).to_have_text("0.0/s")
    await expect(sim.locator("td").nth(7)).to_have_text("2")
    await tab.shot("operator-connectors")

    await page.get_by_role("link", name="Accounts").click()
    await expect(page.locator("#accounts")).to_contain_text(site.account.id)
    await tab.shot("operator-accounts")
    await page.get_by_role("link", name="acme").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Account acme")
    await tab.shot("operator-account")
    await page.goto(site.base + "/?account=acme")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Overview · acme")
    await tab.shot("operator-account-overview")


class FlakyReceiver:
    """A webhook target on loopback that answers 500 to the first delivery, 200 after."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.port = free_port()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        self.bodies.append(await reader.readexactly(length))
        status = b"500 Internal Server Error" if len(self.bodies) == 1 else b"200 OK"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


async def test_webhook_delivery_log_and_replay_and_devices(tab: Tab, site: Site) -> None:
    receiver = FlakyReceiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", receiver.port)
    services = site.running.gateway.services
    key = (await services.accounts.issue_key(site.account.id)).token
    await services.devices.register(
        RegistrationAuth(private_token=key),
        "Pixel 8",
        push_token=None,
        sim_cards=[SimCard(slot_index=0, sim_number=1, carrier_name="Orange")],
    )
    page = tab.page
    try:
        await _sign_in(tab, site)
        await page.get_by_role("link", name="Webhooks").click()
        await page.get_by_label("URL").fill(f"http://127.0.0.1:{receiver.port}/hook")
        await page.get_by_label("message.delivered").check()
        await page.get_by_role("button", name="Add").click()
        await expect(page.locator(".notice .secret")).to_contain_text("whsec_")

        r = await site.running.client.post(
            "/v1/messages",
            json={"to": FR, "text": "hook me"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 202
        await page.get_by_role("link", name=f"http://127.0.0.1:{receiver.port}/hook").click()
        row = page.locator("#deliveries tbody tr").first

        async def shows(locator: Locator, text: str) -> bool:
            if text in await locator.inner_text():
                return True
            await page.reload()
            return False

        # One attempt allowed: the 500 leaves the delivery dead, with the reason.
        await until(lambda: shows(row, "dead"), "the delivery to be dead", interval=0.1)
        await expect(row).to_contain_text("message.delivered")
        await expect(row).to_contain_text("dead")
        await expect(row).to_contain_text("500")
        await tab.shot("webhook-deliveries")
        await row.get_by_role("button", name="Replay").click()
        await until(lambda: shows(row.locator(".status"), "delivered"), "the replay", interval=0.1)
        await expect(row.locator(".status")).to_have_text("delivered")
        await tab.shot("webhook-replayed")
        assert len(receiver.bodies) == 2
        assert receiver.bodies[0] == receiver.bodies[1]
        message_id = r.json()["messages"][0]["id"]
        assert message_id.encode() in receiver.bodies[1]
        assert b"message.delivered" in receiver.bodies[1]
    finally:
        server.close()
        await server.wait_closed()

    await page.get_by_role("link", name="Devices").click()
    device = page.locator("#devices tbody tr").first
    await expect(device).to_contain_text("Pixel 8")
    await expect(device).to_contain_text("Orange")
    await device.get_by_label("Label of Pixel 8").fill("Office")
    await device.get_by_role("button", name="Save").click()
    await expect(page.get_by_label("Label of Pixel 8")).to_have_value("Office")
    await tab.shot("devices")
    await page.locator("#devices tbody tr").first.get_by_role("button", name="Remove").click()
    await expect(page.locator("#devices tbody")).to_contain_text("No devices.")
    assert await services.devices.of_account(site.account.id) == []
