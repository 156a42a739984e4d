"""Behaviour rules of the SMSC simulator: how it answers a submit_sm and what receipts follow,
chosen per destination number (the longest matching prefix wins) over global defaults.

A rule file (``textgate smsc --rules FILE``) is JSON or TOML: a list of rule tables under
``rules`` (JSON may also be a bare list). Every field but ``prefix`` is optional; an absent
field falls back to the global option of the same name in :class:`SmscOptions`::

    [[rules]]
    prefix = "4915"                 # destinations starting with 4915 (a leading + ignored)
    submit_status = "ESME_RTHROTTLED"

    [[rules]]
    prefix = "491599"
    final_stat = "UNDELIV"
    enroute_first = true
    receipt_delay_ms = 5000

    [[rules]]
    prefix = "4930"
    receipts_as = "data_sm"         # receipts in data_sm (SMPP 3.4 4.7.1), not deliver_sm
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from textgate.connectors.smpp.constants import CommandStatus, MessageState
from textgate.connectors.smpp.times import parse_time

__all__ = [
    "FAILURE_STATS",
    "FINAL_STATS",
    "BadReceipt",
    "Behaviour",
    "BindRefusal",
    "DeliverAs",
    "RuleBook",
    "SmscRule",
    "SubmitAction",
    "load_rules",
    "parse_deliver_as",
    "parse_status",
    "within_validity",
]

FINAL_STATS: Final[Mapping[str, MessageState]] = {
    "DELIVRD": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED,
}
"""SMPP 3.4 Appendix B ``stat`` values a final receipt may carry, with the 5.2.28
message_state (table 5-6) sent in the receipt's message_state TLV and in query_sm_resp."""

FAILURE_STATS: Final = frozenset({"EXPIRED", "DELETED", "UNDELIV", "UNKNOWN", "REJECTD"})
"""Stats that count as a delivery failure for registered_delivery 10 (5.2.17: receipt on
failure only)."""


class SubmitAction(StrEnum):
    """What happens to a submit_sm that a rule matches."""

    ANSWER = "answer"
    """Answer submit_sm_resp (with ``submit_status``, after ``response_delay_ms``)."""
    DROP = "drop"
    """Close the TCP connection at once, without answering."""
    IGNORE = "ignore"
    """Swallow the submit_sm: no response ever comes (the ESME's response timer runs out)."""


class BadReceipt(StrEnum):
    """Receipts an ESME cannot use. None of them carries the receipted_message_id or
    message_state TLVs (5.3.2.12, 5.3.2.35), which would otherwise still identify the
    message."""

    GARBLED = "garbled"
    """Text with none of the Appendix B ``key:value`` fields, only noise around the id."""
    UNKNOWN_ID = "unknown_id"
    """A well-formed Appendix B receipt (and TLVs) naming an id this SMSC never issued."""
    NON_ASCII = "non_ascii"
    """The Appendix B text with octets above 0x7F spliced into the id and the stat."""
    MISSING_FIELDS = "missing_fields"
    """The Appendix B text without its ``id:`` and ``stat:`` fields."""


class DeliverAs(StrEnum):
    """The request that carries a receipt or an MO to the ESME."""

    DELIVER_SM = "deliver_sm"
    """deliver_sm (SMPP 3.4 4.6.1), the text in short_message (or message_payload)."""
    DATA_SM = "data_sm"
    """data_sm (4.7.1), the text in the message_payload TLV (5.3.2.32): data_sm has no
    short_message. Some SMSCs send everything this way."""


def parse_deliver_as(value: object, what: str) -> DeliverAs:
    """A :class:`DeliverAs` from its value; ValueError naming the choices otherwise."""
    try:
        return DeliverAs(str(value))
    except ValueError:
        choices = ", ".join(d.value for d in DeliverAs)
        raise ValueError(f"{what} must be one of {choices}, got {value!r}") from None


def parse_status(value: object) -> int:
    """A command_status (SMPP 3.4 5.1.3, table 5-2) from an int, a name (``ESME_RTHROTTLED``
    or ``RTHROTTLED``) or a number string (``"0x58"``, ``"88"``)."""
    if isinstance(value, bool):
        raise ValueError(f"not a command_status: {value!r}")
    if isinstance(value, int):
        status = value
    elif isinstance(value, str):
        text = value.strip().upper()
        name = text if text.startswith("ESME_") else f"ESME_{text}"
        if name in CommandStatus.__members__:
            return int(CommandStatus[name])
        try:
            status = int(text, 0)
        except ValueError:
            raise ValueError(f"unknown command_status {value!r}") from None
    else:
        raise ValueError(f"not a command_status: {value!r}")
    if not 0 <= status <= 0xFFFFFFFF:
        raise ValueError(f"command_status out of range: {value!r}")
    return status


