"""The concept gate at a low error rate: SEA through the job, as a new user runs it.

50 entities, raw features, the default model (logistic regression), labels inline.
The model settles at about 0.3-0.6 % error, where a relative gate let two unlucky
errors in 200 raise an alert (issue 17); the test of the rise must not.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from river.datasets import synth

from tests.conftest import write_jsonl

DRIFT = 10_000


def sea_events(path: Path, n: int, drift_at: int | None) -> Path:
    """SEA variant 0 (no label noise), switching abruptly to variant 3 at `drift_at`."""
    before = synth.SEA(variant=0, seed=7).take(drift_at or n)
    after = synth.SEA(variant=3, seed=8).take(n - (drift_at or n))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return write_jsonl(
        path,
        (
            orjson.dumps(
                {
                    "id": f"e{i}",
                    "key": f"k{i % 50}",
                    "ts": (t0 + timedelta(milliseconds=100 * i)).isoformat(),
                    "features": {f"x{k}": v for k, v in x.items()},
                    "label": y,
                }
            )
            for i, (x, y) in enumerate(itertools.chain(before, after))
        ),
    )


def _sea_settings(make_settings, path: Path, **drift: object):
    return make_settings(
        run={"source": "file"},
        files={"events_path": str(path), "batch_size": 256},
        features={"windows": [], "time_since_last": False},
        drift=drift,
    )


def _at(alert: dict) -> int:
    return int(alert["event_id"][1:])


def test_sea_drift_alerts_once_and_the_stable_stretch_after_is_quiet(
    tmp_path: Path, make_settings, run_flow
) -> None:
    path = sea_events(tmp_path / "sea.jsonl", 30_000, DRIFT)
    result = run_flow(_sea_settings(make_settings, path))
    concept = result.alerts_of("concept_drift")
    assert [_at(a) for a in concept] == [_at(concept[0])], [a["statistic"] for a in concept]
    alert = concept[0]
    assert DRIFT <= _at(alert) <= DRIFT + 200  # measured: 143 events after the change
    s = alert["statistic"]
    assert s["reference_error"] < 0.01 and s["p_value"] < 1e-3
    # what moved with it: SEA's concept changed, its inputs did not
    moved = s["moved_features"]
    assert {m["feature"] for m in moved} == {"x0", "x1", "x2"}
    assert all(m["values"] >= 100 for m in moved)
    assert max(m["ks"] for m in moved) < 0.1
    promoted = result.alerts_of("model_promoted")
    assert len(promoted) == 1 and _at(promoted[0]) > _at(alert)
    # the promoted model serves the rest of the run at its trained level
    after = [p for p in result.predictions if int(p["id"][1:]) >= DRIFT + 5_000]
    assert {p["model_version"] for p in after} == {2}
    assert sum(p["prediction"] == p["label"] for p in after) / len(after) > 0.98


def test_no_alert_on_a_stable_stream_at_half_a_percent_error(
    tmp_path: Path, make_settings, run_flow
) -> None:
    path = sea_events(tmp_path / "sea.jsonl", 100_000, None)
    result = run_flow(_sea_settings(make_settings, path))
    errors = sum(p["prediction"] != p["label"] for p in result.predictions[2_000:])
    assert 0.001 < errors / (len(result.predictions) - 2_000) < 0.01  # measured 0.3 %
    assert result.alerts_of("concept_drift") == []
    # the gate is what keeps it quiet: a lax one alerts on the same stream's start
    start = sea_events(tmp_path / "start.jsonl", 10_000, None)
    lax = run_flow(_sea_settings(make_settings, start, concept_alpha=0.5))
    assert lax.alerts_of("concept_drift")
