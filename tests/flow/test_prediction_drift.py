"""Prediction drift on the built-in stream before any label of the shifted events comes.

Labels come as their own messages, a fixed 5 minutes of event time late (6,000
events at 50 ms): the model learns the early events, then `salary` (a feature the
stream's concept uses) is scaled x1.5 at event 15,000. The labels of the shifted
events would come from event 21,000 on, after the run: no concept-drift alert is
possible on them, yet the model's scores moved.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from driftline.flows.app.monitor import event_index

SHIFT = 15_000
EVENTS = 20_000
DELAY = timedelta(minutes=5)


def builtin(shift: list[int]) -> dict[str, object]:
    return {
        "events": EVENTS,
        "concepts": [7],
        "drift_points": [],
        "data_drift_points": shift,
        "data_drift_feature": "salary",
        "data_drift_scale": 1.5,
        "bad_every": 0,
        "labels": "separate",
        "label_delay": "PT5M",
        "label_delay_kind": "fixed",
    }


def test_prediction_drift_fires_after_a_shift_before_its_labels(make_settings, run_flow) -> None:
    settings = make_settings(builtin=builtin([SHIFT]))
    result = run_flow(settings)
    window = settings.drift.data_window
    fired = result.alerts_of("prediction_drift")
    assert len(fired) == 1, [(event_index(a["event_id"]), a["statistic"]) for a in fired]
    alert = fired[0]
    at = event_index(alert["event_id"])
    assert SHIFT <= at < SHIFT + 2 * window  # the window holding the shift, or the next
    s = alert["statistic"]
    assert s["ks"] >= settings.drift.prediction_min_effect and s["p_value"] < 1e-6
    assert s["current_mean"] < s["reference_mean"]  # a higher salary: fewer positives
    assert alert["detector"] == "window-ks" and alert["feature"] is None
    # before the label of any shifted event could come: no concept drift to see
    ts = {event_index(p["id"]): datetime.fromisoformat(p["ts"]) for p in result.predictions}
    assert datetime.fromisoformat(alert["event_ts"]) < ts[SHIFT] + DELAY
    assert result.alerts_of("concept_drift") == []
    # the window's drift report holds the scores' figures the alert states
    report = next(r for r in result.drift_reports if r["window_end_event_id"] == alert["event_id"])
    assert report["prediction"]["ks"] == s["ks"]


def test_no_prediction_drift_on_a_stable_stream(make_settings, run_flow) -> None:
    settings = make_settings(builtin=builtin([]))
    result = run_flow(settings)
    assert len(result.predictions) == EVENTS
    assert result.alerts_of("prediction_drift") == []
    compared = [r["prediction"] for r in result.drift_reports if r["prediction"] is not None]
    assert len(compared) >= 4  # the scores were compared, window after window
    assert all(p["ks"] < settings.drift.prediction_min_effect for p in compared[-4:])


def test_prediction_drift_can_be_turned_off(make_settings, run_flow) -> None:
    settings = make_settings(builtin=builtin([SHIFT]), drift={"prediction_drift": False})
    result = run_flow(settings)
    assert result.alerts_of("prediction_drift") == []
    assert all(r["prediction"] is None for r in result.drift_reports)
