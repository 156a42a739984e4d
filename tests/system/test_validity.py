"""A client's own validity, end to end: submitted through the native API, it ends the wait
for a carrier that keeps throttling (expired, ``validity``) long before the gateway's
default validity, while a message without one goes on waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support import running_gateway, smpp_carrier, until
from textgate.config import DispatchSettings, Settings
from textgate.connectors.smpp.smsc import Smsc, SmscOptions
from textgate.connectors.smpp.smsc_rules import SmscRule
from textgate.core.message import Status

THROTTLED = "+3361299"


async def test_a_validity_the_client_asked_for_ends_the_wait_for_a_throttling_carrier(
    settings: Settings,
) -> None:
    # Every submit_sm to these numbers is throttled: the messages wait for the link (no
    # attempt used). The gateway's own validity is an hour; the client's, a second.
    options = SmscOptions(
        port=0,
        receipt_delay_ms=20,
        rules=(SmscRule(prefix=THROTTLED[1:], submit_status="ESME_RTHROTTLED"),),
    )
    async with Smsc(options) as smsc:
        carrier = smpp_carrier(smsc.port, throttle_backoff_initial=0.05, throttle_backoff_max=0.2)
        dispatch = DispatchSettings(
            poll_seconds=0.05,
            wait_min_seconds=0.05,
            wait_max_seconds=0.2,
            validity_seconds=3600,
        )
        updated = settings.model_copy(update={"connectors": [carrier], "dispatch": dispatch})
        async with running_gateway(updated) as gw:
            accounts = gw.gateway.services.accounts
            account = await accounts.create("validity")
            headers = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
            ids: dict[str, str] = {}
            for label, valid_for in (("short", timedelta(seconds=1)), ("default", None)):
                body: dict[str, str] = {"to": f"{THROTTLED}000{len(ids)}", "text": "code 4711"}
                if valid_for is not None:
                    body["valid_until"] = (datetime.now(UTC) + valid_for).isoformat()
                r = await gw.client.post("/v1/messages", json=body, headers=headers)
                assert r.status_code == 202, r.text
                ids[label] = r.json()["messages"][0]["id"]
            messages = gw.gateway.services.messages

            async def short_expired() -> bool:
                return (await messages.get(account.id, ids["short"])).status == Status.EXPIRED

            await until(short_expired, "the message with a one-second validity expired")
            short = await messages.get(account.id, ids["short"])
            default = await messages.get(account.id, ids["default"])
    assert (short.error_code, short.attempts) == ("validity", 0)
    assert short.events[-1].detail is not None and "validity ended" in short.events[-1].detail
    # The one without a validity of its own waits on, within the gateway's hour.
    assert default.status in {Status.QUEUED, Status.SENDING}
