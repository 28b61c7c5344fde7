"""What a shard emits when one of its data windows closes: a drift report and alerts.

The shard feeds its data-drift monitor event by event (and its prediction-drift
monitor the model's scores, in the same windows); at the end of each window the
monitors' reports and shifts become output records. Built here, apart
from the shard, as these records are formatting of the monitor's state, not scoring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driftline.flows.drift import DataSignal
from driftline.flows.drift.estimate import EstimateSignal
from driftline.flows.drift.prediction import ClassShift
from driftline.flows.outputs import telemetry
from driftline.flows.records import Alert, AlertKind, DriftReport, Record, Severity

if TYPE_CHECKING:  # the functions read the shard's state; the shard calls them
    from driftline.flows.scoring.instance import ModelInstance


def window_closed(
    shard: ModelInstance,
    signals: list[DataSignal],
    event_id: str,
    ts: Any,
    scores: list[DataSignal] | None = None,
    fell: EstimateSignal | None = None,
) -> list[Record]:
    """A data window closed: its drift report, one grouped alert for its shifts, one
    prediction-drift alert when the model's scores shifted (`scores`), and one
    estimated-accuracy alert when the window's estimated accuracy fell (`fell`).

    The report also says how many numeric feature names the window had beyond
    `drift.data_max_features` (`untracked_features`): those are not watched.
    """
    data = shard.data
    telemetry.report_data_window(shard, data)
    prediction = shard.prediction.report if shard.prediction is not None else None
    estimator = shard.estimate
    if estimator is not None:
        telemetry.report_estimate(shard, estimator)
    estimated = estimator is not None and estimator.estimated
    out: list[Record] = []
    if data.report is not None or data.untracked or prediction is not None or estimated:
        # the windows whose labels came since, with this window's estimate
        estimate = estimator.report() if estimator is not None else None
        concept = shard.concept
        out.append(
            DriftReport(
                shard=shard.shard,
                model=shard.model_name,
                segment=shard.segment,
                model_version=shard.policy.version,
                feature_version=shard.feature_version,
                window_end_event_id=event_id,
                window_end_ts=ts.isoformat(),
                events=shard.drift_config.data_window,
                events_seen=shard.seen,
                recent_error=concept.recent.mean() if concept.observed else None,
                rolling_metric={shard.metric_name: shard.rolling.get()} if shard.labelled else {},
                features=data.report or {},
                tracked_features=len(data.columns),
                untracked_features=data.untracked,
                drifted=sorted(s.feature for s in signals),
                slices=shard.slices.report() if shard.slices is not None else {},
                prediction=prediction,
                estimate=estimate,
            )
        )
    if signals:
        out.append(_data_alert(shard, signals, event_id, ts))
    classes = shard.prediction.class_shift if shard.prediction is not None else None
    if scores or classes is not None:
        out.append(_prediction_alert(shard, scores[0] if scores else None, classes, event_id, ts))
    if fell is not None:
        out.append(_estimate_alert(shard, fell, event_id, ts))
    return out


def _estimate_alert(shard: ModelInstance, fell: EstimateSignal, event_id: str, ts: Any) -> Alert:
    """The window's estimated accuracy fell (before its labels came): critical under
    `drift.estimate_min_accuracy` or at twice `drift.estimate_max_drop`."""
    return _alert(
        "estimated_accuracy",
        "cbpe-window",
        shard,
        "critical" if fell.critical else "warning",
        fell.statistic(shard.drift_config),
        event_id,
        ts,
    )


def _prediction_alert(
    shard: ModelInstance,
    signal: DataSignal | None,
    classes: ClassShift | None,
    event_id: str,
    ts: Any,
) -> Alert:
    """The model's scores in this window moved away from their reference window, or a
    multi-class model's predicted classes did (`classes`, under ``classes``)."""
    statistic: dict[str, Any] = {"window": shard.drift_config.data_window}
    if signal is not None:
        statistic.update(signal.figures(), window=signal.window)
    if classes is not None:
        statistic["classes"] = classes.figures()
    if signal is not None:
        return _window_alert("prediction_drift", shard, signal, statistic, event_id, ts)
    assert classes is not None
    severity: Severity = "critical" if classes.tvd >= 0.3 else "warning"
    return _alert("prediction_drift", "window-chi2", shard, severity, statistic, event_id, ts)


def _data_alert(shard: ModelInstance, signals: list[DataSignal], event_id: str, ts: Any) -> Alert:
    """One alert for every feature that shifted in the same window (strongest first)."""
    signals = sorted(signals, key=lambda s: s.ks, reverse=True)
    top = signals[0]
    statistic = {
        **top.figures(),
        "window": top.window,
        "features": {s.feature: s.figures() for s in signals},
    }
    alert = _window_alert("data_drift", shard, top, statistic, event_id, ts)
    alert.feature = top.feature
    return alert


def _window_alert(
    kind: AlertKind,
    shard: ModelInstance,
    top: DataSignal,
    statistic: dict[str, Any],
    event_id: str,
    ts: Any,
) -> Alert:
    """A window test's alert about the instance's serving model: critical from KS 0.3."""
    severity: Severity = "critical" if top.ks >= 0.3 else "warning"
    return _alert(kind, "window-ks", shard, severity, statistic, event_id, ts)


def _alert(
    kind: AlertKind,
    detector: str,
    shard: ModelInstance,
    severity: Severity,
    statistic: dict[str, Any],
    event_id: str,
    ts: Any,
) -> Alert:
    """An alert about the instance's serving model at the window's last event."""
    return Alert(
        kind=kind,
        detector=detector,
        model=shard.model_name,
        model_version=shard.policy.version,
        event_id=event_id,
        event_ts=ts.isoformat(),
        shard=shard.shard,
        severity=severity,
        statistic=statistic,
        events_seen=shard.seen,
        segment=shard.segment,
    )
