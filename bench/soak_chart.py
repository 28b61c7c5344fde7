"""The soak run as a picture: throughput, p99 latency, RSS and CPU per interval.

An operator reading a soak wants to see at a glance whether anything drifts
over the hour (a rising RSS line, a CPU that climbs at a constant rate, a
latency that grows with the backlog); the Markdown table has the figures,
this has the shape. Plain SVG text like ``evaluation/plot.py`` (no plotting
library on the machine), written beside the JSON report (``.svg``).

The RSS panel shades the warm-up and draws the band the RSS check allows
(the median after warm-up, plus the limit), so a failed check shows where.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from driftline.evaluation.plot import xml_text

if TYPE_CHECKING:  # soak_report writes the chart
    from bench.soak_report import SoakReport

_W, _PANEL_H, _PAD_L, _PAD_R, _PAD_T, _GAP = 960, 150, 70, 24, 40, 36


@dataclass(frozen=True)
class Series:
    """One line of a panel: its values per interval (None: no figure that interval)."""

    label: str
    colour: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    series: tuple[Series, ...]
    band: tuple[float, float] | None = None  # (low, high) the check allows, shaded
    from_zero: bool = True  # else the axis spans the values only (a few % of RSS show)


def panels(report: SoakReport) -> list[Panel]:
    """What the chart shows, from the report's intervals."""
    rows = report.intervals
    rss = report.rss
    band = None
    if rss.after_warmup_mb is not None:
        band = (rss.after_warmup_mb, rss.after_warmup_mb * (1 + rss.limit_pct / 100))
    return [
        Panel(
            "throughput",
            "events/s",
            (
                Series("events in", "#1f77b4", [r.events_in_per_s for r in rows]),
                Series("predictions out", "#2ca02c", [r.predictions_out_per_s for r in rows]),
            ),
        ),
        Panel(
            "latency, produce() to prediction",
            "p99 s",
            (Series("p99", "#d62728", [_seconds(r.p99_ms) for r in rows]),),
        ),
        Panel(
            "job memory",
            "RSS MB",
            (Series("RSS", "#9467bd", [r.rss_mb for r in rows]),),
            band,
            from_zero=False,
        ),
        Panel("job CPU", "% of a core", (Series("CPU", "#ff7f0e", [r.cpu_pct for r in rows]),)),
    ]


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


def render_svg(report: SoakReport) -> str:
    """The SVG document: one panel per figure, minutes on a shared x axis."""
    rows = report.intervals
    minutes = [r.minute for r in rows]
    last = max([*minutes, report.minutes, 1e-9])
    warmup = report.rss.warmup_minutes
    shown = panels(report)
    height = _PAD_T + len(shown) * (_PANEL_H + _GAP) + 10

    def sx(minute: float) -> float:
        return _PAD_L + (_W - _PAD_L - _PAD_R) * minute / last

    head = (
        f"driftline soak: {report.minutes:g} min at {report.rate:,.0f} events/s, "
        f"commit {report.commit or '?'}, {'passed' if report.ok else 'FAILED'}"
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{_W}" height="{height}" fill="white"/>',
        f'<text x="{_PAD_L}" y="22" font-size="15">{xml_text(head)}</text>',
    ]
    for i, panel in enumerate(shown):
        top = _PAD_T + i * (_PANEL_H + _GAP) + 14
        out += _panel(panel, minutes, top, sx, warmup, last)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _panel(
    panel: Panel,
    minutes: list[float],
    top: float,
    sx: Callable[[float], float],
    warmup: float,
    last: float,
) -> list[str]:
    values = [v for s in panel.series for v in s.values if v is not None]
    if panel.band is not None:
        values += list(panel.band)
    lo = min([*values, 0.0]) if panel.from_zero else min(values, default=0.0)
    hi = max([*values, lo + 1e-9])
    margin = (hi - lo) * 0.08 or 1.0
    hi += margin
    lo = lo if panel.from_zero else lo - margin
    bottom = top + _PANEL_H

    def sy(v: float) -> float:
        return bottom - _PANEL_H * (v - lo) / (hi - lo)

    left, right = sx(0.0), sx(last)
    out = [
        f'<text x="{_PAD_L}" y="{top - 6:.1f}" font-size="13">{xml_text(panel.title)}</text>',
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" height="{_PANEL_H}" '
        f'fill="none" stroke="#999"/>',
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{sx(warmup) - left:.1f}" '
        f'height="{_PANEL_H}" fill="#eee"><title>warm-up</title></rect>',
        f'<text x="{left + 4:.1f}" y="{top + 14:.1f}" fill="#888">warm-up</text>',
    ]
    if panel.band is not None:
        low, high = panel.band
        out.append(
            f'<rect x="{sx(warmup):.1f}" y="{sy(high):.1f}" width="{right - sx(warmup):.1f}" '
            f'height="{sy(low) - sy(high):.1f}" fill="#2ca02c" fill-opacity="0.12">'
            f"<title>allowed after warm-up</title></rect>"
        )
    for v in (lo, (lo + hi) / 2, hi):
        out.append(
            f'<text x="{left - 6:.1f}" y="{sy(v) + 4:.1f}" text-anchor="end">{v:,.0f}</text>'
        )
    out.append(
        f'<text x="14" y="{top + _PANEL_H / 2:.1f}" transform="rotate(-90 14 '
        f'{top + _PANEL_H / 2:.1f})" text-anchor="middle">{xml_text(panel.unit)}</text>'
    )
    step = max(1, round(last / 12))
    for m in range(0, int(last) + 1, step):
        out.append(
            f'<text x="{sx(m):.1f}" y="{bottom + 14:.1f}" text-anchor="middle">{m} min</text>'
        )
    for k, series in enumerate(panel.series):
        points = [
            f"{sx(m):.1f},{sy(v):.1f}"
            for m, v in zip(minutes, series.values, strict=True)
            if v is not None
        ]
        if points:
            out.append(
                f'<polyline fill="none" stroke="{series.colour}" stroke-width="2" '
                f'points="{" ".join(points)}"><title>{xml_text(series.label)}</title></polyline>'
            )
        out.append(  # the legend, above the panel's right end
            f'<text x="{right - 130 * k:.1f}" y="{top - 6:.1f}" text-anchor="end" '
            f'fill="{series.colour}">{xml_text(series.label)}</text>'
        )
    return out
