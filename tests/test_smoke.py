from __future__ import annotations

from typing import Any

from tests.support import Running, until


async def test_message_reaches_delivered(gateway: Running, auth: dict[str, str]) -> None:
    r = await gateway.client.post(
        "/v1/messages", json={"to": "+33612345678", "text": "hello"}, headers=auth
    )
    assert r.status_code == 202, r.text
    mid = r.json()["messages"][0]["id"]
    detail: dict[str, Any] = {}

    async def delivered() -> bool:
        nonlocal detail
        detail = (await gateway.client.get(f"/v1/messages/{mid}", headers=auth)).json()
        return bool(detail["status"] == "delivered")

    await until(delivered, "the message to be delivered")
    assert [e["status"] for e in detail["history"]] == ["queued", "sending", "sent", "delivered"]
