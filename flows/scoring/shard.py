"""One model shard: predict first, learn when the label is known, watch for drift.

A shard owns its champion model (and a challenger after a drift), the baseline
scored beside it, prequential metrics, the drift monitors, the delayed-label join
and model snapshots. It is the state of one key of the
scoring step, so everything that must see both predictions and labels lives here.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from river import utils

from driftline.flows.config import Settings
from driftline.flows.drift import ConceptDriftMonitor, DataDriftMonitor
from driftline.flows.features.feature_set import Featured
from driftline.flows.outputs import telemetry
from driftline.flows.parse.events import to_json
from driftline.flows.records import (
    Alert,
    AlertKind,
    DeadLetter,
    DriftReport,
    LatePrediction,
    Prediction,
    Record,
    Severity,
    dead_letter,
    outcome_of,
)
from driftline.flows.scoring.catalog import (
    CATALOG,
    build_baseline,
    build_metric,
    build_model,
    metric_class,
)
from driftline.flows.scoring.challenger import NOT_PREDICTED, Challenge, Verdict, error_of
from driftline.flows.scoring.labels import ArrivedLabel, LabelJoin, Served
from driftline.flows.scoring.store import InputNames, ModelStore, derived_feature_names

log = logging.getLogger(__name__)


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
        self.store = ModelStore(cfg.store)
        self.snapshot_every = cfg.snapshot_every
        self.model = build_model(cfg.name, cfg.seed)
        self.version = 1
        self.latest_version = 1
        derived = derived_feature_names(settings.features)
        self.inputs = InputNames(derived)  # raw input names learned, for the snapshots
        if cfg.warm_start:
            info = self.store.resolve(cfg.warm_start, cfg.name, shard)
            self.model = self.store.load(info)
            self.version = self.latest_version = info.version
            self.inputs = InputNames.warm_started(derived, info)
        self.classes = list(cfg.classes) if cfg.classes is not None else None
        self.label_type: type = {"bool": bool, "int": int, "str": str}[cfg.label_type]
        self.challenge: Challenge | None = None
        self.recent: deque[tuple[dict[str, float], Any]] = deque(
            maxlen=max(settings.drift.challenger_warm_start, 1)
        )
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
        self.inputs.served(x, self.shard)
        y_pred, score = self.predict(x)
        b_pred = self.baseline.predict_one(x)
        self.seen += 1
        out.append(
            (LatePrediction if f.late else Prediction)(
                event.id,
                event.key,
                event.ts.isoformat(),
                y_pred,
                score,
                b_pred,
                event.label,
                self.model_name,
                self.version,
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
            out.extend(self._window_closed(signals, event.id, event.ts))
        c_pred = self.challenge.predict(x) if self.challenge is not None else NOT_PREDICTED
        served = Served(event.id, event.key, event.ts, x, y_pred, b_pred, self.version, c_pred)
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
        if self.drift_config.challenger_warm_start:
            self.recent.append((x, y))
        out: list[Record] = [outcome_of(self.task, served.event_id, y, y_pred, b_pred)]
        if self.challenge is not None:
            verdict = self.challenge.learn(x, y, y_pred, served.c_pred)
            if verdict is not None:
                out.append(self._settle(verdict, served))
        if self.snapshot_every and self.labelled % self.snapshot_every == 0:
            self.save_snapshot("periodic")
        signal = self.concept.update(error_of(self.task, y, y_pred))
        if signal is None:
            return out
        severity: Severity = (
            "critical" if signal.recent_error >= 2 * signal.reference_error else "warning"
        )
        statistic = {
            "reference_error": round(signal.reference_error, 4),
            "recent_error": round(signal.recent_error, 4),
            "labelled_since_reset": signal.observed,
        }
        out.append(self._alert("concept_drift", served, statistic, severity))
        policy = self.drift_config.on_concept_drift
        if policy == "reset":
            out.append(self._reset(served, "concept drift"))
        elif policy == "challenger" and self.challenge is None:
            out.append(self._start_challenge(served))
        return out

    def _alert(
        self, kind: AlertKind, at: Served, statistic: dict[str, Any], severity: Severity = "info"
    ) -> Alert:
        """An alert about this shard's model at the event `at`."""
        return Alert(
            kind=kind,
            detector=self.drift_config.concept_detector,
            model=self.model_name,
            model_version=self.version,
            event_id=at.event_id,
            event_ts=at.ts.isoformat(),
            shard=self.shard,
            severity=severity,
            statistic=statistic,
            events_seen=self.seen,
        )

    def _start_challenge(self, at: Served) -> Alert:
        """Start training a challenger beside the serving champion."""
        self.latest_version += 1
        model = build_model(self.model_name, self.seed + self.latest_version)
        self.challenge = Challenge(model, self.task, self.drift_config.challenge_window)
        if self.drift_config.challenger_warm_start:
            self.challenge.warm_up(self.recent)
        return self._alert(
            "challenger_started",
            at,
            {"challenger_version": self.latest_version, "window": self.challenge.window},
        )

    def _settle(self, verdict: Verdict, at: Served) -> Alert:
        """Promote the challenger or drop it; a promotion bumps the version and snapshots."""
        assert self.challenge is not None
        old = self.version
        stats = {
            "champion_error": round(verdict.champion_error, 4),
            "challenger_error": round(verdict.challenger_error, 4),
            "compared": verdict.compared,
            "challenger_version": self.latest_version,
            "from_version": old,
        }
        if verdict.outcome == "promoted":
            self.model = self.challenge.model
            self.version = self.latest_version
            self.concept.reset()
            self.challenge = None
            won = verdict.challenger_error
            self.save_snapshot("promotion", 1.0 - won if self.task == "classification" else won)
            return self._alert("model_promoted", at, stats)
        self.challenge = None
        return self._alert("challenger_dropped", at, stats)

    def save_snapshot(self, reason: str, metric_value: float | None = None) -> None:
        """Write the champion to the model store (never fails the stream).

        `metric_value` defaults to the champion's rolling metric; a promotion
        passes the challenger's metric over the challenge instead. The metadata
        records the labels and raw inputs learned, which a warm start is checked by.
        """
        if metric_value is None and self.labelled:
            metric_value = self.rolling.get()
        try:
            self.store.save(
                self.model,
                model=self.model_name,
                version=self.version,
                shard=self.shard,
                feature_version=self.feature_version,
                events_seen=self.seen,
                labelled=self.labelled,
                metric=self.metric_name,
                metric_value=metric_value,
                reason=reason,
                task=self.task,
                label_type=self.label_type.__name__ if self.task == "classification" else None,
                classes=self.classes if self.task == "classification" else None,
                features=sorted(self.inputs.names),
                features_capped=self.inputs.capped,
            )
        except OSError as exc:
            log.error("model snapshot failed", extra={"error": str(exc), "shard": self.shard})

    def _reset(self, at: Served, reason: str) -> Alert:
        """Replace the stale model by a fresh one; the version goes up."""
        old = self.version
        self.latest_version += 1
        self.model = build_model(self.model_name, self.seed + self.latest_version)
        self.version = self.latest_version
        self.inputs = InputNames(self.inputs.derived)  # a fresh model has learned nothing
        self.concept.reset()
        return self._alert("model_reset", at, {"from_version": old, "reason": reason})

    def _window_closed(self, signals: list[Any], event_id: str, ts: Any) -> list[Record]:
        """A data window closed: its drift report, and one grouped alert for its shifts.

        The report also says how many numeric feature names the window had beyond
        `drift.data_max_features` (`untracked_features`): those are not watched.
        """
        window = self.drift_config.data_window
        errors = self.concept.recent.get() if self.concept.observed else None
        data = self.data
        telemetry.TRACKED_FEATURES.labels(self.shard).set(len(data.columns))
        telemetry.UNTRACKED_FEATURES.labels(self.shard).set(data.untracked)
        if data.untracked_values:
            telemetry.UNTRACKED_FEATURE_VALUES.inc(data.untracked_values)
        out: list[Record] = []
        if data.report is not None or data.untracked:
            report = DriftReport(
                shard=self.shard,
                model=self.model_name,
                model_version=self.version,
                feature_version=self.feature_version,
                window_end_event_id=event_id,
                window_end_ts=ts.isoformat(),
                events=window,
                events_seen=self.seen,
                recent_error=errors,
                rolling_metric={self.metric_name: self.rolling.get()} if self.labelled else {},
                features=data.report or {},
                tracked_features=len(data.columns),
                untracked_features=data.untracked,
                drifted=sorted(s.feature for s in signals),
            )
            out.append(report)
        if signals:
            out.append(self._data_alert(signals, event_id, ts))
        return out

    def _data_alert(self, signals: list[Any], event_id: str, ts: Any) -> Alert:
        """One alert for every feature that shifted in the same window (strongest first)."""
        signals = sorted(signals, key=lambda s: s.ks, reverse=True)
        top = signals[0]
        return Alert(
            kind="data_drift",
            detector="window-ks",
            model=self.model_name,
            model_version=self.version,
            event_id=event_id,
            event_ts=ts.isoformat(),
            shard=self.shard,
            severity="critical" if top.ks >= 0.3 else "warning",
            feature=top.feature,
            statistic={
                "ks": round(top.ks, 4),
                "p_value": top.p_value,
                "reference_mean": top.reference_mean,
                "current_mean": top.current_mean,
                "window": top.window,
                "features": {
                    s.feature: {
                        "ks": round(s.ks, 4),
                        "p_value": s.p_value,
                        "reference_mean": s.reference_mean,
                        "current_mean": s.current_mean,
                    }
                    for s in signals
                },
            },
            events_seen=self.seen,
        )


def _label_dead_letter(served: Served, y: Any, problem: str, source: str) -> DeadLetter:
    raw = orjson.dumps({"id": served.event_id, "label": y}, default=str)
    return dead_letter(raw, problem, stage="score", reason="label", source=source, whole=True)


def _dead_letter(item: Featured | ArrivedLabel, exc: Exception) -> DeadLetter:
    record = item.label if isinstance(item, ArrivedLabel) else item.event
    return dead_letter(
        to_json(record),
        f"scoring failed: {exc!r}"[:1000],
        stage="score",
        reason="model_error",
        source="labels" if isinstance(item, ArrivedLabel) else "events",
        whole=True,
    )
