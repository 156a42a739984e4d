"""Signing in (account login or operator token) and out."""

from __future__ import annotations

import hmac
from typing import Final

from fastapi import Request
from fastapi.responses import Response

from textgate.dashboard.routing import dashboard_of, new_router
from textgate.dashboard.web import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    NotSignedIn,
    new_csrf,
    read_form,
    redirect,
)
from textgate.errors import AuthenticationFailed, InvalidRequest, RateLimited
from textgate.services.credentials import GrantKind

__all__ = ["router"]

router = new_router()
MAX_FIELD: Final = 1024
# Wrong operator tokens count with the failed logins, under a name no username can have.
OPERATOR_LIMIT_NAME: Final = "dashboard-operator:"


def _safe_next(target: str | None) -> str:
    # Only a path inside the dashboard: never an absolute URL an attacker could plant.
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX + "/"


def _login_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    dash = dashboard_of(request)
    token = new_csrf()
    response = dash.page(
        request,
        "login.html",
        None,
        status_code=status,
        error=error,
        login_csrf=token,
        next=_safe_next(request.query_params.get("next")),
        operator_enabled=bool(dash.operator_digest()),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    dash = dashboard_of(request)
    fields = await read_form(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(
        fields.get(CSRF_FIELD, "").encode(), expected.encode()
    ):
        return _login_page(request, error="The form expired; please try again.", status=403)
    target = _safe_next(fields.get("next"))
    csrf = new_csrf()
    address = request.client.host if request.client else None
    if "admin_token" in fields:
        presented = fields["admin_token"][:MAX_FIELD]

        async def check() -> None:
            if not dash.admin_token_matches(presented):
                raise AuthenticationFailed("wrong operator token")

        try:
            await dash.services.login_limiter.attempt(OPERATOR_LIMIT_NAME, address, check)
        except AuthenticationFailed:
            return _login_page(request, error="Wrong operator token.", status=401)
        except RateLimited as exc:
            return _login_page(request, error=exc.message, status=429)
        session = {"role": "operator", "op": dash.operator_digest(), "csrf": csrf}
    else:
        username = fields.get("username", "")[:MAX_FIELD]
        password = fields.get("password", "")[:MAX_FIELD]
        try:
            grant = await dash.services.credentials.login(
                username, password, GrantKind.SESSION, client_ip=address
            )
        except (AuthenticationFailed, InvalidRequest):
            return _login_page(request, error="Wrong username or password.", status=401)
        except RateLimited as exc:
            return _login_page(request, error=exc.message, status=429)
        session = {"role": "account", "user": grant.user_key, "key": grant.secret, "csrf": csrf}
    response = redirect(target)
    dash.set_session(request, response, session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    dash = dashboard_of(request)
    data = dash.session(request)
    if data is None:
        raise NotSignedIn
    await dash.form(request, data.get("csrf", ""))
    if data.get("key"):
        await dash.services.credentials.logout(data["key"])
    response = redirect(f"{PREFIX}/login")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
