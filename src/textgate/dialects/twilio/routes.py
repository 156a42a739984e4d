"""Twilio's Messages API at ``/2010-04-01/Accounts/{AccountSid}/`` (shared/specs/dialects.md,
"Twilio Messages API"; twilio.com/docs/messaging/api/message-resource).

- ``POST Messages.json`` sends one message (form fields ``To``, ``From`` or
  ``MessagingServiceSid``, ``Body``, ``StatusCallback``, ``ValidityPeriod``, ``SendAt`` with
  ``ScheduleType=fixed``) and answers 201 with the Message resource;
- ``GET Messages/{Sid}.json`` reads one; ``POST Messages/{Sid}.json`` with
  ``Status=canceled`` cancels one not yet handed off;
- ``GET /2010-04-01/Accounts/{AccountSid}.json`` is the Account resource, and
  ``GET Messages/{Sid}/Media.json`` a message's media (none: SMS only);
- ``GET Messages.json`` lists the account's messages, newest first, filtered by ``To``,
  ``From`` and ``DateSent`` (also ``DateSent<`` and ``DateSent>``), ``PageSize`` at a time,
  each page naming the next by its ``next_page_uri``.

Credentials are HTTP Basic, as Twilio's: the Account SID as user name and, where Twilio
has the Auth Token, an API key of the account. The Account SID is ``AC`` and the account id
in hexadecimal (dialects.twilio.resource); the account id itself is taken too. Bodies are
read as forms whatever their Content-Type (Twilio's clients send a form type even on GET;
a JSON body has no ``To`` and is answered 21604, as Twilio answers it).

A ``StatusCallback`` hears each status change of its message as Twilio tells it: a form
post signed with ``X-Twilio-Signature`` (dialects.twilio.callbacks).

A message sent here is one recipient, as Twilio's; ``MessagingServiceSid`` is taken and has
no effect (the account's routing and default sender apply). Only SMS: ``MediaUrl`` (MMS) is
refused. Received messages are listed and read here beside sent ones, as Twilio lists them
(``direction`` inbound, status ``received``: dialects.twilio.listing).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from textgate.core.accounts import Account
from textgate.core.clock import to_ms
from textgate.dialects.base import (
    basic_credentials,
    client_ip,
    error_route_class,
    lookup_services,
    read_body,
)
from textgate.dialects.twilio.callbacks import FORMAT as CALLBACK_FORMAT
from textgate.dialects.twilio.errors import (
    BODY_REQUIRED,
    BODY_TOO_LONG,
    INVALID_CALLBACK,
    TO_REQUIRED,
    TwilioRefusal,
    render_error,
)
from textgate.dialects.twilio.listing import Listing, any_message, messages_page
from textgate.dialects.twilio.resource import (
    API_VERSION,
    account_resource,
    account_sid,
    id_of_sid,
    message_resource,
    message_sid,
    messages_uri,
)
from textgate.errors import AuthenticationFailed, InvalidRequest, MalformedInput, NotFound
from textgate.services.submit_request import Notify, SubmitRequest

__all__ = ["INTERFACE", "router"]

INTERFACE = "twilio"
"""How stored messages and metrics name this API."""

router = APIRouter(
    prefix=f"/{API_VERSION}/Accounts",
    tags=["twilio"],
    route_class=error_route_class(render_error),
)

MAX_BODY_BYTES: Final = 64 * 1024
"""A form with the longest Body Twilio takes (1,600 characters) is far below this."""
MAX_FIELDS: Final = 100
"""Far more fields than a Message takes."""
MAX_TEXT: Final = 1600
"""Twilio's limit on a message's Body (error 21617)."""
MAX_VALIDITY_SECONDS: Final = 36_000
"""ValidityPeriod is whole seconds from 1 to 36,000 (Message resource)."""
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
_LIST_FILTERS: Final = ("To", "From", "DateSent", "DateSent<", "DateSent>")


def _credentials(request: Request) -> tuple[str, str]:
    """The Basic credentials: (Account SID, API key)."""
    credentials = basic_credentials(request.headers.get("authorization"))
    if credentials is None:
        raise AuthenticationFailed(
            "send HTTP Basic credentials: the Account SID and an API key of the account"
        )
    return credentials


async def _account(request: Request, account: str) -> Account:
    """The account of the Basic credentials, which must be the one the path names."""
    user, key = _credentials(request)
    found = await lookup_services(request).accounts.authenticate(key)
    if not _names(user, found):
        raise AuthenticationFailed("the user name is not the Account SID of this API key")
    if not _names(account, found):
        raise NotFound(f"The requested resource {request.url.path} was not found")
    return found


def _names(sid: str, account: Account) -> bool:
    return sid == account.id or sid.upper() == account_sid(account.id).upper()


async def _form(request: Request) -> dict[str, str]:
    """The body's fields (the last value of a repeated one), read as a form."""
    body = await read_body(request, MAX_BODY_BYTES)
    try:
        # Strict: a percent-escape that is not UTF-8 is refused, not read as U+FFFD.
        fields = parse_qsl(
            body.decode(), keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError as exc:
        raise MalformedInput("the form is not UTF-8") from exc
    except ValueError as exc:  # more than MAX_FIELDS fields
        raise MalformedInput(f"the form has more than {MAX_FIELDS} fields") from exc
    return dict(fields)


# The form the create route reads itself (as a form whatever the Content-Type), declared to
# OpenAPI by hand.
_CREATE_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["To", "Body"],
                    "properties": {
                        "To": {"type": "string"},
                        "From": {"type": "string"},
                        "MessagingServiceSid": {"type": "string"},
                        "Body": {"type": "string", "maxLength": MAX_TEXT},
                        "StatusCallback": {"type": "string", "format": "uri"},
                        "ValidityPeriod": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_VALIDITY_SECONDS,
                        },
                        "SendAt": {"type": "string", "format": "date-time"},
                        "ScheduleType": {"type": "string", "enum": ["fixed"]},
                    },
                }
            }
        },
    }
}


