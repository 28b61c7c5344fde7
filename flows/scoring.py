"""One model shard: predict first, learn when the label is known, watch for drift.

A shard owns its champion model, the baseline scored beside it, prequential
metrics for both and the drift monitors. It is the state of one key of the
scoring step, so everything that must see both predictions and labels lives here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from river import utils

from flows.alerts import Alert
from flows.config import Settings
from flows.drift import ConceptDriftMonitor, DataDriftMonitor
from flows.features import Featured
from flows.models import CATALOG, build_baseline, build_metric, build_model, metric_class

Output = tuple[str, Any]  # ("prediction", dict) or ("alert", Alert)


@dataclass(slots=True)
class ShardStats:
    """Counters a shard reports once per batch."""

    scored: int = 0
    labelled: int = 0
    late: int = 0
    out_of_order: int = 0
    latencies: list[float] = field(default_factory=list)


class ModelShard:
    """Champion model + baseline + metrics + drift monitors for one model key."""

    def __init__(self, shard: str, settings: Settings, feature_version: str) -> None:
        cfg = settings.model
        self.shard = shard
        self.model_name = cfg.name
        self.seed = cfg.seed
        self.task = CATALOG[cfg.name].task
        self.feature_version = feature_version
        self.drift_config = settings.drift
        self.model = build_model(cfg.name, cfg.seed)
        self.version = 1
        self.baseline = build_baseline(self.task, cfg.baseline)
        self.metric = build_metric(self.task)
        self.baseline_metric = build_metric(self.task)
        self.rolling = utils.Rolling(metric_class(self.task), window_size=cfg.rolling_window)
        self.baseline_rolling = utils.Rolling(
            metric_class(self.task), window_size=cfg.rolling_window
        )
        self.concept = ConceptDriftMonitor(settings.drift)
        self.data = DataDriftMonitor(settings.drift)
        self.seen = 0
        self.labelled = 0

    @property
    def metric_name(self) -> str:
        return self.metric.__class__.__name__.lower()

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

    def process(self, batch: list[Featured], stats: ShardStats) -> list[Output]:
        """Score every event of a batch (and learn from those that carry a label)."""
        out: list[Output] = []
        now = time.time()
        fv = self.feature_version
        name = self.model_name
        latencies = stats.latencies
        for f in batch:
            event = f.event
            y_pred, score = self.predict(f.x)
            b_pred = self.baseline.predict_one(f.x)
            self.seen += 1
            rec = {
                "id": event.id,
                "key": event.key,
                "ts": event.ts.isoformat(),
                "prediction": y_pred,
                "score": score,
                "baseline": b_pred,
                "label": event.label,
                "model": name,
                "model_version": self.version,
                "feature_version": fv,
                "shard": self.shard,
                "latency_ms": round((now - f.ingest) * 1000.0, 3),
            }
            latencies.append(now - f.ingest)
            if f.late:
                rec["late"] = True
                stats.late += 1
            elif f.out_of_order:
                stats.out_of_order += 1
            out.append(("prediction", rec))
            stats.scored += 1
            for signal in self.data.update(event.features):
                out.append(("alert", self._data_alert(signal, event)))
            if event.label is not None:
                stats.labelled += 1
                out.extend(self.learn(f.x, event.label, y_pred, b_pred, event))
        return out

    def learn(self, x: dict[str, float], y: Any, y_pred: Any, b_pred: Any, event: Any) -> list:
        """Prequential update with the served features, then learn; may raise alerts."""
        self.labelled += 1
        if y_pred is not None:
            self.metric.update(y, y_pred)
            self.rolling.update(y, y_pred)
        if b_pred is not None:
            self.baseline_metric.update(y, b_pred)
            self.baseline_rolling.update(y, b_pred)
        self.model.learn_one(x, y)
        self.baseline.learn_one(x, y)
        if self.task == "classification":
            error = 0.0 if y_pred == y else 1.0
        else:
            error = abs(float(y) - float(y_pred or 0.0))
        signal = self.concept.update(error)
        if signal is None:
            return []
        alert = Alert(
            kind="concept_drift",
            detector=self.drift_config.concept_detector,
            model=self.model_name,
            model_version=self.version,
            event_id=event.id,
            event_ts=event.ts.isoformat(),
            shard=self.shard,
            severity="critical",
            statistic={
                "reference_error": round(signal.reference_error, 4),
                "recent_error": round(signal.recent_error, 4),
                "labelled_since_reset": signal.observed,
            },
            events_seen=self.seen,
        )
        out: list[Output] = [("alert", alert)]
        if self.drift_config.on_concept_drift == "reset":
            out.append(("alert", self._reset(event, "concept drift")))
        return out

    def _reset(self, event: Any, reason: str) -> Alert:
        """Replace the stale model by a fresh one; the version goes up."""
        old = self.version
        self.model = build_model(self.model_name, self.seed + old)
        self.version = old + 1
        self.concept.reset()
        return Alert(
            kind="model_reset",
            detector=self.drift_config.concept_detector,
            model=self.model_name,
            model_version=self.version,
            event_id=event.id,
            event_ts=event.ts.isoformat(),
            shard=self.shard,
            severity="info",
            statistic={"from_version": old, "reason": reason},
            events_seen=self.seen,
        )

    def _data_alert(self, signal: Any, event: Any) -> Alert:
        return Alert(
            kind="data_drift",
            detector="window-ks",
            model=self.model_name,
            model_version=self.version,
            event_id=event.id,
            event_ts=event.ts.isoformat(),
            shard=self.shard,
            severity="warning",
            feature=signal.feature,
            statistic={
                "ks": round(signal.ks, 4),
                "p_value": signal.p_value,
                "reference_mean": signal.reference_mean,
                "current_mean": signal.current_mean,
                "window": signal.window,
            },
            events_seen=self.seen,
        )
