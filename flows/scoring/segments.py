"""Segment models: one model instance per value of an event field (`model.segment_by`).

Countries, merchants or devices often behave differently enough that one model
per value beats one model for all. Each segment's instance has its own metrics,
drift monitors, challenger and snapshots; a new segment starts from a fresh
model, or (`segment_start = "parent"`) from a copy of a parent model that learns
from every segment's labels, so a small segment does not start from nothing.

The live segments of a shard are bounded by `model.max_segments`: beyond it the
least recently seen one is written to the model store and evicted (counted in
``driftline_segments_total{event="evicted"}``); when its segment comes back, or a
label for one of its predictions arrives, it is restored from the snapshot it was
evicted with (kept by file in the shard's state, so a resumed job restores what
the shard had at its recovery snapshot, not a newer one the killed run wrote).
What only the live instance held (rolling metrics, drift monitors, a running
challenger) starts over on a restore; the model and its version do not.
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from typing import Any

from driftline.flows.outputs import telemetry
from driftline.flows.records import Record
from driftline.flows.scoring.instance import ModelInstance
from driftline.flows.scoring.labels import Served
from driftline.flows.scoring.policy import Start, stored_start
from driftline.flows.scoring.spec import NO_SEGMENT, ModelSpec
from driftline.flows.scoring.store import InputNames, ModelStore, SnapshotInfo, UntrustedSnapshot

log = logging.getLogger(__name__)


class Segments:
    """The live segment instances of one model shard, least recently seen first."""

    def __init__(
        self, spec: ModelSpec, shard: str, feature_version: str, derived: frozenset[str]
    ) -> None:
        cfg = spec.config
        self.spec = spec
        self.shard = shard
        self.feature_version = feature_version
        self.derived = derived
        self.limit = cfg.max_segments
        self.live: OrderedDict[str, ModelInstance] = OrderedDict()
        # evicted segments and the snapshot each was written to
        self.stored: dict[str, SnapshotInfo] = {}
        self.evicted = 0
        self.restored = 0
        self.parent: Any = (
            spec.definition.build(cfg.seed) if cfg.segment_start == "parent" else None
        )

    def __len__(self) -> int:
        return len(self.live)

    def get(self, segment: str | None) -> ModelInstance:
        """The instance of `segment`: live, restored from the store, or new."""
        name = NO_SEGMENT if segment is None else segment
        instance = self.live.get(name)
        if instance is not None:
            self.live.move_to_end(name)
            return instance
        instance = ModelInstance(
            self.spec, self.shard, self.feature_version, self.derived, name, self._start(name)
        )
        if len(self.live) >= self.limit:
            self._evict()
        self.live[name] = instance
        return instance

    def learn(self, served: Served, y: Any, source: str) -> list[Record]:
        """A joined label: the segment's instance learns it (and the parent, when kept)."""
        instance = self.get(served.segment)
        before = instance.labelled
        records = instance.learn(served, y, source)
        if self.parent is not None and instance.labelled > before:  # a label it could learn
            self.parent.learn_one(served.x, instance.check_label(y)[0])
        return records

    def _start(self, segment: str) -> Start | None:
        """What a segment's instance starts from (see the module's docstring)."""
        cfg, spec = self.spec.config, self.spec
        store = ModelStore(cfg.store)
        info = self.stored.pop(segment, None)
        if info is not None:
            try:
                start = stored_start(store, info, self.derived)
            except (OSError, UntrustedSnapshot) as exc:  # removed or changed by hand
                log.warning(
                    "an evicted segment's snapshot cannot be loaded; the segment starts fresh",
                    extra={"model": spec.name, "segment": segment, "error": str(exc)},
                )
            else:
                self.restored += 1
                telemetry.SEGMENTS.labels(spec.name, "restored").inc()
                return start
        if cfg.warm_start:  # each segment from its own latest snapshot, or the named one
            if cfg.warm_start == "latest":
                info = store.latest(
                    spec.name, self.shard, spec.definition.version, segment
                ) or store.latest(spec.name, None, spec.definition.version, segment)
            else:
                info = store.resolve(cfg.warm_start, spec.name)
            if info is not None:
                return stored_start(store, info, self.derived)
        telemetry.SEGMENTS.labels(spec.name, "created").inc()
        if self.parent is not None:
            return Start(copy.deepcopy(self.parent), 1, InputNames(self.derived))
        return None

    def _evict(self) -> None:
        """Write the least recently seen segment's model to the store and let it go."""
        segment, instance = self.live.popitem(last=False)
        self.evicted += 1
        telemetry.SEGMENTS.labels(self.spec.name, "evicted").inc()
        telemetry.forget_instance(instance)
        if instance.labelled == 0 and instance.started_from is not None:
            self.stored[segment] = instance.started_from  # nothing new: the same snapshot
            return
        if instance.labelled == 0:  # learned nothing at all: nothing to keep
            return
        info = instance.policy.snapshot("evicted")
        if info is not None:
            self.stored[segment] = info
