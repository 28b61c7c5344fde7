"""Retraining policy of a model shard: which model version serves, and when it changes.

The shard predicts and learns; this policy decides the life of its models. On
concept drift it resets the champion to a fresh model or starts a challenger beside
it (see flows/scoring/challenger.py), which it later promotes or drops. It numbers
the versions, and writes the champion to the model store (periodically, on a
promotion, at the end of input) so a later run can warm-start from it. Kept apart
from the shard so scoring reads without the model lifecycle woven through it.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from driftline.flows.config import DriftConfig, ModelConfig
from driftline.flows.records import Alert
from driftline.flows.scoring.challenger import NOT_PREDICTED, Challenge, Verdict
from driftline.flows.scoring.labels import Served
from driftline.flows.scoring.rule import is_rule
from driftline.flows.scoring.store import InputNames, ModelStore, SnapshotInfo

if TYPE_CHECKING:  # the instance owns its policy; the policy reads and swaps its model
    from driftline.flows.scoring.instance import ModelInstance

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Start:
    """What a new model instance starts from instead of a fresh model: a snapshot
    from the model store (a warm start, or a segment evicted earlier), or a copy of
    its segments' parent model."""

    model: Any  # a River model
    version: int
    inputs: InputNames
    snapshot: SnapshotInfo | None = None  # the store's snapshot it was loaded from


def stored_start(store: ModelStore, info: SnapshotInfo, derived: frozenset[str]) -> Start:
    """A snapshot of the store as a start: its version and learned inputs carry on, so
    the store's lineage and warm-start checks hold."""
    return Start(store.load(info), info.version, InputNames.warm_started(derived, info), info)


class RetrainingPolicy:
    """Versions, challenger and model-store snapshots of one instance's champion model."""

    def __init__(self, owner: ModelInstance, cfg: ModelConfig, drift: DriftConfig) -> None:
        self.owner = owner
        self.drift = drift
        self.store = ModelStore(cfg.store)
        self.snapshot_every = cfg.snapshot_every
        self.seed = cfg.seed
        self.version = 1  # the champion's, which serves
        self.latest_version = 1  # the newest given out (a challenger's while one runs)
        self.challenge: Challenge | None = None
        # labelled examples a new challenger learns first (drift.challenger_warm_start)
        self.recent: deque[tuple[dict[str, float], Any]] = deque(
            maxlen=max(drift.challenger_warm_start, 1)
        )

    def first_model(self, derived: frozenset[str], start: Start | None) -> tuple[Any, InputNames]:
        """The champion to start from and the raw inputs it has learned: a fresh
        model, or `start` (whose version carries on)."""
        if start is None:
            return self.owner.definition.build(self.seed), InputNames(derived)
        self.version = self.latest_version = start.version
        return start.model, start.inputs

    def challenger_prediction(self, x: dict[str, float]) -> Any:
        """The challenger's prediction for `x`, kept with the served event to compare later."""
        return self.challenge.predict(x) if self.challenge is not None else NOT_PREDICTED

    def on_labelled(self, served: Served, y: Any) -> Alert | None:
        """The champion learned `y`: feed the challenger, settle it when due, snapshot.

        Returns the promotion or drop alert when the challenge ended with this label.
        """
        if self.drift.challenger_warm_start:
            self.recent.append((served.x, y))
        settled = None
        if self.challenge is not None:
            verdict = self.challenge.learn(served.x, y, served.y_pred, served.c_pred)
            if verdict is not None:
                settled = self._settle(verdict, served)
        if self.snapshot_every and self.owner.labelled % self.snapshot_every == 0:
            self.snapshot("periodic")
        return settled

    def on_concept_drift(self, at: Served) -> Alert | None:
        """React to concept drift as `drift.on_concept_drift` says; the alert of what was done.

        A drift during a challenge starts no second challenger: the running one
        already learns from after the change.
        """
        action = self.drift.on_concept_drift
        if is_rule(self.owner.model):  # a rule cannot retrain: a new one is the same rule
            return None
        if action == "reset":
            return self._reset(at)
        if action == "challenger" and self.challenge is None:
            return self._start_challenge(at)
        return None

    def _next_model(self) -> Any:  # a River model
        """A fresh model with a version of its own (and a seed of its own, so it differs)."""
        self.latest_version += 1
        return self.owner.definition.build(self.seed + self.latest_version)

    def _start_challenge(self, at: Served) -> Alert:
        """Start training a challenger beside the serving champion."""
        challenge = Challenge(self._next_model(), self.owner.task, self.drift.challenge_window)
        self.challenge = challenge
        if self.drift.challenger_warm_start:
            challenge.warm_up(self.recent)
        return self.owner.alert(
            "challenger_started",
            at,
            {"challenger_version": self.latest_version, "window": challenge.window},
        )

    def _settle(self, verdict: Verdict, at: Served) -> Alert:
        """Promote the challenger or drop it; a promotion bumps the version and snapshots."""
        challenge, self.challenge = self.challenge, None
        assert challenge is not None
        stats = {
            "champion_error": round(verdict.champion_error, 4),
            "challenger_error": round(verdict.challenger_error, 4),
            "compared": verdict.compared,
            "challenger_version": self.latest_version,
            "from_version": self.version,
        }
        if verdict.outcome == "dropped":
            return self.owner.alert("challenger_dropped", at, stats)
        owner = self.owner
        owner.model = challenge.model
        self.version = self.latest_version
        owner.concept.reset()
        won = verdict.challenger_error
        self.snapshot("promotion", 1.0 - won if owner.task == "classification" else won)
        return owner.alert("model_promoted", at, stats)

    def _reset(self, at: Served) -> Alert:
        """Replace the stale model by a fresh one; the version goes up."""
        owner = self.owner
        old = self.version
        owner.model = self._next_model()
        self.version = self.latest_version
        owner.inputs = InputNames(owner.inputs.derived)  # a fresh model has learned nothing
        owner.concept.reset()
        return owner.alert("model_reset", at, {"from_version": old, "reason": "concept drift"})

    def snapshot(self, reason: str, metric_value: float | None = None) -> SnapshotInfo | None:
        """Write the champion to the model store (never fails the stream: None when it could not).

        `metric_value` defaults to the champion's rolling metric; a promotion
        passes the challenger's metric over the challenge instead. The metadata
        records the labels and raw inputs learned, which a warm start is checked by.
        """
        s = self.owner
        if metric_value is None and s.labelled:
            metric_value = s.rolling.get()
        classification = s.task == "classification"
        try:
            return self.store.save(
                s.model,
                model=s.model_name,
                definition_version=s.definition.version,
                version=self.version,
                shard=s.shard,
                segment=s.segment,
                feature_version=s.feature_version,
                events_seen=s.seen,
                labelled=s.labelled,
                metric=s.metric_name,
                metric_value=metric_value,
                reason=reason,
                task=s.task,
                label_type=s.label_type.__name__ if classification else None,
                classes=s.classes if classification else None,
                features=sorted(s.inputs.names),
                features_capped=s.inputs.capped,
            )
        except OSError as exc:
            log.error(
                "model snapshot failed",
                extra={"error": str(exc), "model": s.model_name, "shard": s.shard},
            )
            return None
