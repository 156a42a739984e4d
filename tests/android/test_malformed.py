"""The device API through the shared harness's malformed-input table: what the app never
sends (undecodable bytes, deep nesting, huge numbers, wrong types) is a 4xx in the vendor's
``{"message", "code"}`` shape, and nothing is kept."""

from __future__ import annotations

from typing import Any

import pytest

from tests.android.conftest import PREFIX, Account
from tests.android.test_device_api import APP_BODY
from tests.dialects.harness import (
    BodyRoute,
    Context,
    DialectCase,
    Profile,
    Request,
    run_case,
)
from tests.dialects.malformed import malformed
from tests.support import Running


def _native_send(to: list[str], text: str) -> Request:
    return Request("POST", "/v1/messages", json={"to": to, "text": text})


def _device_token(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {ctx.setup_responses[0]['token']}"}


# Phones send no messages of their own; the profile supplies auth and the error shape.
ANDROID = Profile(
    name="android",
    auth_headers=lambda key: {"Authorization": f"Bearer {key}"},
    send=_native_send,
    lookup=lambda body: Request("GET", f"/v1/messages/{body['messages'][0]['id']}"),
    status_of=lambda body: str(body["status"]),
    error_code_of=lambda body: str(body.get("code", "")),
    ok_status=202,
    bad_request_status=400,
    unauthorized_status=401,
    body_routes=(
        # Registration: FastAPI reads the body (a pydantic model).
        BodyRoute("POST", f"{PREFIX}/device"),
        # State reports of a registered phone: the route reads its body itself.
        BodyRoute(
            "PATCH",
            f"{PREFIX}/message",
            setup=(Request("POST", f"{PREFIX}/device", json=APP_BODY),),
            headers=_device_token,
        ),
    ),
    malformed_code="malformed_input",
)
MALFORMED = malformed(ANDROID, injections=False)


@pytest.mark.parametrize("case", MALFORMED, ids=lambda c: c.label)
async def test_malformed_input(case: DialectCase, running: Running, account: Account) -> None:
    body: Any = await run_case(case, running, ANDROID, account.key, account.id)
    assert set(body) <= {"message", "code"} and body["message"]
    # Registered only by the setup, if at all.
    devices = await running.gateway.services.devices.of_account(account.id)
    assert len(devices) == len(case.setup)
