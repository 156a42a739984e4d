"""Native API webhook endpoints: subscriptions, their deliveries, and replaying one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query, Response

from textgate.dialects.native.routes import AccountDep, ServicesDep, native_router
from textgate.dialects.native.webhook_schemas import (
    DeliveryList,
    DeliveryOut,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
)

__all__ = ["router"]

router = native_router("/v1/webhooks")


@router.post("", status_code=201, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookIn, account: AccountDep, services: ServicesDep
) -> WebhookCreated:
    created = await services.webhooks.create(
        account.id, body.url, body.events, body.secret, scope=body.scope, format=body.format
    )
    return WebhookCreated.created(created)


@router.get("", response_model=WebhookList)
async def list_webhooks(
    account: AccountDep,
    services: ServicesDep,
    scope: Annotated[Literal["account", "message"] | None, Query()] = None,
) -> WebhookList:
    found = await services.webhooks.of_account(account.id, scope)
    return WebhookList(data=[WebhookOut.of(w) for w in found])


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: str, account: AccountDep, services: ServicesDep) -> WebhookOut:
    return WebhookOut.of(await services.webhooks.get(account.id, webhook_id))


@router.post("/{webhook_id}/secret", response_model=WebhookCreated)
async def rotate_secret(
    webhook_id: str, account: AccountDep, services: ServicesDep
) -> WebhookCreated:
    """A new signing secret, shown once (how a callback URL's secret is learnt)."""
    return WebhookCreated.created(await services.webhooks.rotate_secret(account.id, webhook_id))


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
    page = await services.webhooks.deliveries(
        account.id, webhook_id, status=status, before_id=before, limit=limit
    )
    return DeliveryList(
        data=[DeliveryOut.model_validate(d) for d in page.items], next_before=page.next_cursor
    )


@router.post("/deliveries/{delivery_id}/retry", status_code=202, response_model=DeliveryOut)
async def retry_delivery(
    delivery_id: str, account: AccountDep, services: ServicesDep
) -> DeliveryOut:
    return DeliveryOut.model_validate(await services.webhooks.retry(account.id, delivery_id))
