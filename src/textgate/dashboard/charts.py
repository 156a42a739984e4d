"""Charts as inline SVG, drawn on the server: no script, no build step, readable without
JavaScript and printable. Every text that reaches the markup is escaped here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from markupsafe import Markup, escape

__all__ = ["STATUS_COLOURS", "bars", "line", "stacked_bars"]

WIDTH: Final = 720
HEIGHT: Final = 200
PAD_LEFT: Final = 48
PAD_BOTTOM: Final = 22
PAD_TOP: Final = 10
# One colour per canonical status; CSS classes would not reach an SVG used as an image.
STATUS_COLOURS: Final[Mapping[str, str]] = {
    "delivered": "#2e7d32",
    "sent": "#1565c0",
    "buffered": "#6a1b9a",
    "sending": "#0277bd",
    "queued": "#90a4ae",
    "scheduled": "#b0bec5",
    "undelivered": "#ef6c00",
    "expired": "#8d6e63",
    "failed": "#c62828",
    "rejected": "#ad1457",
    "cancelled": "#757575",
}


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)  # pragma: no cover (the loop always returns)


def _frame(title: str, top: float, unit: str, slots: Sequence[int], body: str) -> Markup:
    plot_w = WIDTH - PAD_LEFT - 8
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    axis = []
    for frac in (0.0, 0.5, 1.0):
        y = PAD_TOP + plot_h * (1 - frac)
        label = _number(top * frac) + unit
        axis.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{PAD_LEFT + plot_w}" y2="{y:.1f}"'
            f' stroke="#e0e0e0"/><text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end"'
            f' font-size="10" fill="#555">{escape(label)}</text>'
        )
    ticks = []
    if slots:
        step = max(1, len(slots) // 6)
        for i in range(0, len(slots), step):
            x = PAD_LEFT + plot_w * (i + 0.5) / len(slots)
            ticks.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="10"'
                f' fill="#555">{escape(_slot_label(slots, i))}</text>'
            )
    return Markup(  # noqa: S704 (every interpolated text is escaped above)
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        f' aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(axis)}{body}{''.join(ticks)}</svg>"
    )


def _slot_label(slots: Sequence[int], i: int) -> str:
    moment = datetime.fromtimestamp(slots[i] / 1000, UTC)
    span = slots[-1] - slots[0] if len(slots) > 1 else 0
    return moment.strftime("%m-%d" if span >= 7 * 86_400_000 else "%H:%M")


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"


def stacked_bars(title: str, slots: Sequence[int], series: Mapping[str, Sequence[int]]) -> Markup:
    """One bar per slot, stacked by series (statuses), coloured by ``STATUS_COLOURS``."""
    n = len(slots)
    totals = [sum(s[i] for s in series.values()) for i in range(n)]
    top = _nice_max(max(totals, default=0))
    plot_w = WIDTH - PAD_LEFT - 8
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    bar_w = plot_w / max(n, 1)
    rects = []
    for i in range(n):
        y: float = PAD_TOP + plot_h
        for name, values in series.items():
            if not values[i]:
                continue
            h = plot_h * values[i] / top
            y -= h
            rects.append(
                f'<rect x="{PAD_LEFT + i * bar_w + 1:.1f}" y="{y:.1f}"'
                f' width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}"'
                f' fill="{STATUS_COLOURS.get(name, "#999")}">'
                f"<title>{escape(name)}: {values[i]}</title></rect>"
            )
    return _frame(title, top, "", slots, "".join(rects))


def bars(title: str, slots: Sequence[int], values: Sequence[float], unit: str = "") -> Markup:
    top = _nice_max(max(values, default=0))
    plot_w = WIDTH - PAD_LEFT - 8
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    bar_w = plot_w / max(len(slots), 1)
    rects = []
    for i, v in enumerate(values):
        if not v:
            continue
        h = plot_h * v / top
        rects.append(
            f'<rect x="{PAD_LEFT + i * bar_w + 1:.1f}" y="{PAD_TOP + plot_h - h:.1f}"'
            f' width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" fill="#1565c0">'
            f"<title>{escape(_number(v) + unit)}</title></rect>"
        )
    return _frame(title, top, unit, slots, "".join(rects))


def line(
    title: str, slots: Sequence[int], values: Sequence[float | None], unit: str = ""
) -> Markup:
    """A line through the slots that have a value (gaps where there is none)."""
    top = _nice_max(max((v for v in values if v is not None), default=0))
    plot_w = WIDTH - PAD_LEFT - 8
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    n = max(len(slots), 1)
    runs: list[list[str]] = [[]]
    dots = []
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
            continue
        x = PAD_LEFT + plot_w * (i + 0.5) / n
        y = PAD_TOP + plot_h * (1 - v / top)
        runs[-1].append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#2e7d32">'
            f"<title>{escape(_number(v) + unit)}</title></circle>"
        )
    paths = "".join(
        f'<polyline fill="none" stroke="#2e7d32" stroke-width="2" points="{" ".join(r)}"/>'
        for r in runs
        if len(r) > 1
    )
    return _frame(title, top, unit, slots, paths + "".join(dots))
