"""Malformed input, for every HTTP dialect through the shared harness: :func:`malformed`
derives, from a profile's body routes, the cases of input no client should send
(undecodable bytes, deep nesting, huge numbers and bodies, wrong types, injection strings).
Each dialect refuses them in its own shape, never with a 5xx (a SOAP fault, HTTP 500 by
SOAP 1.1, blames the client), logs no error and stores nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tests.dialects.harness import NUMBER, Check, DialectCase, Profile, Stored
from textgate.config import HttpSettings


class Flaw(StrEnum):
    UNREADABLE = "cannot be decoded"
    """The dialect's answer to a body it cannot decode (``Profile.malformed_code``)."""
    INVALID = "decodes, but is no request"
    """Any bad-request answer of the dialect."""
    TOO_LARGE = "over the body limit"
    """413, in the dialect's shape."""


@dataclass(frozen=True)
class BadBody:
    name: str
    body: bytes
    flaw: Flaw


_DEEP, _HALF = 100_000, 50_000
OVER_LIMIT = HttpSettings().max_body_bytes + 1024
"""A body over the server's default limit, whatever the route."""

BAD_JSON: tuple[BadBody, ...] = (
    BadBody("invalid UTF-8", b"\xff", Flaw.UNREADABLE),
    BadBody("invalid UTF-8 in a string", b'{"text": "caf\xe9"}', Flaw.UNREADABLE),
    BadBody("stray UTF-16 BOM", b"\xff\xfe" + b'{"text": "hi"}', Flaw.UNREADABLE),
    BadBody("UTF-16 text", '{"text": "hi"}'.encode("utf-16-le"), Flaw.UNREADABLE),
    BadBody("not JSON", b"{not json", Flaw.UNREADABLE),
    BadBody("truncated", b'{"text": "hi", "to": [', Flaw.UNREADABLE),
    BadBody("arrays nested 100,000 deep", b"[" * _DEEP + b"]" * _DEEP, Flaw.UNREADABLE),
    # Under every route's own body limit (256 KiB at the least).
    BadBody("objects nested 50,000 deep", b'{"":' * _HALF + b"1" + b"}" * _HALF, Flaw.UNREADABLE),
    BadBody("arrays nested 500 deep", b'{"to": ' + b"[" * 500 + b"]" * 500 + b"}", Flaw.UNREADABLE),
    BadBody("an integer of 5,000 digits", b'{"to": ' + b"9" * 5000 + b"}", Flaw.UNREADABLE),
    BadBody("a float of 5,000 digits", b'{"to": 1' + b"0" * 5000 + b".5}", Flaw.UNREADABLE),
    # Not JSON, though some parsers take it (then the field is refused).
    BadBody("NaN", b'{"to": NaN}', Flaw.INVALID),
    BadBody("an array, not an object", b'["+33612345678", "hi"]', Flaw.INVALID),
    BadBody("a string, not an object", b'"hello"', Flaw.INVALID),
    BadBody("null", b"null", Flaw.INVALID),
    BadBody(
        "fields of the wrong types",
        json.dumps(
            {k: {"x": [1, None]} for k in ("to", "text", "recipient", "message", "name", "url")}
        ).encode(),
        Flaw.INVALID,
    ),
    BadBody("over the body limit", b'{"text": "' + b"a" * OVER_LIMIT + b'"}', Flaw.TOO_LARGE),
)

INJECTIONS = ("' OR 1=1 --", "<script>alert(1)</script>", "'); DROP TABLE messages; --")


def malformed(
    p: Profile, bodies: tuple[BadBody, ...] = BAD_JSON, *, injections: bool = True
) -> list[DialectCase]:
    """Every bad body at each of the profile's body routes, and (``injections``) injection
    strings in the messages the profile sends: as recipients they are refused, as text
    stored as written."""
    client_fault = () if p.blames_client is None else (_blames_client(p.blames_client),)
    refused = p.bad_request_status
    assert p.blames_client is not None or 400 <= refused < 500, p.name
    cases = []
    for route in p.body_routes:
        for bad in bodies:
            status = 413 if bad.flaw is Flaw.TOO_LARGE else refused
            cases.append(
                DialectCase(
                    f"{p.name}: {route.method} {route.path}: {bad.name}",
                    route.carrying(bad.body),
                    setup=route.setup,
                    expect_status=status,
                    expect_error_code=p.malformed_code if bad.flaw is Flaw.UNREADABLE else None,
                    expect_stored=(),
                    checks=client_fault,
                    quiet=True,
                )
            )
    for text in INJECTIONS if injections else ():
        cases.append(
            DialectCase(
                f"{p.name}: {text!r} as the recipient",
                p.send([text], "hi"),
                expect_status=p.invalid_number_status or refused,
                expect_stored=(),
                checks=client_fault,
                quiet=True,
            )
        )
        cases.append(
            DialectCase(
                f"{p.name}: {text!r} as the text",
                p.send([NUMBER], text),
                expect_status=p.ok_status,
                expect_stored=(Stored(NUMBER, text=text),),
                quiet=True,
            )
        )
    return cases


def _blames_client(blames: Callable[[Any], bool]) -> Check:
    def check(world: Any, body: Any) -> None:
        assert blames(body), body

    return check
