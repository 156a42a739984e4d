"""The native REST API: case table + shared conformance cases through the real server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.dialects.harness import (
    NUMBER,
    BodyRoute,
    DialectCase,
    Profile,
    Request,
    Stored,
    conformance,
    run_case,
)
from tests.dialects.malformed import malformed
from tests.support import Running


def _send(to: list[str], text: str) -> Request:
    return Request("POST", "/v1/messages", json={"to": to, "text": text})


NATIVE = Profile(
    name="native",
    auth_headers=lambda key: {"Authorization": f"Bearer {key}"},
    send=_send,
    lookup=lambda body: Request("GET", f"/v1/messages/{body['messages'][0]['id']}"),
    status_of=lambda body: str(body["status"]),
    error_code_of=lambda body: str(body["error"]["code"]),
    ok_status=202,
    bad_request_status=400,
    unauthorized_status=401,
    status_word=lambda message: message.status.value,
    # The submit reads its body itself; FastAPI reads the others' (pydantic models).
    body_routes=(BodyRoute("POST", "/v1/messages"), BodyRoute("POST", "/v1/webhooks")),
    malformed_code="malformed_input",
)

FR2 = "+33698765432"
GB = "+447400123456"

CASES = [
    DialectCase(
        "one recipient as a string",
        Request("POST", "/v1/messages", json={"to": NUMBER, "text": "hello", "from": "ACME"}),
        expect_status=202,
        expect_json={"accepted": 1, "rejected": 0},
        expect_stored=(Stored(NUMBER, status=None, encoding="gsm7", segments=1, sender="ACME"),),
    ),
    DialectCase(
        "national number without default country is rejected, others accepted",
        Request("POST", "/v1/messages", json={"to": [NUMBER, "0612345678", FR2], "text": "x"}),
        expect_status=202,
        expect_json={"accepted": 2, "rejected": 1},
        expect_stored=(Stored("0612345678", status="rejected"), Stored(NUMBER), Stored(FR2)),
    ),
    DialectCase(
        "00 international prefix",
        _send(["0044 7400 123456"], "hi"),
        expect_status=202,
        expect_stored=(Stored(GB),),
    ),
    DialectCase(
        "not a number",
        _send(["ACME"], "hi"),
        expect_status=400,
        expect_error_code="invalid_number",
        expect_stored=(),
    ),
    DialectCase(
        "empty text",
        _send([NUMBER], ""),
        expect_status=400,
        expect_error_code="invalid_request",
        expect_stored=(),
    ),
    DialectCase(
        "NUL in text",
        _send([NUMBER], "a\x00b"),
        expect_status=400,
        expect_error_code="invalid_request",
        expect_stored=(),
    ),
    DialectCase(
        "sender too long",
        Request("POST", "/v1/messages", json={"to": NUMBER, "text": "x", "from": "ABCDEFGHIJKL"}),
        expect_status=400,
        expect_error_code="invalid_sender",
        expect_stored=(),
    ),
    DialectCase(
        "malformed JSON never gets a 500",
        Request(
            "POST",
            "/v1/messages",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        ),
        expect_status=400,
        expect_error_code="malformed_input",
        expect_stored=(),
    ),
    DialectCase(
        "unknown field",
        Request("POST", "/v1/messages", json={"to": NUMBER, "text": "x", "colour": "red"}),
        expect_status=400,
        expect_stored=(),
    ),
    DialectCase(
        "scheduled in the future",
        Request(
            "POST",
            "/v1/messages",
            json={"to": NUMBER, "text": "later", "schedule_at": "2999-01-01T00:00:00Z"},
        ),
        expect_status=202,
        expect_json={"accepted": 1},
        expect_stored=(Stored(NUMBER, status="scheduled"),),
    ),
    DialectCase(
        "valid until a set time",
        Request(
            "POST",
            "/v1/messages",
            json={"to": NUMBER, "text": "code 4711", "valid_until": "2999-01-01T01:00:00+01:00"},
        ),
        expect_status=202,
        expect_json={"accepted": 1},
        expect_stored=(Stored(NUMBER, valid_until=datetime(2999, 1, 1, tzinfo=UTC)),),
    ),
    DialectCase(
        "valid until a time past",
        Request(
            "POST",
            "/v1/messages",
            json={"to": NUMBER, "text": "late", "valid_until": "2020-01-01T00:00:00Z"},
        ),
        expect_status=400,
        expect_error_code="invalid_validity",
        expect_stored=(),
    ),
    DialectCase(
        "valid until before its schedule",
        Request(
            "POST",
            "/v1/messages",
            json={
                "to": NUMBER,
                "text": "later",
                "schedule_at": "2999-01-02T00:00:00Z",
                "valid_until": "2999-01-01T00:00:00Z",
            },
        ),
        expect_status=400,
        expect_error_code="invalid_validity",
        expect_stored=(),
    ),
    DialectCase(
        "forced ucs2",
        Request("POST", "/v1/messages", json={"to": NUMBER, "text": "abc", "encoding": "ucs2"}),
        expect_status=202,
        expect_stored=(Stored(NUMBER, encoding="ucs2"),),
    ),
    DialectCase(
        "unknown message",
        Request("GET", "/v1/messages/01M808BYXYSPR1BQ468QW43ST0"),
        expect_status=404,
        expect_error_code="not_found",
    ),
    DialectCase(
        "account",
        Request("GET", "/v1/account"),
        expect_status=200,
        expect_json={"name": "acme"},
    ),
    DialectCase(
        "wrong key",
        Request("GET", "/v1/account", headers={"Authorization": "Bearer tg_abc_def"}),
        expect_status=401,
        expect_error_code="authentication_failed",
    ),
]


@pytest.mark.parametrize(
    "case", [*CASES, *conformance(NATIVE), *malformed(NATIVE)], ids=lambda c: c.label
)
async def test_native(case: DialectCase, gateway: Running, api_key: str) -> None:
    account = await gateway.gateway.services.accounts.authenticate(api_key)
    body: Any = await run_case(case, gateway, NATIVE, api_key, account.id)
    assert body is not None
