"""Binding to the SMPP server: credentials, the bind limit, the IP allowlist, the requests
a connection may send before and after its bind, enquire_link, unbind and shutdown."""

from __future__ import annotations

import asyncio

import pytest
import smpplib.consts as c

from tests.smpp_server.harness import (
    BIND_KINDS,
    connected,
    smpp_gateway,
)
from tests.support import until
from textgate.config import Settings

OK = c.SMPP_ESME_ROK


@pytest.mark.parametrize("kind", BIND_KINDS)
async def test_bind_with_good_and_bad_credentials(settings: Settings, kind: str) -> None:
    async with smpp_gateway(settings) as env:
        esme = await connected(env)
        unknown = await esme.call("bind", kind, system_id="nobody")
        assert (unknown.command, unknown.status) == (f"bind_{kind}_resp", c.SMPP_ESME_RINVSYSID)
        wrong = await esme.call("bind", kind, password="wrong")
        assert wrong.status == c.SMPP_ESME_RINVPASWD
        assert env.server.binds(env.account_id) == 0
        good = await esme.call("bind", kind)
        assert (good.command, good.status) == (f"bind_{kind}_resp", OK)
        assert env.server.binds(env.account_id) == 1
        again = await esme.call("bind", kind)
        assert again.status == c.SMPP_ESME_RALYBND
        await esme.call("close")
        await until(lambda: env.server.binds(env.account_id) == 0, "the bind to end")


async def test_the_bind_limit_per_account(settings: Settings) -> None:
    async with smpp_gateway(settings, smpp={"max_binds_per_account": 2}) as env:
        first, second, third = [await connected(env) for _ in range(3)]
        assert (await first.call("bind", "transmitter")).status == OK
        assert (await second.call("bind", "receiver")).status == OK
        refused = await third.call("bind", "transceiver")
        assert refused.status == c.SMPP_ESME_RBINDFAIL
        assert env.server.binds(env.account_id) == 2
        # A bind that ends makes room for another.
        await first.call("close")
        await until(lambda: env.server.binds(env.account_id) == 1, "the first bind to end")
        assert (await third.call("bind", "transceiver")).status == OK
        assert env.server.binds(env.account_id) == 2
        for esme in (second, third):
            await esme.call("close")


async def test_a_bind_from_outside_the_ip_allowlist_is_refused(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        await env.services.accounts.update_settings(env.account_id, {"allowed_ips": ["10.0.0.0/8"]})
        esme = await connected(env)
        refused = await esme.call("bind", "transmitter")
        assert refused.status == c.SMPP_ESME_RBINDFAIL
        assert env.server.binds(env.account_id) == 0
        await env.services.accounts.update_settings(
            env.account_id, {"allowed_ips": ["10.0.0.0/8", "127.0.0.1"]}
        )
        assert (await esme.call("bind", "transmitter")).status == OK
        await esme.call("close")


async def test_requests_before_a_bind_are_refused(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        esme = await connected(env)
        submit = await esme.call("submit")
        assert (submit.command, submit.status) == ("submit_sm_resp", c.SMPP_ESME_RINVBNDSTS)
        query = await esme.call(
            "request", "query_sm", message_id="x", source_addr_ton=0, source_addr=""
        )
        assert (query.command, query.status) == ("generic_nack", c.SMPP_ESME_RINVBNDSTS)
        assert await env.messages() == []
        # The connection is still usable: it binds and submits.
        assert (await esme.call("bind", "transmitter")).status == OK
        assert (await esme.call("submit")).status == OK
        assert len(await env.messages()) == 1
        await esme.call("close")


async def test_enquire_link_and_unbind(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        esme = await connected(env)
        before = await esme.call("request", "enquire_link")
        assert (before.command, before.status) == ("enquire_link_resp", OK)
        assert (await esme.call("bind", "transceiver")).status == OK
        after = await esme.call("request", "enquire_link")
        assert (after.command, after.status) == ("enquire_link_resp", OK)
        bye = await esme.call("request", "unbind")
        assert (bye.command, bye.status) == ("unbind_resp", OK)
        await until(lambda: env.server.connections == 0, "the server to close the connection")
        assert env.server.binds(env.account_id) == 0
        await esme.call("close")


async def test_a_connection_that_does_not_bind_is_closed(settings: Settings) -> None:
    async with smpp_gateway(settings, smpp={"bind_timeout_seconds": 0.2}) as env:
        esme = await connected(env)
        await until(lambda: env.server.connections == 1, "the connection to be served")
        await until(lambda: env.server.connections == 0, "the unbound connection to close")
        await esme.call("close")


async def test_stopping_the_gateway_unbinds_every_session(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        esme = await connected(env)
        assert (await esme.call("bind", "transceiver")).status == OK
        server = env.server
        loop = asyncio.get_running_loop()
        started = loop.time()
        _, unbind = await asyncio.gather(server.stop(), esme.call("answer_unbind"))
        assert unbind.command == "unbind"
        # The answered unbind ended the session: the stop did not wait out a timeout.
        assert loop.time() - started < 4.0
        assert server.connections == 0 and server.binds(env.account_id) == 0
        left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("smpp")]
        assert left == []
        await esme.call("close")


async def test_guessing_passwords_runs_out_of_budget(settings: Settings) -> None:
    async with smpp_gateway(settings) as env:
        budget = env.services.login_limiter.budget.per_login
        esme = await connected(env)
        for _ in range(budget):
            assert (await esme.call("bind", "transmitter", password="guess")).status == (
                c.SMPP_ESME_RINVPASWD
            )
        # Past the budget even the right password is refused, unchecked.
        refused = await esme.call("bind", "transmitter")
        assert refused.status == c.SMPP_ESME_RBINDFAIL
        assert env.server.binds(env.account_id) == 0
