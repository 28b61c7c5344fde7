"""The run: which streams and seeds, one worker task per (stream, seed), the result.

A :class:`Plan` fixes seeds, stream lengths and worker processes; every
(concept stream, seed) and (data generator, seed) is one task, run in a process
pool; the KSWIN settings (:data:`SLOW`) run on the first seed only. :func:`run`
aggregates the tasks' outcomes per setting (overall and per stream or shift)
into a JSON-able result document.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any

from driftline.evaluation.harness.adaptation import (
    ADAPT_EVENTS,
    ADAPT_WINDOW,
    POLICIES,
    Adaptation,
    adapt,
)
from driftline.evaluation.harness.baselines import RANDOM_RATE
from driftline.evaluation.harness.concept_detectors import (
    DEFAULT,
    binary_only,
    concept_alarms,
    concept_settings,
)
from driftline.evaluation.harness.data_detectors import (
    build_data_monitor,
    calibrate_psi,
    data_alarms,
    data_settings,
)
from driftline.evaluation.harness.scoring import (
    DATA_MAX_DELAY,
    MAX_DELAY,
    Outcome,
    rises,
    score,
    score_data,
    summarize,
    targets,
)
from driftline.evaluation.harness.streams import (
    DATA_GENERATORS,
    LEVEL_EVENTS,
    SHIFTS,
    TREE_LEVELS,
    ConceptStream,
    concept_streams,
    data_shift_point,
    error_stream,
    feature_rows,
    is_classifier,
    level_streams,
    shifted,
)

DEFAULT_SEEDS = (1, 2, 3)
CALIBRATION_SEEDS = (901, 902, 903)  # stable runs that set calibrated thresholds
SLOW = ("kswin", "kswin 1-in-50")  # run on the first seed only (hundreds of µs per update)
#: Run on the first seed only: River's ARF costs 1.3-2.5 ms an event here (10 trees),
#: 42 s per stream and seed, 15 minutes for all seeds of the adaptation streams.
SLOW_POLICIES = ("arf",)


def _seed_of(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _stream(plan: Plan, name: str) -> ConceptStream:
    return next(
        s for s in concept_streams(plan.concept_events, plan.level_events) if s.name == name
    )


def _concept_task(args: tuple[Plan, str, int, bool]) -> dict[str, Any]:
    """One (stream, seed): the error stream, then every setting on it.

    Besides the outcome per setting: the model's realized error after the warm-up,
    how much the error rose at each drift and, on abrupt streams, the outcome over
    the drifts after which it rose (the targets' drifts).
    """
    plan, name, seed, slow = args
    stream = _stream(plan, name)
    n = stream.events
    t0 = time.perf_counter()
    errors = error_stream(stream, seed, n)
    model_s = time.perf_counter() - t0
    classify = is_classifier(stream.model)
    rose = rises(errors, stream.drifts)
    eligible = [d for d, r in zip(stream.drifts, rose, strict=True) if r > 0]
    out: dict[str, Any] = {
        "stream": name, "seed": seed, "model_seconds": model_s, "rows": {}, "abrupt": {},
        "realized_error": statistics.fmean(errors[DEFAULT.warmup :]), "rises": rose,
    }  # fmt: skip
    for setting in concept_settings(plan.quick):
        if binary_only(setting) and not classify:
            continue
        if setting.name in SLOW and (not slow or stream.level is not None):
            continue  # KSWIN: 250 µs an update, 25 s per 100k-event level stream
        t0 = time.perf_counter()
        alarms = concept_alarms(setting, errors, _seed_of(name, seed, setting.name))
        secs = time.perf_counter() - t0
        out["rows"][setting.name] = score(
            alarms, stream.drifts, stream.width, n, MAX_DELAY, secs, n
        )
        if stream.kind == "abrupt":
            out["abrupt"][setting.name] = score(alarms, eligible, stream.width, n, MAX_DELAY)
    return out


def _adapt_task(args: tuple[Plan, str, int, tuple[str, ...]]) -> list[Adaptation]:
    """One (stream, seed) and some policies: accuracy after each scored drift."""
    plan, name, seed, policies = args
    stream = next(s for s in concept_streams(plan.adapt_events) if s.name == name)
    if plan.quick:  # the first drift only: ARF's cost grows with the events it learned
        stream = dataclasses.replace(stream, drifts=stream.drifts[:1])
    return [adapt(stream, seed, p, DEFAULT, plan.adapt_window) for p in policies]


def _data_task(args: tuple[str, int, int, bool, bool, dict[int, float]]) -> dict[str, Any]:
    """One (generator, seed): every shift, every method."""
    generator, seed, n, quick, slow, calibrated = args
    feature = DATA_GENERATORS[generator]
    at = data_shift_point(n)
    rows = feature_rows(generator, seed, n)
    out: dict[str, Any] = {"generator": generator, "seed": seed, "rows": {}}
    for shift in SHIFTS:
        data = shifted(rows, feature, shift, at)
        for s in data_settings(quick):
            if s.name in SLOW and not slow:
                continue
            monitor = build_data_monitor(
                s, _seed_of(generator, seed, shift.name, s.name), calibrated
            )
            t0 = time.perf_counter()
            alarms = data_alarms(monitor, data, feature)
            secs = time.perf_counter() - t0
            point = None if shift.name == "stable" else at
            out["rows"][(shift.name, s.name)] = score_data(alarms, point, n, secs)
    return out


@dataclass(frozen=True)
class Plan:
    """Seeds, stream lengths and worker processes of one run."""

    seeds: tuple[int, ...]
    concept_events: int
    data_events: int
    quick: bool
    jobs: int
    level_events: int = LEVEL_EVENTS
    adapt_window: int = ADAPT_WINDOW
    adapt_events: int = ADAPT_EVENTS


def make_plan(quick: bool, seeds: Sequence[int] | None, jobs: int | None) -> Plan:
    """Default: 3 seeds, 24k-event concept streams, 100k-event error-level streams,
    30k-event data streams, accuracy over 5,000 events after each drift."""
    chosen = tuple(seeds) if seeds else ((1,) if quick else DEFAULT_SEEDS)
    return Plan(
        seeds=chosen,
        concept_events=9_000 if quick else 24_000,
        data_events=12_000 if quick else 30_000,
        quick=quick,
        jobs=jobs or min(2, os.cpu_count() or 1),
        level_events=10_000 if quick else LEVEL_EVENTS,
        adapt_window=500 if quick else ADAPT_WINDOW,
        # quick: River's ARF costs 2-4 ms an event here, so it sees 1,000 events (drift at 500)
        adapt_events=1_500 if quick else ADAPT_EVENTS,
    )


QUICK_STREAMS = ("sea-abrupt", "agrawal-abrupt", "sea-stable", "linear-0.5%")
QUICK_ADAPT = ("linear-0.5%-abrupt",)
QUICK_GENERATORS = ("friedman",)


def adapt_streams(streams: Sequence[ConceptStream], quick: bool) -> list[str]:
    """The drifting classification streams (abrupt and gradual) of the adaptation table."""
    if quick:
        return list(QUICK_ADAPT)
    return [s.name for s in streams if s.kind in ("abrupt", "gradual") and is_classifier(s.model)]


Task = tuple[Callable[[Any], Any], Any, str]  # function, its argument, a label for progress


def _call(task: Task) -> Any:
    return task[0](task[1])


def _map(tasks: list[Task], jobs: int, progress: bool) -> list[Any]:
    """Every task's result (in no particular order); one stderr line per finished task."""
    t0 = time.perf_counter()

    def report(i: int, task: Task) -> None:
        if progress:
            secs = time.perf_counter() - t0
            print(f"drift-eval: {i}/{len(tasks)} {task[2]} ({secs:.0f} s)", file=sys.stderr)

    done = []
    if jobs <= 1:
        for i, t in enumerate(tasks, 1):
            done.append(_call(t))
            report(i, t)
        return done
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_call, t): t for t in tasks}
        for i, f in enumerate(as_completed(futures), 1):
            done.append(f.result())
            report(i, futures[f])
    return done


