"""The SMPP 3.4 server customers bind to as they would to a carrier (DESIGN section 5)."""

from __future__ import annotations

from textgate.smpp_server.server import SmppServer

__all__ = ["SmppServer"]
