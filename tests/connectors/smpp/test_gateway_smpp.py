"""End to end through SMPP: native API -> dispatcher -> SMPP connector -> an SMSC -> receipt."""

from __future__ import annotations

from typing import Any

import pytest

from tests.connectors.smpp.peer import running_smsc
from tests.support import running_gateway, smpp_carrier, until
from textgate.config import Settings


async def _wait(client: Any, headers: dict[str, str], mid: str, want: str) -> Any:
    detail: Any = None

    async def reached() -> bool:
        nonlocal detail
        detail = (await client.get(f"/v1/messages/{mid}", headers=headers)).json()
        return bool(detail["status"] == want)

    await until(reached, f"{mid} to be {want}")
    return detail


async def test_a_long_message_goes_out_over_smpp_and_its_receipt_comes_back(
    settings: Settings,
) -> None:
    async with running_smsc() as smsc:
        smpp = smpp_carrier(smsc.port, system_id="esme", password="secret", window=10)
        async with running_gateway(settings.model_copy(update={"connectors": [smpp]})) as gw:
            accounts = gw.gateway.services.accounts
            account = await accounts.create("smpp-user")
            headers = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
            text = "Price 5€ " + "x" * 160
            r = await gw.client.post(
                "/v1/messages",
                json={"to": "+33612345678", "text": text, "from": "ACME"},
                headers=headers,
            )
            assert r.status_code == 202 and r.json()["messages"][0]["segments"] == 2
            mid = r.json()["messages"][0]["id"]
            sent = await _wait(gw.client, headers, mid, "sent")
            parts = smsc.submits
            assert [p.destination_addr for p in parts] == ["33612345678", "33612345678"]
            assert {p.source_addr for p in parts} == {"ACME"}
            stored = await gw.gateway.services.messages.get(account.id, mid)
            assert stored.connector == "carrier" and stored.external_id
            resp = await smsc.push_receipt(stored.external_id, "DELIVRD")
            assert resp.command_status == 0
            done = await _wait(gw.client, headers, mid, "delivered")
            assert [e["status"] for e in done["history"]] == [
                "queued",
                "sending",
                "sent",
                "delivered",
            ]
            assert sent["status"] == "sent"


@pytest.mark.parametrize(
    ("passed_on", "expected"),
    [
        # 5.2.16 / 7.1.1: absolute, UTC (tenths of a second, offset 00, "+"); none asked:
        # empty, the SMSC's own default.
        (True, {"33612345678": "991231235959500+", "33612345679": ""}),
        # validity_period = false: an SMSC that refuses the field never sees it.
        (False, {"33612345678": "", "33612345679": ""}),
    ],
    ids=["passed on", "validity_period off"],
)
async def test_the_validity_a_client_asked_for_is_passed_on_to_the_smsc(
    settings: Settings, passed_on: bool, expected: dict[str, str]
) -> None:
    async with running_smsc() as smsc:
        smpp = smpp_carrier(
            smsc.port, system_id="esme", password="secret", validity_period=passed_on
        )
        async with running_gateway(settings.model_copy(update={"connectors": [smpp]})) as gw:
            accounts = gw.gateway.services.accounts
            account = await accounts.create("validity")
            headers = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
            for to, extra in (
                ("+33612345678", {"valid_until": "2099-12-31T23:59:59.5Z"}),
                ("+33612345679", {}),
            ):
                r = await gw.client.post(
                    "/v1/messages", json={"to": to, "text": "code 4711", **extra}, headers=headers
                )
                assert r.status_code == 202, r.text
                await _wait(gw.client, headers, r.json()["messages"][0]["id"], "sent")
            sent = {p.destination_addr: p.validity_period for p in smsc.submits}
    assert sent == expected
