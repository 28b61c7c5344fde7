"""The scoring steps: route featured events and labels to the shards of the models
that score or learn them, and the shard as bytewax state (predict, learn, detect drift)."""

from __future__ import annotations

import pickle
from typing import NamedTuple

from bytewax.operators import StatefulBatchLogic

from driftline.flows.config import Settings
from driftline.flows.config.mapping import DEFAULT_TARGET
from driftline.flows.features.feature_set import Featured
from driftline.flows.outputs import telemetry
from driftline.flows.records import Record
from driftline.flows.routing import grouped
from driftline.flows.scoring.labels import ArrivedLabel
from driftline.flows.scoring.shard import ModelShard, ShardStats
from driftline.flows.scoring.spec import ScoringPlan
from driftline.flows.scoring.store import worth_snapshotting


class ToScore(NamedTuple):
    """A shard's items in a batch (featured events, labels, or both), with its key:
    bytewax does not pass the key to a stateful step's builder, and a shard is
    built for the model its key belongs to."""

    key: str
    items: list[Featured | ArrivedLabel]


def _arrival(item: Featured | ArrivedLabel) -> int:
    return item.seq


class KeyByModel:
    """`flat_map_batch` step: `(partition, Featured)` items -> `(key, ToScore)` for the
    shard of every model of the job (each scores every event)."""

    def __init__(self, plan: ScoringPlan) -> None:
        self.specs = plan.specs

    def __call__(self, items: list[tuple[str, Featured]]) -> list[tuple[str, ToScore]]:
        specs = self.specs
        if len(specs) == 1:
            key_of = specs[0].key_of
            pairs = grouped((key_of(f.event.id), f) for _, f in items)
        else:
            pairs = grouped((s.key_of(f.event.id), f) for _, f in items for s in specs)
        return [(key, ToScore(key, group)) for key, group in pairs]


class KeyLabels:
    """`flat_map_batch` step: labels -> `(key, ToScore)` for the shard of every model of
    the label's target (the parse step dead-letters a target no model learns)."""

    def __init__(self, plan: ScoringPlan) -> None:
        self.plan = plan

    def __call__(self, items: list[ArrivedLabel]) -> list[tuple[str, ToScore]]:
        keyed = self.plan.keyed
        pairs = grouped(
            (key, a)
            for a in items
            for key, _ in keyed(a.label.id, a.label.target or DEFAULT_TARGET)
        )
        return [(key, ToScore(key, group)) for key, group in pairs]


class ScoreLogic(StatefulBatchLogic[ToScore, Record, bytes | None]):
    """State of one model shard: predict, learn, detect drift."""

    def __init__(
        self,
        settings: Settings,
        plan: ScoringPlan,
        feature_version: str,
        resume: bytes | None,
        recovering: bool,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.primary = plan.specs[0].name  # its shards count the job's scored events
        self.recovering = recovering
        self.feature_version = feature_version
        self.shard: ModelShard | None = pickle.loads(resume) if resume is not None else None
        self._labels = telemetry.ReportedLabels()  # not kept in a snapshot, as before
        self._bound = resume is None

    def on_batch(self, groups: list[ToScore]) -> tuple[list[Record], bool]:
        values = groups[0].items if len(groups) == 1 else [v for g in groups for v in g.items]
        shard = self.shard
        if shard is None:
            key = groups[0].key
            spec = self.plan.by_key[key]
            shard = self.shard = ModelShard(key, self.settings, self.feature_version, spec)
        elif not self._bound:  # resumed: this run's settings of its model
            shard.bind(self.plan.by_key[groups[0].key])
            self._bound = True
        if len(values) > 1:  # the feature step grouped the batch by entity
            values.sort(key=_arrival)
        stats = ShardStats()
        out = shard.process(values, stats)
        telemetry.report_shard_batch(shard, stats, self._labels, shard.name == self.primary)
        return out, self.RETAIN

    def on_eof(self) -> tuple[list[Record], bool]:
        """Input ended: snapshot the models to the store when asked to (replays).

        Not an instance that learned from no label (say every label was refused):
        the store would list an untrained model as if it were trained.
        """
        s = self.shard
        if s is not None and s.spec.config.snapshot_on_end:
            label_type = s.spec.config.label_type
            for instance in s.instances():
                if worth_snapshotting(s.shard, instance.labelled, instance.seen, label_type):
                    instance.policy.snapshot("end of input")
        return [], self.RETAIN

    def snapshot(self) -> bytes | None:
        if not self.recovering:
            return None
        blob = pickle.dumps(self.shard, protocol=pickle.HIGHEST_PROTOCOL)
        telemetry.SNAPSHOT_WRITTEN.labels("score").inc(len(blob))
        if self.shard is not None:
            telemetry.SNAPSHOT_BYTES.labels(self.shard.shard).set(len(blob))
        return blob