def _tasks(plan: Plan, names: list[str], adapting: list[str], gens: list[str],
           calibrated: dict[int, float]) -> list[Task]:  # fmt: skip
    """Every task of the plan, the longest first (ARF, then the first seed's KSWIN, then
    the 100k-event level streams): the two workers then end at about the same time."""
    first = plan.seeds[0]
    level = {s.name for s in level_streams(plan.level_events)}
    costed: list[tuple[int, Task]] = []
    for nm in names:
        for sd in plan.seeds:
            cost = 1 if sd == first else 2 if nm in level else 3
            costed.append((cost, (_concept_task, (plan, nm, sd, sd == first), f"{nm} seed {sd}")))
    for nm in adapting:
        for sd in plan.seeds:
            for group in (("driftline", "reset", "never"), ("hat",), ("arf",)):
                if group[0] in SLOW_POLICIES and sd != first:
                    continue
                label = f"adaptation {nm} seed {sd} {'/'.join(group)}"
                cost = 0 if group[0] in SLOW_POLICIES else 2
                costed.append((cost, (_adapt_task, (plan, nm, sd, group), label)))
    for g in gens:
        for sd in plan.seeds:
            args = (g, sd, plan.data_events, plan.quick, sd == first, calibrated)
            costed.append((1 if sd == first else 3, (_data_task, args, f"data {g} seed {sd}")))
    costed.sort(key=lambda c: c[0])
    return [t for _, t in costed]


