"""One model instance: predict first, learn when the label is known, watch for drift.

An instance owns one model of the job (for a segmented model, one segment's),
the baseline scored beside it, prequential metrics, its drift monitors and its
slices. It is fed by its model shard (shard.py), which owns the label join: the
shard hands it each event to score and each joined label to learn. What happens
to the model after a drift (reset, challenger, promotion) and its snapshots to
the model store are its retraining policy's (policy.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from driftline.flows.drift import (
    ConceptDriftMonitor,
    ConceptSignal,
    DataDriftMonitor,
    DataSignal,
    PredictionDriftMonitor,
)
from driftline.flows.drift.estimate import AccuracyEstimator, EstimateSignal
from driftline.flows.features.feature_set import Featured
from driftline.flows.parse.events import to_json
from driftline.flows.records import (
    Alert,
    AlertKind,
    DeadLetter,
    LatePrediction,
    Prediction,
    Record,
    Severity,
    dead_letter,
    outcome_of,
)
from driftline.flows.scoring.catalog import CATALOG, baseline_name, build_baseline
from driftline.flows.scoring.challenger import error_of
from driftline.flows.scoring.data_window import window_closed
from driftline.flows.scoring.definition import LABEL_TYPES
from driftline.flows.scoring.labels import ArrivedLabel, Served
from driftline.flows.scoring.policy import RetrainingPolicy, Start
from driftline.flows.scoring.prequential import PrequentialMetric
from driftline.flows.scoring.rule import RuleError
from driftline.flows.scoring.slices import SliceMonitor, SliceSignal
from driftline.flows.scoring.spec import ModelSpec

#: Features and slices a concept-drift alert names as having moved with it.
EXPLAIN_TOP = 3


@dataclass(slots=True)
class ShardStats:
    """Counters a shard reports once per batch."""

    scored: int = 0
    labelled: int = 0
    late: int = 0
    out_of_order: int = 0
    latencies: list[float] = field(default_factory=list)


class ModelInstance:
    """Champion model + baseline + metrics + drift monitors of one model (or segment)."""

    def __init__(
        self,
        spec: ModelSpec,
        shard: str,
        feature_version: str,
        derived: frozenset[str],
        segment: str | None = None,
        start: Start | None = None,
    ) -> None:
        cfg = spec.config
        self.shard = shard
        self.segment = segment
        # what the model is (a catalog name, a River class, a pipeline or a factory):
        # its definition version is stamped on predictions and snapshots
        self.definition = spec.definition
        self.model_name = spec.name
        self.task = self.definition.task
        self.feature_version = feature_version
        self.drift_config = spec.drift
        self.policy = RetrainingPolicy(self, cfg, spec.drift)
        # the raw input names learned (`inputs`) go into the snapshots
        self.model, self.inputs = self.policy.first_model(derived, start)
        # the snapshot it started from, while it has learned nothing since (segments.py)
        self.started_from = start.snapshot if start is not None else None
        self.classes = list(cfg.classes) if cfg.classes is not None else None
        self.label_type: type = LABEL_TYPES[cfg.label_type]
        self.baseline = build_baseline(self.task, cfg.baseline, cfg)
        self.metric = PrequentialMetric(self.task)
        self.baseline_metric = PrequentialMetric(self.task)
        self.rolling = PrequentialMetric(self.task, cfg.rolling_window)
        self.baseline_rolling = PrequentialMetric(self.task, cfg.rolling_window)
        self.concept = ConceptDriftMonitor(spec.drift)
        self.data = DataDriftMonitor(spec.drift)
        # the model's scores, label-free: ready at once for a model from a snapshot
        self.prediction = (
            PredictionDriftMonitor(spec.drift, ready=start is not None)
            if spec.drift.prediction_drift
            else None
        )
        # a classifier's accuracy per data window, estimated before its labels come
        self.estimate = self._estimator(ready=start is not None)
        self.slices = (
            SliceMonitor(
                cfg.slices,
                self.task,
                cfg.rolling_window,
                spec.drift,
                cfg.slice_values,
                cfg.slice_top,
            )
            if cfg.slices
            else None
        )
        self.seen = 0
        self.labelled = 0

    @property
    def metric_name(self) -> str:
        return self.metric.name

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Recovery state of releases before: a model before definitions (a catalog model,
        by its name), River's metrics before prequential.py (the same figures)."""
        if "definition" not in state:
            state["definition"] = CATALOG[state["model_name"]]
        state.setdefault("started_from", None)
        task = state["definition"].task
        for name in ("metric", "baseline_metric", "rolling", "baseline_rolling"):
            metric = state[name]
            if not isinstance(metric, PrequentialMetric):
                window = metric.window_size if hasattr(metric, "window") else None
                state[name] = PrequentialMetric.from_river(metric, task, window)
        self.__dict__.update(state)
        if "prediction" not in state and self.drift_config.prediction_drift:
            # state from before prediction drift: windows aligned with the data windows
            self.prediction = PredictionDriftMonitor(self.drift_config)
            self.prediction.scores.filled = self.data.filled
        if "estimate" not in state:  # state from before the accuracy estimate
            self.estimate = self._estimator(ready=self.labelled >= self.drift_config.warmup)

    def _estimator(self, ready: bool) -> AccuracyEstimator | None:
        """The accuracy estimator of a classifier (drift.estimate), or None."""
        if self.task != "classification" or not self.drift_config.estimate:
            return None
        return AccuracyEstimator(self.drift_config, ready=ready)

    #: the prediction-drift monitor (None when drift.prediction_drift is off)
    prediction: PredictionDriftMonitor | None = None

    #: the accuracy estimator (None for a regressor or when drift.estimate is off)
    estimate: AccuracyEstimator | None = None

    #: the baseline's name, once known (a class default, so shards pickled before it work)
    _baseline_name: str | None = None

    @property
    def baseline_name(self) -> str:
        """``prior``, ``no_change`` or ``rule fraud_rules:score@v3``: stamped where lift is.

        Named once from the estimator (River's isinstance checks cost 2.5 µs, too
        much for every prediction); the baseline of a shard never changes.
        """
        name = self._baseline_name
        if name is None:
            name = self._baseline_name = baseline_name(self.baseline)
        return name

    def predict(self, x: dict[str, float]) -> tuple[Any, float | None]:
        """The model's prediction and its score (positive-class probability or value)."""
        if self.task == "classification":
            proba = self.model.predict_proba_one(x)
            if not proba:
                return None, None
            y_pred = max(proba, key=proba.get)  # same rule as River's predict_one
            if True in proba and len(proba) <= 2:
                return y_pred, proba[True]
            return y_pred, proba[y_pred]
        y_pred = self.model.predict_one(x)
        return y_pred, y_pred

    def serve(
        self,
        f: Featured,
        x: dict[str, float],
        label: Any,
        now: float,
        stats: ShardStats,
        out: list[Record],
    ) -> Served:
        """Score one event with the inputs `x` it is served; what to learn from later.

        `label` is the event's inline label for this model's target (or None).
        """
        event = f.event
        b_pred = self.baseline.predict_one(x)  # first: a rule that fails changes no state
        self.inputs.served(x, self.shard)
        y_pred, score = self.predict(x)
        self.seen += 1
        out.append(
            (LatePrediction if f.late else Prediction)(
                event.id,
                event.key,
                event.ts.isoformat(),
                y_pred,
                score,
                b_pred,
                self.baseline_name,
                label,
                self.model_name,
                self.policy.version,
                self.definition.version,
                self.feature_version,
                self.shard,
                round((now - f.ingest) * 1000.0, 3),
                self.segment,
            )
        )
        stats.latencies.append(now - f.ingest)
        if f.late:
            stats.late += 1
        elif f.out_of_order:
            stats.out_of_order += 1
        stats.scored += 1
        # counted in its slices before a data window it closes reports them
        slices = self.slices.values_of(event.features) if self.slices is not None else None
        signals = self.data.update(event.features)
        shifted: list[DataSignal] = []
        if self.prediction is not None:  # same windows as the data's: closed together
            shifted = self.prediction.update(score, self.policy.version, self.labelled, y_pred)
        estimator, window, confidence_bin = self.estimate, 0, -1
        if estimator is not None:
            window = estimator.window
            confidence_bin = estimator.observe(y_pred, score, self.policy.version, self.labelled)
        if self.data.filled == 0:  # a data window closed
            fell: EstimateSignal | None = None
            if estimator is not None:
                fell = estimator.close(event.id)
            out.extend(window_closed(self, signals, event.id, event.ts, shifted, fell))
        return Served(
            event.id,
            event.key,
            event.ts,
            x,
            y_pred,
            b_pred,
            self.policy.version,
            self.policy.challenger_prediction(x),
            self.segment,
            slices,
            window,
            confidence_bin,
        )

    def check_label(self, y: Any) -> tuple[Any, str | None]:
        """`y` as this shard's model learns it, and why it cannot be learned (or None).

        Checked before anything changes state: a classifier takes labels of
        `model.label_type` (for "bool" also the numbers 0 and 1, as most data
        writes a binary label) and of `model.classes` when set; a regressor
        takes finite numbers.
        """
        if self.task == "regression":
            if y.__class__ is bool or not isinstance(y, int | float) or not math.isfinite(y):
                return y, f"regression label must be a finite number, got {y!r}"
            return y, None
        label_type = self.label_type
        if label_type is bool and y.__class__ in (int, float) and (y == 0 or y == 1):
            y = y == 1
        if y.__class__ is not label_type:
            accepted = "true/false or 0/1" if label_type is bool else label_type.__name__
            return y, (
                f"label {y!r} is not of model.label_type {label_type.__name__} "
                f"(accepted: {accepted})"
            )
        if self.classes is not None and y not in self.classes:
            return y, f"label {y!r} is not one of model.classes {self.classes}"
        return y, None

    def learn(self, served: Served, y: Any, source: str = "labels") -> list[Record]:
        """Prequential update and learning with the features as served; may raise alerts.

        `source` says where a label that cannot be learned came from, for its dead letter.
        """
        y, problem = self.check_label(y)
        if problem is not None:
            return [_label_dead_letter(served, y, problem, source)]
        self.labelled += 1
        x, y_pred, b_pred = served.x, served.y_pred, served.b_pred
        if y_pred is not None:
            self.metric.update(y, y_pred)
            self.rolling.update(y, y_pred)
            estimator = self.estimate
            if estimator is not None:  # its window's realized accuracy, and calibration
                confidence_bin = getattr(served, "confidence_bin", -1)  # older state: none
                if confidence_bin >= 0:
                    right = bool(y_pred == y)
                    estimator.learn(served.window, confidence_bin, right, served.model_version)
        if b_pred is not None:
            self.baseline_metric.update(y, b_pred)
            self.baseline_rolling.update(y, b_pred)
        self.inputs.learned(x)
        self.model.learn_one(x, y)
        self.baseline.learn_one(x, y)
        out: list[Record] = [
            outcome_of(self.task, served.event_id, y, y_pred, b_pred, self.model_name)
        ]
        settled = self.policy.on_labelled(served, y)
        if settled is not None:
            out.append(settled)
        if self.slices is not None and served.slices is not None:
            for sliced in self.slices.learn(served.slices, y, y_pred, b_pred):
                out.append(self._slice_alert(sliced, served))
        signal = self.concept.update(error_of(self.task, y, y_pred))
        if signal is not None:
            out.append(self._concept_alert(signal, served))
            reaction = self.policy.on_concept_drift(served)
            if reaction is not None:
                out.append(reaction)
        return out

    def _concept_alert(self, signal: ConceptSignal, at: Served) -> Alert:
        """The concept-drift alert: critical once the recent error doubled the reference.

        It says what moved with the errors: the raw features that moved most
        from their data-drift reference (KS, now; `values` says on how many: the
        window being filled, or the last closed one when the alert comes early in
        a window), and with slices, the slice values whose error rose most. A
        concept change with no feature moved (P(y|x) changed, the inputs did not)
        reads as small KS figures there.
        """
        statistic = {
            **_errors(signal),
            # does the model still beat its baseline (a team's rule, say) as it drifts?
            "metric": self.metric_name,
            "model_metric": round(self.rolling.get(), 4),
            "baseline": self.baseline_name,
            "baseline_metric": round(self.baseline_rolling.get(), 4),
            "moved_features": [
                {"feature": s.feature, **s.figures(), "values": s.window}
                for s in self.data.moved(EXPLAIN_TOP)
            ],
        }
        if self.slices is not None:
            statistic["rising_slices"] = [r.figures() for r in self.slices.rising(EXPLAIN_TOP)]
        return self.alert("concept_drift", at, statistic, _severity(signal))

    def _slice_alert(self, sliced: SliceSignal, at: Served) -> Alert:
        """Concept drift on one slice's errors: "accuracy fell for country=BR".

        The model keeps serving as it is (a slice alone does not retrain it).
        """
        stats = sliced.stats
        statistic = {
            **_errors(sliced.signal),
            "metric": self.metric_name,
            "model_metric": round(stats.model.get(), 4),
            "baseline": self.baseline_name,
            "baseline_metric": round(stats.baseline.get(), 4),
            "slice_events": stats.events,
        }
        alert = self.alert("concept_drift", at, statistic, _severity(sliced.signal))
        alert.slice = sliced.slice
        return alert

    def alert(
        self, kind: AlertKind, at: Served, statistic: dict[str, Any], severity: Severity = "info"
    ) -> Alert:
        """An alert about this instance's serving model at the event `at`."""
        return Alert(
            kind=kind,
            detector=self.drift_config.concept_detector,
            model=self.model_name,
            model_version=self.policy.version,
            event_id=at.event_id,
            event_ts=at.ts.isoformat(),
            shard=self.shard,
            severity=severity,
            statistic=statistic,
            events_seen=self.seen,
            segment=self.segment,
        )


