"""What this process has seen happen, counted for Prometheus: submits by interface and
outcome, each message a submit stored, each link's answer to each hand-off, and phones'
reports.

One :class:`OperationCounts` per process, handed to the parts that count (the submit path,
the dispatcher, the device API) and read at scrape time. Counting is a dictionary increment
on the event loop's thread: cheap enough for the submit hot path, and no lock is needed.
Like every per-process figure, these restart from zero with the process (Prometheus'
``rate`` and ``increase`` allow for that).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from textgate.core.message import Message

__all__ = ["ACCEPTED", "REJECTED", "OperationCounts"]

ACCEPTED = "accepted"
REJECTED = "rejected"


class OperationCounts(Collector):
    def __init__(self) -> None:
        # Keyed by label values, in the order of each family's labels.
        self._submits: Counter[tuple[str, ...]] = Counter()
        self._messages: Counter[tuple[str, ...]] = Counter()
        self._links: Counter[tuple[str, ...]] = Counter()
        self._phones: Counter[tuple[str, ...]] = Counter()

    # --- counting (see the Protocols of services.submit, dispatch.worker, services.devices)

    def submitted(self, interface: str, messages: Sequence[Message]) -> None:
        """A submit was accepted and stored ``messages`` (empty when replayed)."""
        self._submits[(interface, ACCEPTED, "")] += 1
        for m in messages:
            self._messages[(interface, m.status.value, m.error_code or "")] += 1

    def submit_refused(self, interface: str, code: str) -> None:
        """A submit was refused as a whole with this error code; nothing was stored."""
        self._submits[(interface, REJECTED, code)] += 1

    def link_result(self, connector: str, result: str, status: str) -> None:
        self._links[(connector, result, status)] += 1

    def phone_result(self, state: str) -> None:
        self._phones[(state,)] += 1

    # --- reading -----------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        yield _family(
            "textgate_submits",
            "Submit requests by interface and outcome (accepted, or rejected with the error"
            " code); counted where every interface's submits meet, after authentication.",
            ["interface", "outcome", "code"],
            self._submits,
        )
        yield _family(
            "textgate_submitted_messages",
            "Messages stored by accepted submits, by interface and status (queued,"
            " scheduled, or rejected with the reason's code).",
            ["interface", "status", "code"],
            self._messages,
        )
        yield _family(
            "textgate_link_results",
            "Each hand-off's outcome by connector: result (sent, not_sent, refused,"
            " in_doubt) and status (ok, or the error code: an SMPP refusal's command_status"
            " name in lower case, such as esme_rthrottled).",
            ["connector", "result", "status"],
            self._links,
        )
        yield _family(
            "textgate_phone_results",
            "States phones report for the messages they send (one per recipient and report).",
            ["state"],
            self._phones,
        )


def _family(
    name: str, text: str, labels: list[str], counts: Counter[tuple[str, ...]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=labels)
    for values, n in sorted(counts.items()):
        family.add_metric(list(values), float(n))
    return family
