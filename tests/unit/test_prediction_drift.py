"""Prediction drift: the model's scores per window against a reference window (KS)."""

import random

from driftline.flows.config import DriftConfig
from driftline.flows.drift import PredictionDriftMonitor
from driftline.flows.records import Alert

WINDOW = 500


def feed(
    monitor: PredictionDriftMonitor,
    scores: list[float | None],
    version: int = 1,
    labelled: int = 10_000,
) -> list[int]:
    """Indexes of the events whose window closed with a prediction-drift signal."""
    return [i for i, s in enumerate(scores) if monitor.update(s, version, labelled)]


def beta(a: float, b: float, n: int, rng: random.Random) -> list[float | None]:
    return [rng.betavariate(a, b) for _ in range(n)]


def config() -> DriftConfig:
    return DriftConfig(data_window=WINDOW, warmup=100)


def test_fires_once_on_a_score_shift_and_not_on_noise() -> None:
    rng = random.Random(0)
    monitor = PredictionDriftMonitor(config())
    stable = beta(2, 5, 10 * WINDOW, rng)
    assert feed(monitor, stable) == []
    assert monitor.settled and monitor.report is not None
    # the scores rise in mid-window: the window that holds the shift, or the next, alerts
    shifted = beta(2, 5, WINDOW // 2, rng) + beta(5, 2, 6 * WINDOW, rng)
    fired, reports = [], []
    for i, score in enumerate(shifted):
        for signal in monitor.update(score, 1, 10_000):
            fired.append(i)
            reports.append(monitor.report)
            assert signal.feature == "score" and signal.ks >= 0.1
    assert len(fired) == 1 and fired[0] in (WINDOW - 1, 2 * WINDOW - 1), fired
    report = reports[0]
    assert report is not None and report["current_mean"] > report["reference_mean"] + 0.15


def test_no_alert_while_untrained_settling_or_for_missing_scores() -> None:
    rng = random.Random(1)
    monitor = PredictionDriftMonitor(config())
    # not ready: fewer labels learned than the warm-up, however the scores move
    assert feed(monitor, [0.5] * WINDOW + beta(5, 2, 3 * WINDOW, rng), labelled=10) == []
    assert not monitor.ready and monitor.report is None
    # a model still learning: its scores move each window; no alert until a window is
    # like the one before, which then is the reference
    learning = [s for k in range(4) for s in beta(2 + k, 5, WINDOW, rng)]
    assert feed(monitor, learning) == []
    assert not monitor.settled
    assert feed(monitor, beta(5, 5, 2 * WINDOW, rng)) == []
    assert monitor.settled
    # events without a score (None, NaN) count in the window but add nothing
    assert feed(monitor, [None, float("nan")] * WINDOW) == []
    assert monitor.scores.filled == 0


def test_a_new_model_version_settles_again() -> None:
    rng = random.Random(2)
    monitor = PredictionDriftMonitor(config(), ready=True)  # from a snapshot: no warm-up
    assert feed(monitor, beta(2, 5, 3 * WINDOW, rng), labelled=0) == []
    assert monitor.settled
    # a promoted model scores differently: no alert, its own scores are the reference
    assert feed(monitor, beta(5, 2, 3 * WINDOW, rng), version=2) == []
    assert monitor.settled and monitor.version == 2


def test_alert_describes_the_score_shift() -> None:
    alert = Alert(
        kind="prediction_drift",
        detector="window-ks",
        model="logreg",
        model_version=3,
        event_id="evt-1",
        event_ts="2026-01-01T00:00:00+00:00",
        shard="shard-0",
        statistic={"ks": 0.331, "p_value": 2e-98, "reference_mean": 0.502, "current_mean": 0.384},
    )
    assert alert.describe().startswith(
        "PREDICTION DRIFT [window-ks] logreg v3: KS=0.331 p=2.0e-98, mean score 0.502 -> 0.384 "
        "at event evt-1"
    )


def classes_feed(
    monitor: PredictionDriftMonitor, shares: list[float], n: int, rng: random.Random
) -> list[int]:
    """`n` events of a 3-class model predicting a, b, c with `shares`; the score stays
    alike (beta(5, 2)) whatever the class. Indexes of the windows that closed shifted."""
    fired = []
    for i in range(n):
        y_pred = rng.choices("abc", weights=shares)[0]
        monitor.update(rng.betavariate(5, 2), 1, 10_000, y_pred)
        if monitor.scores.filled == 0 and monitor.class_shift is not None:
            fired.append(i)
    return fired


def test_a_multiclass_models_predicted_classes_shift_alerts_once() -> None:
    rng = random.Random(3)
    monitor = PredictionDriftMonitor(config())
    assert classes_feed(monitor, [0.5, 0.3, 0.2], 10 * WINDOW, rng) == []
    assert monitor.settled
    report = monitor.report
    assert report is not None and report["classes"]["p_value"] >= 1e-6  # compared, alike
    # the same scores, other classes: only the chi-square test sees it, once
    fired = classes_feed(monitor, [0.2, 0.3, 0.5], 6 * WINDOW, rng)
    assert fired == [WINDOW - 1], fired
    assert monitor.report is not None
    later = monitor.report["classes"]
    assert later["p_value"] >= 1e-6  # the window after the alert became the reference


def test_class_shift_by_hand() -> None:
    from driftline.flows.drift.prediction import class_shift

    shift = class_shift({"a": 50, "b": 50}, {"a": 20, "b": 60, "c": 20})
    # expected counts: a 35/35, b 55/55, c 10/10 -> chi2 = 2*(15²/35) + 2*(5²/55) + 2*(10²/10)
    assert abs(shift.chi2 - (2 * 225 / 35 + 2 * 25 / 55 + 2 * 100 / 10)) < 1e-9
    assert abs(shift.tvd - 0.3) < 1e-12
    assert shift.reference_shares == {"a": 0.5, "b": 0.5, "c": 0.0}
    assert shift.current_shares == {"a": 0.2, "b": 0.6, "c": 0.2}


def test_a_multiclass_shard_alerts_on_its_predicted_classes(tmp_path) -> None:
    """A real 3-class model (River's SoftmaxRegression) through a shard: when the inputs
    move the predicted classes, the window's prediction_drift alert and drift report
    carry the classes' test; the estimate works on its top-class confidence."""
    from datetime import UTC, datetime, timedelta

    from driftline.flows.config import load_settings
    from driftline.flows.features.feature_set import Featured
    from driftline.flows.parse.events import Event
    from driftline.flows.records import DriftReport
    from driftline.flows.scoring.shard import ModelShard, ShardStats

    settings = load_settings(
        None,
        {
            "model": {
                "estimator": "river.linear_model.SoftmaxRegression",
                "label_type": "int",
                "store": str(tmp_path),
                "snapshot_every": 0,
            },
            "drift": {"data_window": 300, "warmup": 100, "on_concept_drift": "keep"},
        },
    )
    shard = ModelShard("s0", settings, "fs-test")
    rng = random.Random(5)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    items = []
    centers = [(-2.0, 0.0), (2.0, 0.0), (0.0, 2.5)]
    for i in range(6000):
        # three separable classes, a third each; from 4,500 on class 2 is 60 % of them
        y = rng.choices(range(3), weights=[1, 1, 1] if i < 4500 else [1, 1, 3])[0]
        x = {"a": rng.gauss(centers[y][0], 1.0), "b": rng.gauss(centers[y][1], 1.0)}
        event = Event(id=f"e{i}", key="k", ts=t0 + timedelta(seconds=i), features=x, label=y)
        items.append(Featured(event, x, False, False, ingest=0.0, seq=i))
    out = []
    for start in range(0, len(items), 100):
        out.extend(shard.process(items[start : start + 100], ShardStats()))
    alerts = [r for r in out if isinstance(r, Alert) and r.kind == "prediction_drift"]
    shifted = [a for a in alerts if "classes" in a.statistic]
    assert shifted, [a.statistic for a in alerts]
    first = shifted[0]
    assert int(first.event_id[1:]) in (4799, 5099)  # the window holding the shift, or next
    classes = first.statistic["classes"]
    assert classes["current_shares"]["2"] > classes["reference_shares"]["2"] + 0.1
    report = next(
        r for r in out if isinstance(r, DriftReport) and r.window_end_event_id == first.event_id
    )
    assert report.prediction is not None and report.prediction["classes"] == classes
    assert report.estimate is not None and report.estimate.estimate is not None
