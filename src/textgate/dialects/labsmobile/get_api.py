"""LabsMobile's http/GET interface: ``/get/send.php?username&password&msisdn&sender&message``
(shared/specs/dialects.md, "LabsMobile"; labsmobile.com, "API for sending SMS http/GET"),
also posted as a form. It answers XML,
``<response><code>0</code><message>...</message><subid>...</subid></response>``, with the
JSON API's codes (dialects.labsmobile.errors).

Credentials are the ``username`` and ``password`` (an API token) parameters, or HTTP Basic
as the JSON API's. ``msisdn`` may list several numbers separated by commas; ``subid``,
``test``, ``scheduled``, ``ucs2`` and ``long`` mean what they mean in the JSON API
(dialects.labsmobile.sending).
"""

from __future__ import annotations

# The standard library builds the answer; nothing here parses XML.
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from textgate.dialects.base import (
    add_routes,
    client_ip,
    error_route_class,
    lookup_services,
    read_body,
)
from textgate.dialects.labsmobile.errors import Outcome, outcome_of
from textgate.dialects.labsmobile.json_api import authenticated
from textgate.dialects.labsmobile.sending import SendOrder, carry_out, flag
from textgate.errors import GatewayError, MalformedInput

__all__ = ["router"]

MAX_BODY_BYTES: Final = 1024 * 1024
MAX_FIELDS: Final = 100
XML: Final = "text/xml; charset=utf-8"


def _answer(outcome: Outcome) -> Response:
    root = ET.Element("response")
    ET.SubElement(root, "code").text = str(outcome.code)
    ET.SubElement(root, "message").text = outcome.message
    if outcome.subid is not None:
        ET.SubElement(root, "subid").text = outcome.subid
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, status_code=outcome.http_status, media_type=XML)


def _error(exc: GatewayError | None) -> Response:
    return _answer(outcome_of(exc))


router = APIRouter(tags=["labsmobile"], route_class=error_route_class(_error))


async def _params(request: Request) -> Mapping[str, str]:
    """The query string's parameters, and a posted form's over them."""
    params = dict(request.query_params)
    if request.method == "POST":
        body = await read_body(request, MAX_BODY_BYTES)
        try:
            form = parse_qsl(
                body.decode(), keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS
            )
        except UnicodeDecodeError as exc:
            raise MalformedInput("the form is not UTF-8") from exc
        except ValueError as exc:  # more than MAX_FIELDS fields
            raise MalformedInput(f"the form has more than {MAX_FIELDS} fields") from exc
        params.update(form)
    return params


async def send(request: Request) -> Response:
    params = await _params(request)
    account = await authenticated(request, params.get("username", ""), params.get("password", ""))
    order = SendOrder(
        recipients=[n for n in params.get("msisdn", "").split(",") if n.strip()],
        message=params.get("message"),
        sender=params.get("sender") or None,
        subid=params.get("subid") or None,
        test=flag(params.get("test")),
        scheduled=params.get("scheduled"),
        ucs2=flag(params.get("ucs2")),
        long=flag(params.get("long")),
    )
    services = lookup_services(request)
    return _answer(await carry_out(services, account, order, client_ip(request)))


# One route per method: each its own OpenAPI operation.
add_routes(router, send, ("/get/send.php",), ("GET", "POST"))
