"""Scoring alarms against the known drifts: delay, missed drifts, false alarms.

A detection counts for a drift when it falls in
``[point - width/2, point + max_delay]``; the first one there is the detection,
later ones there are repeats, and alarms anywhere else are false alarms. An
:class:`Outcome` is one setting on one stream; :func:`summarize` aggregates
them over streams and seeds into one row of the tables.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_DELAY = 2_000  # concept drift: events after the drift point a detection may take
DATA_MAX_DELAY = 5_000  # data drift: a 5,000-event window still fits


@dataclass
class Outcome:
    """Alarms of one setting on one stream, scored against the known drifts."""

    delays: list[int]
    missed: int
    false_alarms: int
    repeats: int
    quiet_events: int  # events outside detection windows (denominator for false alarms)
    stable: bool
    seconds: float
    updates: int


def score(
    alarms: Sequence[int], drifts: Sequence[int], width: int, n: int, max_delay: int,
    seconds: float = 0.0, updates: int = 0,
) -> Outcome:  # fmt: skip
    """Match alarm indexes (0-based event index) to drift windows."""
    windows = [(max(0, d - width // 2), min(n - 1, d + max_delay)) for d in drifts]
    first: list[int | None] = [None] * len(drifts)
    false_alarms = repeats = 0
    for t in alarms:
        hit = next((i for i, (lo, hi) in enumerate(windows) if lo <= t <= hi), None)
        if hit is None:
            false_alarms += 1
        elif first[hit] is None:
            first[hit] = t
        else:
            repeats += 1
    delays = [t - d for t, d in zip(first, drifts, strict=True) if t is not None]
    covered = sum(hi - lo + 1 for lo, hi in windows)
    return Outcome(
        delays, first.count(None), false_alarms, repeats, n - covered, not drifts, seconds, updates
    )


def summarize(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Aggregate outcomes of one setting over streams and seeds."""
    delays = [d for o in outcomes for d in o.delays]
    total = sum(len(o.delays) + o.missed for o in outcomes if not o.stable)
    stable = [o for o in outcomes if o.stable]
    drifting = [o for o in outcomes if not o.stable]
    fa_stable = sum(o.false_alarms for o in stable)
    ev_stable = sum(o.quiet_events for o in stable)
    fa_drift = sum(o.false_alarms for o in drifting)
    ev_drift = sum(o.quiet_events for o in drifting)
    updates = sum(o.updates for o in outcomes)
    return {
        "detected": len(delays),
        "drifts": total,
        "missed": total - len(delays),
        "mean_delay": round(statistics.fmean(delays), 1) if delays else None,
        "median_delay": round(statistics.median(delays), 1) if delays else None,
        "max_delay": max(delays) if delays else None,
        "false_alarms_stable": fa_stable,
        "fa_per_10k_stable": round(1e4 * fa_stable / ev_stable, 3) if ev_stable else None,
        "false_alarms_drifting": fa_drift,
        "fa_per_10k_drifting": round(1e4 * fa_drift / ev_drift, 3) if ev_drift else None,
        "repeats": sum(o.repeats for o in drifting),
        "us_per_update": (
            round(1e6 * sum(o.seconds for o in outcomes) / updates, 2) if updates else None
        ),
    }


def score_data(alarms: Sequence[tuple[int, bool]], at: int | None, n: int, secs: float) -> Outcome:
    """An alert on another feature is always a false alarm; the shifted one must be in time."""
    on_feature = [i for i, ok in alarms if ok]
    elsewhere = sum(1 for _, ok in alarms if not ok)
    out = score(on_feature, () if at is None else (at,), 0, n, DATA_MAX_DELAY, secs, n)
    out.false_alarms += elsewhere
    return out


TARGET_FA_PER_100K = 1.0  # issue 17: at every error level
TARGET_MEDIAN_DELAY = 150  # abrupt drifts, events
TARGET_MAX_DELAY = 1_000  # no abrupt drift later than this
RISE_AFTER = 500  # events after a drift the stale model's error is taken over
RISE_BEFORE = 2_000  # events before it


def rises(errors: Sequence[float], drifts: Sequence[int]) -> list[float]:
    """Per drift, how much the (not replaced) model's mean error rose: the
    :data:`RISE_AFTER` events after the point against the :data:`RISE_BEFORE` before.

    An abrupt drift counts for the targets only when this is positive: STAGGER's
    second drift lowers the error (measured 0.44 -> 0.33 on seeds 1-6), which no
    gate that asks for a rise can, or should, report.
    """
    out = []
    for d in drifts:
        before, after = errors[max(0, d - RISE_BEFORE) : d], errors[d : d + RISE_AFTER]
        out.append(statistics.fmean(after) - statistics.fmean(before))
    return out


@dataclass(frozen=True)
class Targets:
    """One setting against issue 17's targets."""

    abrupt_detected: int
    abrupt_drifts: int  # abrupt drifts after which the error rose (see :func:`rises`)
    abrupt_median_delay: float | None
    abrupt_max_delay: int | None
    gradual_detected: int
    gradual_drifts: int
    gradual_median_delay: float | None
    max_fa_per_100k: float  # over the error levels
    met: bool


def targets(
    abrupt: Sequence[Outcome], gradual: Sequence[Outcome], level_fa_per_100k: Sequence[float]
) -> Targets:
    """Every abrupt drift detected, median delay <= 150 and none after 1,000, and at
    most 1 false alarm per 100k stable events at every level; gradual delays reported."""
    a = summarize(abrupt)
    g = summarize(gradual)
    worst = max(level_fa_per_100k, default=0.0)
    met = (
        a["missed"] == 0
        and a["detected"] > 0
        and a["median_delay"] <= TARGET_MEDIAN_DELAY
        and a["max_delay"] <= TARGET_MAX_DELAY
        and worst <= TARGET_FA_PER_100K
    )
    return Targets(
        a["detected"], a["drifts"], a["median_delay"], a["max_delay"],
        g["detected"], g["drifts"], g["median_delay"], worst, met,
    )  # fmt: skip
