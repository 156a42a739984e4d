"""Settings: a TOML file plus ``TEXTGATE_*`` environment variables, built once and passed down.

Precedence (highest first): explicit keyword arguments, environment variables
(``TEXTGATE_DATABASE_URL``, nested with ``__`` as in ``TEXTGATE_HTTP__PORT``), the TOML file
named by ``--config`` or ``TEXTGATE_CONFIG``, then the embedded defaults below.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    FilePath,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from textgate.config.fronts import AndroidSettings, SmppServerSettings, SmtpSettings
from textgate.config.queues import MailSettings, QueueSettings, WebhookSettings
from textgate.config.routing import (
    ConnectorCostSettings,
    FailoverSettings,
    RouteRuleSettings,
    RoutingSettings,
)
from textgate.config.section import Section
from textgate.config_errors import describe, unknown_variables
from textgate.core.pricing import PriceTable, parse_amount
from textgate.errors import ConfigError

__all__ = [
    "AndroidSettings",
    "ConnectorCostSettings",
    "ConnectorSettings",
    "DispatchSettings",
    "FailoverSettings",
    "HttpSettings",
    "InboundSettings",
    "MailSettings",
    "QueueSettings",
    "RouteRuleSettings",
    "RoutingSettings",
    "Settings",
    "SmppServerSettings",
    "SmtpSettings",
    "WebhookSettings",
    "load_settings",
]


class HttpSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Largest request body any route accepts (413 past it); routes may allow less.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # HTTPS served directly: a PEM certificate (chain) and its private key, both or neither.
    tls_cert_file: FilePath | None = None
    tls_key_file: FilePath | None = None
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or
    # networks). Empty: the headers are ignored and the client is the TCP peer, since an
    # account's IP allowlist must not be satisfiable by a header anyone can send.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    # How long an idle keep-alive connection stays open. A client that sends on a connection
    # just as the server closes it gets a reset, not an answer (RFC 9112 9.6), so the server
    # should outwait its clients' idle timeouts: uvicorn's 5 s equals httpx's, and is below
    # a load balancer's (60 s on AWS ALB) and Go's http.Transport (90 s).
    keep_alive_seconds: float = Field(default=120.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _tls_pair(self) -> HttpSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "http.tls_cert_file and http.tls_key_file go together: set both or neither"
            )
        return self


class ConnectorSettings(Section):
    """One connector instance: ``type`` picks the implementation, ``options`` configure it.
    The types are those of ``connectors.kinds`` (checked at start, with the options)."""

    name: str = Field(default="simulator", min_length=1, max_length=64)
    type: str = Field(default="simulator", min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    # A message written to this link that got no answer (a response timeout, a link lost
    # with it outstanding) is in doubt: the operator may or may not have taken it, and SMPP
    # has no way to ask without the id the answer would have carried. After the grace
    # period (a late answer within it is recorded as sent) it is sent again ("resend": at
    # least once, the handset may get two) or ends failed ("fail": at most once).
    in_doubt: Literal["resend", "fail"] = "resend"
    in_doubt_grace_seconds: float = Field(default=60.0, ge=0)
    # A sent message with no final delivery report this long after sending ends
    # expired with error_code no_report (never left "sent" for good).
    receipt_window_seconds: float = Field(default=172_800.0, gt=0)
    # /readyz answers 503 while a required connector that has links has none up; false
    # for a backup route whose outage should not take the process out of a load balancer.
    required: bool = True


class DispatchSettings(Section):
    batch_size: int = Field(default=1000, ge=1, le=5000)
    # Batches handed to connectors at the same time by one worker.
    concurrency: int = Field(default=4, ge=1, le=64)
    # A claim not finished within the lease is taken over by another worker (or by this
    # one after a restart); connectors must time out well within it.
    lease_seconds: float = Field(default=60.0, gt=0)
    # Refusals by the far end a message may get before it fails (waiting for a link and
    # throttling are not refusals: validity ends those).
    max_attempts: int = Field(default=8, ge=1)
    # How long a message may wait for a usable link, from its due time; then it ends
    # expired (DESIGN "Delivery contract"). Per message where a dialect has a field for it.
    validity_seconds: float = Field(default=172_800.0, gt=0)
    # A message that could not be handed off (link down, throttled) is looked at again
    # after a tenth of the time it has waited, within these bounds.
    wait_min_seconds: float = Field(default=0.5, gt=0)
    wait_max_seconds: float = Field(default=30.0, gt=0)
    # A stable name for this dispatcher (e.g. the supervisor's instance name): a process
    # restarted under the same name takes back its own unfinished claims at once instead
    # of after the lease. Default: the host name and process id (not stable).
    worker_id: str | None = Field(default=None, min_length=1, max_length=64)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)
    # After a claim that found less than a full batch, wait this long before the next one
    # so that messages trickling in travel together (fewer, larger transactions).
    claim_linger_seconds: float = Field(default=0.02, ge=0, le=0.5)
    # Upper bound on how long the worker sleeps without a wake-up (scheduled messages leave
    # within this of their time even if a notification is lost).
    poll_seconds: float = Field(default=0.5, gt=0, le=1.0)


class InboundSettings(Section):
    """Who owns the numbers handsets write to.

    ``numbers`` maps an E.164 number, or a prefix of one (longest match wins), to the name of
    the account that owns it: ``{"+33612345678": "acme", "+4475": "uk-shared"}``. Messages to
    a number nobody owns are kept without an account rather than dropped.
    """

    numbers: dict[str, str] = Field(default_factory=dict)
    # Parts of a concatenated message whose siblings have not all arrived after this long
    # are stored as they are (the operator was already told they were received).
    reassembly_timeout_seconds: float = Field(default=3600.0, gt=0)
    # An inbound message that is one of these words (any case, surrounding spaces and
    # punctuation ignored) puts its sender on the owner's opt-out list; a start keyword
    # takes it off again. The usual English set (CTIA, and what carriers honour).
    opt_out_keywords: list[str] = Field(
        default_factory=lambda: ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
    )
    opt_in_keywords: list[str] = Field(default_factory=lambda: ["START"])


class PricingSettings(Section):
    """What one SMS part costs, in credits, unless an account has its own prices.

    The default of 0 makes messages free: a self-hosted gateway charges only once its
    operator sets prices (and gives accounts credit).
    """

    default_price: str = "0"
    countries: dict[str, str] = Field(default_factory=dict)

    def table(self) -> PriceTable:
        return PriceTable(
            parse_amount(self.default_price),
            {c.upper(): parse_amount(p) for c, p in self.countries.items()},
        )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TEXTGATE_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path("data")
    database_url: str | None = None
    # FULL: every group commit is fsynced before any request in it is acknowledged.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    # "json": one JSON object per line (for log pipelines); "text": for people.
    log_format: Literal["text", "json"] = "text"
    http: HttpSettings = Field(default_factory=HttpSettings)
    connectors: list[ConnectorSettings] = Field(
        default_factory=lambda: [ConnectorSettings()], min_length=1
    )
    default_connector: str | None = None
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    pricing: PricingSettings = Field(default_factory=PricingSettings)
    inbound: InboundSettings = Field(default_factory=InboundSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    smpp_server: SmppServerSettings = Field(default_factory=SmppServerSettings)
    android: AndroidSettings = Field(default_factory=AndroidSettings)
    # The interfaces to serve, by dialect name (native, android, admin, smsend,
    # smsmobileapi, mailup, labsmobile, aspsms, twilio, smsgate); unset, all of them.
    dialects: list[str] | None = None
    # Key that encrypts stored secrets the gateway reads back (webhook signing secrets).
    # Unset, a key file is made in data_dir; set it (the same everywhere) when several
    # hosts share one database.
    secret_key: SecretStr | None = None
    # Bearer token of the admin API (/v1/admin); unset, the admin API answers 404.
    admin_token: SecretStr | None = None
    # Signs dashboard session cookies; set it when several processes serve the dashboard
    # (unset, each process draws its own and sessions end at restart).
    dashboard_secret: SecretStr | None = None
    run_dispatcher: bool = True
    # Development only (``make run``, ``textgate serve --demo``): make a "demo" account and
    # print a fresh API key and password for it on every start. Never in production: the
    # credentials would land in the logs.
    demo_account: bool = False
    # Cached API-key verdicts expire after this long, bounding how long a revoked key works.
    auth_cache_seconds: float = Field(default=5.0, ge=0)
    # A login session (dialects whose clients log in with username and password) expires
    # after this long unused; smsend's is 5 minutes.
    session_idle_seconds: float = Field(default=300.0, gt=0)
    # IANA zone new accounts count their day in and read local times in (a schedule with
    # no offset, e.g. smsend's scheduled_delivery_time); each account can change its own.
    default_timezone: str = "UTC"

    config_file: Path | None = None

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("allowed: an IANA time zone such as Europe/Rome or UTC") from exc
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value and not value.startswith(_DATABASE_SCHEMES):
            raise ValueError(
                "allowed: a URL starting with "
                + " or ".join(_DATABASE_SCHEMES)
                + " (the async drivers)"
            )
        return value

    @model_validator(mode="after")
    def _connectors_named_once(self) -> Settings:
        names = [c.name for c in self.connectors]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"connector names must differ; used twice: {', '.join(twice)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = _toml_path(init_settings)
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'textgate.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def primary_connector(self) -> str:
        if self.default_connector:
            return self.default_connector
        return self.connectors[0].name


_DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


def _toml_path(init_settings: PydanticBaseSettingsSource) -> Path | None:
    explicit = init_settings().get("config_file")
    if explicit:
        return Path(explicit)
    env = os.environ.get("TEXTGATE_CONFIG")
    return Path(env) if env else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """The settings of a process, checked whole: a ``TEXTGATE_*`` variable that is no
    setting, an unknown key at any level of the TOML file, or a wrong value raises
    :class:`ConfigError` with one line per problem."""
    if config_file is not None:
        overrides["config_file"] = config_file
    environ = dict(os.environ)
    problems = unknown_variables(environ, Settings)
    path = config_file or (
        Path(environ["TEXTGATE_CONFIG"]) if environ.get("TEXTGATE_CONFIG") else None
    )
    source = f"in {path}" if path is not None else None
    if path is not None and not path.is_file():
        problems.append(f"config file {str(path)!r} does not exist")
    if problems:
        raise ConfigError(problems)
    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path} is not valid TOML: {exc}"]) from None
    except ValidationError as exc:
        raise ConfigError(describe(exc, Settings, environ, source)) from None
