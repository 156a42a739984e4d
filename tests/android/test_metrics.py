"""What phones do shows in /metrics: the hand-off to a phone, and each state it reports."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.android.conftest import Account, PhoneFactory, make_account, send, wait_status
from tests.support import Running


def _counts(body: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == name
    }


async def test_phone_results_and_hand_offs_are_counted(
    running: Running, account: Account, phone: PhoneFactory
) -> None:
    # Another account's phone, so that each message has exactly one phone to go to.
    other = await make_account(running, "other")
    async with (
        phone() as delivering,
        phone(outcome="failed", private_token=other.key) as failing,
    ):
        delivered = await send(running, account, "+33612345678")
        failed = await send(running, other, "+33612345679")
        await wait_status(running, account, delivered, "delivered")
        await wait_status(running, other, failed, "failed")
    assert len(delivering.messages) == len(failing.messages) == 1

    body = (await running.client.get("/metrics")).text
    assert _counts(body, "textgate_phone_results_total") == {
        (("state", "Processed"),): 2.0,
        (("state", "Sent"),): 1.0,
        (("state", "Delivered"),): 1.0,
        (("state", "Failed"),): 1.0,
    }
    links = _counts(body, "textgate_link_results_total")
    assert links == {(("connector", "phones"), ("result", "sent"), ("status", "ok")): 2.0}
