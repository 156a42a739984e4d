"""The connector types a configuration may name: ``[[connectors]] type = "..."``.

Each type is one :class:`ConnectorKind`: how its ``options`` table is read and checked (one
line per problem, as every setting), and how a connector is built from the checked options
and the :class:`ConnectorContext` the gateway gives every factory. Settings, start-up checks
and the runtime only look a type up here; a new connector type is one entry in
:data:`KINDS` and its own modules.

The context carries what some types need from the process and cannot import themselves
(connectors know no storage): the phones' outbox and wake-up hub, and, where several
processes may run the same connector (PostgreSQL), the shared ledgers of SMPP binds and
rates. It also derives each connector's callback token (see :func:`callback_token`).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter, ValidationError

from textgate.config_errors import describe, shown
from textgate.connectors.android import AndroidConnector, AndroidOptions, DeviceOutbox, WakeHub
from textgate.connectors.base import Connector
from textgate.connectors.simulator import SimulatorConnector, SimulatorOptions
from textgate.connectors.smpp.bind_leases import BindLeases
from textgate.connectors.smpp.connector import SmppConnector
from textgate.connectors.smpp.options import SmppOptions
from textgate.connectors.smpp.shared_rate import RateLedger, SharedRate
from textgate.connectors.upstream.connector import connector_for
from textgate.connectors.upstream.generic import GenericOptions, GenericProvider
from textgate.connectors.upstream.inbox import InboxConnector
from textgate.connectors.upstream.mailup import MailupOptions, MailupProvider
from textgate.connectors.upstream.options import UpstreamOptions
from textgate.connectors.upstream.smsend import SmsendOptions, SmsendProvider
from textgate.connectors.upstream.smsmobileapi import SmsmobileapiOptions, SmsmobileapiProvider
from textgate.connectors.upstream.twilio import TwilioOptions, TwilioProvider
from textgate.connectors.upstream.vonage import VonageOptions, VonageProvider
from textgate.errors import ConfigError
from textgate.loops import LoopRegistry

__all__ = [
    "KINDS",
    "ConnectorContext",
    "ConnectorKind",
    "build",
    "callback_token",
    "kind_names",
    "parse_options",
    "takes_callbacks",
    "unknown_options",
    "validated",
]

_CALLBACK_LABEL: Final = b"textgate connector callback token v1:"


def callback_token(secret_key: str, connector: str) -> str:
    """The token in a connector's callback URL unless its options set one: an HMAC of the
    connector's name under the gateway's ``secret_key``. Every process sharing a database
    has the same key (checked at start), so every process accepts the same URL, across
    restarts, with nothing stored; without the key the token cannot be guessed."""
    mac = hmac.new(secret_key.encode(), _CALLBACK_LABEL + connector.encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class ConnectorContext:
    """What the gateway gives every factory (each takes what its type needs)."""

    loops: LoopRegistry | None = None
    outbox: DeviceOutbox | None = None
    hub: WakeHub | None = None
    leases: Callable[[str], BindLeases] | None = None
    """The bind leases of a connector, by name, for this process (None: one process owns
    every link, as on SQLite)."""
    rates: RateLedger | None = None
    """The ledger that shares a connector's ``max_rate`` among processes (None: local)."""
    secret_key: str = ""
    """Derives callback tokens (:func:`callback_token`)."""


Parse = Callable[[Mapping[str, Any], str, str], Any]
"""Reads a type's options: (the ``options`` table, the key it sits at, the connector's
name) -> options; raises ConfigError (one line per problem)."""
Factory = Callable[[str, Any, ConnectorContext], Connector]


@dataclass(frozen=True, slots=True)
class ConnectorKind:
    name: str
    parse: Parse
    build: Factory
    callbacks: bool = False
    """Its providers push reports or inbound messages to the callback route: every process
    that serves HTTP builds such a connector, dispatching or not."""


