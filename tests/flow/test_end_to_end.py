"""The whole job on the built-in drifting stream and on a replay file, in-process."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from driftline.connectors.builtin import drifting_events
from driftline.connectors.malformed import MALFORMED
from driftline.flows.app.monitor import event_index
from driftline.flows.config import BuiltinStreamConfig
from tests.conftest import write_jsonl

DRIFT_POINTS = [20_000, 40_000]
MAX_DELAY = 1_000  # stated: a concept-drift alert within this many events of a drift point
EARLY = 200  # the gradual transition of ConceptDriftStream starts about this early


@pytest.fixture(scope="module")
def builtin_run(tmp_path_factory, request):
    from driftline.flows.app.runner import run
    from driftline.flows.config import load_settings
    from tests.conftest import RunResult

    out = tmp_path_factory.mktemp("e2e")
    settings = load_settings(
        None,
        {
            "sinks": {"directory": str(out)},
            "model": {"store": str(out / "models")},
            "metrics": {"enabled": False},
            "run": {"progress_every": 3600},
            "builtin": {
                "events": 60_000,
                "drift_points": DRIFT_POINTS,
                "data_drift_points": [50_000],
                "bad_every": 5_000,
            },
        },
    )
    monitor = run(settings, serve_metrics=False)
    return settings, RunResult(out, monitor)


def test_every_event_is_scored_exactly_once(builtin_run) -> None:
    _, result = builtin_run
    ids = Counter(p["id"] for p in result.predictions)
    assert len(ids) == 60_000 and max(ids.values()) == 1
    assert len(result.dead_letters) == 11  # bad_every=5000 over 60k events


def test_prediction_records_say_who_made_them(builtin_run) -> None:
    _settings, result = builtin_run
    p = result.predictions[0]
    assert set(p) >= {"id", "key", "prediction", "score", "model", "model_version"}
    assert p["feature_version"].startswith("fs-") and p["model"] == "logreg"
    assert p["latency_ms"] >= 0 and 0.0 <= p["score"] <= 1.0
    assert {p["model_version"] for p in result.predictions} == {1, 2, 3}


def test_concept_drift_alert_follows_each_drift_point(builtin_run) -> None:
    settings, result = builtin_run
    fired = [event_index(a["event_id"]) for a in result.alerts_of("concept_drift")]
    for point in DRIFT_POINTS:
        assert any(point - EARLY <= i <= point + MAX_DELAY for i in fired), (point, fired)
    # nothing in the stable stretch between warm-up and the first drift
    stable = [i for i in fired if settings.drift.warmup <= i < DRIFT_POINTS[0] - EARLY]
    assert stable == []
    assert len(fired) == len(DRIFT_POINTS)


def test_model_is_replaced_and_recovers(builtin_run) -> None:
    _, result = builtin_run
    promoted = result.alerts_of("model_promoted")
    assert [r["model_version"] for r in promoted] == [2, 3]
    for p in promoted:  # the challenger won on the same labelled events
        assert p["statistic"]["challenger_error"] < p["statistic"]["champion_error"]
    m = result.monitor
    for point in DRIFT_POINTS:
        before = m.accuracy_between(point - 2000, point - EARLY)
        worst_after = min(
            m.accuracy_between(start, start + 200) for start in range(point, point + 1000, 200)
        )
        recovered = m.accuracy_between(point + 2000, point + 4000)
        assert worst_after < before - 0.05, (point, before, worst_after)
        assert recovered > 0.9, (point, recovered)


def test_data_drift_alert_names_the_shifted_feature(builtin_run) -> None:
    _, result = builtin_run
    data = result.alerts_of("data_drift")
    hvalue = [a for a in data if a["feature"] == "hvalue"]
    assert len(hvalue) == 1 and 50_000 <= event_index(hvalue[0]["event_id"]) <= 54_000
    assert hvalue[0]["statistic"]["current_mean"] > hvalue[0]["statistic"]["reference_mean"]
    # Agrawal's class balancing makes each concept change move `salary` as well: those
    # alerts are real, and come right after a concept drift point, never in between
    for a in data:
        i = event_index(a["event_id"])
        assert any(p <= i <= p + 4_000 for p in [*DRIFT_POINTS, 50_000]), (a["feature"], i)


def test_model_beats_the_baseline(builtin_run) -> None:
    _, result = builtin_run
    m = result.monitor
    assert m.correct / m.judged > m.baseline_correct / m.judged + 0.05


def test_every_bad_input_lands_in_dead_letters(tmp_path: Path, make_settings, run_flow) -> None:
    good = [orjson.dumps(e) for e in drifting_events(BuiltinStreamConfig(events=300))]
    bad = [raw for _, raw in MALFORMED if raw]  # a file cannot hold a tombstone or blank line
    lines: list[bytes] = []
    for i, raw in enumerate(bad):
        lines += [*good[i * 5 : i * 5 + 5], raw]
    lines += good[len(bad) * 5 :]
    path = write_jsonl(tmp_path / "events.jsonl", lines)
    result = run_flow(make_settings(run={"source": "file"}, files={"events_path": str(path)}))
    assert len(result.predictions) == 300
    assert len(result.dead_letters) == len(bad)
    for raw, dead in zip(bad, result.dead_letters, strict=True):
        assert dead["error"] and dead["reason"] and dead["stage"] == "parse"
        expected = raw.decode("utf-8", errors="backslashreplace")[:65_536]
        assert dead["raw"] == expected
    assert result.monitor.dead_letters == len(bad)


def test_promoted_model_beats_the_stale_one_after_a_drift(builtin_run, tmp_path) -> None:
    """Same stream with the champion kept (learning on, no challenger) as the stale reference."""
    from driftline.flows.app.runner import run
    from driftline.flows.config import load_settings

    settings, result = builtin_run
    stale = run(
        load_settings(
            None,
            {
                **{k: v for k, v in settings.model_dump(mode="json").items()},
                "sinks": {"directory": str(tmp_path)},
                "model": {**settings.model.model_dump(mode="json"), "store": str(tmp_path)},
                "drift": {**settings.drift.model_dump(mode="json"), "on_concept_drift": "keep"},
            },
        ),
        serve_metrics=False,
    )
    promotions = result.alerts_of("model_promoted")
    assert promotions
    for promotion in promotions:
        start = event_index(promotion["event_id"])
        promoted_acc = result.monitor.accuracy_between(start, start + 1000)
        stale_acc = stale.accuracy_between(start, start + 1000)
        assert promoted_acc > stale_acc + 0.02, (start, promoted_acc, stale_acc)


def test_every_data_window_has_a_readable_drift_report(builtin_run) -> None:
    settings, result = builtin_run
    reports = result.drift_reports
    assert len(reports) == 60_000 // settings.drift.data_window - 1  # the first is the reference
    assert all(set(r["features"]) >= {"salary", "hvalue", "loan"} for r in reports)
    shifted = [r for r in reports if r["drifted"]]
    assert len(shifted) == 3
    assert "salary" in shifted[0]["drifted"] and "salary" in shifted[1]["drifted"]
    assert shifted[2]["drifted"] == ["hvalue"]  # grouped: one alert per window
    for alert in result.alerts_of("data_drift"):
        assert alert["severity"] in {"warning", "critical"}
        grouped = alert["statistic"]["features"]
        assert (
            grouped[alert["feature"]]["ks"]
            == alert["statistic"]["ks"]
            == max(f["ks"] for f in grouped.values())
        )
