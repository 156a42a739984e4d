"""The operator's admin API, ``/v1/admin``: accounts, settings, credit, keys, opt-outs.

Every route needs ``Authorization: Bearer <admin token>`` (``admin_token`` in the
configuration). With no admin token configured the API does not exist: every route answers
404, so a default install exposes nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPBearer
from pydantic import SecretStr

from textgate.core.accounts import Account
from textgate.core.clock import from_ms
from textgate.core.policy import AccountRules
from textgate.core.pricing import format_amount, parse_amount
from textgate.dialects.admin.errors import render_error
from textgate.dialects.admin.schemas import (
    NAME_PATTERN,
    AccountCreated,
    AccountIn,
    AccountView,
    ApiKeyOut,
    BalanceOut,
    CreditIn,
    ErrorBody,
    LedgerEntry,
    LedgerList,
    NumbersIn,
    OptOut,
    OptOutList,
    SettingsIn,
    SettingsOut,
    Usage,
)
from textgate.dialects.base import bearer_token, error_route_class, services_of
from textgate.errors import AuthenticationFailed, GatewayError, NotFound
from textgate.services.registry import Services

__all__ = ["router"]


_render = render_error


def check_admin(request: Request) -> None:
    """Refuse the request unless it carries the configured admin token."""
    expected: SecretStr | None = getattr(request.app.state, "admin_token", None)
    if expected is None or not expected.get_secret_value():
        raise NotFound("not found")
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise AuthenticationFailed("send the admin token as 'Authorization: Bearer <token>'")
    # Bytes, so that a non-ASCII token is refused rather than raising.
    if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise AuthenticationFailed("invalid admin token")


class _AdminRoute(error_route_class(_render)):  # type: ignore[misc]
    """Checks the admin token before anything else, the request body included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def admin_only(request: Request) -> Response:
            try:
                check_admin(request)
            except GatewayError as exc:
                return _render(exc)
            response: Response = await handler(request)
            return response

        return admin_only


_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 503)
}
router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    route_class=_AdminRoute,
    responses=_ERRORS,
    # Documents the scheme in OpenAPI; _AdminRoute does the checking.
    dependencies=[Depends(HTTPBearer(auto_error=False, scheme_name="AdminToken"))],
)

ServicesDep = Annotated[Services, Depends(services_of)]
NameParam = Annotated[
    str, Path(min_length=1, max_length=100, pattern=NAME_PATTERN, description="Account name")
]


def _settings(rules: AccountRules) -> SettingsOut:
    return SettingsOut.model_validate(rules.to_public())


async def _view(services: Services, account: Account) -> AccountView:
    summary = await services.accounts.summary(account)
    return AccountView(
        id=account.id,
        name=account.name,
        created_at=account.created_at,
        settings=_settings(account.rules),
        balance=format_amount(summary.balance),
        usage_today=Usage(day=summary.day, count=summary.used_today),
    )


@router.post("/accounts", status_code=201, response_model=AccountCreated)
async def create_account(body: AccountIn, services: ServicesDep) -> AccountCreated:
    rules = AccountRules.from_public(
        body.settings.changes() if body.settings else {}, base=services.accounts.new_rules
    )
    account = await services.accounts.create(body.name, rules=rules)
    issued = await services.accounts.issue_key(account.id)
    return AccountCreated(
        id=account.id, name=account.name, api_key=issued.token, settings=_settings(account.rules)
    )


@router.get("/accounts/{name}", response_model=AccountView)
async def get_account(name: NameParam, services: ServicesDep) -> AccountView:
    return await _view(services, await services.accounts.by_name(name))


@router.patch("/accounts/{name}/settings", response_model=AccountView)
async def update_settings(name: NameParam, body: SettingsIn, services: ServicesDep) -> AccountView:
    account = await services.accounts.by_name(name)
    changes = body.changes()
    # Validated in public form on top of the current settings; the service merges stored
    # values, so only the settings named in the request are handed over (defaults included,
    # which is how a setting goes back to its default).
    updated = await services.accounts.update_settings(account.id, changes)
    return await _view(services, updated)


@router.post("/accounts/{name}/credit", response_model=BalanceOut)
async def credit_account(name: NameParam, body: CreditIn, services: ServicesDep) -> BalanceOut:
    account = await services.accounts.by_name(name)
    balance = await services.accounts.credit(account.id, parse_amount(body.amount), body.note)
    return BalanceOut(balance=format_amount(balance))


@router.get("/accounts/{name}/ledger", response_model=LedgerList)
async def get_ledger(
    name: NameParam,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LedgerList:
    account = await services.accounts.by_name(name)
    lines = await services.accounts.ledger(account.id, limit=limit)
    return LedgerList(
        data=[
            LedgerEntry(
                id=line.id,
                kind=line.kind,
                amount=format_amount(line.amount),
                balance_after=format_amount(line.balance_after),
                order_id=line.order_id,
                message_id=line.message_id,
                note=line.note,
                created_at=from_ms(line.created_at),
            )
            for line in lines
        ]
    )


@router.post("/accounts/{name}/keys", status_code=201, response_model=ApiKeyOut)
async def issue_key(name: NameParam, services: ServicesDep) -> ApiKeyOut:
    account = await services.accounts.by_name(name)
    return ApiKeyOut(api_key=(await services.accounts.issue_key(account.id)).token)


async def _opt_outs(services: Services, account: Account) -> OptOutList:
    rows = await services.accounts.opt_outs(account.id)
    return OptOutList(
        data=[OptOut(number=n, source=src, created_at=from_ms(at)) for n, src, at in rows]
    )


# Changes answer with the whole list, as the native API's /v1/opt-outs does.
@router.get("/accounts/{name}/opt-outs", response_model=OptOutList)
async def list_opt_outs(name: NameParam, services: ServicesDep) -> OptOutList:
    return await _opt_outs(services, await services.accounts.by_name(name))


@router.post("/accounts/{name}/opt-outs", status_code=201, response_model=OptOutList)
async def add_opt_outs(name: NameParam, body: NumbersIn, services: ServicesDep) -> OptOutList:
    account = await services.accounts.by_name(name)
    await services.accounts.add_opt_outs(account, body.numbers, source="api")
    return await _opt_outs(services, account)


@router.delete("/accounts/{name}/opt-outs/{number}", response_model=OptOutList)
async def remove_opt_out(name: NameParam, number: str, services: ServicesDep) -> OptOutList:
    account = await services.accounts.by_name(name)
    await services.accounts.remove_opt_outs(account, [number])
    return await _opt_outs(services, account)
