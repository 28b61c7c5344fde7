"""Label-free signals before the labels come: estimated accuracy and prediction drift.

The built-in stream runs through the real job (in-process, one process per run),
labels a fixed hour of event time late, twice: stable, and with `salary` (a
feature the stream's concept uses) scaled x1.5 at :data:`SHIFT`. Events come every
500 ms (mean), so the hour is 7,200 events, 3.6 data windows of 2,000 events, and
both runs fit in about a minute on two cores. Measured:

- per data window, the estimated accuracy against the realized accuracy its
  labels later gave (windows fully labelled, outside the transitions: the window
  holding the shift, and those from the first shifted label on, where the model
  relearns);
- when prediction_drift and estimated_accuracy fired, against when the first
  concept_drift alert fired, or would have at the earliest: the first label of
  a shifted event (in events).

``run_label_free(seed)`` returns a :class:`LabelFreeResult` (JSON-able by
``dataclasses.asdict``); ``label_free_markdown(result)`` its report section.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any

import orjson

from driftline.flows.app.monitor import event_index as _event_index

SHIFT = 28_000
EVENTS = 40_000
SCALE = 1.5
FEATURE = "salary"
GAP_MS = 500.0
DELAY = timedelta(hours=1)
#: the first event whose label can come an hour later (fixed delay), at GAP_MS
DELAY_EVENTS = round(DELAY.total_seconds() * 1000 / GAP_MS)


def event_index(event_id: str) -> int:
    """A built-in stream event's index (every event here is one: ``evt-000000123``)."""
    index = _event_index(event_id)
    if index is None:
        raise ValueError(f"not a built-in stream event id: {event_id!r}")
    return index


def builtin(shift: int | None, seed: int = 42, events: int = EVENTS) -> dict[str, Any]:
    """The built-in stream's settings: concept 7, labels an hour late, maybe a shift."""
    return {
        "events": events,
        "seed": seed,
        "concepts": [7],
        "drift_points": [],
        "data_drift_points": [] if shift is None else [shift],
        "data_drift_feature": FEATURE,
        "data_drift_scale": SCALE,
        "bad_every": 0,
        "labels": "separate",
        "label_delay": "PT1H",
        "label_delay_kind": "fixed",
        "mean_gap_ms": GAP_MS,
    }


def overrides(shift: int | None, seed: int = 42, events: int = EVENTS) -> dict[str, Any]:
    """Settings sections of a run (the labels' TTL above their delay: none expire)."""
    return {"builtin": builtin(shift, seed, events), "labels": {"ttl": "PT2H"}}


@dataclass
class WindowGap:
    """One data window: its estimated accuracy and the realized one its labels gave."""

    end_event: int  # index of its last event + 1
    estimate: float | None
    realized: float | None
    labelled: int
    events: int
    transition: bool  # holds the shift, or the model relearns from shifted labels

    @property
    def tracked(self) -> bool:
        """Counted in the gap: estimated, fully labelled, outside the transitions."""
        complete = self.events > 0 and self.labelled >= self.events
        return self.estimate is not None and complete and not self.transition

    @property
    def gap(self) -> float | None:
        if self.estimate is None or self.realized is None:
            return None
        return self.estimate - self.realized


@dataclass
class LabelFreeRun:
    """One run of the job: per-window tracking and when each kind of alert fired."""

    name: str
    shift_at: int | None
    events: int
    windows: list[WindowGap]
    max_gap: float | None  # of |estimate - realized| over the tracked windows
    mean_gap: float | None
    tracked_windows: int
    alerts: dict[str, list[int]]  # kind: event indexes it fired at
    first_shifted_label: int | None  # event index when the first shifted label came
    realized_before: float | None  # mean realized accuracy, tracked windows before the shift
    realized_after: float | None  # and after it

    def first(self, kind: str, after: int = 0) -> int | None:
        return next((at for at in self.alerts.get(kind, []) if at >= after), None)


@dataclass
class LabelFreeResult:
    seed: int
    label_delay: str
    mean_gap_ms: float
    window: int
    shift: str
    stable: LabelFreeRun
    shifted: LabelFreeRun
    seconds: float


def window_gaps(reports: list[dict[str, Any]], window: int, shift: int | None) -> list[WindowGap]:
    """Each window's last figures in the drift reports (its most complete), in order."""
    last: dict[int, dict[str, Any]] = {}
    for report in reports:
        if report.get("estimate") is not None:
            for w in report["estimate"]["windows"]:
                last[w["window"]] = w
    out = []
    for _, w in sorted(last.items()):
        end = event_index(w["end_event_id"]) + 1
        start = end - window
        transition = shift is not None and (start < shift < end or end > shift + DELAY_EVENTS)
        out.append(
            WindowGap(end, w["estimate"], w["realized"], w["labelled"], w["events"], transition)
        )
    return out


