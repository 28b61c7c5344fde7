"""The batch-wise step functions and stateful logics the dataflow is made of.

Each step works on a whole batch of items, so the cost of crossing a bytewax
operator is paid per batch, not per event. Snapshots are pickled bytes, so
they are immutable as bytewax requires and cost one pickle per changed key.
"""

from __future__ import annotations

import itertools
import logging
import pickle
import time
from collections import Counter as Tally
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bytewax.operators import StatefulBatchLogic

from flows import telemetry
from flows.config import Settings
from flows.events import DeadLetter, Event, LabelBytes, Parser
from flows.features import EntityWindows, Featured, FeatureSet
from flows.labels import ArrivedLabel
from flows.model_store import worth_snapshotting
from flows.scoring import ModelShard, ShardStats
from flows.sharding import shard_of

log = logging.getLogger("driftline")


class ParseInputs:
    """`flat_map_batch` step: raw messages to routed records.

    Events become `(partition, [(seq, ingest, Event), ...])`: one item per
    feature partition per batch, so bytewax moves (and, between processes,
    pickles) a few lists instead of one item per event. Labels (raw messages of type
    :class:`LabelBytes`) become :class:`ArrivedLabel` for their model shard, and
    anything unusable a :class:`DeadLetter`. `seq` numbers arrivals so the
    scoring step can restore the order the keyed feature step grouped by entity.
    """

    def __init__(
        self, events: Parser, labels: Parser, shards: list[str], partitions: list[str]
    ) -> None:
        self.events = events
        self.labels = labels
        self.shards = shards
        self.partitions = partitions
        self._seq = itertools.count()

    def __call__(self, raws: list[Any]) -> list[Any]:
        ingest = time.time()
        event_raws, label_raws, dead = [], [], []
        for r in raws:
            cls = r.__class__
            if cls is LabelBytes:
                label_raws.append(bytes(r))  # orjson wants exactly bytes
            elif cls is DeadLetter:  # the source could not read it
                dead.append(r)
            else:
                event_raws.append(r)
        seq = self._seq
        out: list[Any] = []
        if event_raws:
            parsed = self.events.parse_batch(event_raws)
            partitions = self.partitions
            out.extend(
                _grouped((shard_of(e.key, partitions), (next(seq), ingest, e)) for e in parsed.good)
            )
            dead.extend(parsed.dead)
        if label_raws:
            parsed = self.labels.parse_batch(label_raws)
            shards = self.shards
            out.extend(
                ArrivedLabel(lb, next(seq), ingest, shard_of(lb.id, shards)) for lb in parsed.good
            )
            dead.extend(parsed.dead)
        telemetry.count_dead_letters(dead)
        out.extend(dead)
        return out


def is_keyed(item: Any) -> bool:
    """Routes parsed items: event groups (keyed by partition) go to the feature step."""
    return item.__class__ is tuple


def is_label(item: Any) -> bool:
    """Routes the rest: labels go to their model shard, dead letters to the output."""
    return item.__class__ is ArrivedLabel


def _grouped(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, list[Any]]]:
    """`(key, value)` pairs as one `(key, [values])` item per key, order kept.

    What crosses to a keyed step is then one item per key per batch, not one per
    event (bytewax pickles every item it moves between processes).
    """
    groups: dict[str, list[Any]] = {}
    for key, value in pairs:
        group = groups.get(key)
        if group is None:
            group = groups[key] = []
        group.append(value)
    return list(groups.items())


def key_labels(items: list[ArrivedLabel]) -> list[tuple[str, list[ArrivedLabel]]]:
    """`flat_map_batch` step: labels grouped by their model shard."""
    return _grouped((a.shard, a) for a in items)


class FeatureLogic(StatefulBatchLogic):
    """State of one feature partition: the windows of its entities.

    Emits events with their served features. Entities idle for `idle_ttl`
    (wall clock) are dropped by a sweep every `sweep_every`. Bytewax asks every
    touched key for a snapshot each epoch even without a recovery store; with
    `recovering` False the pickling is skipped.
    """

    def __init__(self, features: FeatureSet, resume: bytes | None, recovering: bool) -> None:
        self.features = features
        self.recovering = recovering
        loaded = pickle.loads(resume) if resume is not None else None
        self.entities: dict[str, EntityWindows] = loaded if isinstance(loaded, dict) else {}
        ttl = features.idle_ttl.total_seconds()
        self.ttl = ttl
        self.sweep_every = min(max(ttl / 4, 1.0), 60.0)
        self.next_sweep = time.time() + self.sweep_every

    def on_batch(self, values: list[list[tuple[int, float, Event]]]) -> tuple[list[Featured], bool]:
        fs, entities = self.features, self.entities
        featurize, new_state = fs.featurize, fs.new_state
        now = time.time()
        if not fs.field_check.done:
            _check_window_fields(fs, values)
        out = []
        for group in values:
            for seq, ingest, e in group:
                state = entities.get(e.key)
                if state is None:
                    state = entities[e.key] = new_state()
                state.seen = now
                out.append(featurize(state, e, ingest, seq))
        return out, self.RETAIN

    def notify_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.next_sweep, UTC)

    def on_notify(self) -> tuple[list[Featured], bool]:
        """Drop entities idle for `idle_ttl`: their windows are empty by now."""
        now = time.time()
        self.next_sweep = now + self.sweep_every
        cutoff = now - self.ttl
        idle = [key for key, state in self.entities.items() if state.seen < cutoff]
        for key in idle:
            del self.entities[key]
        if idle:
            telemetry.EXPIRED_KEYS.inc(len(idle))
        return [], self.RETAIN if self.entities else self.DISCARD

    def snapshot(self) -> bytes | None:
        if not self.recovering:
            return None
        blob = pickle.dumps(self.entities, protocol=pickle.HIGHEST_PROTOCOL)
        telemetry.SNAPSHOT_WRITTEN.labels("features").inc(len(blob))
        return blob


