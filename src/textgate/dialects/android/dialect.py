"""The SMSGate app's device API: its declaration for the registry. Mounted under the
configured prefix unless the configuration turns the device API off."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

from fastapi import APIRouter

from textgate.dialects.android.routes import DeviceApiSettings, build_router
from textgate.dialects.base import Dialect

__all__ = ["DIALECT"]


class _DeviceApi(DeviceApiSettings, Protocol):
    @property
    def enabled(self) -> bool: ...


class _Settings(Protocol):
    @property
    def android(self) -> _DeviceApi: ...


@dataclass(frozen=True, slots=True)
class _Config:
    """The values the routes read, as a key: equal settings share one router."""

    prefix: str
    public_url: str | None
    keepalive_seconds: float
    stream_max_seconds: float
    notification_channel: str | None


@functools.lru_cache(maxsize=8)
def _router(config: _Config) -> APIRouter:
    # Built once per process and configuration (about 30 ms, which every application the
    # process makes would pay again: tests make hundreds); routes hold no per-application
    # state, as the other dialects' module-level routers do not.
    return build_router(config)


def _mounts(settings: _Settings) -> tuple[APIRouter, ...]:
    api = settings.android
    if not api.enabled:
        return ()
    config = _Config(
        prefix=api.prefix,
        public_url=api.public_url,
        keepalive_seconds=api.keepalive_seconds,
        stream_max_seconds=api.stream_max_seconds,
        notification_channel=api.notification_channel,
    )
    return (_router(config),)


DIALECT = Dialect(
    name="android",
    openapi_tag="android devices",
    description="The device API that phones running the SMSGate app use as modems.",
    configured_routers=_mounts,
)
