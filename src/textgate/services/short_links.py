"""Replacing the URLs of a text with short links (``{base}/s/{code}``) that redirect to
them and count clicks (SMSmobileAPI ``shorturl=1``, seed 003)."""

from __future__ import annotations

import re
import secrets

from textgate.core.short_links import ShortLink
from textgate.errors import Conflict, NotFound
from textgate.storage.short_links import ShortLinkRepo

__all__ = ["CODE_LENGTH", "ShortLinkService", "find_urls"]

CODE_LENGTH = 8
_CODE_ALPHABET = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
# http(s) URLs up to whitespace; punctuation that ends a sentence is not part of them.
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"
_MAX_URL = 2048


def find_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) of each URL in ``text``."""
    spans = []
    for match in _URL.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        if end - start <= _MAX_URL and text[start:end].count("/") >= 2:
            spans.append((start, end))
    return spans


def _code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


class ShortLinkService:
    def __init__(self, repo: ShortLinkRepo) -> None:
        self._repo = repo

    async def shorten(self, account_id: str, text: str, base_url: str) -> str:
        """``text`` with every URL replaced by a short link under ``base_url``."""
        spans = find_urls(text)
        if not spans:
            return text
        base = base_url.rstrip("/")
        for _ in range(3):
            codes = [_code() for _ in spans]
            try:
                await self._repo.add(
                    account_id, [(c, text[s:e]) for c, (s, e) in zip(codes, spans, strict=True)]
                )
            except Conflict:
                continue  # a code already taken (unlikely): draw new ones
            break
        else:
            raise Conflict("could not pick free short link codes; try again")
        out = []
        last = 0
        for code, (start, end) in zip(codes, spans, strict=True):
            out.append(text[last:start])
            out.append(f"{base}/s/{code}")
            last = end
        out.append(text[last:])
        return "".join(out)

    async def follow(self, code: str) -> str:
        url = await self._repo.follow(code)
        if url is None:
            raise NotFound("no such link")
        return url

    async def get(self, account_id: str, code: str) -> ShortLink:
        """One of the account's links with its clicks (NotFound for another's)."""
        found = await self._repo.get(account_id, code)
        if found is None:
            raise NotFound("no such link")
        return found
