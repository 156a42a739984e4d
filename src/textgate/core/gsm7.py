"""The GSM 7-bit default alphabet and its extension table.

Source: 3GPP TS 23.038, section 6.2.1 (table "GSM 7 bit default alphabet") and section 6.2.1.1
("GSM 7 bit default alphabet extension table"). Only the default tables are implemented; the
national language locking/single shift tables (23.038 annex A) are not, because SMPP
``data_coding`` 0 / TP-DCS 0x00 means the default alphabet and a shift table would need a
national-language IE in every part's UDH.

Everything here is a constant derived once at import time; ``core.encoding`` builds its lookup
tables (``str.translate`` maps, regular expressions) from these so there is exactly one copy of
the alphabet.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BASIC_TABLE",
    "ESC",
    "EXTENSION_TABLE",
    "GSM7_BASIC_CHARS",
    "GSM7_CHARS",
    "GSM7_EXTENSION_CHARS",
]

#: 0x1B in the default alphabet is not a character but the escape to the extension table
#: (23.038 6.2.1, note 1). It is therefore never produced by the encoder from user text.
ESC: Final = 0x1B

# 23.038 6.2.1: position n of this string is the character with septet value n. Position 0x1B
# holds ESC itself only to keep the indices aligned; it is excluded from the character sets.
# Note 0x09 is CAPITAL C WITH CEDILLA (the 23.038 table; old GSM 03.38 printings show a small
# one), so "ç" is not GSM-7, and 0x24 is the currency sign "¤" while "$" sits at 0x02.
BASIC_TABLE: Final = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # 0x10-0x1F
    " !\"#¤%&'()*+,-./"  # 0x20-0x2F
    "0123456789:;<=>?"  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO"  # 0x40-0x4F
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50-0x5F
    "¿abcdefghijklmno"  # 0x60-0x6F
    "pqrstuvwxyzäöñüà"  # 0x70-0x7F
)

# 23.038 6.2.1.1: the characters reachable as ESC + code. Each costs two septets. The other
# codes of the extension table are either reserved (0x1B: a further extension table, 0x0D: CR2)
# or unused; a receiver shows the default-table character for them (note 3 of the table).
EXTENSION_TABLE: Final[dict[int, str]] = {
    0x0A: "\f",  # form feed (page break)
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

GSM7_BASIC_CHARS: Final = frozenset(BASIC_TABLE) - {chr(ESC)}
GSM7_EXTENSION_CHARS: Final = frozenset(EXTENSION_TABLE.values())
GSM7_CHARS: Final = GSM7_BASIC_CHARS | GSM7_EXTENSION_CHARS

# Import-time guards: a typo in the tables above would silently corrupt every message.
assert len(BASIC_TABLE) == 128
assert len(GSM7_BASIC_CHARS) == 127  # 128 positions, ESC excluded, no duplicates
assert not GSM7_BASIC_CHARS & GSM7_EXTENSION_CHARS
