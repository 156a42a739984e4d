"""An open bind does not outlive its login: removed, set again, or no longer allowed from
the bind's address, the bind ends within ``login_recheck_seconds``; until then it goes on
as the API's cached keys do."""

from __future__ import annotations

import smpplib.consts as c

from tests.smpp_server.harness import PASSWORD, SYSTEM_ID, connected, smpp_gateway
from tests.support import ShiftedClock, until
from textgate.config import Settings

OK = c.SMPP_ESME_ROK


async def test_a_removed_login_refuses_the_next_submit_and_ends_the_bind(
    settings: Settings,
) -> None:
    clock = ShiftedClock()
    # A recheck interval the test's own time never reaches: only the clock moves it on.
    async with smpp_gateway(settings, smpp={"login_recheck_seconds": 600}, clock=clock) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "transmitter")).status == OK
        assert (await esme.call("submit")).status == OK
        await env.services.smpp_logins.remove(env.account_id, SYSTEM_ID)
        # Within the interval the bind goes on with what it read at its bind.
        assert (await esme.call("submit")).status == OK
        clock.advance(601)
        refused = await esme.call("submit")
        assert (refused.command, refused.status) == ("submit_sm_resp", c.SMPP_ESME_RINVBNDSTS)
        # The server ends the bind (SMPP 3.4 4.2) and frees its place.
        unbind = await esme.call("answer_unbind")
        assert unbind.command == "unbind"
        await until(lambda: env.server.binds(env.account_id) == 0, "the bind to end")
        assert len(await env.messages()) == 2  # the refused submit stored nothing


async def test_an_idle_receiver_is_unbound_when_its_password_is_set_again(
    settings: Settings,
) -> None:
    async with smpp_gateway(settings, smpp={"login_recheck_seconds": 0.2}) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "receiver")).status == OK
        await env.services.smpp_logins.set_login(env.account_id, SYSTEM_ID, "newpass")
        # Nothing comes from a receiver: the server's own recheck finds the change.
        unbind = await esme.call("answer_unbind")
        assert unbind.command == "unbind"
        await until(lambda: env.server.binds(env.account_id) == 0, "the bind to end")
        again = await connected(env)
        assert (await again.call("bind", "receiver", password=PASSWORD)).status == (
            c.SMPP_ESME_RINVPASWD
        )
        assert (await again.call("bind", "receiver", password="newpass")).status == OK


async def test_a_bind_outside_a_new_ip_allowlist_ends_and_unchanged_binds_go_on(
    settings: Settings,
) -> None:
    clock = ShiftedClock()
    async with smpp_gateway(settings, smpp={"login_recheck_seconds": 0.2}, clock=clock) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "transceiver")).status == OK
        await env.services.accounts.update_settings(env.account_id, {"allowed_ips": ["127.0.0.1"]})
        # Past the interval a submit reads the login and rules again: they still admit it.
        clock.advance(1)
        assert (await esme.call("submit")).status == OK
        assert env.server.binds(env.account_id) == 1
        await env.services.accounts.update_settings(env.account_id, {"allowed_ips": ["10.0.0.0/8"]})
        unbind = await esme.call("answer_unbind")
        assert unbind.command == "unbind"
        await until(lambda: env.server.binds(env.account_id) == 0, "the bind to end")
