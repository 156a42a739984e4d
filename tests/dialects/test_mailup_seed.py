"""The seed's own requests (seed 002), byte for byte with only the host changed, against a
list moved from MailUp: its console number, ListGUID and ListSecret kept, and the seed's
Basic credentials (m59484) as the account's login."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.support import Running
from textgate.services.query import MessageFilter

GUID = "aafa5375-bcf1-4e06-965a-e3a98b626156"
SECRET = "0b7dd2a2-3c8e-4f5c-9a55-3e1cb0e6e64c"
SEED_HOST = "https://sendsms.mailup.com"

# Seed 002, the first request of the page (Fiddler's raw view), with CRLF line ends.
POST_LISTSECRET = (
    "POST https://sendsms.mailup.com/api/v2.0/lists/1/listsecret HTTP/1.1\r\n"
    "User-Agent: Fiddler\r\n"
    "Authorization: Basic bTU5NDg0Ok1KOEYzUVVV\r\n"
    "Host: sendsms.mailup.com\r\n"
    "Content-Length: 55\r\n"
    "Content-Type: application/json;odata=verbose;charset=utf-8\r\n"
    "\r\n"
    "{\r\n"
    '"ListGUID":"aafa5375-bcf1-4e06-965a-e3a98b626156"\r\n'
    "}"
)
GET_LISTSECRET = (
    "GET https://sendsms.mailup.com/api/v2.0/lists/1/listsecret HTTP/1.1\r\n"
    "User-Agent: Fiddler\r\n"
    "Authorization: Basic bTU5NDg0Ok1KOEYzUVVV\r\n"
    "Host: sendsms.mailup.com\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)
DELETE_LISTSECRET = (
    "DELETE https://sendsms.mailup.com/api/v2.0/lists/1/listsecret?listGUID="
    "aafa5375-bcf1-4e06-965a-e3a98b626156 HTTP/1.1\r\n"
    "User-Agent: Fiddler\r\n"
    "Authorization: Basic bTU5NDg0Ok1KOEYzUVVV\r\n"
    "Host: sendsms.mailup.com\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)


async def _raw(running: Running, request: str) -> tuple[int, dict[str, str], Any]:
    """Send ``request`` with the seed's host replaced by the gateway's; the answer."""
    host = running.base_url.removeprefix("http://")
    data = request.replace(SEED_HOST, running.base_url).replace("sendsms.mailup.com", host)
    reader, writer = await asyncio.open_connection(*host.split(":"))
    try:
        writer.write(data.encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
        }
        body = await reader.readexactly(int(headers["content-length"]))
    finally:
        writer.close()
    return status, headers, json.loads(body)


async def _moved_list(running: Running) -> str:
    services = running.gateway.services
    account = await services.accounts.create("acme")
    await running.gateway.credentials.set_login(account.id, "m59484", "MJ8F3QUU")
    await services.lists.console(account.id, 59484)
    await services.lists.create(
        account.id, "customers", default_prefix="39", sms_sender="ACME", guid=GUID.upper()
    )
    return account.id


async def test_the_seeds_listsecret_requests(gateway: Running) -> None:
    account_id = await _moved_list(gateway)
    lists = gateway.gateway.services.lists
    status, headers, body = await _raw(gateway, GET_LISTSECRET)
    # The seed's "Response 1", to the byte count.
    assert (status, headers["content-length"]) == (200, "71")
    assert body == {"Data": {"ListSecret": None}, "Code": "0", "Description": "", "State": "DONE"}
    status, headers, body = await _raw(gateway, POST_LISTSECRET)
    assert status == 200 and headers["content-type"] == "application/json"
    secret = body["Data"]["ListSecret"]
    assert body == {"Data": {"ListSecret": secret}, "Code": "0", "Description": "", "State": "DONE"}
    assert await lists.secret(account_id, 1) == secret
    assert (await _raw(gateway, GET_LISTSECRET))[2]["Data"] == {"ListSecret": secret}
    status, _, body = await _raw(gateway, DELETE_LISTSECRET)
    assert status == 200 and body["Code"] == "0"
    assert await lists.secret(account_id, 1) is None


async def test_the_seeds_send_with_a_kept_list_secret(gateway: Running) -> None:
    """``mailup list-set --secret``: clients keep the ListSecret in their code."""
    account_id = await _moved_list(gateway)
    await gateway.gateway.services.lists.import_secret(account_id, 1, SECRET.upper())
    body = {
        "Content": "Hi [Name], welcome to [City]",
        "ListGuid": GUID,
        "ListSecret": SECRET,
        "Recipient": "+393350000001",
        "CampaignCode": "Welcome messages",
        "DynamicFields": [{"N": "Name", "V": "John"}, {"N": "City", "V": "Cremona"}],
        "isUnicode": 0,
    }
    r = await gateway.client.post(
        "/api/v2.0/sms/59484/1",
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json;odata=verbose;charset=utf-8"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "Data": {"DeliveryId": 1, "Cost": 0.0},
        "Code": "0",
        "Description": "",
        "State": "DONE",
    }
    got = await gateway.client.get(
        "/api/v2.0/sms/59484/1/1", params={"ListGuid": GUID, "ListSecret": SECRET}
    )
    assert got.json()["Data"]["Recipient"] == "+393350000001"
    msgs = await gateway.gateway.services.messages.search(account_id, MessageFilter(), limit=10)
    assert [(m.text, m.sender, m.interface) for m in msgs] == [
        ("Hi John, welcome to Cremona", "ACME", "mailup")
    ]
