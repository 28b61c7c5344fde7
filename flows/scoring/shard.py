"""One model shard: predict first, learn when the label is known, watch for drift.

A shard owns its champion model, the baseline scored beside it, prequential
metrics, the drift monitors and the delayed-label join. It is the state of one key
of the scoring step, so everything that must see both predictions and labels lives
here. What happens to the model after a drift (reset, challenger, promotion) and
its snapshots to the model store are its retraining policy's (policy.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from river import utils

from driftline.flows.config import Settings
from driftline.flows.drift import ConceptDriftMonitor, ConceptSignal, DataDriftMonitor
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
from driftline.flows.scoring.catalog import (
    CATALOG,
    baseline_name,
    build_baseline,
    build_metric,
    metric_class,
)
from driftline.flows.scoring.challenger import error_of
from driftline.flows.scoring.data_window import window_closed
from driftline.flows.scoring.definition import LABEL_TYPES, model_definition
from driftline.flows.scoring.labels import ArrivedLabel, LabelJoin, Served
from driftline.flows.scoring.policy import RetrainingPolicy
from driftline.flows.scoring.rule import RuleError
from driftline.flows.scoring.store import derived_feature_names


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
        # what the model is (a catalog name, a River class, a pipeline or a factory):
        # its name and definition version are stamped on predictions and snapshots
        self.definition = model_definition(cfg)
        self.model_name = self.definition.name
        self.task = self.definition.task
        self.feature_version = feature_version
        self.drift_config = settings.drift
        self.policy = RetrainingPolicy(self, settings)
        # the raw input names learned (`inputs`) go into the snapshots
        derived = derived_feature_names(settings.features)
        self.model, self.inputs = self.policy.first_model(derived, cfg.warm_start)
        self.classes = list(cfg.classes) if cfg.classes is not None else None
        self.label_type: type = LABEL_TYPES[cfg.label_type]
        self.baseline = build_baseline(self.task, cfg.baseline, cfg)
        self.metric = build_metric(self.task)
        self.baseline_metric = build_metric(self.task)
        # Rolling forwards `get` to the metric it wraps, which its type does not say
        self.rolling: Any = utils.Rolling(metric_class(self.task), window_size=cfg.rolling_window)
        self.baseline_rolling: Any = utils.Rolling(
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

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Recovery state pickled before model definitions: a catalog model, by its name."""
        if "definition" not in state:
            state["definition"] = CATALOG[state["model_name"]]
        self.__dict__.update(state)

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

    def process(self, batch: list[Featured | ArrivedLabel], stats: ShardStats) -> list[Record]:
        """Score every event of a batch; learn from inline labels and arrived labels.

        An item that makes the model or a metric fail (say, a text label for a
        regressor) becomes a dead letter; the shard and the job go on.
        """
        out: list[Record] = []
        now = time.time()
        for item in batch:
            try:
                self._handle(item, now, stats, out)
            except Exception as exc:  # keep the input and the reason, never stop
                out.append(_dead_letter(item, exc))
        return out

    def _handle(
        self, f: Featured | ArrivedLabel, now: float, stats: ShardStats, out: list[Record]
    ) -> None:
        join = self.join
        if isinstance(f, ArrivedLabel):
            label = f.label
            served = join.label(label)
            if served is not None:
                stats.labelled += 1
                out.extend(self.learn(served, label.label))
            return
        event = f.event
        x = f.x
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
                event.label,
                self.model_name,
                self.policy.version,
                self.definition.version,
                self.feature_version,
                self.shard,
                round((now - f.ingest) * 1000.0, 3),
            )
        )
        stats.latencies.append(now - f.ingest)
        if f.late:
            stats.late += 1
        elif f.out_of_order:
            stats.out_of_order += 1
        stats.scored += 1
        signals = self.data.update(event.features)
        if self.data.filled == 0:  # a data window closed
            out.extend(window_closed(self, signals, event.id, event.ts))
        c_pred = self.policy.challenger_prediction(x)
        served = Served(
            event.id, event.key, event.ts, x, y_pred, b_pred, self.policy.version, c_pred
        )
        if event.label is not None:
            join.observe(event.ts)  # its time ages the labels waiting for other events
            stats.labelled += 1
            out.extend(self.learn(served, event.label, "events"))
            return
        early = join.served(served)
        if early is not None:
            stats.labelled += 1
            out.extend(self.learn(served, early.label))

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
        if b_pred is not None:
            self.baseline_metric.update(y, b_pred)
            self.baseline_rolling.update(y, b_pred)
        self.inputs.learned(x)
        self.model.learn_one(x, y)
        self.baseline.learn_one(x, y)
        out: list[Record] = [outcome_of(self.task, served.event_id, y, y_pred, b_pred)]
        settled = self.policy.on_labelled(served, y)
        if settled is not None:
            out.append(settled)
        signal = self.concept.update(error_of(self.task, y, y_pred))
        if signal is not None:
            out.append(self._concept_alert(signal, served))
            reaction = self.policy.on_concept_drift(served)
            if reaction is not None:
                out.append(reaction)
        return out

    def _concept_alert(self, signal: ConceptSignal, at: Served) -> Alert:
        """The concept-drift alert: critical once the recent error doubled the reference."""
        severity: Severity = (
            "critical" if signal.recent_error >= 2 * signal.reference_error else "warning"
        )
        statistic = {
            "reference_error": round(signal.reference_error, 4),
            "recent_error": round(signal.recent_error, 4),
            "labelled_since_reset": signal.observed,
            # does the model still beat its baseline (a team's rule, say) as it drifts?
            "metric": self.metric_name,
            "model_metric": round(self.rolling.get(), 4),
            "baseline": self.baseline_name,
            "baseline_metric": round(self.baseline_rolling.get(), 4),
        }
        return self.alert("concept_drift", at, statistic, severity)

    def alert(
        self, kind: AlertKind, at: Served, statistic: dict[str, Any], severity: Severity = "info"
    ) -> Alert:
        """An alert about this shard's serving model at the event `at`."""
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
        )


def _label_dead_letter(served: Served, y: Any, problem: str, source: str) -> DeadLetter:
    raw = orjson.dumps({"id": served.event_id, "label": y}, default=str)
    return dead_letter(raw, problem, stage="score", reason="label", source=source, whole=True)


def _dead_letter(item: Featured | ArrivedLabel, exc: Exception) -> DeadLetter:
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