def _stat(value: object, what: str) -> str:
    stat = str(value).upper()
    if stat not in FINAL_STATS:
        raise ValueError(f"{what} must be one of {', '.join(FINAL_STATS)}, got {value!r}")
    return stat


def _nonneg(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} must be an integer, 0 or more, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Behaviour:
    """The effective behaviour for one submit_sm: a rule merged over the global options.
    Each field means what the :class:`SmscRule` field of the same name says."""

    submit_status: int = CommandStatus.ESME_ROK
    action: SubmitAction = SubmitAction.ANSWER
    response_delay_ms: int = 0
    final_stat: str = "DELIVRD"
    enroute_first: bool = False
    receipt_delay_ms: int = 200
    bad_receipt: BadReceipt | None = None
    receipts_as: DeliverAs = DeliverAs.DELIVER_SM
    times: int | None = None
    at_part: int | None = None

    @property
    def final_state(self) -> MessageState:
        return FINAL_STATS[self.final_stat]

    def wants_receipt(self, registered_delivery: int) -> bool:
        """SMPP 3.4 5.2.17, bits 1-0: 01 = a receipt whatever the outcome, 10 = only on
        failure (:data:`FAILURE_STATS`), 00 = none."""
        mode = registered_delivery & 0x03
        return mode == 1 or (mode == 2 and self.final_stat in FAILURE_STATS)


@dataclass(frozen=True, slots=True)
class BindRefusal:
    """A fault of the bind itself, whatever the credentials: the first ``count`` bind
    requests, and every one in the first ``for_ms`` ms after the SMSC started, are answered
    ``status``; later ones are authenticated as usual. An SMSC restarting, or a carrier
    account locked for a while, looks like this to the ESME."""

    count: int = 0
    for_ms: int = 0
    status: int = CommandStatus.ESME_RBINDFAIL
    """command_status of the refusal (SMPP 3.4 5.1.3, table 5-2): e.g. 0x0D ESME_RBINDFAIL,
    0x0E ESME_RINVPASWD, 0x0F ESME_RINVSYSID (textgate's client treats these three as a
    refusal of the credentials), or 0x08 ESME_RSYSERR (a transient failure)."""

    def __post_init__(self) -> None:
        _nonneg(self.count, "refuse_binds")
        _nonneg(self.for_ms, "refuse_binds_for_ms")
        status = parse_status(self.status)
        if status == CommandStatus.ESME_ROK:
            raise ValueError("refuse_bind_status must not be ESME_ROK")
        object.__setattr__(self, "status", status)

    def refuses(self, seen: int, elapsed_ms: float) -> bool:
        """Whether the bind request numbered ``seen`` (0 for the first since start), which
        arrived ``elapsed_ms`` after start, is refused."""
        return seen < self.count or elapsed_ms < self.for_ms


