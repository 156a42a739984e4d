"""Native API outbound mail log: what the gateway emailed for the account, and replay."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from textgate.dialects.native.routes import AccountDep, ServicesDep, native_router
from textgate.dialects.native.webhook_schemas import EmailList, EmailOut

__all__ = ["router"]

router = native_router("/v1/emails")


@router.get("", response_model=EmailList)
async def list_emails(
    account: AccountDep,
    services: ServicesDep,
    status: Annotated[str | None, Query(description="pending, sent or dead")] = None,
    before: Annotated[str | None, Query(max_length=26)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EmailList:
    page = await services.mail.of_account(account.id, status=status, before_id=before, limit=limit)
    return EmailList(data=[EmailOut.of(m) for m in page.items], next_before=page.next_cursor)


@router.get("/{mail_id}", response_model=EmailOut)
async def get_email(mail_id: str, account: AccountDep, services: ServicesDep) -> EmailOut:
    return EmailOut.of(await services.mail.get(account.id, mail_id))


@router.post("/{mail_id}/retry", status_code=202, response_model=EmailOut)
async def retry_email(mail_id: str, account: AccountDep, services: ServicesDep) -> EmailOut:
    return EmailOut.of(await services.mail.retry(account.id, mail_id))
