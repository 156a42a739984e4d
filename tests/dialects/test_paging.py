"""Cursor paging over the real server at the largest page size: a full page still says
where the next one starts, and following the cursors returns every row once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.support import Running, running_gateway
from textgate.config import InboundSettings, Settings
from textgate.core.inbound import InboundMessage
from textgate.core.mail import Email
from textgate.services.inbound import MAX_PAGE as MAX_INBOUND_PAGE
from textgate.services.inbound import InboundFilter
from textgate.services.query import MAX_PAGE

OURS = "+33700000001"
EXTRA = 7
"""Rows beyond one largest page."""


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Running]:
    inbound = InboundSettings(numbers={OURS: "acme"})
    # No dispatcher: statuses stay put, and nothing but the listing runs beside the test.
    quiet = settings.model_copy(update={"inbound": inbound, "run_dispatcher": False})
    async with running_gateway(quiet) as r:
        yield r


async def _key(running: Running) -> dict[str, str]:
    accounts = running.gateway.services.accounts
    account = await accounts.create("acme")
    return {"Authorization": f"Bearer {(await accounts.issue_key(account.id)).token}"}


async def _walk(
    client: httpx.AsyncClient, path: str, auth: dict[str, str], limit: int
) -> list[list[str]]:
    """The ids of every page, following next_cursor until it is null."""
    pages: list[list[str]] = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        r = await client.get(path, params=params, headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append([item["id"] for item in body["data"]])
        if body["next_cursor"] is None:
            return pages
        assert len(pages) < 10, "the cursor does not move"
        params = {"limit": limit, "cursor": body["next_cursor"]}


async def test_messages_page_at_the_largest_size(running: Running) -> None:
    auth = await _key(running)
    total = MAX_PAGE + EXTRA
    numbers = [f"+336{i:08d}" for i in range(total)]
    async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as client:
        r = await client.post("/v1/messages", json={"to": numbers, "text": "hi"}, headers=auth)
        assert r.status_code == 202, r.text
        submitted = {m["id"] for m in r.json()["messages"]}
        assert len(submitted) == total
        pages = await _walk(client, "/v1/messages", auth, MAX_PAGE)
        assert [len(p) for p in pages] == [MAX_PAGE, EXTRA]
        ids = [i for page in pages for i in page]
        assert len(ids) == len(set(ids)) and set(ids) == submitted
        assert ids == sorted(ids, reverse=True)  # newest first, across the page boundary
        # A page exactly as large as what is left is the last one: no cursor to an empty page.
        last = await client.get(
            "/v1/messages", params={"limit": EXTRA, "cursor": pages[0][-1]}, headers=auth
        )
        assert last.json()["next_cursor"] is None and len(last.json()["data"]) == EXTRA
        # Smaller pages walk the same rows.
        small = await _walk(client, "/v1/messages", auth, 400)
        assert [i for page in small for i in page] == ids


async def test_inbound_pages_at_the_largest_size(running: Running) -> None:
    auth = await _key(running)
    # Stored through the repository the inbound sink writes to, many at once.
    repo = running.gateway.inbound_repo
    acme = await running.gateway.services.accounts.by_name("acme")
    total = MAX_INBOUND_PAGE + EXTRA
    at = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    items = [
        InboundMessage(
            connector="sim", sender=f"+336{i:08d}", recipient=OURS, text=f"n{i}", received_at=at
        )
        for i in range(total)
    ]
    await repo.store(items, lambda _to: acme.id)
    stored = {i.id for i in await repo.search(acme.id, InboundFilter(), limit=total + 1)}
    assert len(stored) == total
    async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as client:
        pages = await _walk(client, "/v1/inbound", auth, MAX_INBOUND_PAGE)
    assert [len(p) for p in pages] == [MAX_INBOUND_PAGE, EXTRA]
    ids = [i for page in pages for i in page]
    assert len(ids) == len(set(ids)) and set(ids) == stored
    assert ids == sorted(ids, reverse=True)


async def test_emails_page_ends_where_the_rows_end(running: Running) -> None:
    """GET /v1/emails pages with ``before``: a last page that is exactly full has no
    cursor, so a client never asks for an empty page."""
    auth = await _key(running)
    acme = await running.gateway.services.accounts.by_name("acme")
    mail = running.gateway.services.mail
    queued = [
        await mail.queue(
            Email("gw@example.com", ("ops@example.com",), f"n{i}", text="x"),
            account_id=acme.id,
            source="test",
        )
        for i in range(4)
    ]
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        first = (await client.get("/v1/emails", params={"limit": 2}, headers=auth)).json()
        assert first["next_before"] is not None
        rest = await client.get(
            "/v1/emails", params={"limit": 2, "before": first["next_before"]}, headers=auth
        )
        second = rest.json()
    assert second["next_before"] is None
    listed = [m["id"] for m in first["data"] + second["data"]]
    assert listed == sorted(queued, reverse=True)