@router.get("/{account}.json")
async def fetch_account(account: str, request: Request) -> Response:
    """The Account resource: what a client fetches to check its credentials."""
    return JSONResponse(account_resource(await _account(request, account)))


@router.get("/{account}/Messages/{sid}/Media.json")
async def list_media(account: str, sid: str, request: Request) -> Response:
    """A message's media: none, an SMS has none (the resource's ``subresource_uris``)."""
    owner = await _account(request, account)
    await any_message(lookup_services(request), owner.id, sid)
    uri = f"{messages_uri(account_sid(owner.id))}/{sid}/Media.json"
    return JSONResponse(
        {
            "media_list": [],
            "page": 0,
            "page_size": DEFAULT_PAGE_SIZE,
            "start": 0,
            "end": 0,
            "uri": uri,
            "first_page_uri": f"{uri}?PageSize={DEFAULT_PAGE_SIZE}&Page=0",
            "next_page_uri": None,
            "previous_page_uri": None,
        }
    )


@router.post("/{account}/Messages.json", status_code=201, openapi_extra=_CREATE_DOC)
async def create_message(account: str, request: Request) -> Response:
    owner = await _account(request, account)
    form = await _form(request)
    to = form.get("To", "").strip()
    if not to:
        raise TwilioRefusal(TO_REQUIRED, "A 'To' phone number is required.")
    if "," in to:
        raise InvalidRequest("'To' is one phone number: a message has one recipient")
    if form.get("MediaUrl"):
        raise InvalidRequest("MediaUrl: this gateway sends SMS only, not MMS")
    text = form.get("Body", "")
    if not text:
        raise TwilioRefusal(BODY_REQUIRED, "Message body is required.")
    if len(text) > MAX_TEXT:
        raise TwilioRefusal(
            BODY_TOO_LONG, f"The concatenated message body exceeds the {MAX_TEXT} character limit."
        )
    schedule_at = _send_at(form)
    callback = form.get("StatusCallback") or None
    if callback is not None and urlsplit(callback).scheme not in ("http", "https"):
        raise TwilioRefusal(INVALID_CALLBACK, "The StatusCallback URL is not a valid URL.")
    result = await lookup_services(request).submit.submit(
        SubmitRequest(
            account=owner,
            recipients=[to],
            text=text,
            sender=form.get("From") or None,
            schedule_at=schedule_at,
            valid_for=_validity(form),
            interface=INTERFACE,
            client_ip=client_ip(request),
            # Signed with the key the client sent, its "Auth Token" (dialects.twilio.callbacks).
            notify=()
            if callback is None
            else (Notify(callback, format=CALLBACK_FORMAT, secret=_credentials(request)[1]),),
        )
    )
    return JSONResponse(message_resource(result.messages[0]), status_code=201)


def _send_at(form: dict[str, str]) -> datetime | None:
    raw = form.get("SendAt")
    kind = form.get("ScheduleType")
    if not raw:
        if kind:
            raise InvalidRequest("ScheduleType needs SendAt")
        return None
    if kind != "fixed":
        raise InvalidRequest("SendAt needs ScheduleType=fixed")
    return _instant("SendAt", raw)


