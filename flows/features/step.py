"""The feature step: the windows of one feature partition's entities, as bytewax state.

Snapshots are pickled bytes, so they are immutable as bytewax requires and cost
one pickle per changed key."""

from __future__ import annotations

import logging
import pickle
import time
from datetime import UTC, datetime

from bytewax.operators import StatefulBatchLogic

from driftline.flows.features.feature_set import EntityWindows, Featured, FeatureSet
from driftline.flows.outputs import telemetry
from driftline.flows.parse.events import Event

log = logging.getLogger("driftline")


#: The values of one feature partition in a batch: `[(seq, ingest, Event), ...]` groups.
EventGroups = list[tuple[int, float, Event]]


class FeatureLogic(StatefulBatchLogic[EventGroups, Featured, bytes | None]):
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

    def on_batch(self, values: list[EventGroups]) -> tuple[list[Featured], bool]:
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


def _check_window_fields(fs: FeatureSet, values: list[EventGroups]) -> None:
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
