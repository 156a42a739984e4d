"""Android phones running the SMSGate app, used as modems (see ``dialects.android``)."""

from __future__ import annotations

from textgate.connectors.android.connector import AndroidConnector
from textgate.connectors.android.hub import WakeHub
from textgate.connectors.android.outbox import AndroidOptions, DeviceOutbox, Placement

__all__ = ["AndroidConnector", "AndroidOptions", "DeviceOutbox", "Placement", "WakeHub"]