def _check_window_fields(fs: FeatureSet, values: list[list[tuple[int, float, Event]]]) -> None:
    missing = fs.field_check.observe([e.features for group in values for _, _, e in group])
    for i, w in enumerate(fs.config.windows):
        if w.field in missing:
            telemetry.WINDOW_FIELD_MISSING.labels(w.field).set(1)
            log.warning(
                "window field never seen as a number: its window reads zeros",
                extra={
                    "setting": f"features.windows[{i}].field",
                    "field": w.field,
                    "events": fs.field_check.checked,
                },
            )


def _arrival(item: Featured | ArrivedLabel) -> int:
    return item.seq


class KeyByShard:
    """`flat_map_batch` step: `(partition, Featured)` items -> `(shard, [Featured, ...])`."""

    def __init__(self, shards: list[str]) -> None:
        self.shards = shards

    def __call__(self, items: list[tuple[str, Featured]]) -> list[tuple[str, list[Featured]]]:
        shards = self.shards
        for _, f in items:
            f.shard = shard_of(f.event.id, shards)
        return _grouped((f.shard, f) for _, f in items)


class ScoreLogic(StatefulBatchLogic):
    """State of one model shard: predict, learn, detect drift."""

    def __init__(
        self, settings: Settings, feature_version: str, resume: bytes | None, recovering: bool
    ) -> None:
        self.settings = settings
        self.recovering = recovering
        self.feature_version = feature_version
        self.shard: ModelShard | None = pickle.loads(resume) if resume is not None else None
        self._reported: Tally[str] = Tally()
        self._pending = 0

    def on_batch(self, groups: list[list[Featured | ArrivedLabel]]) -> tuple[list[Any], bool]:
        values = groups[0] if len(groups) == 1 else [v for g in groups for v in g]
        if self.shard is None:  # bytewax does not pass the key to the builder
            self.shard = ModelShard(values[0].shard, self.settings, self.feature_version)
        if len(values) > 1:  # the feature step grouped the batch by entity
            values.sort(key=_arrival)
        stats = ShardStats()
        out = self.shard.process(values, stats)
        self._report(stats)
        return out, self.RETAIN

    def _report(self, stats: ShardStats) -> None:
        s = self.shard
        assert s is not None
        telemetry.EVENTS.labels("scored").inc(stats.scored)
        observe = telemetry.SCORING_LATENCY.observe
        for seconds in stats.latencies:
            observe(seconds)
        if stats.late:
            telemetry.LATE_EVENTS.inc(stats.late)
            telemetry.EVENTS.labels("late").inc(stats.late)
        if stats.out_of_order:
            telemetry.OUT_OF_ORDER.inc(stats.out_of_order)
        if stats.labelled:
            metric = s.metric_name
            model_value, base_value = s.rolling.get(), s.baseline_rolling.get()
            telemetry.MODEL_METRIC.labels(s.model_name, metric, "model").set(model_value)
            telemetry.MODEL_METRIC.labels(s.model_name, metric, "baseline").set(base_value)
            better = s.metric.bigger_is_better
            lift = model_value - base_value if better else base_value - model_value
            telemetry.MODEL_LIFT.labels(s.model_name, metric).set(lift)
        telemetry.MODEL_VERSION.labels(s.model_name, s.shard).set(s.version)
        outcomes = s.join.outcomes
        if outcomes != self._reported:
            for outcome, n in (outcomes - self._reported).items():
                telemetry.LABELS.labels(outcome).inc(n)
            self._reported = Tally(outcomes)
        pending = len(s.join)
        if pending != self._pending:
            telemetry.PENDING_LABELS.inc(pending - self._pending)
            self._pending = pending

    def on_eof(self) -> tuple[list[Any], bool]:
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
            s.save_snapshot("end of input")
        return [], self.RETAIN

    def snapshot(self) -> bytes | None:
        if not self.recovering:
            return None
        blob = pickle.dumps(self.shard, protocol=pickle.HIGHEST_PROTOCOL)
        telemetry.SNAPSHOT_WRITTEN.labels("score").inc(len(blob))
        if self.shard is not None:
            telemetry.SNAPSHOT_BYTES.labels(self.shard.shard).set(len(blob))
        return blob
