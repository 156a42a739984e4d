"""The SMPP login section of the account's settings page, through the real server with its
SMPP server on: the pair the form sets binds a real client (smpplib), the delete button
makes binds fail, bad values are refused with the service's message, and every form needs
the session's CSRF token."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.dashboard.browser import Tab, launch, open_tab
from tests.dashboard.conftest import ADMIN_TOKEN, PASSWORD, USERNAME, Site, sign_in
from tests.dialects.harness import secrets_stay_out_of_logs
from tests.smpp_server.harness import Esme
from tests.support import HTTP_TIMEOUT
from textgate.config import Settings, SmppServerSettings
from textgate.connectors.smpp.constants import CommandStatus
from textgate.storage.tables import smpp_logins

SYSTEM_ID = "shop/esme?#1"
"""Printable ASCII as SMPP 3.4 5.2.1 allows, with what a URL would have to escape."""
SMPP_PASSWORD = "s3cret!"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"smpp_server": SmppServerSettings(enabled=True, port=0)})


def _client(site: Site) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=site.running.base_url, timeout=HTTP_TIMEOUT)


async def _bind(site: Site, system_id: str, password: str) -> int:
    server = site.running.gateway.smpp
    assert server is not None
    esme = Esme(server.port)
    await esme.call("connect")
    try:
        return int((await esme.call("bind", "transceiver", system_id, password)).status)
    finally:
        await esme.call("close")


async def _stored(site: Site) -> list[tuple[str, str, str]]:
    async with site.running.gateway.db.read() as conn:
        rows = (await conn.execute(select(smpp_logins))).all()
    return [(r.account_id, r.system_id, r.password_hash) for r in rows]


async def test_the_form_sets_a_login_that_binds_and_the_button_deletes_it(site: Site) -> None:
    async with _client(site) as c:
        csrf = await sign_in(c)
        page = await c.get("/dashboard/settings")
        assert "No SMPP login." in page.text
        with secrets_stay_out_of_logs([SMPP_PASSWORD]):
            r = await c.post(
                "/dashboard/smpp-logins",
                data={"csrf_token": csrf, "system_id": SYSTEM_ID, "password": SMPP_PASSWORD},
            )
        assert r.status_code == 303
        assert r.headers["location"] == "/dashboard/settings?smpp=set#smpp"
        page = await c.get(r.headers["location"])
        assert "SMPP login saved." in page.text
        assert f'data-system-id="{html.escape(SYSTEM_ID)}"' in page.text
        assert SMPP_PASSWORD not in page.text
        [(account_id, system_id, password_hash)] = await _stored(site)
        assert (account_id, system_id) == (site.account.id, SYSTEM_ID)
        assert password_hash.startswith("scrypt$") and SMPP_PASSWORD not in password_hash
        assert await _bind(site, SYSTEM_ID, SMPP_PASSWORD) == CommandStatus.ESME_ROK
        assert await _bind(site, SYSTEM_ID, "wrong") == CommandStatus.ESME_RINVPASWD

        r = await c.post(
            "/dashboard/smpp-logins/delete", data={"csrf_token": csrf, "system_id": SYSTEM_ID}
        )
        assert r.status_code == 303
        page = await c.get(r.headers["location"])
        assert "SMPP login deleted." in page.text and "No SMPP login." in page.text
    assert await _stored(site) == []
    assert await _bind(site, SYSTEM_ID, SMPP_PASSWORD) == CommandStatus.ESME_RINVSYSID


@pytest.mark.parametrize(
    ("system_id", "password", "message"),
    [
        (
            "a" * 16,
            SMPP_PASSWORD,
            "an SMPP system_id has 1 to 15 characters (SMPP 3.4 4.1.1); this one has 16",
        ),
        (
            "shop",
            "pw345678X",
            "an SMPP password has 1 to 8 characters (SMPP 3.4 4.1.1); this one has 9",
        ),
        ("shop", "", "an SMPP password has 1 to 8 characters (SMPP 3.4 4.1.1); this one has 0"),
        ("", SMPP_PASSWORD, "an SMPP system_id has 1 to 15 characters"),
        ("<shöp>", SMPP_PASSWORD, "an SMPP system_id is printable ASCII without spaces"),
        ("shop", "pw d", "an SMPP password is printable ASCII without spaces"),
    ],
    ids=[
        "system_id too long",
        "password too long",
        "no password",
        "no system_id",
        "non-ASCII system_id",
        "space in password",
    ],
)
async def test_values_smpp_cannot_carry_are_refused(
    site: Site, system_id: str, password: str, message: str
) -> None:
    async with _client(site) as c:
        csrf = await sign_in(c)
        r = await c.post(
            "/dashboard/smpp-logins",
            data={"csrf_token": csrf, "system_id": system_id, "password": password},
        )
    assert r.status_code == 400
    assert html.escape(message) in r.text
    # The system_id typed is kept in the form (escaped), the password never shown.
    assert f'name="system_id" maxlength="15" required value="{html.escape(system_id)}"' in r.text
    assert password == "" or f'value="{password}"' not in r.text
    assert await _stored(site) == []


async def test_a_system_id_another_account_has_is_refused(site: Site) -> None:
    services = site.running.gateway.services
    other = await services.accounts.create("other")
    await services.smpp_logins.set_login(other.id, "taken", "otherpw")
    async with _client(site) as c:
        csrf = await sign_in(c)
        r = await c.post(
            "/dashboard/smpp-logins",
            data={"csrf_token": csrf, "system_id": "taken", "password": SMPP_PASSWORD},
        )
        assert r.status_code == 400
        assert "the system_id &#39;taken&#39; is taken" in r.text
        # Nor can its login be deleted from this account.
        r = await c.post(
            "/dashboard/smpp-logins/delete", data={"csrf_token": csrf, "system_id": "taken"}
        )
        assert r.status_code == 404
    assert [(a, s) for a, s, _ in await _stored(site)] == [(other.id, "taken")]
    assert await _bind(site, "taken", "otherpw") == CommandStatus.ESME_ROK


async def test_the_smpp_forms_need_the_session_csrf_token(site: Site) -> None:
    services = site.running.gateway.services
    await services.smpp_logins.set_login(site.account.id, "kept", SMPP_PASSWORD)
    async with _client(site) as c:
        good = await sign_in(c)
        for token in (None, "", good[:-1] + ("x" if good[-1] != "x" else "y")):
            extra = {} if token is None else {"csrf_token": token}
            r = await c.post(
                "/dashboard/smpp-logins",
                data={"system_id": "new", "password": "newpw", **extra},
            )
            assert r.status_code == 403
            r = await c.post("/dashboard/smpp-logins/delete", data={"system_id": "kept", **extra})
            assert r.status_code == 403
    assert [s for _, s, _ in await _stored(site)] == ["kept"]
    assert await _bind(site, "kept", SMPP_PASSWORD) == CommandStatus.ESME_ROK


# --- in a browser, as a person would ---------------------------------------------------


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


async def test_in_a_browser_set_bind_see_it_bound_then_delete(
    tab: Tab, browser: Browser, site: Site
) -> None:
    page = tab.page
    await page.goto(site.base + "/login")
    form = page.locator("#account-login")
    await form.get_by_label("Username").fill(USERNAME)
    await form.get_by_label("Password").fill(PASSWORD)
    await form.get_by_role("button", name="Sign in").click()
    await page.get_by_role("link", name="Settings").click()
    logins = page.locator("#smpp-logins tbody tr")
    await expect(logins).to_have_text("No SMPP login.")
    smpp = page.locator("#set-smpp-login")
    await smpp.get_by_label("system_id").fill(SYSTEM_ID)
    await smpp.get_by_label("password").fill(SMPP_PASSWORD)
    await smpp.get_by_role("button", name="Set SMPP login").click()
    await expect(page.get_by_role("status")).to_have_text("SMPP login saved.")
    await expect(logins).to_have_count(1)
    await expect(logins.first).to_have_attribute("data-system-id", SYSTEM_ID)
    await tab.shot("settings-smpp-login")

    # The pair binds; the operator sees the bound customer on the connectors page.
    server = site.running.gateway.smpp
    assert server is not None
    esme = Esme(server.port)
    await esme.call("connect")
    try:
        bound = await esme.call("bind", "transceiver", SYSTEM_ID, SMPP_PASSWORD)
        assert bound.status == CommandStatus.ESME_ROK
        assert (await esme.call("submit")).status == CommandStatus.ESME_ROK
        operator = await open_tab(browser, "smpp-operator")
        try:
            await operator.page.goto(site.base + "/login")
            await operator.page.get_by_label("Admin token").fill(ADMIN_TOKEN)
            await operator.page.get_by_role("button", name="Sign in as operator").click()
            await operator.page.get_by_role("link", name="Connectors").click()
            row = operator.page.locator('#smpp-binds tr[data-account="acme"]')
            await expect(row.locator('td[data-kind="transceiver"]')).to_have_text("1")
            await expect(row.locator("span[data-submits]")).to_have_text("1")
            await operator.shot("connectors-smpp-binds")
        finally:
            await operator.page.context.close()
        assert operator.errors == []
    finally:
        await esme.call("close")

    await logins.first.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("status")).to_have_text("SMPP login deleted.")
    await expect(logins).to_have_text("No SMPP login.")
    assert await _bind(site, SYSTEM_ID, SMPP_PASSWORD) == CommandStatus.ESME_RINVSYSID
