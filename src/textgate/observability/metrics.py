"""Prometheus metrics.

Counts of stored messages, queue depth and webhook backlog are read from the database at
scrape time, so every process of a scaled-out deployment reports the same totals and a
restart loses nothing. Latencies are measured in the process that serves the requests, in a
histogram that lives as long as the application.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.types import Scope

from textgate.loops import LoopRegistry
from textgate.observability.counts import OperationCounts
from textgate.observability.loop_metrics import CounterCollector, Counters, LoopCollector
from textgate.services.smpp_binds import RATE_SPAN_SECONDS, SmppBindView
from textgate.services.stats import Snapshot, StatsService

__all__ = ["CONTENT_TYPE", "Metrics"]

log = logging.getLogger(__name__)

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
# Submits answer in milliseconds on a healthy gateway; the top buckets catch a stalled disk.
SUBMIT_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    def __init__(
        self,
        stats: StatsService,
        loops: LoopRegistry | None = None,
        counters: Counters | None = None,
        counts: OperationCounts | None = None,
    ) -> None:
        self._stats = stats
        self._registry = CollectorRegistry(auto_describe=True)
        if counts is not None:
            self._registry.register(counts)
        if loops is not None:
            self._registry.register(LoopCollector(loops))
        if counters is not None:
            self._registry.register(CounterCollector(counters))
        self._submit = Histogram(
            "textgate_submit_seconds",
            "Time to accept a submission (request in to response out), by interface.",
            ["interface"],
            buckets=SUBMIT_BUCKETS,
            registry=self._registry,
        )
        # Child lookups cost a dictionary access and a lock; the hot path keeps its own.
        self._native = self._submit.labels(interface="native")
        self._submit_children: dict[str, Any] = {"native": self._native}
        self._requests = Histogram(
            "textgate_http_request_seconds",
            "Time to answer an HTTP request, by method and route template (every interface's"
            " submissions included; the native API's are in textgate_submit_seconds).",
            ["method", "route"],
            buckets=SUBMIT_BUCKETS,
            registry=self._registry,
        )

    def observe_native_submit(self, started: float) -> None:
        self._native.observe(time.perf_counter() - started)

    def observe_submit(self, interface: str, seconds: float) -> None:
        # labels() validates and locks on every call: a few microseconds per submit, so each
        # interface's child is looked up once.
        child = self._submit_children.get(interface)
        if child is None:
            child = self._submit_children[interface] = self._submit.labels(interface=interface)
        child.observe(seconds)

    def observe_request(self, scope: Scope, started: float) -> None:
        # The route's template, not the path: ids in paths would make a series per message.
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self._requests.labels(method=scope.get("method", ""), route=template).observe(
            time.perf_counter() - started
        )

    async def render(self, *, database_up: bool) -> bytes:
        snapshot = None
        if database_up:
            try:
                snapshot = await self._stats.snapshot()
            except Exception as exc:  # the process's own health must still show
                log.warning("metrics: the database counts failed: %r", exc)
                database_up = False
        scraped = CollectorRegistry(auto_describe=False)
        scraped.register(_SnapshotCollector(snapshot, database_up))
        return generate_latest(self._registry) + generate_latest(scraped)


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot | None, database_up: bool) -> None:
        self._snapshot = snapshot
        self._database_up = database_up

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("textgate_database_up", "1 if the database answered the scrape.")
        up.add_metric([], 1.0 if self._database_up else 0.0)
        yield up
        snap = self._snapshot
        if snap is None:
            return
        messages = GaugeMetricFamily(
            "textgate_messages",
            "Stored messages by status and by the connector that carried them.",
            labels=["status", "connector"],
        )
        for row in snap.counts:
            messages.add_metric([row.status, row.connector or ""], float(row.count))
        yield messages
        queue = GaugeMetricFamily(
            "textgate_queue_depth",
            "Messages waiting for the dispatcher (due, scheduled or waiting to retry).",
        )
        queue.add_metric([], float(snap.queue_depth))
        yield queue
        doubt = GaugeMetricFamily(
            "textgate_messages_in_doubt",
            "Waiting messages whose last hand-off went unanswered: each may have reached the"
            " carrier already (see the connector's in_doubt setting).",
        )
        doubt.add_metric([], float(snap.in_doubt))
        yield doubt
        backlog = GaugeMetricFamily(
            "textgate_webhook_backlog", "Webhook deliveries not yet made (pending or retrying)."
        )
        backlog.add_metric([], float(snap.webhook_backlog))
        yield backlog
        state = GaugeMetricFamily(
            "textgate_connector_up",
            "1 if the connector can take messages (an SMPP connector: at least one bind up).",
            labels=["connector", "type"],
        )
        links = GaugeMetricFamily(
            "textgate_connector_links_up",
            "Binds up, for connectors with links.",
            labels=["connector"],
        )
        link_up = GaugeMetricFamily(
            "textgate_link_up",
            "1 if the link is bound, for connectors that report their links (SMPP: each bind).",
            labels=["connector", "link"],
        )
        for c in snap.connectors:
            state.add_metric([c.name, c.kind], 0.0 if c.bound is False else 1.0)
            if c.links_up is not None:
                links.add_metric([c.name], float(c.links_up))
            for health in c.link_health:
                link_up.add_metric([c.name, health.name], 1.0 if health.up else 0.0)
        yield state
        yield links
        yield link_up
        if snap.smpp_server is not None:
            yield from _smpp_server(snap.smpp_server)


def _smpp_server(view: SmppBindView) -> Iterator[Metric]:
    """The customers bound to this process's SMPP server, per account with open binds."""
    binds = GaugeMetricFamily(
        "textgate_smpp_server_binds",
        "Open binds to the SMPP server, by account and kind (transmitter, receiver, transceiver).",
        labels=["account", "kind"],
    )
    in_use = GaugeMetricFamily(
        "textgate_smpp_server_window_in_use",
        "Requests outstanding on the account's binds: direction in, the client's being"
        " answered (submit_sm...); out, the server's deliver_sm not answered yet.",
        labels=["account", "direction"],
    )
    size = GaugeMetricFamily(
        "textgate_smpp_server_window_size",
        "The windows of the account's binds added up, by direction (out: only the binds"
        " that receive deliver_sm).",
        labels=["account", "direction"],
    )
    rate = GaugeMetricFamily(
        "textgate_smpp_server_submit_rate",
        f"submit_sm and data_sm accepted per second on the account's open binds, over the"
        f" last {RATE_SPAN_SECONDS} s.",
        labels=["account"],
    )
    queued = GaugeMetricFamily(
        "textgate_smpp_server_deliveries_queued",
        "deliver_sm waiting in the database for the account's receiver binds, by kind"
        " (receipt, inbound).",
        labels=["account", "kind"],
    )
    for account in view.accounts:
        name = account.account
        for kind, n in account.by_kind.items():
            binds.add_metric([name, kind], float(n))
        for direction in ("in", "out"):
            used, total = account.window(direction)
            in_use.add_metric([name, direction], float(used))
            size.add_metric([name, direction], float(total))
        rate.add_metric([name], account.submit_rate)
        for kind, n in account.queued.items():
            queued.add_metric([name, kind], float(n))
    submits = CounterMetricFamily(
        "textgate_smpp_server_submits",
        "submit_sm and data_sm accepted from the account's binds since the process started.",
        labels=["account"],
    )
    for name, n in view.submitted:
        submits.add_metric([name], float(n))
    yield from (binds, in_use, size, rate, submits, queued)
