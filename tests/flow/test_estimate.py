"""Estimated accuracy on the built-in stream, labels an hour of event time late.

Events every 500 ms (mean), so an hour of event time is 7,200 events: 3.6 data
windows of 2,000 events. The model learns the labels of the first events from
event 7,200 on; its calibration is ready once the labels of events it served
after its warm-up came (about event 17,000). `salary` (a feature the stream's
concept uses) is scaled x1.5 at event 28,000, which cost the logistic regression
3.5-4.5 points of accuracy (0.98 -> 0.935-0.945): the estimate must say so before the
first label of a shifted event comes (event 35,200), and match the realized
accuracy each window's labels later give within 3 points (outside the windows
where the model relearns from the shifted labels).
"""

from __future__ import annotations

from typing import Any

from driftline.evaluation.harness.label_free import DELAY_EVENTS, overrides, window_gaps
from driftline.flows.app.monitor import event_index

SHIFT = 28_000
EVENTS = 40_000
TOLERANCE = 0.03


def tracked(reports: list[dict[str, Any]], window: int, shift: int | None) -> dict[int, float]:
    """|estimate - realized| by window end: fully labelled windows outside the transitions
    (the window holding the shift, and from the first shifted label on)."""
    return {
        g.end_event: abs(g.gap)
        for g in window_gaps(reports, window, shift)
        if g.tracked and g.gap is not None
    }


def test_estimated_accuracy_falls_after_a_shift_before_its_labels(make_settings, run_flow) -> None:
    settings = make_settings(**overrides(SHIFT, events=EVENTS))
    result = run_flow(settings)
    window = settings.drift.data_window
    fired = result.alerts_of("estimated_accuracy")
    assert len(fired) == 1, [(event_index(a["event_id"]), a["statistic"]) for a in fired]
    alert = fired[0]
    at = event_index(alert["event_id"])
    assert SHIFT <= at < SHIFT + 2 * window < SHIFT + DELAY_EVENTS  # before any shifted label
    s = alert["statistic"]
    assert s["reasons"] == ["drop"] and s["drop"] >= settings.drift.estimate_max_drop
    assert s["labelled_fraction"] == 0.0 and s["realized"] is None  # no label of it yet
    assert alert["detector"] == "cbpe-window"
    # prediction drift saw it too, no later; no concept drift before the labels come
    (scores,) = result.alerts_of("prediction_drift")[:1]
    assert event_index(scores["event_id"]) <= at
    assert all(
        event_index(a["event_id"]) >= SHIFT + DELAY_EVENTS
        for a in result.alerts_of("concept_drift")
    )
    # the shift hurt: the realized accuracy of the shifted windows fell too
    by_end = {g.end_event: g for g in window_gaps(result.drift_reports, window, SHIFT)}
    before, after = by_end[SHIFT].realized, by_end[SHIFT + window].realized
    assert before is not None and after is not None and after < before - 0.02
    # estimate vs realized, once the labels came, outside the transitions
    gaps = tracked(result.drift_reports, window, SHIFT)
    shifted = [end for end in gaps if end > SHIFT]
    assert len(gaps) >= 6 and len(shifted) >= 2, gaps
    assert max(gaps.values()) <= TOLERANCE, gaps


def test_no_estimated_accuracy_alert_on_a_stable_stream(make_settings, run_flow) -> None:
    settings = make_settings(**overrides(None, events=EVENTS))
    result = run_flow(settings)
    assert len(result.predictions) == EVENTS
    assert result.alerts_of("estimated_accuracy") == []
    gaps = tracked(result.drift_reports, settings.drift.data_window, None)
    assert len(gaps) >= 8, gaps
    assert max(gaps.values()) <= TOLERANCE, gaps
