"""The online accuracy estimate (flows/drift/estimate.py): calibration by hand counts,
windows' estimate vs realized, the alert rule, model versions, bad scores, pickling."""

from __future__ import annotations

import math
import pickle

import pytest

from driftline.flows.config import DriftConfig
from driftline.flows.drift.estimate import PRIOR, AccuracyEstimator, EstimateSignal

WINDOW = 50


def config(**overrides: object) -> DriftConfig:
    base: dict[str, object] = {
        "data_window": WINDOW,
        "warmup": 0,
        "estimate_bins": 10,
        "estimate_half_life": 0,
    }
    return DriftConfig(**{**base, **overrides})


def serve_window(est: AccuracyEstimator, score: float, y_pred: object = True) -> list[int]:
    """A full window of events with the same score; returns their bins."""
    return [est.observe(y_pred, score, 1, 10_000) for _ in range(WINDOW)]


def test_confidence_of_binary_and_multiclass_predictions() -> None:
    est = AccuracyEstimator(config(), ready=True)
    assert est.observe(True, 0.93, 1, 0) == 9  # P(True) 0.93: confidence 0.93
    assert est.observe(False, 0.07, 1, 0) == 9  # P(True) 0.07: confidence 0.93
    assert est.observe("b", 0.41, 1, 0) == 4  # the predicted class's own probability
    assert est.observe(True, 1.0, 1, 0) == 9  # the last bin holds 1.0
    # uncalibrated: each bin says the raw confidence
    assert est.sum == pytest.approx(0.93 + 0.93 + 0.41 + 1.0)


def test_calibration_matches_a_hand_count_with_the_prior() -> None:
    est = AccuracyEstimator(config(), ready=True)
    bins = serve_window(est, 0.85)  # bin 8: [0.8, 0.9)
    assert set(bins) == {8}
    est.close("e49")
    # 30 of its 50 labels right (60%, the model said 85%)
    for i in range(WINDOW):
        est.learn(0, 8, i < 30, 1)
    assert est.calibration_labels == 50
    serve_window(est, 0.85)
    est.close("e99")
    by_hand = (30 + PRIOR * 0.85) / (50 + PRIOR)
    assert est.tallies[1].estimate == pytest.approx(by_hand)
    # the other bins still say the raw confidence
    assert est.observe(True, 0.95, 1, 0) == 9
    assert est.sum == pytest.approx(0.95)


def test_forgetting_halves_old_labels() -> None:
    est = AccuracyEstimator(config(estimate_half_life=10), ready=True)
    est.observe(True, 0.85, 1, 0)  # version 1 serves
    for i in range(20):  # 10 wrong, then 10 right: the right ones weigh twice as much
        est.learn(0, 8, i >= 10, 1)
    weights = [2 ** (k / 10) for k in range(1, 21)]
    right, total = sum(weights[10:]), sum(weights)
    c = 0.85
    expected = (right + PRIOR * weights[-1] * c) / (total + PRIOR * weights[-1])
    assert est.a[8] + est.b[8] * c == pytest.approx(expected)
    est._rescale()  # the same rates, renormalised
    assert est.a[8] + est.b[8] * c == pytest.approx(expected)


def test_windows_realized_tally_and_report() -> None:
    est = AccuracyEstimator(config(), ready=True)
    bins = serve_window(est, 0.95)
    assert est.close("e49") is None  # the first estimate is the reference
    report = est.report()
    assert report is not None and report.estimate == 0.95 and report.windows == []
    for i, b in enumerate(bins[:40]):  # 40 of its labels came, 36 right
        est.learn(0, b, i < 36, 1)
    serve_window(est, 0.95)
    est.close("e99")
    report = est.report()
    assert report is not None and report.window == 1
    (w0,) = report.windows
    assert (w0.window, w0.end_event_id, w0.labelled, w0.events) == (0, "e49", 40, WINDOW)
    assert w0.realized == 0.9 and w0.estimate is not None
    assert est.realized() is est.tallies[0]  # at least half labelled
    # reported again only when more of its labels came
    serve_window(est, 0.95)
    est.close("e149")
    assert est.report() is not None and est.report().windows == []  # type: ignore[union-attr]


def test_a_drop_alerts_once_and_slow_learning_is_followed() -> None:
    est = AccuracyEstimator(config(estimate_max_drop=0.05), ready=True)
    estimates = [0.80, 0.82, 0.84, 0.86, 0.85, 0.78, 0.78, 0.78, 0.79]
    signals = []
    for i, score in enumerate(estimates):
        serve_window(est, score)
        signals.append(est.close(f"e{i}"))
    fired = [i for i, s in enumerate(signals) if s is not None]
    assert fired == [5]  # 0.86 -> 0.78: the rises were followed, the drop alerts once
    s = signals[5]
    assert s is not None and s.reasons == ["drop"] and s.reference == pytest.approx(0.85)
    assert not s.critical  # under twice the drop
    stat = s.statistic(est.config)
    assert stat["drop"] == pytest.approx(0.07) and stat["realized"] is None
    assert stat["labelled_fraction"] == 0.0
    assert est.reference == pytest.approx(0.79)  # the next window became the reference


def test_a_drop_cut_by_a_window_boundary_alerts_at_the_next_window() -> None:
    est = AccuracyEstimator(config(estimate_max_drop=0.05), ready=True)
    fired = []
    for i, score in enumerate([0.9, 0.9, 0.87, 0.82]):
        serve_window(est, score)
        fired.append(est.close(f"e{i}") is not None)
    assert fired == [False, False, False, True]  # 0.87 is not the reference


