"""The result document of a run as markdown tables.

One table per drift kind with every setting's detections, delays, false alarms
per 10k events (stable and drifting streams), repeats and cost per update, and
a breakdown per concept stream or per shift magnitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from driftline.evaluation.harness.runner import SLOW
from driftline.evaluation.harness.streams import SHIFTS


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def _main_table(rows: dict[str, dict[str, Any]], unit: str) -> list[str]:
    lines = [
        f"| setting | detected | mean delay | median delay | max delay | FA/10k stable "
        f"| FA/10k drifting | repeats | µs/{unit} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['detected']}/{r['drifts']} | {_fmt(r['mean_delay'])} "
            f"| {_fmt(r['median_delay'])} | {_fmt(r['max_delay'])} "
            f"| {_fmt(r['fa_per_10k_stable'])} ({r['false_alarms_stable']}) "
            f"| {_fmt(r['fa_per_10k_drifting'])} ({r['false_alarms_drifting']}) "
            f"| {r['repeats']} | {_fmt(r['us_per_update'])} |"
        )
    return lines


def _breakdown(table: dict[str, dict[str, dict[str, Any]]], cols: Sequence[str]) -> list[str]:
    """detected/total (median delay) per column; FA count for stable columns."""
    lines = ["| setting | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, per in table.items():
        cells = []
        for c in cols:
            r = per.get(c)
            if r is None:
                cells.append("n/a")
            elif r["drifts"]:
                cells.append(f"{r['detected']}/{r['drifts']} ({_fmt(r['median_delay'])})")
            else:
                cells.append(f"FA {r['false_alarms_stable']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The result document as markdown tables."""
    p = result["plan"]
    out = [
        f"seeds {p['seeds']}, concept streams {p['concept_events']:,} events, data streams "
        f"{p['data_events']:,} events, max delay {p['max_delay']:,} (data {p['data_max_delay']:,}),"
        f" random fires at {p['random_rate']:g}/event, {p['jobs']} jobs on {p['nproc']} cores, "
        f"{result['seconds']} s. KSWIN rows ({', '.join(SLOW)}) run on the first seed only.",
        "",
        "### Concept drift (error stream of the online model)",
        "",
        *_main_table(result["concept"]["overall"], "update"),
        "",
        "Detected drifts per stream (median delay); stable streams: false alarms.",
        "",
    ]
    cols = list(result["concept_streams"])
    out += _breakdown(result["concept"]["per_stream"], cols)
    out += [
        "",
        "### Data drift (covariate shift of one feature, all features watched)",
        "",
        *_main_table(result["data"]["overall"], "event"),
        "",
        "Detected shifts per magnitude (median delay); stable: false alarms.",
        "",
        *_breakdown(result["data"]["per_shift"], [s.name for s in SHIFTS]),
        "",
        f"psi-cal thresholds (1.2 x max PSI on stable calibration seeds "
        f"{p['calibration_seeds']}): {p['psi_calibrated_thresholds']}",
    ]
    return "\n".join(out)
