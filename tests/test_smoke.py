from __future__ import annotations

import asyncio

from tests.support import Running


async def test_message_reaches_delivered(gateway: Running, auth: dict[str, str]) -> None:
    r = await gateway.client.post(
        "/v1/messages", json={"to": "+33612345678", "text": "hello"}, headers=auth
    )
    assert r.status_code == 202, r.text
    mid = r.json()["messages"][0]["id"]
    for _ in range(100):
        detail = (await gateway.client.get(f"/v1/messages/{mid}", headers=auth)).json()
        if detail["status"] == "delivered":
            break
        await asyncio.sleep(0.05)
    assert [e["status"] for e in detail["history"]] == ["queued", "sending", "sent", "delivered"]