def _errors(signal: ConceptSignal) -> dict[str, Any]:
    return {
        "reference_error": round(signal.reference_error, 4),
        "recent_error": round(signal.recent_error, 4),
        "labelled_since_reset": signal.observed,
        "p_value": float(f"{signal.p_value:.3g}"),
        "reference_errors": signal.reference_n,
    }


def _severity(signal: ConceptSignal) -> Severity:
    """Critical once the recent error doubled the reference."""
    return "critical" if signal.recent_error >= 2 * signal.reference_error else "warning"


def _label_dead_letter(served: Served, y: Any, problem: str, source: str) -> DeadLetter:
    raw = orjson.dumps({"id": served.event_id, "label": y}, default=str)
    return dead_letter(raw, problem, stage="score", reason="label", source=source, whole=True)


def item_dead_letter(item: Featured | ArrivedLabel, exc: Exception) -> DeadLetter:
    """The item that failed, with why: the team's rule (reason rule) or the model."""
    record = item.label if isinstance(item, ArrivedLabel) else item.event
    rule = isinstance(exc, RuleError)
    return dead_letter(
        to_json(record),
        str(exc) if rule else f"scoring failed: {exc!r}"[:1000],
        stage="score",
        reason="rule" if rule else "model_error",
        source="labels" if isinstance(item, ArrivedLabel) else "events",
        whole=True,
    )
