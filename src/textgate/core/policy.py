"""Account rules and the one decision point every interface goes through.

The rules are those of seed 000 ("Configuration and filters": IP allowlist, default sender,
daily and per-request limits, country filter, anti-duplication) plus opt-outs and credit.
Whole-request refusals (:func:`check_request`, :func:`resolve_sender`) store nothing;
per-recipient refusals (:func:`admit`, :func:`check_destination`) become ``rejected``
messages with the reason and the rest of the request goes on, unless no recipient is left,
when the request is refused whole and stores nothing (``services.submit`` says why).

:func:`admit` is stateful: it runs inside the transaction that stores the order, against
counters read under lock, so daily limits and balances hold under any concurrency.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from textgate.core.numbers import validate_sender
from textgate.core.pricing import MAX_AMOUNT, PriceTable, format_amount, parse_amount
from textgate.errors import InsufficientCredit, InvalidRequest, PolicyDenied

__all__ = [
    "AccountRules",
    "AccountState",
    "Reason",
    "admit",
    "check_destination",
    "check_request",
    "local_day",
    "resolve_sender",
]


class Reason(StrEnum):
    """Machine-readable refusal reasons; dialects map them to their provider's codes."""

    IP_NOT_ALLOWED = "ip_not_allowed"
    BATCH_TOO_LARGE = "batch_too_large"
    DAILY_LIMIT = "daily_limit"
    COUNTRY_BLOCKED = "country_blocked"
    DUPLICATE = "duplicate"
    OPTED_OUT = "opted_out"
    INVALID_NUMBER = "invalid_number"
    INVALID_SENDER = "invalid_sender"
    INSUFFICIENT_CREDIT = "insufficient_credit"


REASON_TEXT: Mapping[Reason, str] = {
    Reason.IP_NOT_ALLOWED: "requests from this address are not allowed for the account",
    Reason.BATCH_TOO_LARGE: "too many recipients in one request",
    Reason.DAILY_LIMIT: "the account's daily message limit is reached",
    Reason.COUNTRY_BLOCKED: "the account may not send to this country",
    Reason.DUPLICATE: "the same text went to this recipient within the duplicate window",
    Reason.OPTED_OUT: "the recipient opted out of messages from this account",
    Reason.INVALID_NUMBER: "not a valid phone number",
    Reason.INVALID_SENDER: "this sender ID is not allowed for the account",
    Reason.INSUFFICIENT_CREDIT: "the account's balance does not cover the message",
}


