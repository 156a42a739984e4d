"""Failed logins on every HTTP login surface, through the real server, from two client
addresses (the client socket bound to 127.0.0.2 and 127.0.0.3): address A fails 50 logins
for a username and is refused from then on, even with the right password, in the
surface's own words; the owner still logs in from address B."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from tests.android.conftest import PREFIX as PHONES
from tests.android.conftest import phone_settings
from tests.android.test_device_api import APP_BODY
from tests.support import HTTP_TIMEOUT, Running, running_gateway
from textgate.config import Settings
from textgate.core.login_limits import LoginBudget

A = "127.0.0.2"
B = "127.0.0.3"
USERNAME = "integrator"
PASSWORD = "correct horse battery"
ADMIN_TOKEN = "operator-token-for-tests"
FAILURES = 50
BUDGET = LoginBudget()

Verdict = str
"""``ok``, ``wrong`` (checked and refused) or ``limited`` (refused unchecked)."""


@contextlib.asynccontextmanager
async def client_from(running: Running, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(
        base_url=running.base_url, transport=transport, timeout=HTTP_TIMEOUT
    ) as client:
        yield client


async def _account(running: Running) -> str:
    services = running.gateway.services
    account = await services.accounts.create("acme")
    await services.credentials.set_login(account.id, USERNAME, PASSWORD)
    return account.id


# --- smsend: GET /API/v1.0/REST/login ---------------------------------------------------


async def _smsend(c: httpx.AsyncClient, user: str, secret: str) -> Verdict:
    r = await c.get("/API/v1.0/REST/login", params={"username": user, "password": secret})
    if r.status_code == 200:
        user_key, session = r.text.split(";")
        headers = {"user_key": user_key, "Session_key": session}
        assert (await c.get("/API/v1.0/REST/status", headers=headers)).status_code == 200
        return "ok"
    code = r.json()["code"]
    return {(401, 20): "wrong", (429, 60): "limited"}[(r.status_code, code)]


# --- MailUp: HTTP Basic on lists/{id}/listsecret ----------------------------------------


async def _mailup_setup(running: Running) -> tuple[str, str]:
    account_id = await _account(running)
    await running.gateway.services.lists.create(account_id, "customers")
    return USERNAME, PASSWORD


async def _mailup(c: httpx.AsyncClient, user: str, secret: str) -> Verdict:
    r = await c.get("/api/v2.0/lists/1/listsecret", auth=(user, secret))
    body = r.json()
    if r.status_code == 200 and body["Code"] == "0":
        return "ok"
    # MailUp answers one "Access denied" for wrong and for too many credentials.
    assert (r.status_code, body["Code"], body["Description"]) == (403, "250", "Access denied")
    return "refused"


# --- SMSmobileAPI: OAuth2 client credentials at /oauth2/token ---------------------------


async def _oauth_setup(running: Running) -> tuple[str, str]:
    account_id = await _account(running)
    made = await running.gateway.services.oauth.create_client(account_id)
    return made.client_id, made.client_secret


async def _oauth(c: httpx.AsyncClient, client_id: str, secret: str) -> Verdict:
    r = await c.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    if r.status_code == 200:
        token = r.json()["access_token"]
        listed = await c.get("/gateway/mobile/list/", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200
        return "ok"
    error = r.json()["error"]
    return {(401, "invalid_client"): "wrong", (429, "temporarily_unavailable"): "limited"}[
        (r.status_code, error)
    ]


# --- phones: POST <prefix>/device with a login (SMSGate app) ----------------------------


async def _phone(c: httpx.AsyncClient, login: str, secret: str) -> Verdict:
    r = await c.post(f"{PHONES}/device", json=APP_BODY, auth=(login, secret))
    if r.status_code == 201:
        assert r.json()["login"] == login
        return "ok"
    return {401: "wrong", 429: "limited"}[r.status_code]


# --- dashboard: the sign-in form (account login, and the operator token) ----------------


def _csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


async def _dashboard_form(c: httpx.AsyncClient, fields: dict[str, str]) -> Verdict:
    page = await c.get("/dashboard/login")
    r = await c.post("/dashboard/login", data={"csrf_token": _csrf(page.text), **fields})
    if r.status_code == 303:
        assert (await c.get("/dashboard/")).status_code == 200
        c.cookies.clear()
        return "ok"
    if r.status_code == 401:
        assert "Wrong" in r.text
        return "wrong"
    assert r.status_code == 429 and "too many failed logins" in r.text, r.text
    return "limited"


async def _dashboard(c: httpx.AsyncClient, user: str, secret: str) -> Verdict:
    return await _dashboard_form(c, {"username": user, "password": secret})


async def _operator(c: httpx.AsyncClient, user: str, secret: str) -> Verdict:
    return await _dashboard_form(c, {"admin_token": secret})


async def _operator_setup(running: Running) -> tuple[str, str]:
    return "", ADMIN_TOKEN


def _with_admin_token(settings: Settings) -> Settings:
    return settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})


async def _login_setup(running: Running) -> tuple[str, str]:
    await _account(running)
    return USERNAME, PASSWORD


@dataclass(frozen=True)
class Surface:
    label: str
    attempt: Callable[[httpx.AsyncClient, str, str], Awaitable[Verdict]]
    setup: Callable[[Running], Awaitable[tuple[str, str]]] = _login_setup
    configure: Callable[[Settings], Settings] = lambda s: s
    wrong: Verdict = "wrong"
    limited: Verdict = "limited"


SURFACES = [
    Surface("smsend login", _smsend),
    Surface("mailup basic", _mailup, setup=_mailup_setup, wrong="refused", limited="refused"),
    Surface("oauth2 token", _oauth, setup=_oauth_setup),
    Surface("phone sign-in", _phone, configure=phone_settings),
    Surface("dashboard login", _dashboard),
    Surface(
        "dashboard operator token",
        _operator,
        setup=_operator_setup,
        configure=_with_admin_token,
    ),
]


@pytest.mark.parametrize("surface", SURFACES, ids=[s.label for s in SURFACES])
async def test_failures_from_one_address_do_not_lock_the_owner_out(
    settings: Settings, surface: Surface
) -> None:
    async with running_gateway(surface.configure(settings)) as running:
        user, secret = await surface.setup(running)
        async with client_from(running, A) as a, client_from(running, B) as b:
            answers = [await surface.attempt(a, user, f"guess-{i}") for i in range(FAILURES)]
            checked = BUDGET.per_login
            assert answers == [surface.wrong] * checked + [surface.limited] * (FAILURES - checked)
            # The owner, elsewhere, gets in; the guessing address does not, even with the
            # right secret, while it is over its budget.
            assert await surface.attempt(b, user, secret) == "ok"
            assert await surface.attempt(a, user, secret) == surface.limited
        limiter = running.gateway.services.login_limiter
        # Only the guessing address holds failures (127.0.0.3's success left it clean).
        assert limiter.failures(user, B) == (0, 0)
        assert limiter.failures(user, A)[1] == checked


async def test_one_count_for_a_username_on_every_surface(settings: Settings) -> None:
    """A username's failures from one address count on every surface it logs in on: the
    smsend login refuses what MailUp's Basic auth used up."""
    async with running_gateway(settings) as running:
        user, secret = await _mailup_setup(running)
        async with client_from(running, A) as a:
            for i in range(BUDGET.per_login):
                assert await _mailup(a, user, f"guess-{i}") == "refused"
            assert await _smsend(a, user, secret) == "limited"
