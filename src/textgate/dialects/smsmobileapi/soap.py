"""SMSmobileAPI's SOAP ``sendSms`` (seed 003, "Send SMS - WSDL URL"): the WSDL at
``/sendsms/wsdl/sendsms.wsdl`` and the endpoint it names, ``/sendsms/soap/``.

The seed's client is PHP nusoap with the WSDL, calling ``sendSms`` with ``recipients``,
``message`` and ``apikey``: an rpc/encoded SOAP 1.1 request. The operation also takes the REST
send's other parameters (``port``, ``sIdentifiant``, ...) and answers the REST send's JSON
body as its ``return`` string. Requests are parsed with defusedxml and any DTD is refused
(no entity expansion, no external entities); errors are SOAP 1.1 Faults (HTTP 500).
"""

from __future__ import annotations

import json
import re
from xml.etree.ElementTree import Element  # only for typing: requests parse through defusedxml
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import ParseError, fromstring  # type: ignore[import-untyped]
from fastapi import APIRouter, Request, Response

from textgate.dialects.base import error_route_class, read_body
from textgate.dialects.smsmobileapi.errors import classify
from textgate.dialects.smsmobileapi.params import Params
from textgate.dialects.smsmobileapi.paths import at
from textgate.dialects.smsmobileapi.routes import base_url, send
from textgate.errors import GatewayError, InvalidRequest, MalformedInput

__all__ = ["NAMESPACE", "router"]


NAMESPACE = "urn:sendsms"
OPERATION = "sendSms"
MAX_BODY_BYTES = 256 * 1024
XML = "text/xml; charset=utf-8"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
# Parameters the operation declares (the seed's three first, then the REST send's others).
PARTS = (
    "recipients",
    "message",
    "apikey",
    "port",
    "sIdentifiant",
    "shorturl",
    "sendwa",
    "sendsms",
    "encrypt_message",
    "schedule_timestamp",
)


_WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"
 xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
 xmlns:xsd="http://www.w3.org/2001/XMLSchema"
 xmlns:tns="urn:sendsms" targetNamespace="urn:sendsms" name="sendsms">
 <message name="sendSmsRequest">
{parts}
 </message>
 <message name="sendSmsResponse"><part name="return" type="xsd:string"/></message>
 <portType name="sendsmsPortType">
  <operation name="sendSms">
   <input message="tns:sendSmsRequest"/>
   <output message="tns:sendSmsResponse"/>
  </operation>
 </portType>
 <binding name="sendsmsBinding" type="tns:sendsmsPortType">
  <soap:binding style="rpc" transport="http://schemas.xmlsoap.org/soap/http"/>
  <operation name="sendSms">
   <soap:operation soapAction="urn:sendsms#sendSms" style="rpc"/>
   <input><soap:body use="encoded" namespace="urn:sendsms"
    encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/></input>
   <output><soap:body use="encoded" namespace="urn:sendsms"
    encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"/></output>
  </operation>
 </binding>
 <service name="sendsms">
  <port name="sendsmsPort" binding="tns:sendsmsBinding">
   <soap:address location={location}/>
  </port>
 </service>
</definitions>
"""

_ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsd="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
<SOAP-ENV:Body>{content}</SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# An XML declaration that names ISO-8859-1 (or Latin-1): the charset nusoap, PHP's common
# SOAP client, declares by default (its soap_defencoding) while it sends PHP's strings as
# they are, UTF-8 these days.
_LATIN1_DECLARATION = re.compile(
    rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])(iso-8859-1|latin-?1)(["'])""", re.IGNORECASE
)


def _true_charset(raw: bytes) -> bytes:
    """The body with its declaration saying UTF-8 when it says Latin-1 but its bytes are
    UTF-8 (non-ASCII, and valid as UTF-8: a real Latin-1 text with accents almost never
    is), so that ``é`` is not stored as ``Ã©``."""
    declared = _LATIN1_DECLARATION.match(raw)
    if declared is None or raw.isascii():
        return raw
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # truly Latin-1
    return _LATIN1_DECLARATION.sub(rb"\1UTF-8\3", raw, count=1)


def parse_call(raw: bytes) -> Params:
    """The ``sendSms`` parameters of a SOAP request."""
    try:
        root: Element = fromstring(_true_charset(raw), forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedInput("the body is not an acceptable SOAP envelope") from exc
    if _local(root.tag) != "Envelope":
        raise InvalidRequest("the body is not a SOAP envelope")
    body = next((c for c in root if _local(c.tag) == "Body"), None)
    call = None if body is None else next(iter(body), None)
    if call is None or _local(call.tag) != OPERATION:
        raise InvalidRequest(f"the only operation is {OPERATION}")
    values = {_local(c.tag): c.text or "" for c in call if _local(c.tag) in PARTS}
    return Params(values)


def _fault(exc: GatewayError | None) -> Response:
    status, code = classify(exc)
    side = "SOAP-ENV:Client" if status < 500 else "SOAP-ENV:Server"
    note = "internal error" if exc is None else exc.message
    content = (
        f"<SOAP-ENV:Fault><faultcode>{side}</faultcode>"
        f"<faultstring>{escape(note)}</faultstring>"
        f"<detail><error>{code}</error></detail></SOAP-ENV:Fault>"
    )
    # SOAP 1.1 section 6.2: a fault is answered with HTTP 500.
    return Response(_ENVELOPE.format(content=content), status_code=500, media_type=XML)


# Errors are faults, those refused before the operation runs (a body over the server's
# limit) included.
router = APIRouter(tags=["smsmobileapi soap"], route_class=error_route_class(_fault))


@router.get("/sendsms/wsdl/sendsms.wsdl", include_in_schema=False)
async def wsdl(request: Request) -> Response:
    parts = "\n".join(f'  <part name="{p}" type="xsd:string"/>' for p in PARTS)
    location = quoteattr(f"{base_url(request)}/sendsms/soap/")
    return Response(_WSDL.format(parts=parts, location=location), media_type=XML)


@at(router, "sendsms/soap", methods=("POST",))
async def soap(request: Request) -> Response:
    # What it raises, the route class answers as a fault.
    answer = await send(request, parse_call(await read_body(request, MAX_BODY_BYTES)))
    content = (
        f'<ns1:sendSmsResponse xmlns:ns1="{NAMESPACE}">'
        f'<return xsi:type="xsd:string">{escape(json.dumps(answer))}</return>'
        "</ns1:sendSmsResponse>"
    )
    return Response(_ENVELOPE.format(content=content), media_type=XML)
