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
from flows.labels import ArrivedLabel, LabelJoin, Served
from flows.models import CATALOG, build_baseline, build_metric, build_model, metric_class

# ("prediction", dict), ("alert", Alert), or ("outcome", (event_id, right, baseline_right))
# for the run monitor when a prediction meets its label (not written to any sink).
Output = tuple[str, Any]


@dataclass(slots=True)
class ShardStats:
    """Counters a shard reports once per batch."""

    scored: int = 0
    labelled: int = 0
    late: int = 0
    out_of_order: int = 0
    labels: int = 0
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
        self.join = LabelJoin(settings.labels.ttl, settings.labels.max_pending)
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

    def process(self, batch: list[Featured | ArrivedLabel], stats: ShardStats) -> list[Output]:
        """Score every event of a batch; learn from inline labels and arrived labels."""
        out: list[Output] = []
        now = time.time()
        fv = self.feature_version
        name = self.model_name
        latencies = stats.latencies
        join = self.join
        for f in batch:
            if f.__class__ is ArrivedLabel:
                stats.labels += 1
                label = f.label  # type: ignore[union-attr]
                served = join.label(label)
                if served is not None:
                    stats.labelled += 1
                    out.extend(self.learn(served, label.label))
                continue
            event = f.event  # type: ignore[union-attr]
            x = f.x  # type: ignore[union-attr]
            y_pred, score = self.predict(x)
            b_pred = self.baseline.predict_one(x)
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
            if f.late:  # type: ignore[union-attr]
                rec["late"] = True
                stats.late += 1
            elif f.out_of_order:  # type: ignore[union-attr]
                stats.out_of_order += 1
            out.append(("prediction", rec))
            stats.scored += 1
            for signal in self.data.update(event.features):
                out.append(("alert", self._data_alert(signal, event.id, event.ts)))
            served = Served(event.id, event.key, event.ts, x, y_pred, b_pred, self.version)
            if event.label is not None:
                stats.labelled += 1
                out.extend(self.learn(served, event.label))
                continue
            early = join.served(served)
            if early is not None:
                stats.labelled += 1
                out.extend(self.learn(served, early.label))
        return out

    def learn(self, served: Served, y: Any) -> list[Output]:
        """Prequential update and learning with the features as served; may raise alerts."""
        self.labelled += 1
        x, y_pred, b_pred = served.x, served.y_pred, served.b_pred
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
            outcome: Output = ("outcome", (served.event_id, y_pred == y, b_pred == y))
        else:
            error = abs(float(y) - float(y_pred or 0.0))
            outcome = ("outcome", (served.event_id, None, None))
        signal = self.concept.update(error)
        if signal is None:
            return [outcome]
        alert = Alert(
            kind="concept_drift",
            detector=self.drift_config.concept_detector,
            model=self.model_name,
            model_version=self.version,
            event_id=served.event_id,
            event_ts=served.ts.isoformat(),
            shard=self.shard,
            severity="critical",
            statistic={
                "reference_error": round(signal.reference_error, 4),
                "recent_error": round(signal.recent_error, 4),
                "labelled_since_reset": signal.observed,
            },
            events_seen=self.seen,
        )
        out: list[Output] = [outcome, ("alert", alert)]
        if self.drift_config.on_concept_drift == "reset":
            out.append(("alert", self._reset(served, "concept drift")))
        return out

    def _reset(self, at: Served, reason: str) -> Alert:
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
            event_id=at.event_id,
            event_ts=at.ts.isoformat(),
            shard=self.shard,
            severity="info",
            statistic={"from_version": old, "reason": reason},
            events_seen=self.seen,
        )

    def _data_alert(self, signal: Any, event_id: str, ts: Any) -> Alert:
        return Alert(
            kind="data_drift",
            detector="window-ks",
            model=self.model_name,
            model_version=self.version,
            event_id=event_id,
            event_ts=ts.isoformat(),
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
