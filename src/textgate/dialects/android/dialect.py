"""The SMSGate app's device API: its declaration for the registry. Mounted under the
configured prefix unless the configuration turns the device API off."""

from __future__ import annotations

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


def _mounts(settings: _Settings) -> tuple[APIRouter, ...]:
    device_api = settings.android
    if not device_api.enabled:
        return ()
    return (build_router(device_api),)


DIALECT = Dialect(
    name="android",
    openapi_tag="android devices",
    description="The device API that phones running the SMSGate app use as modems.",
    configured_routers=_mounts,
)
