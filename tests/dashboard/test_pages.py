"""Dashboard sessions and forms over plain HTTP against the real server: cookies, CSRF,
who may see what, escaping, and sessions that end."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from tests.connectors.smpp.peer import running_smsc
from tests.dashboard.conftest import ADMIN_TOKEN, PASSWORD, USERNAME, Site, csrf_of, sign_in
from tests.support import HTTP_TIMEOUT, WAIT, Running, free_port, running_gateway, until
from textgate.config import ConnectorSettings, Settings
from textgate.connectors.smpp.connector import SmppConnector

FR = "+33612345678"


def _client(site: Site) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=site.running.base_url, timeout=HTTP_TIMEOUT)


async def test_signed_out_visitors_are_sent_to_sign_in(site: Site) -> None:
    async with _client(site) as c:
        for path in (
            "/dashboard/",
            "/dashboard/messages",
            "/dashboard/keys",
            "/dashboard/connectors",
        ):
            r = await c.get(path)
            assert r.status_code == 303
            assert r.headers["location"].startswith("/dashboard/login?next=")
        r = await c.post("/dashboard/keys", data={"label": "x"})
        assert r.status_code == 303
    assert await site.running.gateway.services.stats.keys(site.account.id) == []


async def test_session_cookie_is_httponly_samesite_and_signed(site: Site) -> None:
    async with _client(site) as c:
        await sign_in(c)
        jar = {cookie.name: cookie for cookie in c.cookies.jar}
        session = jar["tg_session"]
        assert session.path == "/dashboard"
        assert session.has_nonstandard_attr("HttpOnly")
        assert session.get_nonstandard_attr("SameSite", "").lower() == "strict"
        # A tampered cookie is no session.
        value = session.value
        c.cookies.clear()
        c.cookies.set("tg_session", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
        r = await c.get("/dashboard/")
        assert r.status_code == 303


async def test_wrong_password_and_sign_in_without_csrf_are_refused(site: Site) -> None:
    async with _client(site) as c:
        page = await c.get("/dashboard/login")
        token = csrf_of(page.text)
        r = await c.post(
            "/dashboard/login",
            data={"csrf_token": token, "username": USERNAME, "password": "wrong password"},
        )
        assert r.status_code == 401
        assert "Wrong username or password" in r.text
        assert "tg_session" not in c.cookies
        r = await c.post(
            "/dashboard/login",
            data={"csrf_token": "forged", "username": USERNAME, "password": PASSWORD},
        )
        assert r.status_code == 403
        assert "tg_session" not in c.cookies


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/dashboard/send", {"to": FR, "text": "x"}),
        ("/dashboard/keys", {"label": "x"}),
        ("/dashboard/settings", {"daily_limit": "5"}),
        ("/dashboard/logout", {"go": "1"}),
    ],
)
async def test_every_form_needs_the_session_csrf_token(
    site: Site, path: str, data: dict[str, str]
) -> None:
    async with _client(site) as c:
        good = await sign_in(c)
        for token in (None, "", good[:-1] + ("x" if good[-1] != "x" else "y")):
            body = dict(data) if token is None else {**data, "csrf_token": token}
            r = await c.post(path, data=body)
            assert r.status_code == 403, path
        # Still signed in (logout did not happen), nothing changed.
        assert (await c.get("/dashboard/")).status_code == 200
    services = site.running.gateway.services
    assert await services.stats.keys(site.account.id) == []
    assert (await services.accounts.get(site.account.id)).rules.daily_limit == 100_000
    stats = await services.stats.overview(site.account.id, "1h")
    assert stats.total == 0


async def test_text_is_escaped_everywhere(site: Site) -> None:
    async with _client(site) as c:
        csrf = await sign_in(c)
        evil = '<script>alert("x")</script>'
        r = await c.post("/dashboard/send", data={"csrf_token": csrf, "to": FR, "text": evil})
        assert r.status_code == 303
        listing = await c.get(r.headers["location"])
        assert evil not in listing.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in listing.text
        assert "script-src 'self'" in listing.headers["content-security-policy"]
        assert listing.headers["cache-control"] == "no-store"


async def test_sign_out_ends_the_login_session(site: Site) -> None:
    async with _client(site) as c:
        csrf = await sign_in(c)
        cookie = c.cookies["tg_session"]
        r = await c.post("/dashboard/logout", data={"csrf_token": csrf})
        assert r.status_code == 303
        # Replaying the old cookie does not bring the session back.
        c.cookies.set("tg_session", cookie, path="/dashboard")
        assert (await c.get("/dashboard/")).status_code == 303


async def test_a_password_change_ends_dashboard_sessions(site: Site) -> None:
    async with _client(site) as c:
        await sign_in(c)
        await site.running.gateway.credentials.set_login(
            site.account.id, USERNAME, "a new password"
        )
        assert (await c.get("/dashboard/")).status_code == 303


async def test_accounts_and_operator_see_only_their_pages(site: Site) -> None:
    async with _client(site) as c:
        await sign_in(c)
        for path in ("/dashboard/connectors", "/dashboard/accounts", "/dashboard/accounts/acme"):
            r = await c.get(path)
            assert r.status_code == 400
            assert "operator" in r.text
        # An account's overview is its own, whatever the query says.
        other = await site.running.gateway.services.accounts.create("other")
        r = await c.get("/dashboard/?account=other")
        assert "Overview · acme" in r.text and other.id not in r.text
    async with _client(site) as c:
        page = await c.get("/dashboard/login")
        r = await c.post(
            "/dashboard/login", data={"csrf_token": csrf_of(page.text), "admin_token": "nope"}
        )
        assert r.status_code == 401
        # The refusal came with a fresh form (and token).
        r = await c.post(
            "/dashboard/login", data={"csrf_token": csrf_of(r.text), "admin_token": ADMIN_TOKEN}
        )
        assert r.status_code == 303
        assert "Overview · all accounts" in (await c.get("/dashboard/")).text
        r = await c.get("/dashboard/messages")
        assert r.status_code == 400
        assert "choose an account" in r.text
        r = await c.get("/dashboard/send")
        assert r.status_code == 400


async def test_operator_sign_in_is_off_without_an_admin_token(gateway: Running) -> None:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=HTTP_TIMEOUT) as c:
        page = await c.get("/dashboard/login")
        assert "operator-login" not in page.text
        r = await c.post(
            "/dashboard/login", data={"csrf_token": csrf_of(page.text), "admin_token": ""}
        )
        assert r.status_code == 401


async def test_next_only_leads_inside_the_dashboard(site: Site) -> None:
    async with _client(site) as c:
        page = await c.get("/dashboard/login?next=https://evil.example/")
        assert "https://evil.example" not in page.text
        r = await c.post(
            "/dashboard/login",
            data={
                "csrf_token": csrf_of(page.text),
                "username": USERNAME,
                "password": PASSWORD,
                "next": "//evil.example/x",
            },
        )
        assert r.headers["location"] == "/dashboard/"


async def test_search_by_recipient_accepts_the_number_as_people_write_it(site: Site) -> None:
    services = site.running.gateway.services
    await services.accounts.update_settings(site.account.id, {"default_country": "FR"})
    async with _client(site) as c:
        csrf = await sign_in(c)
        for to in (FR, "+33612345679"):
            r = await c.post("/dashboard/send", data={"csrf_token": csrf, "to": to, "text": "x"})
            assert r.status_code == 303
        for query in ("06 12 34 56 78", "+33612345678", "0033612345678"):
            page = await c.get("/dashboard/messages", params={"recipient": query})
            assert page.text.count('<tr data-status="') == 1, query
            assert FR in page.text
        page = await c.get("/dashboard/messages", params={"recipient": "not a number"})
        assert "No messages." in page.text


async def test_connectors_page_shows_bound_and_unbound_smpp_links(settings: Settings) -> None:
    async with running_smsc() as smsc:
        bound = ConnectorSettings(
            name="carrier",
            type="smpp",
            options={
                "host": "127.0.0.1",
                "port": smsc.port,
                "system_id": "esme",
                "password": "secret",
                "window": 10,
                "binds": 2,
            },
        )
        down = ConnectorSettings(
            name="backup",
            type="smpp",
            options={"host": "127.0.0.1", "port": free_port(), "system_id": "x", "window": 7},
        )
        update = {"connectors": [bound, down], "admin_token": SecretStr(ADMIN_TOKEN)}
        async with running_gateway(settings.model_copy(update=update)) as running:
            carrier = running.gateway.connectors["carrier"]
            assert isinstance(carrier, SmppConnector)
            await carrier.wait_bound(WAIT)
            async with httpx.AsyncClient(base_url=running.base_url, timeout=HTTP_TIMEOUT) as c:
                page = await c.get("/dashboard/login")
                r = await c.post(
                    "/dashboard/login",
                    data={"csrf_token": csrf_of(page.text), "admin_token": ADMIN_TOKEN},
                )
                assert r.status_code == 303
                await until(lambda: carrier.bound_links == 2, "both binds up")
                rows = (await c.get("/dashboard/connectors", params={"fragment": "1"})).text
        carrier_row, backup_row = _row(rows, "carrier"), _row(rows, "backup")
        assert ">bound<" in carrier_row and "2 / 2" in carrier_row and "<td>10</td>" in carrier_row
        assert ">unbound<" in backup_row and "0 / 1" in backup_row and "<td>7</td>" in backup_row
        # Each bind's own state, and why a link is down.
        assert 'data-link="carrier#1" data-state="bound"' in carrier_row
        assert 'data-link="carrier#2" data-state="bound"' in carrier_row
        assert 'data-link="backup" data-state="down"' in backup_row
        assert "smpp connect to 127.0.0.1:" in backup_row


def _row(html: str, name: str) -> str:
    start = html.index(f'data-connector="{name}"')
    return html[start : html.index("</tr>", start)]


async def test_the_operator_reads_an_accounts_messages(site: Site) -> None:
    services = site.running.gateway.services
    key = (await services.accounts.issue_key(site.account.id)).token
    sent = await site.running.client.post(
        "/v1/messages",
        json={"to": FR, "text": "seen by ops", "valid_until": "2999-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {key}"},
    )
    message_id = sent.json()["messages"][0]["id"]
    async with _client(site) as c:
        page = await c.get("/dashboard/login")
        await c.post(
            "/dashboard/login", data={"csrf_token": csrf_of(page.text), "admin_token": ADMIN_TOKEN}
        )
        accounts = await c.get("/dashboard/accounts")
        assert "/dashboard/messages?account=acme" in accounts.text
        listing = await c.get("/dashboard/messages", params={"account": "acme"})
        assert listing.status_code == 200
        assert "seen by ops" in listing.text
        assert f"/dashboard/messages/{message_id}?account=acme" in listing.text
        detail = await c.get(f"/dashboard/messages/{message_id}", params={"account": "acme"})
        assert detail.status_code == 200 and "seen by ops" in detail.text
        assert "<dt>Valid until</dt>" in detail.text and "2999" in detail.text
        other = await services.accounts.create("other")
        assert other.id
        missing = await c.get(f"/dashboard/messages/{message_id}", params={"account": "other"})
        assert missing.status_code == 404
