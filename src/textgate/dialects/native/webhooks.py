"""Native API webhook endpoints: subscriptions, their deliveries, and replaying one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from textgate.core.accounts import Account
from textgate.dialects.base import bearer_token, error_route_class, services_of
from textgate.dialects.native.errors import render_error
from textgate.dialects.native.schemas import ErrorBody
from textgate.dialects.native.webhook_schemas import (
    DeliveryList,
    DeliveryOut,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
)
from textgate.errors import AuthenticationFailed
from textgate.services.registry import Services

__all__ = ["router"]

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 503)
}
router = APIRouter(
    prefix="/v1/webhooks",
    tags=["native"],
    route_class=error_route_class(render_error),
    responses=_ERRORS,
)

ServicesDep = Annotated[Services, Depends(services_of)]


async def _account(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Account:
    # The same Bearer API key as the rest of /v1 (routes.current_account); repeated here
    # so this module does not depend on the messages router.
    token = bearer_token(authorization)
    if token is None:
        raise AuthenticationFailed("send an API key as 'Authorization: Bearer <key>'")
    return await (await services_of(request)).accounts.authenticate(token)


AccountDep = Annotated[Account, Depends(_account)]


@router.post("", status_code=201, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookIn, account: AccountDep, services: ServicesDep
) -> WebhookCreated:
    created = await services.webhooks.create(account.id, body.url, body.events, body.secret)
    return WebhookCreated.created(created)


@router.get("", response_model=WebhookList)
async def list_webhooks(account: AccountDep, services: ServicesDep) -> WebhookList:
    return WebhookList(
        data=[WebhookOut.of(w) for w in await services.webhooks.of_account(account.id)]
    )


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: str, account: AccountDep, services: ServicesDep) -> WebhookOut:
    return WebhookOut.of(await services.webhooks.get(account.id, webhook_id))


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, account: AccountDep, services: ServicesDep) -> Response:
    await services.webhooks.delete(account.id, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    webhook_id: str,
    account: AccountDep,
    services: ServicesDep,
    status: Annotated[str | None, Query(description="pending, delivered or dead")] = None,
    before: Annotated[str | None, Query(max_length=26)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    found = await services.webhooks.deliveries(
        account.id, webhook_id, status=status, before_id=before, limit=limit
    )
    return DeliveryList(
        data=[DeliveryOut.of(d) for d in found],
        next_before=found[-1].id if len(found) == limit else None,
    )


@router.post("/deliveries/{delivery_id}/retry", status_code=202, response_model=DeliveryOut)
async def retry_delivery(
    delivery_id: str, account: AccountDep, services: ServicesDep
) -> DeliveryOut:
    return DeliveryOut.of(await services.webhooks.retry(account.id, delivery_id))
