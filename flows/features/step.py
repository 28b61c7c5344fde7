"""The feature step: the windows of one feature partition's entities, as bytewax state.

Snapshots are pickled bytes, so they are immutable as bytewax requires and cost
one pickle per changed key. Emits each event with its served features, or a dead
letter when the feature function fails on it."""

from __future__ import annotations

import logging
import pickle
import time
from datetime import UTC, datetime
from typing import TypeGuard

from bytewax.operators import StatefulBatchLogic

from driftline.flows.features.derive import DeriveError
from driftline.flows.features.feature_set import EntityWindows, Featured, FeatureSet
from driftline.flows.outputs import telemetry
from driftline.flows.parse.events import Event, to_json
from driftline.flows.records import DeadLetter, dead_letter

log = logging.getLogger("driftline")


#: The values of one feature partition in a batch: `[(seq, ingest, Event), ...]` groups.
EventGroups = list[tuple[int, float, Event]]
#: What the feature step emits, keyed by its partition.
FeatureOutput = Featured | DeadLetter


class FeatureLogic(StatefulBatchLogic[EventGroups, FeatureOutput, bytes | None]):
    """State of one feature partition: the windows of its entities.

    Emits events with their served features, and a dead letter (stage
    ``features``, reason ``derive``, counted here) for each event the feature
    function fails on; the job goes on. Entities idle for `idle_ttl`
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

    def on_batch(self, values: list[EventGroups]) -> tuple[list[FeatureOutput], bool]:
        fs, entities = self.features, self.entities
        featurize, new_state = fs.featurize, fs.new_state
        now = time.time()
        if not fs.field_check.done:
            _check_window_fields(fs, values)
        out: list[FeatureOutput] = []
        dead: list[DeadLetter] = []
        for group in values:
            for seq, ingest, e in group:
                state = entities.get(e.key)
                if state is None:
                    state = entities[e.key] = new_state()
                state.seen = now
                try:
                    out.append(featurize(state, e, ingest, seq))
                except DeriveError as exc:
                    dead.append(
                        dead_letter(to_json(e), str(exc), "features", "derive", "events", True)
                    )
        if dead:
            telemetry.count_dead_letters(dead)
            out.extend(dead)
        return out, self.RETAIN

    def notify_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.next_sweep, UTC)

    def on_notify(self) -> tuple[list[FeatureOutput], bool]:
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


def is_featured(item: tuple[str, FeatureOutput]) -> TypeGuard[tuple[str, Featured]]:
    """Routes the feature step's output: served events on to scoring, dead letters out."""
    return item[1].__class__ is Featured


def unkeyed(item: tuple[str, FeatureOutput]) -> DeadLetter:
    """A dead letter of the feature step without its partition key, as the outputs take it.

    Typed as any output: bytewax's `branch` does not narrow its false side.
    """
    letter = item[1]
    assert isinstance(letter, DeadLetter), "only dead letters leave the features step this way"
    return letter


def _check_window_fields(fs: FeatureSet, values: list[EventGroups]) -> None:
    missing = fs.field_check.observe([e.features for group in values for _, _, e in group])
    for i, w in enumerate(fs.config.windows):
        if w.field is not None and (w.field, w.is_text) in missing:
            kind = "as text" if w.is_text else "as a number"
            telemetry.WINDOW_FIELD_MISSING.labels(w.field).set(1)
            log.warning(
                f"window field never seen {kind}: its window reads zeros",
                extra={
                    "setting": f"features.windows[{i}].field",
                    "field": w.field,
                    "events": fs.field_check.checked,
                },
            )
