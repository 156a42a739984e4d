"""Native API: the system_id and password the account binds to the SMPP server with
(``/v1/smpp-logins``), as ``textgate account smpp-login`` sets them."""

from __future__ import annotations

from fastapi import Response

from textgate.dialects.native.routes import AccountDep, ServicesDep, native_router
from textgate.dialects.native.schemas import SmppLoginIn, SmppLoginList, SmppLoginOut

__all__ = ["router"]

router = native_router("/v1/smpp-logins")


@router.get("", response_model=SmppLoginList)
async def list_smpp_logins(account: AccountDep, services: ServicesDep) -> SmppLoginList:
    """The account's system_ids (one at most), never a password."""
    found = await services.smpp_logins.of_account(account.id)
    return SmppLoginList(data=[SmppLoginOut.of(login) for login in found])


@router.post("", status_code=201, response_model=SmppLoginOut)
async def set_smpp_login(
    body: SmppLoginIn, account: AccountDep, services: ServicesDep
) -> SmppLoginOut:
    """Set the account's system_id and password, replacing the pair it had: new binds need
    the new pair; binds open with the old one are unbound within the server's
    login_recheck_seconds. 409 if another account has the system_id."""
    login = await services.smpp_logins.set_login(account.id, body.system_id, body.password)
    return SmppLoginOut.of(login)


# ``:path``: a system_id may hold '/' (SMPP 3.4 5.2.1 allows any printable ASCII).
@router.delete("/{system_id:path}", status_code=204)
async def delete_smpp_login(system_id: str, account: AccountDep, services: ServicesDep) -> Response:
    """Delete the login (its system_id percent-encoded): binds with it are refused from now
    on, and those open are unbound within the server's login_recheck_seconds."""
    await services.smpp_logins.remove(account.id, system_id)
    return Response(status_code=204)