@dataclass(frozen=True, slots=True)
class SmscRule:
    """Behaviour for destinations starting with ``prefix``. A field left None takes the
    global option of the same name from :class:`SmscOptions`."""

    prefix: str = ""
    """Destination prefix, compared with destination_addr (a leading ``+`` is ignored on
    both). "" matches every destination. The longest matching prefix wins."""
    submit_status: int | None = None
    """command_status of the submit_sm_resp (SMPP 3.4 5.1.3, table 5-2): 0 accepts the
    message; e.g. 0x58 ESME_RTHROTTLED, 0x14 ESME_RMSGQFUL, 0x0B ESME_RINVDSTADR,
    0x08 ESME_RSYSERR refuse it (no message id, no receipt). Names and "0x.." strings are
    accepted when loading."""
    action: SubmitAction | None = None
    """answer (default), drop (close the connection) or ignore (never answer)."""
    response_delay_ms: int | None = None
    """Delay before the submit_sm_resp, in ms. Other PDUs on the link are not held up (the
    session handles each request in its own task)."""
    final_stat: str | None = None
    """Appendix B ``stat`` of the final receipt (one of :data:`FINAL_STATS`); also the
    message_state that query_sm reports once the receipt was due."""
    enroute_first: bool | None = None
    """Send an intermediate receipt (stat ENROUTE, message_state 1) as soon as the message is
    accepted, before the final one."""
    receipt_delay_ms: int | None = None
    """Delay between accepting the message and its final receipt, in ms."""
    bad_receipt: BadReceipt | None = None
    """Send an unusable receipt of this kind instead of a proper final one."""
    receipts_as: DeliverAs | None = None
    """Send the receipts as deliver_sm (default) or data_sm (see :class:`DeliverAs`)."""
    times: int | None = None
    """The rule applies to its first ``times`` matching submit_sm only (counted from when
    the rules were set), the global behaviour to later ones: a fault that happens once."""
    at_part: int | None = None
    """The rule applies only to this part of a concatenated message (the part number of
    its UDH, 1 for the first); other parts and one-part messages get the global
    behaviour. E.g. ``at_part = 2, action = "drop", times = 1``: the link drops between
    the parts of a long message."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", self.prefix.lstrip("+"))
        if self.submit_status is not None:
            object.__setattr__(self, "submit_status", parse_status(self.submit_status))
        if self.action is not None:
            object.__setattr__(self, "action", SubmitAction(self.action))
        if self.final_stat is not None:
            object.__setattr__(self, "final_stat", _stat(self.final_stat, "final_stat"))
        if self.bad_receipt is not None:
            object.__setattr__(self, "bad_receipt", BadReceipt(self.bad_receipt))
        if self.receipts_as is not None:
            receipts_as = parse_deliver_as(self.receipts_as, "receipts_as")
            object.__setattr__(self, "receipts_as", receipts_as)
        for name in ("response_delay_ms", "receipt_delay_ms", "times", "at_part"):
            value = getattr(self, name)
            if value is not None:
                _nonneg(value, name)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SmscRule:
        """Build a rule from a mapping (a rule file entry); unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown rule fields: {', '.join(sorted(unknown))}")
        if not isinstance(data.get("prefix", ""), str):
            raise ValueError(f"rule prefix must be a string, got {data['prefix']!r}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"rule {dict(data)!r}: {exc}") from None


def coerce_rules(value: object) -> tuple[SmscRule, ...]:
    """Rules from SmscRule objects and/or mappings (``SmscOptions.from_mapping``)."""
    if isinstance(value, Mapping | str | bytes) or not isinstance(value, Sequence):
        raise ValueError("rules must be a list of rule tables")
    rules: list[SmscRule] = []
    for item in value:
        if isinstance(item, SmscRule):
            rules.append(item)
        elif isinstance(item, Mapping):
            rules.append(SmscRule.from_mapping(item))
        else:
            raise ValueError(f"a rule must be a table, got {item!r}")
    return tuple(rules)


def load_rules(path: Path) -> tuple[SmscRule, ...]:
    """Read a rule file: TOML when the name ends in .toml, JSON otherwise."""
    text = path.read_text(encoding="utf-8")
    data: object
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if isinstance(data, Mapping):
        extra = set(data) - {"rules"}
        if extra:
            raise ValueError(f"{path}: unknown keys {', '.join(sorted(extra))}")
        data = data.get("rules", [])
    return coerce_rules(data)


class RuleBook:
    """Finds the behaviour for a destination: the longest matching rule merged over the
    defaults, each merge computed once."""

    __slots__ = ("_default", "_rules")

    def __init__(self, default: Behaviour, rules: Sequence[SmscRule]) -> None:
        self._default = default
        merged: dict[str, Behaviour] = {}
        for rule in rules:  # a later rule with the same prefix replaces an earlier one
            changes = {
                f.name: getattr(rule, f.name)
                for f in fields(rule)
                if f.name != "prefix" and getattr(rule, f.name) is not None
            }
            merged[rule.prefix] = replace(default, **changes)
        self._rules = sorted(merged.items(), key=lambda item: -len(item[0]))

    @property
    def default(self) -> Behaviour:
        return self._default

    def match(self, destination: str) -> Behaviour:
        if not self._rules:
            return self._default
        destination = destination.lstrip("+")
        for prefix, behaviour in self._rules:
            if destination.startswith(prefix):
                return behaviour
        return self._default


def within_validity(behaviour: Behaviour, validity_period: str, now: datetime) -> Behaviour:
    """A message whose validity_period (5.2.16) ends before its outcome would come is given
    up at that time, as an SMSC does: its receipt says EXPIRED (5.2.28, Appendix B). A
    field that is no SMPP time is read as none (the simulator checks lengths only)."""
    try:
        until = parse_time(validity_period, now)
    except ValueError:
        return behaviour
    if until is None:
        return behaviour
    left_ms = max(0, int((until - now).total_seconds() * 1000))
    if left_ms >= behaviour.receipt_delay_ms:
        return behaviour
    return replace(behaviour, final_stat="EXPIRED", receipt_delay_ms=left_ms)
