"""MailUp SMTP+ transactional email (seed 002, "SendMessage", "SendTemplate",
"ListUserInfo"; shared/specs/dialects.md, "MailUp"): ``POST /API/v2.0/messages/...`` with
the SMTP+ user's credentials in the body (``User{Username,Secret}``). Every answer is
``{"Status","Code","Message"}`` with all three strings.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from textgate.core.lists import SmtpUser
from textgate.core.templates import fields_of
from textgate.dialects.base import add_routes, error_route_class, lookup_services
from textgate.dialects.mailup.errors import render_mail_error
from textgate.dialects.mailup.routes import read_body
from textgate.dialects.mailup.schemas import (
    NULL_INPUT,
    EmailAddress,
    MailIn,
    MessagePart,
    SmtpUserIn,
    UserInfoIn,
    parse_body,
)
from textgate.errors import InvalidRequest
from textgate.services.transactional_mail import Mailbox, MailPart, TxMail

__all__ = ["router"]

router = APIRouter(tags=["mailup"], route_class=error_route_class(render_mail_error))
OK = {"Status": "done", "Code": "0", "Message": "Ok"}
# The seed's zero date for "never blocked" (.NET DateTime.MinValue).
NEVER = "0001-01-01T00:00:00"

Endpoint = Callable[..., Coroutine[Any, Any, Response]]


def _at(name: str) -> Callable[[Endpoint], Endpoint]:
    """Register ``name`` under ``/API/v2.0/messages/`` as documented (lower case); clients'
    other spellings (``SendMessage``, ``/api/...``, a trailing slash) reach it as on
    MailUp's own servers, through the dialect's tolerant paths (``dialects.paths``)."""

    def register(endpoint: Endpoint) -> Endpoint:
        add_routes(router, endpoint, [f"/API/v2.0/messages/{name.lower()}"], ["POST"])
        return endpoint

    return register


async def _user(request: Request, user: SmtpUserIn | None, *, to_send: bool = True) -> SmtpUser:
    if user is None:
        raise InvalidRequest("User is required", code=NULL_INPUT)
    return await lookup_services(request).smtp_users.authenticate(
        (user.username or "").strip(), user.secret or "", to_send=to_send
    )


def _boxes(items: list[EmailAddress] | None) -> tuple[Mailbox, ...]:
    return tuple(Mailbox(a.email or "", a.name or "") for a in items or () if a.email)


def _parts(items: list[MessagePart] | None) -> tuple[MailPart, ...]:
    return tuple(MailPart(p.filename or "", p.body, p.contentid) for p in items or ())


def _mail(body: MailIn, *, template: bool) -> TxMail:
    x = body.xsmtpapi
    fields = (
        {}
        if x is None or x.skipdynamicfields
        else fields_of((f.n or "", f.v or "") for f in x.dynamicfields or ())
    )
    sender = body.from_
    return TxMail(
        subject=body.subject or "",
        sender=None
        if sender is None or not sender.email
        else Mailbox(sender.email, sender.name or ""),
        to=_boxes(body.to),
        cc=_boxes(body.cc),
        bcc=_boxes(body.bcc),
        text=None if template else body.text,
        html=None if template or body.html is None else body.html.document(),
        template_id=body.templateid if template else None,
        reply_to=body.replyto,
        charset=body.charset,
        headers=tuple((h.n or "", h.v or "") for h in body.extendedheaders or () if h.n),
        attachments=_parts(body.attachments),
        images=_parts(body.embeddedimages),
        campaign_code=None if x is None else x.campaigncode,
        campaign_name=None if x is None else x.campaignname,
        fields=fields,
        schedule=None if x is None else x.schedule,
        priority=None if x is None else x.priority,
    )


async def _send(request: Request, *, template: bool) -> Response:
    body = parse_body(await read_body(request), MailIn)
    user = await _user(request, body.user)
    if template and body.templateid is None:
        raise InvalidRequest("TemplateId is required")
    await lookup_services(request).transactional_mail.send(user, _mail(body, template=template))
    return JSONResponse(OK)


@_at("SendMessage")
async def send_message(request: Request) -> Response:
    """A message with its own content (HTML and/or text), attachments and images."""
    return await _send(request, template=False)


@_at("SendTemplate")
async def send_template(request: Request) -> Response:
    """A message whose content is a stored email template (``TemplateId``)."""
    return await _send(request, template=True)


def _date(user_time: Any) -> str:
    return NEVER if user_time is None else user_time.strftime("%Y-%m-%dT%H:%M:%S")


@_at("ListUserInfo")
async def list_user_info(request: Request) -> Response:
    """The caller's list's SMTP+ users (or the one named by ``Username``)."""
    body = parse_body(await read_body(request), UserInfoIn)
    # A blocked or disabled user may still read its own state (seed 002, "Authentication").
    user = await _user(request, body.user, to_send=False)
    services = lookup_services(request)
    users = await services.smtp_users.users(user, (body.username or "").strip() or None)
    console = await services.lists.console_of(user.account_id)
    console_id = 0 if console is None else console.console_id
    listed = [
        {
            "Username": u.username,
            "IdConsole": console_id,
            "IdList": u.list_id,
            "IsEnabled": u.enabled,
            "Priority": u.priority,
            "Note": u.note,
            "CreationDate": _date(u.created_at),
            "UpdateDate": _date(u.updated_at),
            "DomainList": u.domain_list,
            "SenderList": u.sender_list,
            "BlockUntil": _date(u.block_until),
            "AdminBlock": u.admin_block,
        }
        for u in users
    ]
    return JSONResponse({**OK, "UserList": listed})
