"""The scoring steps: route featured events to their model shard, and the shard as
bytewax state (predict, learn, detect drift)."""

from __future__ import annotations

import pickle

from bytewax.operators import StatefulBatchLogic

from driftline.flows.config import Settings
from driftline.flows.features.feature_set import Featured
from driftline.flows.outputs import telemetry
from driftline.flows.records import Record
from driftline.flows.routing import grouped, shard_of
from driftline.flows.scoring.labels import ArrivedLabel
from driftline.flows.scoring.shard import ModelShard, ShardStats
from driftline.flows.scoring.store import worth_snapshotting

#: A shard's items in a batch: featured events, labels, or both.
ToScore = list[Featured | ArrivedLabel]


def _arrival(item: Featured | ArrivedLabel) -> int:
    return item.seq


class KeyByShard:
    """`flat_map_batch` step: `(partition, Featured)` items -> `(shard, [Featured, ...])`."""

    def __init__(self, shards: list[str]) -> None:
        self.shards = shards

    def __call__(self, items: list[tuple[str, Featured]]) -> list[tuple[str, ToScore]]:
        shards = self.shards
        for _, f in items:
            f.shard = shard_of(f.event.id, shards)
        return grouped((f.shard, f) for _, f in items)


class ScoreLogic(StatefulBatchLogic[ToScore, Record, bytes | None]):
    """State of one model shard: predict, learn, detect drift."""

    def __init__(
        self, settings: Settings, feature_version: str, resume: bytes | None, recovering: bool
    ) -> None:
        self.settings = settings
        self.recovering = recovering
        self.feature_version = feature_version
        self.shard: ModelShard | None = pickle.loads(resume) if resume is not None else None
        self._labels = telemetry.ReportedLabels()  # not kept in a snapshot, as before

    def on_batch(self, groups: list[ToScore]) -> tuple[list[Record], bool]:
        values = groups[0] if len(groups) == 1 else [v for g in groups for v in g]
        if self.shard is None:  # bytewax does not pass the key to the builder
            self.shard = ModelShard(values[0].shard, self.settings, self.feature_version)
        if len(values) > 1:  # the feature step grouped the batch by entity
            values.sort(key=_arrival)
        stats = ShardStats()
        out = self.shard.process(values, stats)
        telemetry.report_shard_batch(self.shard, stats, self._labels)
        return out, self.RETAIN

    def on_eof(self) -> tuple[list[Record], bool]:
        """Input ended: snapshot the model to the store when asked to (replays).

        Not when the shard learned from no label (say every label was refused):
        the store would list an untrained model as if it were trained.
        """
        s, settings = self.shard, self.settings
        if (
            s is not None
            and settings.model.snapshot_on_end
            and worth_snapshotting(s.shard, s.labelled, s.seen, settings)
        ):
            s.policy.snapshot("end of input")
        return [], self.RETAIN

    def snapshot(self) -> bytes | None:
        if not self.recovering:
            return None
        blob = pickle.dumps(self.shard, protocol=pickle.HIGHEST_PROTOCOL)
        telemetry.SNAPSHOT_WRITTEN.labels("score").inc(len(blob))
        if self.shard is not None:
            telemetry.SNAPSHOT_BYTES.labels(self.shard.shard).set(len(blob))
        return blob
