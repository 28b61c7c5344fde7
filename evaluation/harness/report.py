"""The result document of a run as markdown tables.

One table per drift kind with every setting's detections, delays, false alarms
per 10k events (stable and drifting streams), repeats and cost per update, and
a breakdown per concept stream or per shift magnitude; for concept drift also
the error-level streams' realized errors and false alarms per 100k events, the
targets of issue 17 per setting, and the adaptation table (accuracy after each
drift per retraining policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from driftline.evaluation.harness.adaptation import POLICIES
from driftline.evaluation.harness.runner import SLOW, SLOW_POLICIES
from driftline.evaluation.harness.scoring import (
    TARGET_FA_PER_100K,
    TARGET_MAX_DELAY,
    TARGET_MEDIAN_DELAY,
)
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


def _levels(result: dict[str, Any]) -> list[str]:
    """The error-level streams (realized error) and each setting's false alarms per 100k."""
    streams = {k: v for k, v in result["concept_streams"].items() if v["level"] is not None}
    lines = [
        "| stream | level | model | events | realized error (mean; per seed) |",
        "|---|---|---|---|---|",
    ]
    for name, v in streams.items():
        seeds = len(v["realized_error_per_seed"])
        what = "MAE" if "regression" in v["level"] else "error rate"
        per = ", ".join(f"{e:g}" for e in v["realized_error_per_seed"])
        lines.append(
            f"| {name} | {v['level']} | {v['model']} | {seeds} x {v['events']:,} "
            f"| {what} {v['realized_error']:g}; {per} |"
        )
    cols = list(streams)
    lines += [
        "",
        "False alarms per 100k stable events (count), per error level:",
        "",
        "| setting | " + " | ".join(f"{streams[c]['level']}" for c in cols) + " |",
        "|---" * (len(cols) + 1) + "|",
    ]
    for name, per in result["levels"].items():
        cells = [
            f"{per[c]['per_100k']:g} ({per[c]['false_alarms']})" if c in per else "n/a"
            for c in cols
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if any("(tree)" in streams[c]["level"] for c in cols):
        lines += ["", TREE_NOTE]
    return lines


#: Why the tree models' level streams are reported and not judged (measured on seeds 1-6).
TREE_NOTE = (
    "The `(tree)` columns are the same two streams learned by the catalog's Hoeffding "
    "adaptive trees (`hat`, `hatr`). Their alarms are rises of the tree's own error: on "
    "blobs a burst from about 6 % to 15 % for 200-400 events, every one before event "
    "10,000 while the tree still splits; on Friedman an MAE rise from 1.8 to about 2.1 "
    "held for over 1,000 events. The blobs alarms pass the gate at every alpha from 1e-2 "
    "to 1e-5 (real rises of that model's error, not chance), so no test on the error "
    "stream can tell them from drift; "
    "the linear models learning the same streams (the columns before) meet the target. "
    "They are reported here, not judged by the targets below."
)


def _targets(result: dict[str, Any]) -> list[str]:
    """Issue 17's targets per setting."""
    lines = [
        f"Targets: every abrupt drift (after which the error rose) detected, median delay "
        f"<= {TARGET_MEDIAN_DELAY}, none later than {TARGET_MAX_DELAY:,}; <= "
        f"{TARGET_FA_PER_100K:g} false alarm per 100k stable events at every level (the "
        "tree models' streams are reported in the level table, not judged: see there).",
        "",
        "| setting | abrupt detected | median delay | max delay | gradual detected "
        "| gradual median delay | max FA/100k over levels | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, t in result["targets"].items():
        lines.append(
            f"| {name} | {t['abrupt_detected']}/{t['abrupt_drifts']} "
            f"| {_fmt(t['abrupt_median_delay'])} | {_fmt(t['abrupt_max_delay'])} "
            f"| {t['gradual_detected']}/{t['gradual_drifts']} "
            f"| {_fmt(t['gradual_median_delay'])} | {_fmt(t['max_fa_per_100k'])} "
            f"| {'yes' if t['met'] else 'no'} |"
        )
    return lines


def _adaptation(result: dict[str, Any]) -> list[str]:
    """Accuracy after each drift per policy and stream; alerts and replacements."""
    a = result["adaptation"]
    lines = [
        f"Prequential accuracy on [drift, drift + {a['window']:,}), mean over drifts and "
        f"seeds ({', '.join(a['slow_policies'])}: first seed only). In brackets for "
        "driftline / reset: concept alerts, champions replaced.",
        "",
        "| stream | " + " | ".join(POLICIES) + " |",
        "|---" * (len(POLICIES) + 1) + "|",
    ]

    def row(name: str, per: dict[str, dict[str, Any]]) -> str:
        cells = []
        for p in POLICIES:
            c = per[p]
            cell = _fmt(c["accuracy"])
            if p in ("driftline", "reset") and c["drifts"]:
                cell += f" ({c['alerts']}, {c['replaced']})"
            cells.append(cell)
        return f"| {name} | " + " | ".join(cells) + " |"

    for name, per in a["per_stream"].items():
        lines.append(row(name, per))
    lines.append(row("**all streams**", a["all"]))
    lines.append(row(f"all, seed {result['plan']['seeds'][0]} only", a["first_seed"]))
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The result document as markdown tables."""
    p = result["plan"]
    out = [
        f"seeds {p['seeds']}, concept streams {p['concept_events']:,} events, data streams "
        f"{p['data_events']:,} events, max delay {p['max_delay']:,} (data {p['data_max_delay']:,}),"
        f" random fires at {p['random_rate']:g}/event, {p['jobs']} jobs on {p['nproc']} cores, "
        f"{result['seconds']} s. KSWIN rows ({', '.join(SLOW)}) and the "
        f"{', '.join(SLOW_POLICIES)} policy run on the first seed only; error-level streams "
        f"{p['level_events']:,} events; default gate {p['default']}.",
        "",
        "### Concept drift (error stream of the online model)",
        "",
        *_main_table(result["concept"]["overall"], "update"),
        "",
        "Detected drifts per stream (median delay); stable streams: false alarms.",
        "",
    ]
    cols = [k for k, v in result["concept_streams"].items() if v["level"] is None]
    out += _breakdown(result["concept"]["per_stream"], cols)
    out += [
        "",
        "### Error levels: false alarms on long stable streams",
        "",
        *_levels(result),
        "",
        "### Targets (issue 17)",
        "",
        *_targets(result),
        "",
        "### Adaptation: accuracy after each drift per retraining policy",
        "",
        *_adaptation(result),
    ]
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
