"""What every dashboard page shares: templates, the signed session cookie, CSRF checks,
form parsing, and who is signed in.

The session cookie is signed (itsdangerous, HMAC-SHA1 over a key made per application unless
configured), HttpOnly and SameSite=Strict. An account session carries a login session from
:class:`CredentialService` (so it ends when the password changes, the session is revoked or
it goes unused), an operator session a digest of the admin token (so it ends when the token
changes). Every state-changing form carries the session's CSRF token, checked against the
cookie before anything is done.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import SecretStr

from textgate.core.accounts import Account
from textgate.core.pricing import format_amount
from textgate.errors import AuthenticationFailed, GatewayError, InvalidRequest, NotFound
from textgate.services.credentials import GrantKind
from textgate.services.registry import Services

__all__ = [
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "Dashboard",
    "Viewer",
    "redirect",
]

SESSION_COOKIE: Final = "tg_session"
CSRF_FIELD: Final = "csrf_token"
# Pre-sign-in CSRF token for the sign-in forms (double-submit: cookie and field must match).
LOGIN_CSRF_COOKIE: Final = "tg_login_csrf"
MAX_FORM_BYTES: Final = 256 * 1024
# A signed cookie older than this is refused whatever the login session says.
MAX_COOKIE_AGE: Final = 12 * 3600
PREFIX: Final = "/dashboard"
_HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: an account holder (``account`` set) or the operator."""

    csrf: str
    account: Account | None = None

    @property
    def operator(self) -> bool:
        return self.account is None


class NotSignedIn(Exception):
    """Raised by :meth:`Dashboard.viewer`; answered with a redirect to the sign-in page."""


class Dashboard:
    """Built once per application: the template environment and the cookie signer."""

    def __init__(
        self, services: Services, admin_token: SecretStr | None, secret: str | None
    ) -> None:
        self.services = services
        self._admin_token = admin_token
        self._signer = URLSafeTimedSerializer(
            secret or secrets.token_urlsafe(32), salt="textgate.dashboard"
        )
        self.templates = Environment(
            loader=FileSystemLoader(_HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = _when
        self.templates.filters["credits"] = _credits
        self.templates.globals["prefix"] = PREFIX

    # ------------------------------------------------------------------ rendering

    def page(
        self,
        request: Request,
        template: str,
        viewer: Viewer | None,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            request=request, viewer=viewer, csrf_field=CSRF_FIELD, path=request.url.path, **context
        )
        response = HTMLResponse(html, status_code=status_code)
        # Pages show account data: never cached, never framed.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
            " frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    # ------------------------------------------------------------------ session

    def set_session(self, request: Request, response: Response, data: Mapping[str, str]) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self._signer.dumps(dict(data)),
            max_age=MAX_COOKIE_AGE,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def session(self, request: Request) -> dict[str, str] | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._signer.loads(raw, max_age=MAX_COOKIE_AGE)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    async def viewer(self, request: Request) -> Viewer:
        data = self.session(request)
        if data is None:
            raise NotSignedIn
        csrf = data.get("csrf", "")
        if data.get("role") == "operator":
            if not self.operator_digest() or not hmac.compare_digest(
                data.get("op", ""), self.operator_digest()
            ):
                raise NotSignedIn
            return Viewer(csrf=csrf)
        try:
            account = await self.services.credentials.authenticate(
                data.get("user", ""), data.get("key", ""), GrantKind.SESSION
            )
        except AuthenticationFailed as exc:
            raise NotSignedIn from exc
        return Viewer(csrf=csrf, account=account)

    def operator_digest(self) -> str:
        """A digest of the admin token, kept in the operator's cookie instead of the token."""
        token = self._admin_token.get_secret_value() if self._admin_token else ""
        if not token:
            return ""
        return hashlib.sha256(b"textgate.dashboard.operator:" + token.encode()).hexdigest()

    def admin_token_matches(self, presented: str) -> bool:
        token = self._admin_token.get_secret_value() if self._admin_token else ""
        return bool(token) and hmac.compare_digest(presented.encode(), token.encode())

    # ------------------------------------------------------------------ forms

    async def form(self, request: Request, expected_csrf: str) -> dict[str, str]:
        """The posted form's fields (last value wins), after the CSRF check."""
        fields = await read_form(request)
        if not expected_csrf or not hmac.compare_digest(
            fields.get(CSRF_FIELD, "").encode(), expected_csrf.encode()
        ):
            raise CsrfFailed
        return fields

    async def multi_form(self, request: Request, expected_csrf: str) -> dict[str, list[str]]:
        body = await _body(request)
        values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        token = (values.get(CSRF_FIELD) or [""])[-1]
        if not expected_csrf or not hmac.compare_digest(token.encode(), expected_csrf.encode()):
            raise CsrfFailed
        return values


class CsrfFailed(Exception):
    """A state-changing request without this session's token: refused with 403."""


async def read_form(request: Request) -> dict[str, str]:
    body = await _body(request)
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), True).items()}


async def _body(request: Request) -> bytes:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise InvalidRequest("forms are sent as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidRequest("form too large")
    return body


def redirect(url: str) -> RedirectResponse:
    """After a successful POST: see-other, so a reload does not post again."""
    return RedirectResponse(url, status_code=303)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def error_text(exc: GatewayError) -> str:
    return "Not found." if isinstance(exc, NotFound) else exc.message


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _credits(micro: int | None) -> str:
    return "" if micro is None else format_amount(micro)
