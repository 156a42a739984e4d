"""Native API: statistics of campaign codes (MailUp ``CampaignCode``, seed 002) and the
account's stored templates (MailUp ``TemplateId``)."""

from __future__ import annotations

from typing import Literal

from fastapi import Response
from pydantic import BaseModel, Field

from textgate.core.lists import CampaignStats, Template, TemplateKind
from textgate.core.pricing import format_amount
from textgate.dialects.ids import RowId
from textgate.dialects.native.routes import AccountDep, ServicesDep, native_router
from textgate.errors import NotFound

__all__ = ["router"]

router = native_router()


class CampaignOut(BaseModel):
    code: str
    name: str | None
    messages: int = Field(description="SMS sent under the code")
    cost: str = Field(description="Credits charged for them")
    delivered: int
    failed: int = Field(description="Undelivered, failed, expired, cancelled or refused")
    pending: int
    emails: int = Field(description="Transactional emails queued under the code")

    @classmethod
    def of(cls, s: CampaignStats) -> CampaignOut:
        return cls(
            code=s.code,
            name=s.name,
            messages=s.messages,
            cost=format_amount(s.cost),
            delivered=s.delivered,
            failed=s.failed,
            pending=s.pending,
            emails=s.emails,
        )


class CampaignList(BaseModel):
    data: list[CampaignOut]


class TemplateIn(BaseModel):
    id: int | None = Field(
        default=None,
        description="The TemplateId clients will send (e.g. the one it had at MailUp);"
        " unset, the account's next number",
    )
    kind: Literal["sms", "email"]
    name: str = Field(min_length=1, max_length=100)
    subject: str | None = None
    text: str | None = None
    html: str | None = None


class TemplateOut(BaseModel):
    id: int
    kind: str
    name: str
    subject: str | None
    text: str | None
    html: str | None

    @classmethod
    def of(cls, t: Template) -> TemplateOut:
        return cls(
            id=t.template_id,
            kind=t.kind.value,
            name=t.name,
            subject=t.subject,
            text=t.text,
            html=t.html,
        )


class TemplateList(BaseModel):
    data: list[TemplateOut]


@router.get("/campaigns", response_model=CampaignList)
async def list_campaigns(account: AccountDep, services: ServicesDep) -> CampaignList:
    found = await services.list_sms.campaigns(account.id)
    return CampaignList(data=[CampaignOut.of(s) for s in found])


@router.get("/campaigns/{code}", response_model=CampaignOut)
async def get_campaign(code: str, account: AccountDep, services: ServicesDep) -> CampaignOut:
    found = await services.list_sms.campaigns(account.id, code)
    if not found:
        raise NotFound(f"no campaign {code!r}")
    return CampaignOut.of(found[0])


@router.get("/templates", response_model=TemplateList)
async def list_templates(account: AccountDep, services: ServicesDep) -> TemplateList:
    return TemplateList(
        data=[TemplateOut.of(t) for t in await services.lists.templates(account.id)]
    )


@router.post("/templates", status_code=201, response_model=TemplateOut)
async def create_template(
    body: TemplateIn, account: AccountDep, services: ServicesDep
) -> TemplateOut:
    created = await services.lists.add_template(
        account.id,
        TemplateKind(body.kind),
        body.name,
        subject=body.subject,
        text=body.text,
        html=body.html,
        template_id=body.id,
    )
    return TemplateOut.of(created)


@router.delete("/templates/{template_id}", status_code=204)
async def delete_template(
    template_id: RowId, account: AccountDep, services: ServicesDep
) -> Response:
    await services.lists.remove_template(account.id, template_id)
    return Response(status_code=204)
