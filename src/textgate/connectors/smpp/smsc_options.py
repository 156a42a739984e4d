"""Options of the SMSC simulator (:class:`SmscOptions`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from textgate.connectors.smpp.constants import CommandStatus
from textgate.connectors.smpp.smsc_rules import (
    BadReceipt,
    Behaviour,
    BindRefusal,
    DeliverAs,
    RuleBook,
    SmscRule,
    SubmitAction,
    coerce_rules,
    parse_deliver_as,
)

__all__ = ["SmscOptions"]


def _default_accounts() -> dict[str, str]:
    return {"textgate": "textgate"}


@dataclass(frozen=True, slots=True)
class SmscOptions:
    """Settings of the simulator. The fields from ``submit_status`` to ``receipts_as`` are
    the global behaviour; ``rules`` override them per destination prefix (see
    :class:`SmscRule`, whose fields of the same names they are)."""

    host: str = "127.0.0.1"
    port: int = 2776
    """0 picks a free port (see :attr:`Smsc.port`)."""
    accounts: Mapping[str, str] = field(default_factory=_default_accounts)
    """system_id -> password."""
    system_id: str = "textgate-smsc"
    """The SMSC's own system_id, sent in bind responses."""
    submit_status: int = CommandStatus.ESME_ROK
    """command_status of submit_sm_resp (SMPP 3.4 5.1.3); 0 accepts."""
    action: SubmitAction = SubmitAction.ANSWER
    """answer, drop (close the connection unanswered) or ignore (never answer)."""
    response_delay_ms: int = 0
    """Delay before each submit_sm_resp, in ms."""
    final_stat: str = "DELIVRD"
    """The Appendix B ``stat`` of final receipts (one of :data:`FINAL_STATS`)."""
    enroute_first: bool = False
    """Send an ENROUTE receipt at once, before the final one."""
    receipt_delay_ms: int = 200
    """Delay between accepting a message and its final receipt, in ms."""
    bad_receipt: BadReceipt | None = None
    """Send unusable receipts of this kind instead of proper final ones."""
    receipts_as: DeliverAs = DeliverAs.DELIVER_SM
    """Send receipts as deliver_sm or data_sm (SMPP 3.4 4.6.1 / 4.7.1)."""
    mo_as: DeliverAs = DeliverAs.DELIVER_SM
    """What :meth:`Smsc.send_mo` sends unless told otherwise: deliver_sm or data_sm."""
    rules: tuple[SmscRule, ...] = ()
    """Per-destination overrides; the longest matching prefix wins."""
    throttle_every: int = 0
    """Every Nth submit_sm (counted over all links) is answered ESME_RTHROTTLED; 0 = never."""
    redeliver_receipts: bool = False
    """Keep receipts the ESME refused (ESME_RX_T_APPN) or could not get (its bind closed)
    and deliver them again: on a bind still up after a pause, else on its next receiver
    bind, as an SMSC does; off: they are dropped."""
    accept_rate: float = 0.0
    """submit_sm accepted per second over all links; those above it are answered
    ESME_RTHROTTLED (a carrier enforcing its contract rate); 0 = no limit."""
    reject_prefix: str = ""
    """Shorthand for a rule answering this prefix ESME_RINVDSTADR (a rule in ``rules``
    with the same prefix replaces it)."""
    refuse_binds: int = 0
    """Refuse the first N bind requests after start (counted over all connections) with
    ``refuse_bind_status``, then authenticate as usual; 0 = none (see :class:`BindRefusal`)."""
    refuse_binds_for_ms: int = 0
    """Refuse every bind request for this long after start, in ms; 0 = none."""
    refuse_bind_status: int = CommandStatus.ESME_RBINDFAIL
    """command_status of those refusals (a name or a number when loading)."""
    record: bool = False
    """Keep every accepted submission in :attr:`Smsc.received`."""
    remember: int = 100_000
    """How many of the newest messages query_sm can report on."""
    window: int = 10
    """Most deliver_sm outstanding at once per session."""
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    """0 disables the SMSC's own keep-alive."""
    unbind_timeout: float = 2.0

    def __post_init__(self) -> None:
        # Validates submit_status, action, final_stat, bad_receipt, receipts_as and the
        # delays once.
        self.behaviour()
        object.__setattr__(self, "receipts_as", parse_deliver_as(self.receipts_as, "receipts_as"))
        object.__setattr__(self, "mo_as", parse_deliver_as(self.mo_as, "mo_as"))
        object.__setattr__(self, "rules", coerce_rules(self.rules))
        object.__setattr__(self, "refuse_bind_status", self.bind_refusal().status)
        if self.throttle_every < 0:
            raise ValueError("throttle_every must be 0 or more")
        if self.window < 1:
            raise ValueError("window must be at least 1")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")

    def behaviour(self) -> Behaviour:
        """The global behaviour (what a destination matching no rule gets)."""
        rule = SmscRule(
            submit_status=self.submit_status,
            action=self.action,
            response_delay_ms=self.response_delay_ms,
            final_stat=self.final_stat,
            enroute_first=self.enroute_first,
            receipt_delay_ms=self.receipt_delay_ms,
            bad_receipt=self.bad_receipt,
            receipts_as=self.receipts_as,
        )
        assert rule.submit_status is not None and rule.action is not None
        assert rule.final_stat is not None and rule.response_delay_ms is not None
        assert rule.receipt_delay_ms is not None and rule.receipts_as is not None
        return Behaviour(
            submit_status=rule.submit_status,
            action=rule.action,
            response_delay_ms=rule.response_delay_ms,
            final_stat=rule.final_stat,
            enroute_first=bool(rule.enroute_first),
            receipt_delay_ms=rule.receipt_delay_ms,
            bad_receipt=rule.bad_receipt,
            receipts_as=rule.receipts_as,
        )

    def bind_refusal(self) -> BindRefusal:
        return BindRefusal(self.refuse_binds, self.refuse_binds_for_ms, self.refuse_bind_status)

    def rule_book(self) -> RuleBook:
        rules = self.rules
        if self.reject_prefix:
            reject = SmscRule(self.reject_prefix, submit_status=CommandStatus.ESME_RINVDSTADR)
            rules = (reject, *rules)
        return RuleBook(self.behaviour(), rules)

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> SmscOptions:
        """Options from a mapping (a config file section); ``rules`` is a list of rule
        mappings (see :class:`SmscRule`). Unknown keys raise ValueError."""
        known = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        unknown = set(options) - set(known)
        if unknown:
            raise ValueError(f"unknown smsc options: {', '.join(sorted(unknown))}")
        if "accounts" in known:
            known["accounts"] = dict(known["accounts"])
        if "rules" in known:
            known["rules"] = coerce_rules(known["rules"])
        return cls(**known)
