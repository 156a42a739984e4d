"""Prometheus lines for the process's background loops (``textgate.loops``) and the
counters its parts keep.

Unlike the message counts, these are per process: each process runs its own loops, and
Prometheus scrapes each process under its own instance label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from textgate.loops import LoopRegistry

__all__ = ["CounterCollector", "Counters", "LoopCollector"]

Counters = Callable[[], Mapping[str, tuple[str, float]]]
"""Process counters read at scrape time: name -> (help, value)."""


class LoopCollector(Collector):
    def __init__(self, loops: LoopRegistry) -> None:
        self._loops = loops

    def collect(self) -> Iterator[Metric]:
        failing = GaugeMetricFamily(
            "textgate_loop_failing",
            "1 while a background loop has been failing (3 failures in a row, or for 30 s).",
            labels=["loop"],
        )
        failures = CounterMetricFamily(
            "textgate_loop_failures",
            "Failed iterations of a background loop since the process started.",
            labels=["loop"],
        )
        now = self._loops.clock()
        for record in self._loops.records():
            failing.add_metric([record.name], 1.0 if record.failing(now) else 0.0)
            failures.add_metric([record.name], float(record.failures_total))
        yield failing
        yield failures


class CounterCollector(Collector):
    """Counters a part of the process keeps (the dispatcher's in-doubt and late answers)."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        for name, (text, value) in self._counters().items():
            family = CounterMetricFamily(name, text)
            family.add_metric([], value)
            yield family
