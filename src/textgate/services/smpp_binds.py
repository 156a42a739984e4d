"""The customers bound to this process's SMPP server, as the operator watches them (the
connectors page, ``/metrics``): per account, its binds by kind, each bind's windows, its
submit rate, and the deliver_sm waiting for it in the database.

The server (``smpp_server``) hands over a frozen :class:`BindSnapshot` of its open binds;
:class:`SmppBindService` groups it by account and adds the queue's counts. Like every
per-process figure, the binds and counts are this process's own: a cluster of front doors
shows each its own customers (the queued counts, read from the database, are the same
everywhere).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from textgate.services.smpp_deliveries import INBOUND, RECEIPT, SmppDeliveryService

__all__ = [
    "BIND_KINDS",
    "RATE_SPAN_SECONDS",
    "AccountBinds",
    "BindSnapshot",
    "OpenBind",
    "SmppBindService",
    "SmppBindView",
]

# SMPP 3.4 4.1: the three binds an ESME may open (bind_transmitter, bind_receiver,
# bind_transceiver), by the name the operator reads.
BIND_KINDS = ("transmitter", "receiver", "transceiver")
RATE_SPAN_SECONDS = 60
"""A bind's submit rate is its submits over this many seconds, divided by them."""
QUEUE_KINDS = (RECEIPT, INBOUND)


@dataclass(frozen=True, slots=True)
class OpenBind:
    """One open bind, as the server saw it when the snapshot was taken."""

    account_id: str
    account: str
    """The account's name."""
    kind: str
    """One of :data:`BIND_KINDS`."""
    client: str
    """Where the client connects from (address:port)."""
    bound_at: datetime
    window: int
    """Requests each side may have outstanding on this bind (SMPP 3.4 2.5)."""
    requests_in: int
    """The client's requests being answered (its window in use: submit_sm, data_sm, ...)."""
    requests_out: int
    """The server's requests the client has not answered yet (deliver_sm, enquire_link)."""
    submits: int
    """submit_sm and data_sm accepted since the bind opened."""
    recent_submits: int
    """... of which in the last :data:`RATE_SPAN_SECONDS` (to within a twelfth of them)."""

    @property
    def receives(self) -> bool:
        """Whether deliver_sm go to this bind (receiver, transceiver: SMPP 3.4 4.1)."""
        return self.kind != "transmitter"

    @property
    def submit_rate(self) -> float:
        """submit_sm and data_sm accepted per second, over the last minute."""
        return self.recent_submits / RATE_SPAN_SECONDS


@dataclass(frozen=True, slots=True)
class BindSnapshot:
    """What the SMPP server reports of itself (``SmppServer.bind_snapshot``)."""

    binds: tuple[OpenBind, ...]
    submitted: tuple[tuple[str, int], ...]
    """(account name, submits accepted) for every account that has bound since the server
    started, binds since closed included: a counter that only grows."""


@dataclass(frozen=True, slots=True)
class AccountBinds:
    """An account with open binds: what they carry and what waits for them."""

    account_id: str
    account: str
    binds: tuple[OpenBind, ...]
    queued: Mapping[str, int]
    """deliver_sm waiting in the database, by kind (receipt, inbound)."""

    @property
    def by_kind(self) -> dict[str, int]:
        counted = Counter(b.kind for b in self.binds)
        return {kind: counted[kind] for kind in BIND_KINDS}

    @property
    def submit_rate(self) -> float:
        return sum(b.recent_submits for b in self.binds) / RATE_SPAN_SECONDS

    def window(self, direction: str) -> tuple[int, int]:
        """(in use, size) over the account's binds: ``in`` the client's requests, ``out``
        the server's deliver_sm (only binds that receive have that window)."""
        if direction == "in":
            return sum(b.requests_in for b in self.binds), sum(b.window for b in self.binds)
        receiving = [b for b in self.binds if b.receives]
        return sum(b.requests_out for b in receiving), sum(b.window for b in receiving)


@dataclass(frozen=True, slots=True)
class SmppBindView:
    """The SMPP server of this process, for the connectors page and ``/metrics``."""

    accounts: tuple[AccountBinds, ...]
    """Accounts with open binds, by name."""
    submitted: tuple[tuple[str, int], ...]
    """See :attr:`BindSnapshot.submitted`."""


class SmppBindService:
    def __init__(
        self, snapshot: Callable[[], BindSnapshot | None], deliveries: SmppDeliveryService
    ) -> None:
        """``snapshot``: the server's binds now, None when this process runs no server."""
        self._snapshot = snapshot
        self._deliveries = deliveries

    async def view(self) -> SmppBindView | None:
        snap = self._snapshot()
        if snap is None:
            return None
        grouped: dict[str, list[OpenBind]] = {}
        for bind in snap.binds:
            grouped.setdefault(bind.account_id, []).append(bind)
        queued = await self._deliveries.pending_by_account(grouped)
        accounts = [
            AccountBinds(
                account_id=account_id,
                account=binds[0].account,
                binds=tuple(sorted(binds, key=lambda b: (b.bound_at, b.client))),
                queued={kind: queued.get((account_id, kind), 0) for kind in QUEUE_KINDS},
            )
            for account_id, binds in grouped.items()
        ]
        accounts.sort(key=lambda a: a.account)
        return SmppBindView(tuple(accounts), snap.submitted)
