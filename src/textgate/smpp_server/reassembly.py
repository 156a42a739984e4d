"""Parts of concatenated messages (UDH), collected per bind until each message is whole.

A long message reaches an SMSC as several submit_sm, each with a UDH naming a reference,
the number of parts and its own number (3GPP TS 23.040 9.2.3.24.1 and .8). textgate stores
the message once, whole, as every other interface does, and splits it again for the link.

Which answer each part gets, and why:

- The part that completes the message is answered after the whole message is committed,
  with the stored message's id (the id query results and receipts name).
- Every earlier part is answered at once, ESME_ROK, with a provisional id
  (``<token>-<part number>``, the token drawn per message). It cannot wait for the rest:
  a client with a window of one sends part 2 only once part 1 is answered. The message
  does not exist yet, so it has no id to give.
- A refusal found once the message is whole (an invalid destination, the account's rules)
  is the completing part's answer; the earlier parts were only taken into this buffer.

The buffer is bounded: at most ``max_parts`` parts per bind (one more is refused with
ESME_RMSGQFUL, not taken, so nothing acknowledged is dropped for room), and a message
whose parts have not all come ``timeout`` seconds after its first is sent with the parts
that came, in order, as is a message still incomplete when its bind ends: its parts were
acknowledged, and an acknowledged message is never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from textgate.connectors.smpp.constants import CommandStatus
from textgate.smpp_server.errors import Refused
from textgate.smpp_server.messages import Submitted

__all__ = ["Reassembly"]

log = logging.getLogger(__name__)

Flush = Callable[[Submitted], Awaitable[object]]
"""Stores a message whose parts stopped coming (its text: the parts that came)."""

# (destination, sender, reference, 16-bit reference, part count): one message's parts.
_Key = tuple[str, str | None, int, bool, int]


@dataclass(slots=True)
class _Pending:
    first: Submitted
    token: str
    timer: asyncio.TimerHandle | None = None
    parts: dict[int, Submitted] = field(default_factory=dict)

    def whole(self) -> Submitted:
        """The message of the parts held, in part order."""
        parts = [self.parts[n] for n in sorted(self.parts)]
        ucs2 = next((p.encoding for p in parts if p.encoding is not None), None)
        return replace(
            self.first,
            text="".join(p.text for p in parts),
            encoding=ucs2,
            receipt=next((p.receipt for p in parts if p.receipt is not None), None),
            concat=None,
        )


class Reassembly:
    def __init__(self, flush: Flush, *, max_parts: int, timeout: float) -> None:
        self._flush = flush
        self._max_parts = max_parts
        self._timeout = timeout
        self._pending: dict[_Key, _Pending] = {}
        self._held = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def held(self) -> int:
        """Parts waiting for their siblings."""
        return self._held

    def add(self, part: Submitted) -> Submitted | str:
        """Take one part: the whole message when this part completes it, else the
        provisional id to answer the part with. Raises Refused when the buffer is full."""
        concat = part.concat
        assert concat is not None
        key: _Key = (part.destination, part.sender, concat.ref, concat.ref16, concat.total)
        pending = self._pending.get(key)
        if pending is None:
            if concat.total == 1:
                return replace(part, concat=None)
            pending = _Pending(part, secrets.token_hex(6))
            pending.timer = asyncio.get_running_loop().call_later(self._timeout, self._expire, key)
            self._pending[key] = pending
        if concat.seq not in pending.parts:
            completes = len(pending.parts) + 1 == concat.total
            # The part that completes a message takes no room: it leaves with its siblings.
            if self._held >= self._max_parts and not completes:
                if not pending.parts:
                    self._drop(key)
                raise Refused(CommandStatus.ESME_RMSGQFUL, "too many parts of unfinished messages")
            self._held += 1
        # A part sent again (the client missed our answer) replaces the first copy.
        pending.parts[concat.seq] = part
        if len(pending.parts) < concat.total:
            return f"{pending.token}-{concat.seq}"
        self._drop(key)
        return pending.whole()

    def _drop(self, key: _Key) -> _Pending:
        pending = self._pending.pop(key)
        self._held -= len(pending.parts)
        if pending.timer is not None:
            pending.timer.cancel()
        return pending

    def _expire(self, key: _Key) -> None:
        pending = self._drop(key)
        log.warning(
            "smpp server: %d of %d parts came in time; sending them as they are",
            len(pending.parts),
            pending.first.concat.total if pending.first.concat else 0,
        )
        task = asyncio.ensure_future(self._store(pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store(self, pending: _Pending) -> None:
        try:
            await self._flush(pending.whole())
        except Exception:
            log.exception("smpp server: an incomplete concatenated message was not stored")

    async def close(self) -> None:
        """Store what is still incomplete (the bind ended) and wait for every store."""
        for key in list(self._pending):
            pending = self._drop(key)
            task = asyncio.ensure_future(self._store(pending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
