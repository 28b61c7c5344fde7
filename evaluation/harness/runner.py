"""The run: which streams and seeds, one worker task per (stream, seed), the result.

A :class:`Plan` fixes seeds, stream lengths and worker processes; every
(concept stream, seed) and (data generator, seed) is one task, run in a process
pool; the KSWIN settings (:data:`SLOW`) run on the first seed only. :func:`run`
aggregates the tasks' outcomes per setting (overall and per stream or shift)
into a JSON-able result document.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from driftline.evaluation.harness.baselines import RANDOM_RATE
from driftline.evaluation.harness.concept_detectors import (
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
    score,
    score_data,
    summarize,
)
from driftline.evaluation.harness.streams import (
    DATA_GENERATORS,
    SHIFTS,
    concept_streams,
    data_shift_point,
    error_stream,
    feature_rows,
    shifted,
)
from driftline.flows.scoring.catalog import CATALOG

DEFAULT_SEEDS = (1, 2, 3)
CALIBRATION_SEEDS = (901, 902, 903)  # stable runs that set calibrated thresholds
SLOW = ("kswin", "kswin 1-in-50")  # run on the first seed only (hundreds of µs per update)


def _seed_of(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _concept_task(args: tuple[str, int, int, bool, bool]) -> dict[str, Any]:
    """One (stream, seed): the error stream, then every setting on it."""
    name, seed, n, quick, slow = args
    stream = next(s for s in concept_streams(n) if s.name == name)
    t0 = time.perf_counter()
    errors = error_stream(stream, seed, n)
    model_s = time.perf_counter() - t0
    classify = CATALOG[stream.model].task == "classification"
    out: dict[str, Any] = {"stream": name, "seed": seed, "model_seconds": model_s, "rows": {}}
    for setting in concept_settings(quick):
        if (binary_only(setting) and not classify) or (setting.name in SLOW and not slow):
            continue
        t0 = time.perf_counter()
        alarms = concept_alarms(setting, errors, _seed_of(name, seed, setting.name))
        secs = time.perf_counter() - t0
        out["rows"][setting.name] = score(
            alarms, stream.drifts, stream.width, n, MAX_DELAY, secs, n
        )
    return out


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


def make_plan(quick: bool, seeds: Sequence[int] | None, jobs: int | None) -> Plan:
    """Default: 3 seeds, 24k-event concept streams, 30k-event data streams."""
    chosen = tuple(seeds) if seeds else ((1,) if quick else DEFAULT_SEEDS)
    return Plan(
        seeds=chosen,
        concept_events=9_000 if quick else 24_000,
        data_events=12_000 if quick else 30_000,
        quick=quick,
        jobs=jobs or min(2, os.cpu_count() or 1),
    )


QUICK_STREAMS = ("sea-abrupt", "agrawal-abrupt", "sea-stable")
QUICK_GENERATORS = ("friedman",)


def _call(task: tuple[Callable[[Any], Any], Any]) -> Any:
    return task[0](task[1])


def _map(fn: Callable[[Any], Any], tasks: list[Any], jobs: int) -> list[Any]:
    if jobs <= 1:
        return [fn(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(fn, tasks, chunksize=1))


def run(plan: Plan) -> dict[str, Any]:
    """Run every evaluation of the plan; returns a JSON-able result document."""
    t0 = time.perf_counter()
    streams = concept_streams(plan.concept_events)
    names = [s.name for s in streams if not plan.quick or s.name in QUICK_STREAMS]
    gens = [g for g in DATA_GENERATORS if not plan.quick or g in QUICK_GENERATORS]
    psi_windows = sorted({s.window for s in data_settings(plan.quick) if s.kind == "psi-cal"})
    calibrated = calibrate_psi(psi_windows, plan.data_events, CALIBRATION_SEEDS)
    first = plan.seeds[0]
    tasks: list[tuple[Callable[[Any], Any], Any]] = [
        (_concept_task, (nm, sd, plan.concept_events, plan.quick, sd == first))
        for nm in names
        for sd in plan.seeds
    ]
    tasks += [
        (_data_task, (g, sd, plan.data_events, plan.quick, sd == first, calibrated))
        for g in gens
        for sd in plan.seeds
    ]
    tasks.sort(key=lambda t: not t[1][4])  # the slow first-seed tasks first: better balance
    done = _map(_call, tasks, plan.jobs)
    c_done = [r for r in done if "stream" in r]
    d_done = [r for r in done if "generator" in r]
    return {
        "plan": {
            "seeds": list(plan.seeds),
            "concept_events": plan.concept_events,
            "data_events": plan.data_events,
            "max_delay": MAX_DELAY,
            "data_max_delay": DATA_MAX_DELAY,
            "random_rate": RANDOM_RATE,
            "quick": plan.quick,
            "jobs": plan.jobs,
            "nproc": os.cpu_count(),
            "psi_calibrated_thresholds": calibrated,
            "calibration_seeds": list(CALIBRATION_SEEDS),
        },
        "concept_streams": {
            s.name: {"kind": s.kind, "model": s.model, "drifts": list(s.drifts), "width": s.width}
            for s in streams
            if s.name in names
        },
        "concept": _concept_tables(c_done, plan.quick),
        "data": _data_tables(d_done, plan.quick),
        "model_seconds": round(sum(r["model_seconds"] for r in c_done), 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }


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
