"""What the dispatcher tests share: submitting through the submit service and waiting for
the messages to reach a set of statuses."""

from __future__ import annotations

from collections.abc import Sequence

from tests.support import until
from textgate.core.accounts import Account
from textgate.core.message import Message, Status
from textgate.runtime import Gateway
from textgate.services.submit import SubmitRequest


async def submit(
    gw: Gateway, account: Account, numbers: Sequence[str], text: str = "t"
) -> list[str]:
    """The ids of one message per number, as the submit service stored them."""
    result = await gw.services.submit.submit(
        SubmitRequest(account=account, recipients=list(numbers), text=text)
    )
    return [m.id for m in result.messages]


async def reach(
    gw: Gateway, account: Account, ids: Sequence[str], statuses: set[Status]
) -> list[Message]:
    """The messages, once every one is in one of ``statuses``."""
    found: list[Message] = []

    async def reached() -> bool:
        nonlocal found
        found = [await gw.services.messages.get(account.id, i) for i in ids]
        return all(m.status in statuses for m in found)

    await until(reached, f"every message in {sorted(statuses)}")
    return found
