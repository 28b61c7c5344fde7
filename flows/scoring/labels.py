"""Joining delayed labels to the predictions they belong to.

When an event is scored without its label, what is needed to learn from it later
(the feature vector *as served*, the predictions and the model version) is kept
by event id. When the label arrives it is joined to that, so the model learns
from exactly what it saw when it predicted: no train/serve skew, no leakage of
features computed after the fact. Everything kept is bounded in event time (TTL)
and in size. Each label learned ends in an outcome record
(:class:`~driftline.flows.records.Classified` or :class:`~driftline.flows.records.Regressed`)
for the run monitor.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

from driftline.flows.parse.events import Label
from driftline.flows.scoring.challenger import NOT_PREDICTED


@dataclass(slots=True)
class ArrivedLabel:
    """A parsed label on its way to the shards of its target's models."""

    label: Label
    seq: int
    ingest: float


@dataclass(slots=True)
class Served:
    """What a prediction was made from: enough to learn when the label comes."""

    event_id: str
    key: str
    ts: datetime
    x: dict[str, float]
    y_pred: Any
    b_pred: Any
    model_version: int
    c_pred: Any = NOT_PREDICTED  # the challenger's prediction, when one was training
    segment: str | None = None  # the segment whose model served it (model.segment_by)
    slices: tuple[str, ...] | None = None  # its value of each model.slices field
    # its data window (drift.estimate) and confidence bin there (-1: none); read with
    # getattr: a Served pickled before these fields has neither
    window: int = 0
    confidence_bin: int = -1


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TS = Served.__slots__.index("ts")
_NAMES_BUT_TS = tuple(name for name in Served.__slots__ if name != "ts")
_FIELDS_BUT_TS = attrgetter(*_NAMES_BUT_TS)
#: what a Served unpickled from before a field reads for it (no slot set)
_DEFAULTS = {f.name: f.default for f in fields(Served) if f.default is not MISSING}


def _fields_but_ts(served: Served) -> tuple[Any, ...]:
    try:
        return _FIELDS_BUT_TS(served)
    except AttributeError:  # a Served pickled before some of its fields
        return tuple(getattr(served, name, _DEFAULTS.get(name)) for name in _NAMES_BUT_TS)


def _microseconds(ts: datetime) -> int:
    """A UTC event time as whole microseconds since the epoch (exact, unlike float seconds)."""
    return (ts - _EPOCH) // _MICROSECOND


def _unpacked(fields: tuple[Any, ...], microseconds: int) -> Served:
    values = list(fields)
    values.insert(_TS, _EPOCH + timedelta(microseconds=microseconds))
    return Served(*values)


def _bounded_add(store: OrderedDict[str, Any], key: str, value: Any, limit: int) -> bool:
    """Add; drop the oldest entry when over `limit`. True when something was dropped."""
    store[key] = value
    if len(store) > limit:
        store.popitem(last=False)
        return True
    return False


def _drop_older(store: OrderedDict[str, Any], horizon: datetime) -> list[str]:
    """Remove the entries (oldest first, each with a `.ts`) older than `horizon`."""
    dropped = []
    while store:
        key, value = next(iter(store.items()))
        if value.ts >= horizon:
            break
        store.popitem(last=False)
        dropped.append(key)
    return dropped


