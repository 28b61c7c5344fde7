"""One model shard: the state of one key of the scoring step.

A shard holds one model of the job (of several, see spec.py) for the events whose
id hashes to it: the label join, and the model instance that scores them, or,
for a model with `segment_by`, one instance per segment (segments.py). Labels
carry only an event id, so the join lives here, above the segments: each served
prediction remembers its segment, and its label goes back to that segment's
instance.

>>> from driftline.flows.config import Settings
>>> shard = ModelShard("shard-0", Settings(), "fs-doc")
>>> shard.name, shard.instance.model_name, len(shard.join)
('logreg', 'logreg', 0)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from driftline.flows.config import Settings
from driftline.flows.features.feature_set import Featured
from driftline.flows.records import Record
from driftline.flows.scoring.instance import ModelInstance, ShardStats, item_dead_letter
from driftline.flows.scoring.labels import ArrivedLabel, LabelJoin, Served
from driftline.flows.scoring.policy import Start, stored_start
from driftline.flows.scoring.segments import Segments
from driftline.flows.scoring.spec import ModelSpec, scoring_plan
from driftline.flows.scoring.store import ModelStore, derived_feature_names

__all__ = ["ModelShard", "ShardStats"]


class ModelShard:
    """The label join and the model instance(s) of one model shard."""

    def __init__(
        self, key: str, settings: Settings, feature_version: str, spec: ModelSpec | None = None
    ) -> None:
        if spec is None:  # the model this key belongs to (the first model's, for tests)
            plan = scoring_plan(settings)
            spec = plan.by_key.get(key, plan.specs[0])
        self.shard = spec.shard_name(key)
        self.spec = spec
        self.name = spec.name
        self.feature_version = feature_version
        self.join = LabelJoin(settings.labels.ttl, settings.labels.max_pending)
        derived = derived_feature_names(settings.features)
        self.segments: Segments | None = None
        self._instance: ModelInstance | None = None
        if spec.config.segment_by is not None:
            self.segments = Segments(spec, self.shard, feature_version, derived)
        else:
            self._instance = ModelInstance(
                spec, self.shard, feature_version, derived, start=self._warm_start(derived)
            )

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Recovery state of the release before many models: one shard, one instance.

        Its attributes were the instance's plus the join; they become this shard's
        one instance. The spec is set again by the scoring step from this run's
        settings (:meth:`bind`), which the recovery manifest says are the same.
        """
        if "join" in state and "_instance" not in state:
            instance = ModelInstance.__new__(ModelInstance)
            instance.__dict__.update({k: v for k, v in state.items() if k != "join"})
            instance.__dict__.setdefault("segment", None)
            instance.__dict__.setdefault("slices", None)
            instance.__dict__.setdefault("started_from", None)
            instance.policy.owner = instance
            state = {
                "shard": state["shard"],
                "name": instance.model_name,
                "feature_version": instance.feature_version,
                "join": state["join"],
                "segments": None,
                "_instance": instance,
            }
        self.__dict__.update(state)

    def bind(self, spec: ModelSpec) -> None:
        """Serve this run's model settings (the spec) after a resume."""
        self.spec = spec
        if self.segments is not None:
            self.segments.spec = spec

    def _warm_start(self, derived: frozenset[str]) -> Start | None:
        """The snapshot `model.warm_start` names, as the unsegmented instance's start."""
        ref, spec = self.spec.config.warm_start, self.spec
        if not ref:
            return None
        store = ModelStore(spec.config.store)
        info = store.resolve(ref, spec.name, self.shard, spec.definition.version)
        return stored_start(store, info, derived)

    @property
    def instance(self) -> ModelInstance:
        """The one instance of an unsegmented model."""
        if self._instance is None:
            raise AttributeError(f"model {self.name!r} has one instance per segment")
        return self._instance

    def instances(self) -> Iterator[ModelInstance]:
        """Every live instance: the one, or each live segment's."""
        if self._instance is not None:
            yield self._instance
        elif self.segments is not None:
            yield from self.segments.live.values()

    @property
    def seen(self) -> int:
        return sum(i.seen for i in self.instances())

    @property
    def labelled(self) -> int:
        return sum(i.labelled for i in self.instances())

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
                out.append(item_dead_letter(item, exc))
        return out

    def _handle(
        self, f: Featured | ArrivedLabel, now: float, stats: ShardStats, out: list[Record]
    ) -> None:
        join = self.join
        if isinstance(f, ArrivedLabel):
            label = f.label
            waiting = join.label(label)
            if waiting is not None:
                stats.labelled += 1
                out.extend(self._learn(waiting, label.label, "labels"))
            return
        event = f.event
        spec = self.spec
        x = f.x if spec.inputs is None else spec.inputs(f.x)
        instance = self._instance
        if instance is None:
            assert self.segments is not None
            instance = self.segments.get(spec.segment_of(event.features))
        label = spec.inline_label(event)
        served = instance.serve(f, x, label, now, stats, out)
        if label is not None:
            join.observe(event.ts)  # its time ages the labels waiting for other events
            stats.labelled += 1
            out.extend(self._learn(served, label, "events"))
            return
        early = join.served(served)
        if early is not None:
            stats.labelled += 1
            out.extend(self._learn(served, early.label, "labels"))

    def _learn(self, served: Served, y: Any, source: str) -> list[Record]:
        """A joined label: its instance (its segment's, restored if evicted) learns it."""
        if self._instance is not None:
            return self._instance.learn(served, y, source)
        assert self.segments is not None
        return self.segments.learn(served, y, source)