@dataclass(frozen=True, slots=True)
class AccountRules:
    """Per-account settings; the defaults are seed 000's."""

    allowed_ips: tuple[str, ...] = ()
    """Addresses or CIDR ranges requests may come from; empty means any."""
    default_sender: str | None = None
    allowed_senders: tuple[str, ...] = ()
    """Sender IDs the account may use; empty means any valid one."""
    daily_limit: int = 100_000
    batch_limit: int = 10_000
    countries_allowed: tuple[str, ...] = ()
    """ISO 3166 alpha-2 codes; empty means every country not blocked."""
    countries_blocked: tuple[str, ...] = ()
    dedupe: bool = False
    dedupe_window_seconds: int = 24 * 3600
    default_country: str | None = None
    timezone: str = "UTC"
    """The account's day (for the daily limit) starts at midnight here."""
    overdraft: int = 0
    """Micro-credits the balance may go below zero."""
    topup_threshold: int | None = None
    topup_amount: int | None = None
    price_default: int | None = None
    prices: Mapping[str, int] = field(default_factory=dict)

    def price_table(self, base: PriceTable) -> PriceTable:
        return base.with_overrides(self.price_default, self.prices)

    def to_dict(self) -> dict[str, Any]:
        """Only the values that differ from the defaults (what is stored)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value != getattr(_DEFAULTS, f.name):
                out[f.name] = (
                    dict(value)
                    if isinstance(value, Mapping)
                    else (list(value) if isinstance(value, tuple) else value)
                )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountRules:
        """Rules from stored values (amounts in micro-credits) over the defaults.

        Unknown names and bad values raise InvalidRequest; None puts a setting back to its
        default.
        """
        return _DEFAULTS.changed(data)

    def changed(self, data: Mapping[str, Any]) -> AccountRules:
        """These rules with some settings changed (stored form; None = back to default)."""
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise InvalidRequest(f"unknown account setting(s): {', '.join(sorted(unknown))}")
        values = self.to_values()
        for name, value in data.items():
            try:
                values[name] = getattr(_DEFAULTS, name) if value is None else _convert(name, value)
            except (TypeError, ValueError, AttributeError) as exc:
                raise InvalidRequest(f"{name}: invalid value {value!r}") from exc
        rules = AccountRules(**values)
        rules.validate()
        return rules

    @classmethod
    def from_public(cls, data: Mapping[str, Any], base: AccountRules | None = None) -> AccountRules:
        """``base`` (or the defaults) with API/CLI changes (amounts as decimal credits)."""
        converted: dict[str, Any] = {}
        for name, value in data.items():
            if name in _MONEY and value is not None:
                value = parse_amount(value)
            elif name == "prices" and value is not None:
                if not isinstance(value, Mapping):
                    raise InvalidRequest("prices: a mapping of country code to price is needed")
                value = {str(k).upper(): parse_amount(v) for k, v in value.items()}
            converted[name] = value
        return (base or _DEFAULTS).changed(converted)

    def to_public(self) -> dict[str, Any]:
        """Every setting, amounts as decimal credit strings."""
        out: dict[str, Any] = {}
        for name, value in self.to_values().items():
            if name in _MONEY and value is not None:
                value = format_amount(value)
            elif name == "prices":
                value = {k: format_amount(v) for k, v in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    def to_values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def validate(self) -> None:
        for entry in self.allowed_ips:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise InvalidRequest(f"not an address or CIDR range: {entry!r}") from exc
        for code in (*self.countries_allowed, *self.countries_blocked, *self.prices):
            if len(code) != 2 or not code.isalpha():
                raise InvalidRequest(f"not an ISO 3166 country code: {code!r}")
        if not 0 <= self.daily_limit <= MAX_DAILY_LIMIT:
            raise InvalidRequest(f"daily_limit: 0 to {MAX_DAILY_LIMIT:,}")
        if not 1 <= self.batch_limit <= MAX_BATCH_LIMIT:
            raise InvalidRequest(f"batch_limit: 1 to {MAX_BATCH_LIMIT:,}")
        if not 1 <= self.dedupe_window_seconds <= MAX_DEDUPE_WINDOW:
            raise InvalidRequest(f"dedupe_window_seconds: 1 to {MAX_DEDUPE_WINDOW:,}")
        if self.overdraft < 0:
            raise InvalidRequest("the overdraft is an amount below zero, given as positive")
        for name in _MONEY:
            amount = getattr(self, name)
            if amount is not None and abs(amount) > MAX_AMOUNT:
                raise InvalidRequest(f"{name}: too large")
        if any(abs(p) > MAX_AMOUNT or p < 0 for p in self.prices.values()) or (
            self.price_default is not None and self.price_default < 0
        ):
            raise InvalidRequest("prices are between 0 and 10^12 credits")
        for sender in (self.default_sender, *self.allowed_senders):
            if sender is not None:
                validate_sender(sender)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidRequest(f"unknown time zone {self.timezone!r}") from exc


_DEFAULTS = AccountRules()
# Bounds that keep every counter and amount inside 64-bit database integers.
MAX_DAILY_LIMIT = 1_000_000_000
MAX_BATCH_LIMIT = 10_000
MAX_DEDUPE_WINDOW = 366 * 24 * 3600
_MONEY = frozenset({"overdraft", "topup_threshold", "topup_amount", "price_default"})
_TUPLES = frozenset({"allowed_ips", "allowed_senders", "countries_allowed", "countries_blocked"})


_INTS = frozenset(
    {
        "daily_limit",
        "batch_limit",
        "dedupe_window_seconds",
        "overdraft",
        "topup_threshold",
        "topup_amount",
        "price_default",
    }
)
_OPTIONAL = frozenset({"topup_threshold", "topup_amount", "price_default"})


def _convert(name: str, value: Any) -> Any:
    if name in _TUPLES:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise InvalidRequest(f"{name}: a list is needed")
        items = tuple(str(v).strip() for v in value)
        return tuple(v.upper() for v in items) if name.startswith("countries") else items
    if name == "prices":
        if not isinstance(value, Mapping):
            raise InvalidRequest("prices: a mapping of country code to price is needed")
        return {str(k).upper(): _int(name, v) for k, v in value.items()}
    if name in _INTS:
        return _int(name, value)
    if name == "dedupe":
        return _bool(value)
    text = str(value).strip()
    if name == "default_country":
        return text.upper() or None
    if name == "timezone":
        return text or _DEFAULTS.timezone
    return text or None


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidRequest(f"{name}: a number is needed")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{name}: a whole number is needed, not {value!r}") from exc


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise InvalidRequest(f"dedupe: true or false, not {value!r}")


def _ip_allowed(allowed: tuple[str, ...], client_ip: str) -> bool:
    if not allowed:
        return True
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_request(
    rules: AccountRules, *, client_ip: str | None, recipients: int, operator: bool = False
) -> None:
    """Refusals that apply to the whole request: nothing of it is stored.

    ``recipients`` counts the whole request (every distinct recipient, whatever the
    interface's own grouping). ``operator`` stands for the operator's local interfaces (the
    CLI), which the allowlist does not cover; any other request whose address is unknown
    (None or empty) is refused by an allowlist: it fails closed.
    """
    known = bool(client_ip) and _ip_allowed(rules.allowed_ips, client_ip or "")
    if rules.allowed_ips and not operator and not known:
        raise PolicyDenied(
            f"{REASON_TEXT[Reason.IP_NOT_ALLOWED]} ({client_ip or 'address unknown'})",
            reason=Reason.IP_NOT_ALLOWED,
        )
    if recipients > rules.batch_limit:
        raise PolicyDenied(
            f"{recipients} recipients; the account allows {rules.batch_limit} per request",
            reason=Reason.BATCH_TOO_LARGE,
        )


def resolve_sender(rules: AccountRules, sender: str | None) -> str | None:
    """The sender to use: the request's, else the account default; refused if not allowed."""
    chosen = sender or rules.default_sender
    if chosen and rules.allowed_senders and chosen not in rules.allowed_senders:
        raise PolicyDenied(
            f"sender {chosen!r}: {REASON_TEXT[Reason.INVALID_SENDER]}",
            reason=Reason.INVALID_SENDER,
        )
    return chosen


def check_destination(rules: AccountRules, country: str | None) -> Reason | None:
    if rules.countries_allowed and country not in rules.countries_allowed:
        return Reason.COUNTRY_BLOCKED
    if country is not None and country in rules.countries_blocked:
        return Reason.COUNTRY_BLOCKED
    return None


def local_day(rules: AccountRules, moment: datetime) -> str:
    """The account's calendar day of ``moment`` (``YYYY-MM-DD``)."""
    return moment.astimezone(ZoneInfo(rules.timezone)).date().isoformat()


@dataclass(slots=True)
class AccountState:
    """An account's counters as read, under lock, by the transaction storing its orders."""

    balance: int
    used_today: int
    opted_out: set[str] = field(default_factory=set)
    recent: set[tuple[str, str]] = field(default_factory=set)
    """(recipient, text) already sent within the duplicate window."""


def admit(
    rules: AccountRules, state: AccountState, recipient: str, text: str, cost: int
) -> Reason | None:
    """Accept one recipient (updating ``state``) or say why not."""
    if recipient in state.opted_out:
        return Reason.OPTED_OUT
    if rules.dedupe and (recipient, text) in state.recent:
        return Reason.DUPLICATE
    if state.used_today >= rules.daily_limit:
        return Reason.DAILY_LIMIT
    if cost and state.balance - cost < -rules.overdraft:
        return Reason.INSUFFICIENT_CREDIT
    state.used_today += 1
    state.balance -= cost
    if rules.dedupe:
        state.recent.add((recipient, text))
    return None


def needs_topup(rules: AccountRules, balance: int) -> bool:
    return (
        rules.topup_threshold is not None
        and bool(rules.topup_amount)
        and balance < rules.topup_threshold
    )


def refusal(
    reason: Reason, *, recipient: str | None = None, country: str | None = None
) -> PolicyDenied | InsufficientCredit:
    """The error for a request all of whose recipients were refused for ``reason`` (the
    first refused recipient and its country, where known, for dialects that name them)."""
    if reason == Reason.INSUFFICIENT_CREDIT:
        return InsufficientCredit(REASON_TEXT[reason])
    return PolicyDenied(REASON_TEXT[reason], reason=reason, recipient=recipient, country=country)