def run(plan: Plan) -> dict[str, Any]:
    """Run every evaluation of the plan; returns a JSON-able result document."""
    t0 = time.perf_counter()
    streams = concept_streams(plan.concept_events, plan.level_events)
    names = [s.name for s in streams if not plan.quick or s.name in QUICK_STREAMS]
    adapting = adapt_streams(streams, plan.quick)
    gens = [g for g in DATA_GENERATORS if not plan.quick or g in QUICK_GENERATORS]
    psi_windows = sorted({s.window for s in data_settings(plan.quick) if s.kind == "psi-cal"})
    calibrated = calibrate_psi(psi_windows, plan.data_events, CALIBRATION_SEEDS)
    done = _map(_tasks(plan, names, adapting, gens, calibrated), plan.jobs, not plan.quick)
    c_done = [r for r in done if isinstance(r, dict) and "stream" in r]
    d_done = [r for r in done if isinstance(r, dict) and "generator" in r]
    a_done = [a for r in done if isinstance(r, list) for a in r]
    chosen = [s for s in streams if s.name in names]
    return {
        "plan": {
            "seeds": list(plan.seeds),
            "concept_events": plan.concept_events,
            "level_events": plan.level_events,
            "data_events": plan.data_events,
            "max_delay": MAX_DELAY,
            "data_max_delay": DATA_MAX_DELAY,
            "adapt_window": plan.adapt_window,
            "adapt_events": plan.adapt_events,
            "random_rate": RANDOM_RATE,
            "quick": plan.quick,
            "jobs": plan.jobs,
            "nproc": os.cpu_count(),
            "psi_calibrated_thresholds": calibrated,
            "calibration_seeds": list(CALIBRATION_SEEDS),
            "default": DEFAULT.model_dump(
                include={
                    "adwin_delta",
                    "concept_alpha",
                    "concept_min_effect",
                    "warmup",
                    "min_reference",
                    "cooldown",
                    "challenge_window",
                }
            ),
        },
        "concept_streams": {s.name: _stream_info(s, c_done) for s in chosen},
        "concept": _concept_tables(c_done, plan.quick),
        "levels": _level_table(chosen, c_done, plan.quick),
        "targets": _targets_table(chosen, c_done, plan.quick),
        "adaptation": _adaptation_table(adapting, a_done, plan),
        "data": _data_tables(d_done, plan.quick),
        "model_seconds": round(sum(r["model_seconds"] for r in c_done), 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _stream_info(s: ConceptStream, done: list[dict[str, Any]]) -> dict[str, Any]:
    """What the stream is, and the error its model realized after the warm-up (per seed)."""
    mine = sorted((r for r in done if r["stream"] == s.name), key=lambda r: r["seed"])
    realized = [r["realized_error"] for r in mine]
    return {
        "kind": s.kind, "model": s.model, "drifts": list(s.drifts), "width": s.width,
        "events": s.events, "level": s.level,
        "realized_error": round(statistics.fmean(realized), 4) if realized else None,
        "realized_error_per_seed": [round(e, 4) for e in realized],
        "rises": [[round(x, 3) for x in r["rises"]] for r in mine],
    }  # fmt: skip


def _level_table(
    streams: list[ConceptStream], done: list[dict[str, Any]], quick: bool
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per setting and error-level stream: false alarms, events, false alarms per 100k."""
    levels = [s.name for s in streams if s.level is not None]
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for s in concept_settings(quick):
        row = {}
        for lv in levels:
            outs: list[Outcome] = [
                r["rows"][s.name] for r in done if r["stream"] == lv and s.name in r["rows"]
            ]
            if not outs:
                continue
            fa, ev = sum(o.false_alarms for o in outs), sum(o.quiet_events for o in outs)
            row[lv] = {"false_alarms": fa, "events": ev, "per_100k": round(1e5 * fa / ev, 2)}
        table[s.name] = row
    return table


def _targets_table(
    streams: list[ConceptStream], done: list[dict[str, Any]], quick: bool
) -> dict[str, dict[str, Any]]:
    """Per setting: issue 17's targets (scoring.targets) over these streams; the tree
    models' level streams (TREE_LEVELS) are reported in the level table, not judged."""
    gradual = {s.name for s in streams if s.kind == "gradual"}
    trees = {s.name for s in streams if s.level in TREE_LEVELS}
    levels = _level_table(streams, done, quick)
    out = {}
    for s in concept_settings(quick):
        if s.config is None and s.name != "never" and s.name != "random":
            continue
        abrupt = [r["abrupt"][s.name] for r in done if s.name in r["abrupt"]]
        grad = [r["rows"][s.name] for r in done if r["stream"] in gradual and s.name in r["rows"]]
        fa = [v["per_100k"] for lv, v in levels[s.name].items() if lv not in trees]
        out[s.name] = asdict(targets(abrupt, grad, fa))
    return out


def _adaptation_table(adapting: list[str], done: list[Adaptation], plan: Plan) -> dict[str, Any]:
    """Per stream and policy: mean accuracy over [drift, drift + window) over drifts and
    seeds, and the alerts and replacements; 'all' over every stream. ARF on the first
    seed only (SLOW_POLICIES): its 'all' is also given for the first seed of the others."""

    def cell(rows: list[Adaptation]) -> dict[str, Any]:
        acc = [a for r in rows for a in r.accuracy]
        return {
            "accuracy": round(statistics.fmean(acc), 4) if acc else None,
            "drifts": len(acc),
            "alerts": sum(r.alerts for r in rows),
            "replaced": sum(r.replaced for r in rows),
            "seconds": round(sum(r.seconds for r in rows), 1),
        }

    first = plan.seeds[0]
    per_stream = {
        nm: {p: cell([a for a in done if a.stream == nm and a.policy == p]) for p in POLICIES}
        for nm in adapting
    }
    return {
        "window": plan.adapt_window,
        "per_stream": per_stream,
        "all": {p: cell([a for a in done if a.policy == p]) for p in POLICIES},
        "first_seed": {p: cell([a for a in done if a.policy == p and a.seed == first])
                       for p in POLICIES},
        "slow_policies": list(SLOW_POLICIES),
        "runs": [asdict(a) for a in done],
    }  # fmt: skip


def _concept_tables(done: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    overall, per_stream = {}, {}
    for s in concept_settings(quick):
        outs = [r["rows"][s.name] for r in done if s.name in r["rows"]]
        overall[s.name] = summarize(outs)
        streams = sorted({r["stream"] for r in done if s.name in r["rows"]})
        per_stream[s.name] = {
            st: summarize(
                [r["rows"][s.name] for r in done if r["stream"] == st and s.name in r["rows"]]
            )
            for st in streams
        }
    return {"overall": overall, "per_stream": per_stream}


def _data_tables(done: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    overall, per_shift = {}, {}
    for s in data_settings(quick):
        outs = [o for r in done for (sh, nm), o in r["rows"].items() if nm == s.name]
        overall[s.name] = summarize(outs)
        per_shift[s.name] = {
            sh.name: summarize(
                [
                    o
                    for r in done
                    for (k, nm), o in r["rows"].items()
                    if nm == s.name and k == sh.name
                ]
            )
            for sh in SHIFTS
        }
    return {"overall": overall, "per_shift": per_shift}
