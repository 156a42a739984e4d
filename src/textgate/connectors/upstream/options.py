"""The options every connector that sends through a provider's HTTP API shares.

Credentials are :class:`~pydantic.SecretStr`: their ``repr`` and ``str`` show ``**********``,
so neither the options nor an error line about them can print a key or a password.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["MIN_TOKEN_LENGTH", "UpstreamOptions", "api_base"]

MIN_TOKEN_LENGTH: Final = 16


def api_base(value: str, where: str = "") -> str:
    """A provider API's base URL, checked (http or https) and ending in one slash, so that
    its paths join on; ``where`` says what the base ends with, for the error line."""
    if not value.startswith(("http://", "https://")):
        hint = f" (the API's base{where})"
        raise ValueError(f"allowed: an http:// or https:// URL{hint}")
    return value if value.endswith("/") else value + "/"


class UpstreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Time limits of each request, in seconds (httpx's four: opening the connection,
    # waiting for the answer's bytes, writing the request, waiting for a pooled connection).
    # A request that got no answer within read_timeout is in doubt (it was written).
    connect_timeout: float = Field(default=5.0, gt=0, le=300)
    read_timeout: float = Field(default=15.0, gt=0, le=300)
    write_timeout: float = Field(default=15.0, gt=0, le=300)
    pool_timeout: float = Field(default=5.0, gt=0, le=300)
    # Idle connections are closed after this long: shorter than the provider's own idle
    # timeout, so that a request never goes out on a connection the provider is closing
    # (it would end in doubt).
    keepalive_seconds: float = Field(default=4.0, ge=0, le=300)
    verify_tls: bool = True
    # Requests under way at once, and requests per second (0: no limit); rate_burst
    # requests may go back to back after an idle spell (0: a tenth of a second's worth).
    max_concurrency: int = Field(default=8, ge=1, le=256)
    max_rate: float = Field(default=0.0, ge=0)
    rate_burst: int = Field(default=0, ge=0)
    # The pause after a throttling answer (429) that names no Retry-After, and the longest
    # pause a Retry-After may ask for.
    throttle_seconds: float = Field(default=5.0, gt=0, le=3600)
    max_pause_seconds: float = Field(default=600.0, gt=0, le=86_400)
    # After the provider refused the credentials, no login is tried again for this long
    # (messages wait meanwhile): retrying at once could lock the account.
    auth_retry_seconds: float = Field(default=60.0, gt=0, le=86_400)
    # The token in this connector's callback URL; unset, one is derived from the gateway's
    # secret_key and the connector's name (stable, the same in every process).
    callback_token: SecretStr | None = None
    # Credits per unit of the provider's currency, for the price a provider's answer gives
    # (recorded as the message's upstream cost); 0: ignore it and price messages by the
    # connector's cost table ([routing.costs]) instead.
    price_in_credits: Decimal = Field(default=Decimal(1), ge=0, le=1_000_000)

    @field_validator("callback_token")
    @classmethod
    def _unguessable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"allowed: at least {MIN_TOKEN_LENGTH} characters (unguessable)")
        return value

    @property
    def burst(self) -> float:
        if self.rate_burst:
            return float(self.rate_burst)
        return max(1.0, self.max_rate / 10)
