"""Merge tags: ``[Name]`` in a text replaced by the value given for ``Name``.

MailUp's DynamicFields (seed 002) fill these tags in SMS and email content. Names match
without regard to case, as the provider's list fields do; a tag with no value given is left
as written, so square brackets that are not tags survive untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["fields_of", "render", "tags_in"]

# A tag is a bracketed name of letters, digits, underscores, dots and dashes (no spaces: a
# bracketed phrase in ordinary text is not a tag).
_TAG = re.compile(r"\[([A-Za-z0-9_.\-]{1,100})\]")


def fields_of(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Field values by lower-cased name; a name given twice keeps its last value."""
    return {name.strip().lower(): value for name, value in pairs if name.strip()}


def render(text: str, fields: Mapping[str, str]) -> str:
    """``text`` with every tag whose name is in ``fields`` (lower-cased names) replaced."""
    if not fields or "[" not in text:
        return text

    def value(match: re.Match[str]) -> str:
        found = fields.get(match.group(1).lower())
        return match.group(0) if found is None else found

    return _TAG.sub(value, text)


def tags_in(text: str) -> list[str]:
    """The names of the tags in ``text``, in order of first appearance."""
    return list(dict.fromkeys(m.group(1) for m in _TAG.finditer(text)))
