"""The kind of a sender ID and the source TON/NPI it goes out with (SMPP 3.4 5.2.5, 5.2.6).

SMPP 3.4 5.2.5, type_of_number (TON): 0 unknown, 1 international, 2 national, 3 network
specific, 4 subscriber number, 5 alphanumeric, 6 abbreviated.
SMPP 3.4 5.2.6, numbering_plan_indicator (NPI): 0 unknown, 1 ISDN (E.163/E.164), 3 data
(X.121), 4 telex (F.69), 6 land mobile (E.212), 8 national, 9 private, 10 ERMES, 14 internet
(IP), 18 WAP client id.

How a sender is read (:func:`classify_sender`), and the default TON/NPI of each kind:

=============  ===========================================  ========  ==========================
kind           sender                                       TON/NPI   source_addr
=============  ===========================================  ========  ==========================
alphanumeric   anything but digits (``ACME``, ``Shop 24``)  5 / 0     as written
international  ``+`` and digits                             1 / 1     the digits, no ``+``
international  ``00`` and digits                           1 / 1     the digits after ``00``
national       ``0`` and digits (not ``00``)                2 / 1     as written, with the ``0``
shortcode      up to 6 digits, no ``+``, no leading ``0``   3 / 0     as written
international  7 or more digits, no ``+``, no leading 0     1 / 1     as written (E.164 sans +)
=============  ===========================================  ========  ==========================

Short codes go out as TON 3 (network specific) / NPI 0 (unknown): a short code belongs to
one operator's network and is no E.164 number, so "network specific" is the TON that says
so; it is what most SMSCs expect. Some want 6 (abbreviated) or 0 (unknown) instead: every
kind can be overridden per connector (``SmppOptions``). Digits without ``+`` or a leading
``0`` and longer than a short code are read as an international number written without
its ``+``, as textgate sent every numeric sender before senders were told apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from textgate.core.numbers import is_numeric_sender

__all__ = ["DEFAULT_TON_NPI", "MAX_SHORTCODE_DIGITS", "SenderKind", "classify_sender"]


class SenderKind(StrEnum):
    ALPHANUMERIC = "alphanumeric"
    INTERNATIONAL = "international"
    NATIONAL = "national"
    SHORTCODE = "shortcode"


MAX_SHORTCODE_DIGITS: Final = 6
"""Short codes run 3-6 digits in practice; 1-2 digit senders are read as short codes too,
as no international or national number is that short."""

DEFAULT_TON_NPI: Final[Mapping[SenderKind, tuple[int, int]]] = {
    SenderKind.ALPHANUMERIC: (5, 0),  # 5.2.5 alphanumeric, 5.2.6 unknown
    SenderKind.INTERNATIONAL: (1, 1),  # international, ISDN (E.164)
    SenderKind.NATIONAL: (2, 1),  # national, ISDN (E.164)
    SenderKind.SHORTCODE: (3, 0),  # network specific, unknown
}
"""The (TON, NPI) each kind of sender goes out with unless the connector overrides it."""


def classify_sender(sender: str) -> tuple[SenderKind, str]:
    """The kind of a (non-empty) sender ID and the source_addr to send (see the table in
    the module docstring). Spaces between digit groups of a number are dropped, as the
    submit path's sender check does."""
    sender = sender.strip()
    if not is_numeric_sender(sender):
        return SenderKind.ALPHANUMERIC, sender
    number = sender.replace(" ", "")
    if number.startswith("+"):
        return SenderKind.INTERNATIONAL, number[1:]
    if number.startswith("00") and len(number) > 2:
        return SenderKind.INTERNATIONAL, number[2:]
    if number.startswith("0"):
        return SenderKind.NATIONAL, number
    if len(number) <= MAX_SHORTCODE_DIGITS:
        return SenderKind.SHORTCODE, number
    return SenderKind.INTERNATIONAL, number
