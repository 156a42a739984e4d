"""Authorised SMTP originators (ASPSMS ``<00number>@``): the address is the credential, so
the database keeps only a keyed digest of it, and lists show it masked."""

from __future__ import annotations

from sqlalchemy import insert, select

from tests.smtp.harness import ASP, ORIGINATOR_ADDRESS, Env, email, send, smtp_gateway
from textgate.config import Settings
from textgate.storage.tables import smtp_originators

RELAYED = "Alerts@Relay.Example"


async def _send(env: Env, sender: str) -> None:
    to = [f"0041791234567@{ASP}"]
    outcome = await send(env, sender, to, email(sender=sender, to=to, subject=None, text="hi"))
    assert outcome.code == 250, outcome


async def test_addresses_are_stored_as_digests_and_listed_masked(settings: Settings) -> None:
    async with smtp_gateway(settings) as env:
        gateway = env.running.gateway
        db = gateway.db
        async with db.read() as conn:
            stored = [r.address for r in await conn.execute(select(smtp_originators))]
        assert stored and all(a.startswith("h1:") for a in stored)
        assert not any("@" in a or ORIGINATOR_ADDRESS.lower() in a for a in stored)
        listed = await gateway.services.originators.of_account(env.account_id)
        local, _, domain = ORIGINATOR_ADDRESS.lower().partition("@")
        assert [o.address for o in listed] == [f"{local[0]}***@{domain}"]
        # The address still authorises mail, in any case.
        await _send(env, ORIGINATOR_ADDRESS.upper())
        [sent] = await env.all_final(1)
        assert sent.recipient == "+41791234567"


async def test_addresses_stored_in_clear_are_digested_at_start(settings: Settings) -> None:
    """A row from before the digests (the address in clear) is replaced when the gateway
    starts, and the address goes on authorising mail."""
    async with smtp_gateway(settings) as env:
        gateway = env.running.gateway
        async with gateway.db.write() as conn:
            await conn.execute(
                insert(smtp_originators).values(
                    address=RELAYED.lower(),
                    account_id=env.account_id,
                    originator="ALERTS",
                    created_at=0,
                )
            )
        assert await gateway.services.originators.digest_stored() == 1
        assert await gateway.services.originators.digest_stored() == 0
        async with gateway.db.read() as conn:
            stored = [r.address for r in await conn.execute(select(smtp_originators))]
        assert RELAYED.lower() not in stored and all(a.startswith("h1:") for a in stored)
        await _send(env, RELAYED)
        [sent] = await env.all_final(1)
        assert sent.sender == "ALERTS"
