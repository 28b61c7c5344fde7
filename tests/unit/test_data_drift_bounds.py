"""Data drift watches at most `drift.data_max_features` names; the rest are counted.

Before, every window close looked up each name seen in the window in each of its
events, and a stream whose feature names never repeat ran at ~520 events/s. The
bounds are asserted on structures here; speed belongs to benchmarks.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from driftline.flows.config import DriftConfig, Settings
from driftline.flows.drift import DataDriftMonitor
from driftline.flows.outputs import telemetry
from tests.conftest import RunResult, write_jsonl

WINDOW, LIMIT, PER_EVENT = 1000, 50, 20


def unique_names(i: int, rng: random.Random) -> dict[str, object]:
    """`PER_EVENT` numeric features whose names no other event has, and one text feature."""
    return {**{f"u{i}_{j}": rng.gauss(0.0, 1.0) for j in range(PER_EVENT)}, "city": "x"}


def test_names_beyond_the_limit_are_counted_not_kept(caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(0)
    monitor = DataDriftMonitor(DriftConfig(data_window=WINDOW, data_max_features=LIMIT))
    untracked: list[tuple[int, int]] = []
    most_refused = 0
    with caplog.at_level(logging.WARNING, logger="driftline.flows.drift"):
        for i in range(20_000):
            assert monitor.update(unique_names(i, rng)) == []
            most_refused = max(most_refused, len(monitor.refused))
            if monitor.filled == 0:
                untracked.append((monitor.untracked, monitor.untracked_values))
    first_seen = [f"u{i}_{j}" for i in range(3) for j in range(PER_EVENT)]
    assert list(monitor.columns) == first_seen[:LIMIT]  # the first names seen are kept
    assert len(monitor.reference) <= LIMIT and len(monitor.rebase) <= LIMIT
    assert all(len(column) <= WINDOW for column in monitor.columns.values())
    assert most_refused <= WINDOW * PER_EVENT and not monitor.refused  # one window at most
    every = WINDOW * PER_EVENT
    assert untracked == [(every - LIMIT, every - LIMIT)] + [(every, every)] * 19
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "drift.data_max_features" in warnings[0]


def test_drift_is_still_found_on_a_watched_feature_among_unwatched_names() -> None:
    rng = random.Random(3)
    monitor = DataDriftMonitor(DriftConfig(data_window=WINDOW, data_max_features=10))
    signals = []
    for i in range(10_000):
        shift = 1.5 if i >= 6000 else 0.0
        features = {"a": rng.gauss(shift, 1.0), "b": rng.random(), **unique_names(i, rng)}
        signals += [(i, s) for s in monitor.update(features)]
    assert [s.feature for _, s in signals] == ["a"]
    i, s = signals[0]
    assert 6000 <= i < 7000 and s.current_mean > s.reference_mean + 1.0
    assert len(monitor.columns) == 10 and set(monitor.reference) == {"a", "b"}
    assert monitor.untracked == WINDOW * PER_EVENT


def test_a_stream_that_fits_the_limit_has_nothing_untracked() -> None:
    rng = random.Random(4)
    monitor = DataDriftMonitor(DriftConfig(data_window=WINDOW, data_max_features=3))
    for _ in range(3 * WINDOW):
        monitor.update({"a": rng.random(), "b": rng.randint(0, 9), "c": rng.random(), "t": "x"})
    assert list(monitor.columns) == ["a", "b", "c"] and monitor.untracked == 0
    assert monitor.report is not None and list(monitor.report) == ["a", "b", "c"]


def test_drift_reports_and_metrics_say_how_many_names_are_untracked(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    run_flow: Callable[[Settings], RunResult],
) -> None:
    rng = random.Random(5)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    lines = [
        orjson.dumps(
            {
                "id": f"e{i}",
                "key": "k",
                "ts": (t0 + timedelta(seconds=i)).isoformat(),
                "features": {"a": rng.random(), **unique_names(i, rng)},
                "label": i % 2 == 0,
            }
        )
        for i in range(3 * 200)
    ]
    path = write_jsonl(tmp_path / "events.jsonl", lines)
    before = telemetry.UNTRACKED_FEATURE_VALUES._value.get()
    result = run_flow(
        make_settings(
            run={"source": "file"},
            files={"events_path": str(path)},
            drift={"data_window": 200, "data_max_features": 5},
        )
    )
    reports = result.drift_reports
    assert len(result.predictions) == 600 and len(reports) == 3
    assert [r["tracked_features"] for r in reports] == [5, 5, 5]
    assert [r["untracked_features"] for r in reports] == [200 * PER_EVENT - 4] + [
        200 * PER_EVENT
    ] * 2
    assert all(set(r["features"]) <= {"a"} for r in reports)
    after = telemetry.UNTRACKED_FEATURE_VALUES._value.get()
    assert after - before == 3 * 200 * PER_EVENT - 4
    assert telemetry.TRACKED_FEATURES.labels(reports[0]["shard"])._value.get() == 5