def unknown_options(
    kind: type[Any], options: Mapping[str, Any], key: str, type_name: str
) -> list[str]:
    """A line per key of ``options`` that is no field of ``kind`` (a dataclass or a pydantic
    model), with the closest field as a guess."""
    if issubclass(kind, BaseModel):
        known = set(kind.model_fields)
    else:
        known = {f.name for f in dataclasses.fields(kind)}
    problems = []
    for name in sorted(set(options) - known):
        guess = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"; did you mean {guess[0]}?" if guess else ""
        problems.append(f"{key}.{name} is not an option of {type_name} connectors{hint}")
    return problems


def validated(kind: type[Any], options: Mapping[str, Any], key: str) -> Any:
    """``options`` as a ``kind``, or ConfigError with the settings' own one-line messages."""
    try:
        if issubclass(kind, BaseModel):
            return kind.model_validate(dict(options))
        return TypeAdapter(kind).validate_python(dict(options))
    except ValidationError as exc:
        whole = [e for e in exc.errors(include_url=False) if not e["loc"]]
        if whole and issubclass(kind, BaseModel):
            # A rule over several options names them itself; the table is not shown (its
            # templates may hold credentials written in place).
            raise ConfigError(
                [f"{key}: {str(e['msg']).removeprefix('Value error, ')}" for e in whole]
            ) from None
        raise ConfigError(describe(exc, None, {}, None, prefix=_location(key))) from None


def parse_options(kind: type[Any], options: Mapping[str, Any], key: str, type_name: str) -> Any:
    """Options of a dataclass or pydantic type: unknown keys first, then the values."""
    problems = unknown_options(kind, options, key, type_name)
    if problems:
        raise ConfigError(problems)
    return validated(kind, options, key)


def _location(key: str) -> tuple[str | int, ...]:
    """``connectors[2].options`` as the path pydantic errors are prefixed with."""
    head, _, rest = key.partition("[")
    index, _, tail = rest.partition("]")
    return (head, int(index), *[p for p in tail.split(".") if p])


# ---------------------------------------------------------------- the built-in types


def _simulator(options: Mapping[str, Any], key: str, name: str) -> Any:
    return parse_options(SimulatorOptions, options, key, "simulator")


def _smpp(options: Mapping[str, Any], key: str, name: str) -> Any:
    problems = unknown_options(SmppOptions, options, key, "smpp")
    if not options.get("host"):
        problems.append(
            f"{key}.host is required: the address of the SMSC connector {name!r} binds to"
        )
    if problems:
        raise ConfigError(problems)
    return validated(SmppOptions, options, key)


def _android(options: Mapping[str, Any], key: str, name: str) -> Any:
    try:
        return AndroidOptions.from_mapping(dict(options))
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"{key} = {shown(_location(key), dict(options))}: {exc}"]) from None


def _build_simulator(name: str, options: Any, context: ConnectorContext) -> Connector:
    return SimulatorConnector(name, options, context.loops)


def _build_android(name: str, options: Any, context: ConnectorContext) -> Connector:
    if context.outbox is None or context.hub is None:
        raise ValueError("the android connector needs the gateway's device outbox and hub")
    return AndroidConnector(name, options, context.outbox, context.hub, context.loops)


def _build_smpp(name: str, options: Any, context: ConnectorContext) -> Connector:
    smpp: SmppOptions = options
    if context.leases is None:  # one process owns the database and the links
        return SmppConnector(name, smpp)
    budget = None
    if smpp.max_rate > 0 and context.rates is not None:
        budget = SharedRate(name, context.rates, smpp.max_rate, smpp.burst)
    connector = SmppConnector(name, smpp, budget=budget, leases=context.leases(name))
    keeper = connector.keeper
    if keeper is not None:
        keeper.loops = context.loops
    if budget is not None and keeper is not None:
        budget.peers = lambda: keeper.senders
    return connector


