"""Native API: the account's mailing lists (MailUp, seed 002) and each list's opt-outs."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel, Field

from textgate.core.lists import MailingList
from textgate.dialects.ids import RowId
from textgate.dialects.native.routes import AccountDep, ServicesDep, native_router

__all__ = ["router"]

router = native_router("/v1/lists")


class ListIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    default_prefix: str | None = Field(default=None, description="Country calling code, e.g. 39")
    sms_sender: str | None = None
    guid: str | None = Field(default=None, description="Keep a ListGUID from elsewhere")


class ListChange(BaseModel):
    default_prefix: str | None = None
    sms_sender: str | None = None


class ListOut(BaseModel):
    id: int
    name: str
    guid: str
    secret_set: bool = Field(description="Whether transactional SMS are enabled (a ListSecret)")
    default_prefix: str | None
    sms_sender: str | None

    @classmethod
    def of(cls, found: MailingList) -> ListOut:
        return cls(
            id=found.list_id,
            name=found.name,
            guid=found.guid,
            secret_set=found.secret is not None,
            default_prefix=found.default_prefix,
            sms_sender=found.sms_sender,
        )


class ListList(BaseModel):
    console_id: int | None = Field(description="The account ID in MailUp paths")
    data: list[ListOut]


class Numbers(BaseModel):
    numbers: list[str] = Field(min_length=1, max_length=10_000)


class NumberList(BaseModel):
    data: list[str]


@router.get("", response_model=ListList)
async def list_lists(account: AccountDep, services: ServicesDep) -> ListList:
    console = await services.lists.console_of(account.id)
    found = await services.lists.lists(account.id)
    return ListList(
        console_id=None if console is None else console.console_id,
        data=[ListOut.of(x) for x in found],
    )


@router.post("", status_code=201, response_model=ListOut)
async def create_list(body: ListIn, account: AccountDep, services: ServicesDep) -> ListOut:
    made = await services.lists.create(
        account.id,
        body.name,
        default_prefix=body.default_prefix,
        sms_sender=body.sms_sender,
        guid=body.guid,
    )
    return ListOut.of(made)


@router.patch("/{list_id}", response_model=ListOut)
async def change_list(
    list_id: RowId, body: ListChange, account: AccountDep, services: ServicesDep
) -> ListOut:
    changed = await services.lists.update(
        account.id, list_id, default_prefix=body.default_prefix, sms_sender=body.sms_sender
    )
    return ListOut.of(changed)


@router.get("/{list_id}/opt-outs", response_model=NumberList)
async def list_opt_outs(list_id: RowId, account: AccountDep, services: ServicesDep) -> NumberList:
    return NumberList(data=await services.lists.opt_outs(account.id, list_id))


@router.post("/{list_id}/opt-outs", response_model=NumberList)
async def add_opt_outs(
    list_id: RowId, body: Numbers, account: AccountDep, services: ServicesDep
) -> NumberList:
    """Opt numbers out of the list's messages (without an international prefix, the list's
    default prefix applies)."""
    return NumberList(data=await services.lists.add_opt_outs(account.id, list_id, body.numbers))


@router.delete("/{list_id}/opt-outs", status_code=204)
async def remove_opt_outs(
    list_id: RowId, body: Numbers, account: AccountDep, services: ServicesDep
) -> Response:
    await services.lists.remove_opt_outs(account.id, list_id, body.numbers)
    return Response(status_code=204)
