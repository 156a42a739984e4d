"""The account rules are one decision, made by the submit service, whatever the interface.

Each :class:`RuleCase` sends the same request (recipients, text, sender) under the same
account state through every interface that submits: the native API, smsend, MailUp,
SMSmobileAPI (REST and SOAP), LabsMobile's JSON API, LabsMobile and ASPSMS email
(``textsms@``, ``<number>@`` and ``xml@``, real SMTP on loopback), the dashboard's send
form and the CLI's ``send``. Every
interface must refuse it for the same rule, each in its own words (:attr:`Interface.words`),
and leave the same rows stored (:attr:`RuleCase.stored`, read from storage).

What is stored follows ``services.submit``: a refusal of the request itself (IP allowlist,
batch limit, sender) or of every recipient stores nothing; a refused recipient among
accepted ones is stored ``rejected`` with the rule's reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.dialects.harness import NUMBER, secrets_stay_out_of_logs
from tests.dialects.rules_interfaces import ACCEPTED, INTERFACES, Interface, World
from tests.smtp.harness import (
    PASSWORD,
    Env,
    smtp_gateway,
)
from textgate.config import Settings
from textgate.core.message import Status
from textgate.core.policy import Reason
from textgate.core.pricing import parse_amount
from textgate.services.query import MessageFilter
from textgate.services.submit import SubmitRequest

FR = NUMBER
FR2 = "+33698765432"
US = "+12015550123"
TEXT = "Your code is 4711"


@dataclass(frozen=True)
class RuleCase:
    """One request under one account state, and its one outcome on every interface."""

    rule: str
    to: tuple[str, ...]
    refused: Reason | None
    """The rule that refuses the request whole (None: it is accepted)."""
    stored: tuple[tuple[str, str], ...]
    """Exactly the account's messages afterwards: (recipient, ``accepted`` or the reason of a
    ``rejected`` row); ``before`` sends included."""
    rules: Mapping[str, Any] = field(default_factory=dict)
    credit: str | None = None
    opt_outs: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    """Numbers the same text went to first (through the submit service)."""
    sender: str | None = None


_SENDER_RULES = {"allowed_senders": ["ACME"], "default_sender": "Other"}
_PRICED = {"price_default": "1"}

CASES: tuple[RuleCase, ...] = (
    RuleCase(
        "ip allowlist",
        (FR,),
        Reason.IP_NOT_ALLOWED,
        (),
        rules={"allowed_ips": ["192.0.2.1"]},
    ),
    RuleCase(
        "batch limit over the whole request",
        (FR, FR2),
        Reason.BATCH_TOO_LARGE,
        (),
        rules={"batch_limit": 1},
    ),
    RuleCase(
        "sender rules",
        (FR,),
        Reason.INVALID_SENDER,
        (),
        rules=_SENDER_RULES,
        sender="Other",
    ),
    RuleCase(
        "daily limit",
        (FR,),
        Reason.DAILY_LIMIT,
        ((FR2, ACCEPTED),),
        rules={"daily_limit": 1},
        before=(FR2,),
    ),
    RuleCase(
        "daily limit, one of two",
        (FR, US),
        None,
        ((FR, ACCEPTED), (FR2, ACCEPTED), (US, "daily_limit")),
        rules={"daily_limit": 2},
        before=(FR2,),
    ),
    RuleCase(
        "country filter",
        (US,),
        Reason.COUNTRY_BLOCKED,
        (),
        rules={"countries_blocked": ["US"]},
    ),
    RuleCase(
        "country filter, one of two",
        (US, FR),
        None,
        ((FR, ACCEPTED), (US, "country_blocked")),
        rules={"countries_blocked": ["US"]},
    ),
    RuleCase(
        "duplicate filter",
        (FR,),
        Reason.DUPLICATE,
        ((FR, ACCEPTED),),
        rules={"dedupe": True},
        before=(FR,),
    ),
    RuleCase(
        "duplicate filter, one of two",
        (FR, FR2),
        None,
        ((FR, ACCEPTED), (FR, "duplicate"), (FR2, ACCEPTED)),
        rules={"dedupe": True},
        before=(FR,),
    ),
    RuleCase(
        "a number given twice is one recipient",
        (FR, FR),
        None,
        ((FR, ACCEPTED),),
    ),
    RuleCase(
        "opt-outs",
        (FR,),
        Reason.OPTED_OUT,
        (),
        opt_outs=(FR,),
    ),
    RuleCase(
        "opt-outs, one of two",
        (FR, FR2),
        None,
        ((FR, "opted_out"), (FR2, ACCEPTED)),
        opt_outs=(FR,),
    ),
    RuleCase("credit", (FR,), Reason.INSUFFICIENT_CREDIT, (), rules=_PRICED),
    RuleCase(
        "credit, one of two",
        (FR, FR2),
        None,
        ((FR, ACCEPTED), (FR2, "insufficient_credit")),
        rules=_PRICED,
        credit="1",
    ),
)


def _applies(case: RuleCase, interface: Interface) -> bool:
    """Whether the case's request can be made through the interface at all."""
    return interface.several or len(case.to) == 1


PAIRS = [(i, c) for i in INTERFACES for c in CASES if _applies(c, i)]


# --- running a case ---------------------------------------------------------------------------


async def _stored(env: Env) -> list[tuple[str, str]]:
    found = await env.services.messages.search(env.account_id, MessageFilter(), limit=1000)
    return sorted(
        (m.recipient, str(m.error_code) if m.status == Status.REJECTED else ACCEPTED) for m in found
    )


async def _arrange(case: RuleCase, world: World) -> None:
    services = world.env.services
    account_id = world.env.account_id
    if case.credit is not None:
        await services.accounts.credit(account_id, parse_amount(case.credit))
    account = await services.accounts.get(account_id)
    if case.before:
        await services.submit.submit(
            SubmitRequest(account=account, recipients=case.before, text=TEXT, operator=True)
        )
    if case.rules:
        await services.accounts.update_settings(account_id, dict(case.rules))
    if case.opt_outs:
        await services.accounts.add_opt_outs(account, list(case.opt_outs))


@pytest.mark.parametrize(
    ("interface", "case"), PAIRS, ids=[f"{i.name}: {c.rule}" for i, c in PAIRS]
)
async def test_every_interface_decides_a_rule_alike(
    interface: Interface, case: RuleCase, settings: Settings
) -> None:
    async with smtp_gateway(settings) as env:
        world = World(env, settings)
        if interface.prepare is not None:
            await interface.prepare(world)
        await _arrange(case, world)
        refused, stored = case.refused, case.stored
        if interface.operator and refused is Reason.IP_NOT_ALLOWED:
            refused, stored = None, tuple((n, ACCEPTED) for n in case.to)
        with secrets_stay_out_of_logs((PASSWORD, env.api_key)):
            words = await interface.send(world, case.to, TEXT, case.sender)
        expected = ACCEPTED if refused is None else interface.words[refused]
        assert words.startswith(expected), f"{words!r} is not {expected!r}"
        assert await _stored(env) == sorted(stored)
