"""An SVG of accuracy over time with drift points, alerts and promotions marked.

Plain SVG text: no plotting library needed on the machine running the job. Text
that comes from events or alerts (feature names, alert descriptions) goes through
:func:`xml_text`: a feature named ``<script>alert(1)</script>`` used to land in
the file as markup, and ``R&D spend`` made it invalid XML.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from driftline.flows.app.monitor import RunMonitor, event_index

_W, _H, _PAD = 960, 360, 48
_MARKS = {
    "concept_drift": ("#d62728", "concept drift alert"),
    "data_drift": ("#ff7f0e", "data drift alert"),
    "model_promoted": ("#2ca02c", "challenger promoted"),
    "model_reset": ("#9467bd", "model reset"),
    "challenger_dropped": ("#8c564b", "challenger dropped"),
}
# characters XML 1.0 does not allow even escaped (C0 controls but tab/LF/CR, surrogates, FFFE/F)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """`text` safe as SVG element text or attribute value (quotes escaped too).

    Characters XML cannot carry at all become U+FFFD, so the file always parses.
    """
    return html.escape(_NOT_XML.sub("\ufffd", text), quote=True)


def accuracy_series(monitor: RunMonitor, window: int) -> list[tuple[int, float]]:
    """(event index, accuracy over the `window` events ending there)."""
    points = []
    n = len(monitor.outcomes)
    for end in range(window, n + 1, max(window // 5, 1)):
        acc = monitor.accuracy_between(end - window, end)
        if acc is not None:
            points.append((end, acc))
    return points


def render_svg(
    monitor: RunMonitor, drift_points: list[int] | None = None, window: int = 500
) -> str:
    """The SVG document."""
    series = accuracy_series(monitor, window)
    last = max([x for x, _ in series] + (drift_points or []) + [1])
    lo = min([y for _, y in series] + [0.5])

    def sx(i: float) -> float:
        return _PAD + (_W - 2 * _PAD) * i / last

    def sy(v: float) -> float:
        return _H - _PAD - (_H - 2 * _PAD) * (v - lo) / (1.0 - lo or 1.0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_PAD}" y="20" font-size="14">Accuracy over the last {window} '
        "labelled events, with drift points and alerts</text>",
    ]
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        v = lo + (1.0 - lo) * frac
        parts.append(
            f'<line x1="{_PAD}" x2="{_W - _PAD}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" '
            'stroke="#eee"/>'
            f'<text x="4" y="{sy(v) + 4:.1f}">{v:.2f}</text>'
        )
    for p in drift_points or []:
        parts.append(
            f'<line x1="{sx(p):.1f}" x2="{sx(p):.1f}" y1="{_PAD}" y2="{_H - _PAD}" '
            'stroke="#555" stroke-dasharray="6,4"/>'
            f'<text x="{sx(p) + 3:.1f}" y="{_PAD + 10}">true drift @ {p:,}</text>'
        )
    for a in monitor.alerts:
        mark = _MARKS.get(a.kind)
        i = event_index(a.event_id)
        if mark is None or i is None:
            continue
        parts.append(
            f'<line x1="{sx(i):.1f}" x2="{sx(i):.1f}" y1="{_PAD + 16}" y2="{_H - _PAD}" '
            f'stroke="{mark[0]}" stroke-width="2" opacity="0.8">'
            f"<title>{xml_text(a.describe())}</title>"
            "</line>"
        )
    if series:
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in series)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    parts.append(
        f'<text x="{_W - _PAD}" y="{_H - 12}" text-anchor="end">event index ({last:,})</text>'
    )
    legend = [("#1f77b4", "model accuracy"), ("#555", "true drift point")]
    legend += [_MARKS[k] for k in _MARKS if any(a.kind == k for a in monitor.alerts)]
    for n, (colour, label) in enumerate(legend):
        x = _PAD + n * 150
        parts.append(
            f'<rect x="{x}" y="{_H - 30}" width="12" height="4" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{_H - 25}">{label}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def write_svg(path: Path, monitor: RunMonitor, drift_points: list[int] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_svg(monitor, drift_points), encoding="utf-8")
    return path