def _upstream(options_type: type[BaseModel], type_name: str) -> Parse:
    def parse(options: Mapping[str, Any], key: str, name: str) -> Any:
        return parse_options(options_type, options, key, type_name)

    return parse


def _build_smsend(name: str, options: Any, context: ConnectorContext) -> Connector:
    return connector_for(
        name,
        options,
        SmsendProvider(options),
        token=_token(options, name, context),
        budget=_budget(name, options, context),
    )


def _build_generic(name: str, options: Any, context: ConnectorContext) -> Connector:
    token = _token(options, name, context)
    provider = GenericProvider(options, connector=name, token=token)
    return connector_for(
        name, options, provider, token=token, budget=_budget(name, options, context)
    )


def _build_mailup(name: str, options: Any, context: ConnectorContext) -> Connector:
    return connector_for(
        name,
        options,
        MailupProvider(options),
        token=_token(options, name, context),
        budget=_budget(name, options, context),
    )


def _build_smsmobileapi(name: str, options: Any, context: ConnectorContext) -> Connector:
    polls = options.inbound == "poll"
    return InboxConnector(
        name,
        options,
        SmsmobileapiProvider(options),
        token=_token(options, name, context),
        poll_seconds=options.inbound_poll_seconds if polls else None,
        loops=context.loops,
        leases=context.leases(name) if polls and context.leases is not None else None,
        budget=_budget(name, options, context),
    )


def _build_twilio(name: str, options: Any, context: ConnectorContext) -> Connector:
    token = _token(options, name, context)
    provider = TwilioProvider(options, connector=name, token=token)
    return connector_for(
        name, options, provider, token=token, budget=_budget(name, options, context)
    )


def _build_vonage(name: str, options: Any, context: ConnectorContext) -> Connector:
    token = _token(options, name, context)
    provider = VonageProvider(options, connector=name, token=token)
    return connector_for(
        name, options, provider, token=token, budget=_budget(name, options, context)
    )


def _budget(name: str, options: Any, context: ConnectorContext) -> SharedRate | None:
    """An HTTP connector's ``max_rate`` shared with every process that runs it (on
    PostgreSQL), as an SMPP connector's is: the provider limits the account, not one
    process. Every dispatching process may send for it, so a ledger outage falls back to
    SharedRate's default share (half the rate each)."""
    upstream: UpstreamOptions = options
    if upstream.max_rate <= 0 or context.rates is None:
        return None
    return SharedRate(name, context.rates, upstream.max_rate, upstream.burst)


def _token(options: Any, name: str, context: ConnectorContext) -> str:
    own = options.callback_token
    return own.get_secret_value() if own is not None else callback_token(context.secret_key, name)


KINDS: Final[Mapping[str, ConnectorKind]] = {
    kind.name: kind
    for kind in (
        ConnectorKind("simulator", _simulator, _build_simulator),
        ConnectorKind("smpp", _smpp, _build_smpp),
        ConnectorKind("android", _android, _build_android),
        ConnectorKind("smsend", _upstream(SmsendOptions, "smsend"), _build_smsend, True),
        ConnectorKind(
            "generic_http", _upstream(GenericOptions, "generic_http"), _build_generic, True
        ),
        ConnectorKind("mailup", _upstream(MailupOptions, "mailup"), _build_mailup),
        ConnectorKind(
            "smsmobileapi",
            _upstream(SmsmobileapiOptions, "smsmobileapi"),
            _build_smsmobileapi,
            True,
        ),
        ConnectorKind("twilio", _upstream(TwilioOptions, "twilio"), _build_twilio, True),
        ConnectorKind("vonage", _upstream(VonageOptions, "vonage"), _build_vonage, True),
    )
}


def kind_names() -> list[str]:
    return list(KINDS)


def takes_callbacks(type_name: str) -> bool:
    kind = KINDS.get(type_name)
    return kind is not None and kind.callbacks


def build(type_name: str, name: str, options: Any, context: ConnectorContext) -> Connector:
    return KINDS[type_name].build(name, options, context)