def test_a_floor_alerts_once_per_crossing() -> None:
    est = AccuracyEstimator(config(estimate_min_accuracy=0.8, estimate_max_drop=0.5), ready=True)
    fired = []
    for i, score in enumerate([0.85, 0.79, 0.78, 0.85, 0.75]):
        serve_window(est, score)
        s = est.close(f"e{i}")
        fired.append(s.reasons if s is not None else None)
        assert s is None or s.critical
    assert fired == [None, ["min_accuracy"], None, None, ["min_accuracy"]]


def test_no_estimate_before_warmup_and_a_new_version_starts_again() -> None:
    est = AccuracyEstimator(config(warmup=10))
    assert est.observe(True, 0.9, 1, labelled=5) == -1  # the model is not ready
    assert est.observe(True, 0.9, 1, labelled=10) == 9
    est.close("e")
    assert est.tallies[0].estimate is None  # ready, but not calibrated (0 of 10 labels)
    for _ in range(10):
        est.learn(1, 9, True, 1)
    serve_window(est, 0.9)
    est.close("e2")
    assert est.tallies[1].estimate is not None
    est.observe(True, 0.9, 2, 10_000)  # version 2 serves: its calibration starts again
    assert est.calibration_labels == 0 and est.reference is None
    est.learn(1, 9, True, 1)  # an older version's label: its window counts it, not calibration
    assert est.calibration_labels == 0 and est.tallies[1].labelled == 11


def test_bad_scores_and_unknown_windows_change_nothing() -> None:
    est = AccuracyEstimator(config(estimate_windows=2), ready=True)
    for score in (None, math.nan, math.inf, -0.1, 1.5):
        assert est.observe(True, score, 1, 0) == -1
    assert est.observe(None, 0.9, 1, 0) == -1
    assert est.sum == 0.0 and est.tallies[-1].events == 0
    for i in range(3):
        est.close(f"e{i}")
    est.learn(0, 5, True, 1)  # window 0 is no longer kept: calibration only
    est.learn(99, 5, True, 1)  # a window not closed yet either
    est.learn(0, -1, True, 1)  # no confidence: nothing
    assert [t.labelled for t in est.tallies] == [0, 0]
    assert est.calibration_labels == 2


def test_the_estimator_pickles_with_its_state() -> None:
    est = AccuracyEstimator(config(estimate_half_life=100), ready=True)
    bins = serve_window(est, 0.75)
    est.close("e49")
    for b in bins:
        est.learn(0, b, True, 1)
    serve_window(est, 0.75)
    back = pickle.loads(pickle.dumps(est))
    assert back.a == est.a and back.b == est.b and back.weight == est.weight
    assert back.close("e99") is None and est.close("e99") is None
    assert back.tallies[-2].estimate == est.tallies[-2].estimate
    assert [t.labelled for t in back.tallies] == [t.labelled for t in est.tallies]


def test_state_pickled_before_the_estimate_resumes_and_learns(tmp_path) -> None:
    """A shard pickled before drift.estimate: its instance gets an estimator with the
    data windows' phase, and predictions waiting for labels (Served without a window
    or bin) are learned without one."""
    from driftline.flows.scoring.labels import Served
    from driftline.flows.scoring.shard import ModelShard
    from tests.unit.test_state_roundtrip import (
        _run,
        _shard_items,
        _shard_settings,
        roundtrip,
    )

    settings = _shard_settings("logreg", tmp_path / "models")
    items = _shard_items("logreg")
    shard = ModelShard("s0", settings, "fs-test")
    _run(shard, items[:300])
    instance = shard.instance
    assert instance.estimate is not None and instance.estimate.window > 0
    del instance.__dict__["estimate"]
    for served in shard.join.pending.values():  # as pickled before the two fields
        for slot in ("window", "confidence_bin"):
            object.__delattr__(served, slot)
    resumed = roundtrip(shard)
    assert resumed.instance.estimate is not None and resumed.instance.estimate.window == 0
    pending = next(iter(resumed.join.pending.values()))
    assert isinstance(pending, Served)  # without a bin: -1 (none) once snapshotted again
    assert getattr(pending, "confidence_bin", -1) == -1
    assert _run(resumed, items[300:])
    estimator = resumed.instance.estimate
    assert estimator.window > 0 and estimator.calibration_labels > 0


def test_a_drop_within_the_windows_noise_does_not_alert() -> None:
    """Half the events at 0.55, half at 0.95: each window's mean has a standard error of
    0.2 / sqrt(50) = 0.028; a drop of 0.1 is 2.5 of the two windows' (0.04), under 4."""
    est = AccuracyEstimator(config(estimate_max_drop=0.05), ready=True)

    def window(low: float, high: float) -> EstimateSignal | None:
        for i in range(WINDOW):
            est.observe(True, low if i % 2 else high, 1, 10_000)
        return est.close("e")

    assert window(0.55, 0.95) is None  # reference 0.75
    assert window(0.45, 0.85) is None  # 0.65: a drop of 0.1, within the noise
    fell = window(0.3, 0.7)  # 0.5: 0.25 under the reference, over 6 standard errors
    assert fell is not None and fell.reasons == ["drop"]
    assert fell.reference == pytest.approx(0.75)
