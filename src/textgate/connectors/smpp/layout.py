"""The fields PDU bodies are made of (SMPP 3.4 section 4, sizes and statuses from 5.2):
the vocabulary of the ``_layout`` tables in ``pdutypes``.

Each mandatory body field is a :class:`Field`: a C-Octet String with its maximum size (the
NUL included) and the command_status a string over it earns, a one-octet integer, or
sm_length + short_message. The generic codec in ``pdus`` walks a PDU's tuple of fields; the
groups several PDUs share (an address as TON, NPI and string; service_type; message_id;
short_message) are defined here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from textgate.connectors.smpp.constants import CommandStatus

__all__ = [
    "MESSAGE_ID",
    "SERVICE_TYPE",
    "SHORT_MESSAGE",
    "Field",
    "c_string",
    "dest_address",
    "source_address",
    "u8",
]

_S = CommandStatus


@dataclass(frozen=True, slots=True)
class Field:
    """One mandatory body field: kind "c" (C-Octet String of at most ``size`` octets with
    the NUL), "u8" (1-octet integer) or "sm" (sm_length + short_message)."""

    name: str
    kind: str
    size: int = 1
    status: int = _S.ESME_RINVCMDLEN


def c_string(name: str, size: int, status: int) -> Field:
    return Field(name, "c", size, status)


def u8(name: str) -> Field:
    return Field(name, "u8")


SHORT_MESSAGE: Final = Field("short_message", "sm", status=_S.ESME_RINVMSGLEN)
SERVICE_TYPE: Final = c_string("service_type", 6, _S.ESME_RINVSERTYP)  # 5.2.11
MESSAGE_ID: Final = c_string("message_id", 65, _S.ESME_RINVMSGID)  # 5.2.23


def source_address(size: int) -> tuple[Field, ...]:  # 5.2.5-5.2.8
    return (
        u8("source_addr_ton"),
        u8("source_addr_npi"),
        c_string("source_addr", size, _S.ESME_RINVSRCADR),
    )


def dest_address(size: int) -> tuple[Field, ...]:  # 5.2.5-5.2.9
    return (
        u8("dest_addr_ton"),
        u8("dest_addr_npi"),
        c_string("destination_addr", size, _S.ESME_RINVDSTADR),
    )