class LabelJoin:
    """Served predictions waiting for labels, and labels waiting for their events.

    Outcomes counted in :attr:`outcomes`:
    ``joined`` (label met its prediction), ``early`` (label came before its event;
    joined when the event comes), ``duplicate`` (a second label for an id),
    ``expired`` (label after its prediction's TTL), ``unknown`` (a label whose
    event did not come within the TTL), ``unlabelled`` (a prediction whose label
    never came), ``evicted`` (a prediction dropped by the size limit).

    The clock that ages both is the latest event time this join has heard of: from
    the predictions it keeps, from every label (joined or not), and from events
    scored with their label inline (:meth:`observe`), so a label whose event never
    comes turns ``unknown`` one TTL later even when no event waits for a label.
    """

    def __init__(self, ttl: timedelta, max_pending: int, memory: int = 100_000) -> None:
        self.ttl = ttl
        self.max_pending = max_pending
        self.memory = memory
        self.pending: OrderedDict[str, Served] = OrderedDict()
        self.early: OrderedDict[str, Label] = OrderedDict()
        self.joined_ids: OrderedDict[str, None] = OrderedDict()
        self.expired_ids: OrderedDict[str, None] = OrderedDict()
        self.watermark: datetime | None = None
        self.outcomes: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.pending) + len(self.early)

    def __getstate__(self) -> dict[str, Any]:
        """The waiting predictions as plain tuples and their times as integers, the
        remembered ids as lists.

        The whole join is pickled at every snapshot. Pickled as objects, the
        18,600 predictions waiting in the soak (600 events/s, labels 30 s late)
        took 1.25 s a snapshot, a quarter of the job's CPU at its 5 s interval
        (py-spy); a tuple with its time as an int pickles 20 times faster, and an
        OrderedDict of 100,000 ids 2.7 times slower than the list of its keys.
        """
        return {
            "format": 2,
            "ttl": self.ttl,
            "max_pending": self.max_pending,
            "memory": self.memory,
            "pending": [_fields_but_ts(s) for s in self.pending.values()],
            "pending_ts": [_microseconds(s.ts) for s in self.pending.values()],
            "early": list(self.early.values()),
            "joined_ids": list(self.joined_ids),
            "expired_ids": list(self.expired_ids),
            "watermark": self.watermark,
            "outcomes": dict(self.outcomes),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("format") != 2:  # a snapshot of the release before: its attributes
            self.__dict__.update(state)
            return
        self.ttl, self.max_pending = state["ttl"], state["max_pending"]
        self.memory = state["memory"]
        pending = map(_unpacked, state["pending"], state["pending_ts"])
        self.pending = OrderedDict((s.event_id, s) for s in pending)
        self.early = OrderedDict((label.id, label) for label in state["early"])
        self.joined_ids = OrderedDict.fromkeys(state["joined_ids"])
        self.expired_ids = OrderedDict.fromkeys(state["expired_ids"])
        self.watermark = state["watermark"]
        self.outcomes = Counter(state["outcomes"])

    def observe(self, ts: datetime) -> None:
        """Event time reached `ts` elsewhere in the shard (an event with its label inline).

        Such an event never waits here, but its time still ages what does:
        without it, labels whose events never come would wait forever.
        """
        self._advance(ts)

    def _advance(self, ts: datetime) -> datetime:
        """Move the event-time clock to `ts` when newer; returns the TTL horizon."""
        if self.watermark is None or ts > self.watermark:
            self.watermark = ts
            self._expire()
        return self.watermark - self.ttl

    def _expire(self) -> None:
        assert self.watermark is not None
        horizon = self.watermark - self.ttl
        for event_id in _drop_older(self.pending, horizon):
            self.outcomes["unlabelled"] += 1
            _bounded_add(self.expired_ids, event_id, None, self.memory)
        unknown = _drop_older(self.early, horizon)
        if unknown:
            self.outcomes["unknown"] += len(unknown)

    def served(self, served: Served) -> Label | None:
        """Keep a prediction; returns its label at once if that came first."""
        horizon = self._advance(served.ts)
        label = self.early.pop(served.event_id, None)
        if label is not None:
            self._joined(served.event_id)
            return label
        if served.ts < horizon:
            self.outcomes["unlabelled"] += 1
            return None
        if _bounded_add(self.pending, served.event_id, served, self.max_pending):
            self.outcomes["evicted"] += 1
        return None

    def label(self, label: Label) -> Served | None:
        """A label arrived: returns the prediction it completes, or None (counted).

        Its time moves the clock first, so a label that is already older than
        the TTL and meets nothing is ``unknown`` at once rather than kept.
        """
        horizon = self._advance(label.ts)
        served = self.pending.pop(label.id, None)
        if served is not None:
            self._joined(label.id)
            return served
        if label.id in self.joined_ids or label.id in self.early:
            self.outcomes["duplicate"] += 1
        elif label.id in self.expired_ids:
            self.outcomes["expired"] += 1
        elif label.ts < horizon:
            self.outcomes["unknown"] += 1
        else:
            if _bounded_add(self.early, label.id, label, self.max_pending):
                self.outcomes["unknown"] += 1
            self.outcomes["early"] += 1
        return None

    def _joined(self, event_id: str) -> None:
        self.outcomes["joined"] += 1
        _bounded_add(self.joined_ids, event_id, None, self.memory)