def _instant(name: str, raw: str) -> datetime:
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidRequest(
            f"{name}: an ISO 8601 date and time, such as 2026-01-31T09:30:00Z"
        ) from exc
    # Twilio's times are UTC; one written without an offset is read as UTC.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _validity(form: dict[str, str]) -> timedelta | None:
    """How long the message may wait to leave, from when it may first (now, or SendAt)."""
    raw = form.get("ValidityPeriod")
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_VALIDITY_SECONDS:
        raise InvalidRequest(f"ValidityPeriod: whole seconds from 1 to {MAX_VALIDITY_SECONDS}")
    return timedelta(seconds=int(raw))


def _message_id(sid: str) -> str:
    found = id_of_sid("SM", sid)
    if found is None:
        raise NotFound(f"No Message with the SID {sid} was found")
    return found


@router.get("/{account}/Messages/{sid}.json")
async def fetch_message(account: str, sid: str, request: Request) -> Response:
    owner = await _account(request, account)
    return JSONResponse(await any_message(lookup_services(request), owner.id, sid))


@router.post("/{account}/Messages/{sid}.json")
async def update_message(account: str, sid: str, request: Request) -> Response:
    """Twilio's "Update a Message resource": ``Status=canceled`` cancels a message that has
    not left. Redacting a body (``Body=""``) is not offered: textgate keeps its records."""
    owner = await _account(request, account)
    message_id = _message_id(sid)
    form = await _form(request)
    services = lookup_services(request)
    if "Body" in form:
        raise InvalidRequest("Body: redacting a message's body is not supported")
    if form.get("Status") != "canceled":
        raise InvalidRequest("Status: only 'canceled' can be set")
    cancelled = await services.messages.cancel_message(owner.id, message_id)
    message = await services.messages.get(owner.id, message_id)
    if not cancelled:
        raise InvalidRequest(f"The message can no longer be canceled: it is {message.status.value}")
    return JSONResponse(message_resource(message))


@router.get("/{account}/Messages.json")
async def list_messages(account: str, request: Request) -> Response:
    owner = await _account(request, account)
    query = request.query_params
    size = _int(query.get("PageSize"), "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page_no = _int(query.get("Page"), "Page", 0, 0, 1_000_000)
    token = query.get("PageToken")
    before = None if token is None else id_of_sid("PASM", token)
    if token is not None and before is None:
        raise InvalidRequest("PageToken is not one this API gave")
    since, until = _date_range(
        query.get("DateSent"), query.get("DateSent>"), query.get("DateSent<")
    )
    listing = Listing(
        to=query.get("To") or None,
        sender=query.get("From") or None,
        since_ms=since,
        until_ms=until,
        before_id=before,
    )
    page = await messages_page(lookup_services(request), owner.id, listing, size)
    filters = {k: query[k] for k in _LIST_FILTERS if query.get(k)}
    base = f"{messages_uri(account_sid(owner.id))}.json"

    def uri(number: int, page_token: str | None = None) -> str:
        params: dict[str, Any] = {**filters, "PageSize": size, "Page": number}
        if page_token is not None:
            params["PageToken"] = page_token
        return f"{base}?{urlencode(params)}"

    items = page.items
    start = page_no * size
    body = {
        "messages": items,
        "page": page_no,
        "page_size": size,
        "start": start,
        "end": start + max(len(items) - 1, 0),
        "uri": uri(page_no, token),
        "first_page_uri": uri(0),
        "next_page_uri": None
        if page.last_id is None
        else uri(page_no + 1, "PA" + message_sid(page.last_id)),
        "previous_page_uri": None,
    }
    return JSONResponse(body)


def _int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name}: a whole number from {low} to {high}")
    return int(raw)


def _date_range(
    on: str | None, after: str | None, before: str | None
) -> tuple[int | None, int | None]:
    """Milliseconds [since, until) of the DateSent filters: a day (YYYY-MM-DD) covers that
    UTC day, a date and time that instant; ``DateSent>`` is on or after, ``DateSent<`` on
    or before, as Twilio's."""
    since: int | None = None
    until: int | None = None
    if on:
        since, until = _bounds("DateSent", on)
    if after:
        since = max(since or 0, _bounds("DateSent>", after)[0])
    if before:
        end = _bounds("DateSent<", before)[1]
        until = end if until is None else min(until, end)
    return since, until


def _bounds(name: str, raw: str) -> tuple[int, int]:
    if len(raw) == 10:
        try:
            day = date.fromisoformat(raw)
        except ValueError as exc:
            raise InvalidRequest(f"{name}: a date (YYYY-MM-DD) or a date and time") from exc
        first = datetime.combine(day, time(), tzinfo=UTC)
        return to_ms(first), to_ms(first + timedelta(days=1))
    moment = to_ms(_instant(name, raw))
    return moment, moment + 1
