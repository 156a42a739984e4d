"""End to end through SMPP with an SMSC that sends everything as data_sm (SMPP 3.4 4.7.1):
native API -> dispatcher -> SmppConnector -> the simulator -> data_sm receipt and MO back ->
storage, checked through the API."""

from __future__ import annotations

from typing import Any

from tests.support import running_gateway, until
from textgate.config import ConnectorSettings, InboundSettings, Settings
from textgate.connectors.smpp.pdus import DataSmResp
from textgate.connectors.smpp.smsc import DeliverAs, Smsc, SmscOptions

OUR_NUMBER = "+33700000001"


async def _poll(client: Any, url: str, headers: dict[str, str], done: Any) -> Any:
    body: Any = None

    async def check() -> bool:
        nonlocal body
        body = (await client.get(url, headers=headers)).json()
        return bool(done(body))

    await until(check, url)
    return body


async def test_receipts_and_mo_sent_as_data_sm_reach_storage(settings: Settings) -> None:
    options = SmscOptions(
        port=0, receipt_delay_ms=20, receipts_as=DeliverAs.DATA_SM, mo_as=DeliverAs.DATA_SM
    )
    async with Smsc(options) as smsc:
        smpp = ConnectorSettings(
            name="carrier",
            type="smpp",
            options={
                "host": "127.0.0.1",
                "port": smsc.port,
                "system_id": "textgate",
                "password": "textgate",
                "reconnect_initial": 0.05,
            },
        )
        update = {"connectors": [smpp], "inbound": InboundSettings(numbers={OUR_NUMBER: "acme"})}
        async with running_gateway(settings.model_copy(update=update)) as gw:
            accounts = gw.gateway.services.accounts
            account = await accounts.create("acme")
            headers = {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}
            r = await gw.client.post(
                "/v1/messages",
                json={"to": "+33612345678", "text": "Your code is 1234", "from": "ACME"},
                headers=headers,
            )
            assert r.status_code == 202, r.text
            mid = r.json()["messages"][0]["id"]
            done = await _poll(
                gw.client,
                f"/v1/messages/{mid}",
                headers,
                lambda d: d["status"] in ("delivered", "undelivered", "failed"),
            )
            assert [e["status"] for e in done["history"]] == [
                "queued",
                "sending",
                "sent",
                "delivered",
            ]
            # Stored first, then answered: the data_sm_resp (ESME_ROK) follows shortly.
            await until(lambda: smsc.receipts_sent >= 1, "the data_sm_resp")

            text = "A reply the SMSC sends as data_sm. " * 6  # two parts
            resp = await smsc.send_mo(OUR_NUMBER, "+33698765432", text, split="sar")
            assert isinstance(resp, DataSmResp) and resp.command_status == 0
            listed = await _poll(gw.client, "/v1/inbound", headers, lambda b: bool(b["data"]))
            [item] = listed["data"]
            assert item["text"] == text and item["complete"] is True
            assert (item["from"], item["to"]) == ("+33698765432", OUR_NUMBER)