def summarize(
    name: str,
    reports: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    predictions: list[dict[str, Any]],
    window: int,
    shift: int | None,
) -> LabelFreeRun:
    """A run's outputs as figures: tracking per window, alerts, the first shifted label."""
    gaps = window_gaps(reports, window, shift)
    tracked = [g for g in gaps if g.tracked]
    errors = [abs(g.gap) for g in tracked if g.gap is not None]
    fired: dict[str, list[int]] = {}
    for alert in alerts:
        fired.setdefault(alert["kind"], []).append(event_index(alert["event_id"]))
    first_label = None
    if shift is not None:
        ts = {event_index(p["id"]): datetime.fromisoformat(p["ts"]) for p in predictions}
        due = ts[shift] + DELAY
        # labels come as event time passes their due time: the first event at or after it
        first_label = next((i for i in sorted(ts) if i > shift and ts[i] >= due), None)

    def mean_realized(keep: Any) -> float | None:
        values = [g.realized for g in tracked if g.realized is not None and keep(g)]
        return round(fmean(values), 4) if values else None

    return LabelFreeRun(
        name,
        shift,
        len(predictions),
        gaps,
        round(max(errors), 4) if errors else None,
        round(fmean(errors), 4) if errors else None,
        len(tracked),
        fired,
        first_label,
        mean_realized(lambda g: shift is None or g.end_event <= shift),
        mean_realized(lambda g: shift is not None and g.end_event > shift) if shift else None,
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def run_once(name: str, shift: int | None, seed: int) -> LabelFreeRun:
    """One run of the real job on the built-in stream (its outputs in a temporary dir)."""
    from driftline.flows.app.runner import run as run_job
    from driftline.flows.config import load_settings

    with tempfile.TemporaryDirectory(prefix="driftline-label-free-") as tmp:
        out = Path(tmp) / "out"
        settings = load_settings(
            None,
            {
                **overrides(shift, seed),
                "sinks": {"directory": str(out)},
                "model": {"store": str(Path(tmp) / "models")},
                "metrics": {"enabled": False},
                "live": {"enabled": False},
                "run": {"progress_every": 3600, "epoch_interval": "PT1S"},
            },
        )
        run_job(settings, serve_metrics=False)
        return summarize(
            name,
            _read_jsonl(out / "drift_reports.jsonl"),
            _read_jsonl(out / "alerts.jsonl"),
            _read_jsonl(out / "predictions.jsonl"),
            settings.drift.data_window,
            shift,
        )


def _run_task(args: tuple[str, int | None, int]) -> LabelFreeRun:
    return run_once(*args)


def run_label_free(seed: int = 1) -> LabelFreeResult:
    """The stable and the shifted run, side by side (two processes): about a minute."""
    started = time.perf_counter()
    tasks = [("stable", None, seed), ("shifted", SHIFT, seed)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        stable, shifted = pool.map(_run_task, tasks)
    from driftline.flows.config import DriftConfig

    return LabelFreeResult(
        seed,
        "1 h (fixed, event time)",
        GAP_MS,
        DriftConfig().data_window,
        f"{FEATURE} x{SCALE} at event {SHIFT:,}",
        stable,
        shifted,
        round(time.perf_counter() - started, 1),
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _at(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def label_free_markdown(result: LabelFreeResult) -> str:
    """The drift-eval section: tracking per window, then the label-free alerts' lead."""
    shifted, stable = result.shifted, result.stable
    lines = [
        "## Before the labels come: estimated accuracy and prediction drift",
        "",
        f"Built-in stream (concept 7, logreg, seed {result.seed}), labels "
        f"{result.label_delay} late: {DELAY_EVENTS:,} events at {result.mean_gap_ms:.0f} ms "
        f"an event, data windows of {result.window:,} events; shifted run: {result.shift}. "
        f"Run time {result.seconds:.0f} s.",
        "",
        "### Estimated vs realized accuracy per window",
        "",
        "Windows fully labelled, outside the transitions (the window holding the shift, and "
        "from the first shifted label on, where the model relearns).",
        "",
        "| run | windows | max gap (points) | mean gap (points) | realized before | "
        "realized after shift |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in (stable, shifted):
        lines.append(
            f"| {run.name} | {run.tracked_windows} | {_pct(run.max_gap)} | "
            f"{_pct(run.mean_gap)} | {_pct(run.realized_before)} | "
            f"{_pct(run.realized_after)} |"
        )
    lines += [
        "",
        "| window end (shifted run) | estimate | realized | gap (points) | labelled |",
        "|---:|---:|---:|---:|---|",
    ]
    for g in shifted.windows:
        if g.estimate is None:
            continue
        mark = " (transition)" if g.transition else ""
        gap = "-" if g.gap is None else f"{100 * g.gap:+.1f}"
        lines.append(
            f"| {g.end_event:,}{mark} | {_pct(g.estimate)} | {_pct(g.realized)} | {gap} | "
            f"{g.labelled:,}/{g.events:,} |"
        )
    shift = shifted.shift_at or 0
    concept = shifted.first("concept_drift", shift)
    label_based = concept if concept is not None else shifted.first_shifted_label
    lines += [
        "",
        "### When each signal fired (shifted run, event index)",
        "",
        "| signal | fired at | events after the shift | lead over the labels |",
        "|---|---:|---:|---:|",
    ]
    for kind in ("prediction_drift", "estimated_accuracy", "data_drift"):
        at = shifted.first(kind, shift)
        after = None if at is None else at - shift
        lead = None if at is None or label_based is None else label_based - at
        lines.append(f"| {kind} | {_at(at)} | {_at(after)} | {_at(lead)} |")
    what = (
        "concept_drift" if concept is not None else "first shifted label (earliest concept_drift)"
    )
    lines.append(
        f"| {what} | {_at(label_based)} | {_at(label_based and label_based - shift)} | - |"
    )
    false = {
        k: len(v)
        for k, v in stable.alerts.items()
        if k in ("prediction_drift", "estimated_accuracy")
    }
    lines += [
        "",
        f"Stable run: {false.get('prediction_drift', 0)} prediction_drift and "
        f"{false.get('estimated_accuracy', 0)} estimated_accuracy alerts.",
        "",
    ]
    return "\n".join(lines)
