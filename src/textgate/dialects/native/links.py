"""Short links in textgate's own API (``/v1/links``): what a link stands for and how often
it was followed. Links are made by the interfaces that shorten URLs in texts (SMSmobileAPI's
``shorturl``); the code is the last part of the link, ``/s/{code}``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from textgate.dialects.native.routes import AccountDep, ServicesDep, native_router

__all__ = ["router"]

router = native_router()


class LinkOut(BaseModel):
    code: str
    url: str = Field(description="Where the link leads")
    clicks: int = Field(description="Times it was followed")
    created_at: datetime
    last_click_at: datetime | None


@router.get("/links/{code}", response_model=LinkOut)
async def get_link(code: str, account: AccountDep, services: ServicesDep) -> LinkOut:
    """One of the account's short links with its click count (404 for any other code)."""
    link = await services.short_links.get(account.id, code)
    return LinkOut(
        code=link.code,
        url=link.url,
        clicks=link.clicks,
        created_at=link.created_at,
        last_click_at=link.last_click_at,
    )
