"""Wire shapes of the admin API (``/v1/admin``).

Account settings travel in their public form (``AccountRules.to_public``): amounts are
decimal credit strings, lists are JSON arrays. In a change, ``null`` puts a setting back to
its default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
)

from textgate.core.policy import AccountRules

__all__ = [
    "NAME_PATTERN",
    "AccountCreated",
    "AccountIn",
    "AccountName",
    "AccountView",
    "ApiKeyOut",
    "BalanceOut",
    "CreditIn",
    "ErrorBody",
    "LedgerEntry",
    "LedgerList",
    "NumbersIn",
    "OptOut",
    "OptOutList",
    "SettingsIn",
    "SettingsOut",
    "Usage",
]

NAME_PATTERN = r"^[^\x00-\x1f\x7f/]+$"
"""Account names: 1 to 100 characters (what the table holds), no control characters and no
slash (a name is one segment of the admin API's paths)."""
AccountName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NAME_PATTERN),
]

Amount = Annotated[
    StrictStr | StrictInt | StrictFloat,
    Field(description='Credits as a decimal string ("12.5") or number; at most six decimals'),
]
Names = list[Annotated[StrictStr, StringConstraints(max_length=200)]]

_DEFAULTS = AccountRules().to_public()


class SettingsIn(BaseModel):
    """Settings to change; those left out keep their values, ``null`` restores the default."""

    model_config = ConfigDict(extra="forbid")

    allowed_ips: Names | None = Field(default=None, description="Addresses or CIDR ranges")
    default_sender: StrictStr | None = None
    allowed_senders: Names | None = None
    daily_limit: StrictInt | None = Field(default=None, description="Messages per local day")
    batch_limit: StrictInt | None = Field(default=None, description="Recipients per request")
    countries_allowed: Names | None = Field(default=None, description="ISO 3166 alpha-2 codes")
    countries_blocked: Names | None = Field(default=None, description="ISO 3166 alpha-2 codes")
    dedupe: StrictBool | None = None
    dedupe_window_seconds: StrictInt | None = None
    default_country: StrictStr | None = Field(
        default=None, description="Country of national numbers (ISO 3166 alpha-2)"
    )
    timezone: StrictStr | None = Field(default=None, description="IANA zone of the account's day")
    overdraft: Amount | None = None
    topup_threshold: Amount | None = None
    topup_amount: Amount | None = None
    price_default: Amount | None = None
    prices: dict[StrictStr, Amount] | None = Field(
        default=None, description="Price of one part by country; replaces the whole table"
    )

    def changes(self) -> dict[str, Any]:
        """The settings given, in public form, with ``null`` replaced by the default."""
        given = self.model_dump(exclude_unset=True)
        return {k: _DEFAULTS[k] if v is None else v for k, v in given.items()}


class SettingsOut(BaseModel):
    allowed_ips: list[str]
    default_sender: str | None
    allowed_senders: list[str]
    daily_limit: int
    batch_limit: int
    countries_allowed: list[str]
    countries_blocked: list[str]
    dedupe: bool
    dedupe_window_seconds: int
    default_country: str | None
    timezone: str
    overdraft: str
    topup_threshold: str | None
    topup_amount: str | None
    price_default: str | None
    prices: dict[str, str]


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: AccountName
    settings: SettingsIn | None = None


class AccountCreated(BaseModel):
    id: str
    name: str
    api_key: str = Field(description="Shown once; only a digest is stored")
    settings: SettingsOut


class Usage(BaseModel):
    day: str = Field(description="The account's current day, in its time zone")
    count: int = Field(description="Messages counted against the daily limit")


class AccountView(BaseModel):
    id: str
    name: str
    created_at: datetime
    settings: SettingsOut
    balance: str
    usage_today: Usage


class CreditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Amount
    note: Annotated[StrictStr, StringConstraints(max_length=500)] | None = None


class BalanceOut(BaseModel):
    balance: str


class LedgerEntry(BaseModel):
    id: int
    kind: str
    amount: str
    balance_after: str
    order_id: str | None
    message_id: str | None
    note: str | None
    created_at: datetime


class LedgerList(BaseModel):
    data: list[LedgerEntry] = Field(description="Newest first")


class ApiKeyOut(BaseModel):
    api_key: str = Field(description="Shown once; only a digest is stored")


class NumbersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numbers: list[Annotated[StrictStr, StringConstraints(max_length=64)]] = Field(
        min_length=1, max_length=10_000
    )


class OptOut(BaseModel):
    number: str = Field(description="E.164")
    source: str
    created_at: datetime


class OptOutList(BaseModel):
    data: list[OptOut]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail
