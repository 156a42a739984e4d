"""Figures of one side of ``vs_kannel.py`` and the tables it prints (per run, medians)."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from wrk_load import WrkResult


@dataclass
class SideResult:
    side: str
    database: str
    connector: str = ""
    requests: int = 0
    """Responses wrk read in full during the load."""
    ok: int = 0
    """Of which 2xx: messages accepted."""
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    wrk_exit: int = 0
    duration_s: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    delivered: int = 0
    """Messages out: fakesmsc received them (Kannel), their status is ``delivered``
    (textgate). Requests in flight when wrk stopped count here, not in ``ok``."""
    e2e_seconds: float = 0.0
    """From just before wrk started to the last delivery."""
    statuses: dict[str, int] = field(default_factory=dict)
    rss_start_kib: int = 0
    rss_peak_kib: int = 0
    rss_end_kib: int = 0
    gateway_cpu: float = 0.0
    smsc_cpu: float = 0.0
    wrk_cpu: float = 0.0
    db_cpu: float = 0.0
    """PostgreSQL server processes, when textgate runs on PostgreSQL."""
    other_cpu: float = 0.0
    """Machine CPU that none of the above used (other work on the machine, the kernel's)."""
    top_others: list[tuple[str, float]] = field(default_factory=list)
    quiet_wait: float = 0.0
    problems: list[str] = field(default_factory=list)

    def fill_from_wrk(self, load: WrkResult) -> None:
        self.requests, self.ok, self.non_2xx = load.requests, load.ok, load.non_2xx
        self.socket_errors = load.socket_errors
        self.wrk_exit, self.duration_s = load.exit_code, load.duration_s
        self.latency_ms, self.wrk_cpu = load.latency_ms, load.cpu_seconds

    @property
    def accepted_rate(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    @property
    def delivered_rate(self) -> float:
        return self.delivered / self.e2e_seconds if self.e2e_seconds else 0.0

    @property
    def cpu_per_1000(self) -> float:
        return self.gateway_cpu / self.delivered * 1000 if self.delivered else 0.0

    @property
    def run_seconds(self) -> float:
        return max(self.e2e_seconds, self.duration_s)

    def errors(self) -> list[str]:
        out = list(self.problems)
        if self.non_2xx:
            out.append(f"{self.non_2xx} non-2xx responses")
        if any(self.socket_errors.values()):
            out.append(f"socket errors {self.socket_errors}")
        if self.wrk_exit:
            out.append(f"wrk exited with {self.wrk_exit}")
        if self.delivered < self.ok:
            out.append(f"only {self.delivered} of {self.ok} accepted messages delivered")
        if not self.ok:
            out.append("no message accepted")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "accepted_rate": self.accepted_rate,
            "delivered_rate": self.delivered_rate,
            "gateway_cpu_per_1000": self.cpu_per_1000,
            "errors": self.errors(),
        }


def _mib(kib: float) -> str:
    return f"{kib / 1024:,.1f}"


Metric = tuple[str, Callable[[SideResult], float], Callable[[float], str]]
METRICS: list[Metric] = [
    ("ACCEPTED msg/s", lambda r: r.accepted_rate, lambda v: f"{v:,.0f}"),
    ("latency p50 (ms)", lambda r: r.latency_ms.get("p50", 0.0), lambda v: f"{v:,.2f}"),
    ("latency p99 (ms)", lambda r: r.latency_ms.get("p99", 0.0), lambda v: f"{v:,.2f}"),
    ("latency max (ms)", lambda r: r.latency_ms.get("max", 0.0), lambda v: f"{v:,.1f}"),
    ("non-2xx responses", lambda r: r.non_2xx, lambda v: f"{v:,.0f}"),
    ("socket errors", lambda r: sum(r.socket_errors.values()), lambda v: f"{v:,.0f}"),
    ("accepted messages (2xx)", lambda r: r.ok, lambda v: f"{v:,.0f}"),
    ("delivered messages", lambda r: r.delivered, lambda v: f"{v:,.0f}"),
    ("first request -> last out (s)", lambda r: r.e2e_seconds, lambda v: f"{v:,.2f}"),
    ("DELIVERED msg/s", lambda r: r.delivered_rate, lambda v: f"{v:,.0f}"),
    ("gateway RSS start (MiB)", lambda r: r.rss_start_kib, _mib),
    ("gateway RSS peak (MiB)", lambda r: r.rss_peak_kib, _mib),
    ("gateway RSS end (MiB)", lambda r: r.rss_end_kib, _mib),
    ("gateway CPU s", lambda r: r.gateway_cpu, lambda v: f"{v:,.2f}"),
    ("gateway CPU s / 1,000 msgs", lambda r: r.cpu_per_1000, lambda v: f"{v:,.3f}"),
    ("operator side CPU s", lambda r: r.smsc_cpu, lambda v: f"{v:,.2f}"),
    ("PostgreSQL server CPU s", lambda r: r.db_cpu, lambda v: f"{v:,.2f}"),
    ("wrk CPU s", lambda r: r.wrk_cpu, lambda v: f"{v:,.2f}"),
    ("other processes CPU s (noise)", lambda r: r.other_cpu, lambda v: f"{v:,.2f}"),
]
RATIOS: dict[str, Callable[[SideResult], float]] = {
    "accepted": lambda r: r.accepted_rate,
    "delivered": lambda r: r.delivered_rate,
    "latency_p50": lambda r: r.latency_ms.get("p50", 0.0),
    "latency_p99": lambda r: r.latency_ms.get("p99", 0.0),
    "rss_peak": lambda r: float(r.rss_peak_kib),
    "cpu_per_1000": lambda r: r.cpu_per_1000,
}
RATIO_ROWS = {
    "ACCEPTED msg/s": "accepted",
    "DELIVERED msg/s": "delivered",
    "latency p50 (ms)": "latency_p50",
    "latency p99 (ms)": "latency_p99",
    "gateway RSS peak (MiB)": "rss_peak",
    "gateway CPU s / 1,000 msgs": "cpu_per_1000",
}


def ratios(kannel: SideResult, textgate: SideResult) -> dict[str, float]:
    """textgate / Kannel for the same run."""
    out = {}
    for name, value in RATIOS.items():
        k = value(kannel)
        out[name] = value(textgate) / k if k else 0.0
    return out


def _print_rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def print_header(meta: dict[str, Any], args: argparse.Namespace) -> None:
    packages = ", ".join(f"{k} {v}" for k, v in meta["packages"].items())
    print(f"\ntextgate vs Kannel, same run, {meta['started']}")
    print(f"machine: {meta['machine']}")
    installed = ", ".join(meta["installed_now"]) or "none"
    print(f"code: {meta['code']}; packages: {packages} (installed by this run: {installed})")
    print(f"command: {' '.join(meta['argv'])}")
    textgate_db = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"load: wrk {args.threads} threads, {args.connections} connections, {args.duration:g} s"
        f" per side, one recipient per request, {args.warmup} warm-up messages;"
        f" textgate: {textgate_db}, connector {args.connector};"
        " Kannel: bearerbox spool store, fake SMSC (fakesmsc)"
    )


def _side_label(r: SideResult) -> str:
    return "Kannel" if r.side == "kannel" else "textgate"


def print_table(
    title: str, kannel: SideResult, textgate: SideResult, ratio: dict[str, float]
) -> None:
    print(f"\n{title}")
    rows = []
    for label, value, fmt in METRICS:
        key = RATIO_ROWS.get(label)
        rows.append(
            [label, fmt(value(kannel)), fmt(value(textgate)), f"{ratio[key]:.2f}" if key else ""]
        )
    _print_rows(["", "Kannel", "textgate", "textgate/Kannel"], rows)
    for r in (kannel, textgate):
        for error in r.errors():
            print(f"[{_side_label(r)}] error: {error}")
        if r.run_seconds and r.other_cpu > max(0.5, 0.1 * r.run_seconds):
            print(
                f"[{_side_label(r)}] warning: other processes used {r.other_cpu:.1f} CPU-s in"
                f" {r.run_seconds:.1f} s: the figures are pessimistic"
            )
            busiest = ", ".join(f"{n} {c:.1f} s" for n, c in r.top_others)
            print(f"[{_side_label(r)}] busiest other processes: {busiest or '-'}")


def medians(
    runs: Sequence[tuple[SideResult, SideResult, dict[str, float]]],
) -> dict[str, Any]:
    """Per metric and side, the median over the runs; ratios: the median of each run's own."""
    out: dict[str, Any] = {"kannel": {}, "textgate": {}, "ratios": {}}
    for label, value, _ in METRICS:
        out["kannel"][label] = statistics.median(value(k) for k, _, _ in runs)
        out["textgate"][label] = statistics.median(value(t) for _, t, _ in runs)
    for key in RATIOS:
        out["ratios"][key] = statistics.median(r[key] for _, _, r in runs)
    return out


def print_medians(med: dict[str, Any], count: int) -> None:
    print(f"\nmedians of {count} runs (ratio: median of the runs' own ratios)")
    rows = []
    for label, _, fmt in METRICS:
        key = RATIO_ROWS.get(label)
        rows.append(
            [
                label,
                fmt(med["kannel"][label]),
                fmt(med["textgate"][label]),
                f"{med['ratios'][key]:.2f}" if key else "",
            ]
        )
    _print_rows(["", "Kannel", "textgate", "textgate/Kannel"], rows)
