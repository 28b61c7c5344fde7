"""Per-entity windowed features in event time, and the feature vector a model sees.

Windows are :class:`driftline.flows.features.windows.RollingMoments` (River's TimeRolling + Var
semantics at O(1) per event), giving count, mean, std and sum. An event's
features never include the event itself: they describe the entity's events in
each window as it stands when the event arrives (see
:meth:`EntityWindows.observe`). An event older than the entity's newest event
minus ``allowed_lateness`` is *late*: it is scored with the current features but
never added to a window (a late event cannot corrupt one). Events that are out
of order but within the allowed lateness are inserted in event-time order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from driftline.flows.config import FeaturesConfig, WindowSpec
from driftline.flows.features.windows import RollingMoments
from driftline.flows.parse.events import Event

VECTORIZER_VERSION = 1  # bump when `vectorize` changes meaning
FIELD_CHECK_EVENTS = 1000  # events that must show a window's field before it is reported


def feature_set_version(config: FeaturesConfig) -> str:
    """A short stable hash of the feature definitions, stamped on every prediction."""
    blob = orjson.dumps(
        {"v": VECTORIZER_VERSION, "features": config.model_dump(mode="json")},
        option=orjson.OPT_SORT_KEYS,
    )
    return "fs-" + hashlib.sha256(blob).hexdigest()[:10]


def _period_label(period: timedelta) -> str:
    secs = int(period.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


@dataclass(frozen=True, slots=True)
class _Window:
    field: str | None
    period: timedelta
    names: tuple[tuple[str, str], ...]  # (stat, feature name)


def _compile(spec: WindowSpec) -> _Window:
    base = spec.field or "events"
    label = _period_label(spec.period)
    return _Window(
        spec.field,
        spec.period,
        tuple((s, f"{base}_{s}_{label}") for s in spec.stats),
    )


def vectorize(features: Mapping[str, object]) -> dict[str, float]:
    """Raw event features to model input: numbers kept, bools 0/1, text one-hot."""
    x: dict[str, float] = {}
    for name, value in features.items():
        if value.__class__ is float or value.__class__ is int:
            x[name] = value
        elif value is True or value is False:
            x[name] = 1.0 if value else 0.0
        else:
            x[f"{name}={value}"] = 1.0
    return x


class EntityWindows:
    """All windows of one entity (the state of one key in the feature step)."""

    __slots__ = ("_rolling", "_windows", "newest_ts", "seen")

    def __init__(self, windows: tuple[_Window, ...]) -> None:
        self._windows = windows
        self._rolling = [RollingMoments(w.period.total_seconds()) for w in windows]
        self.newest_ts: datetime | None = None
        self.seen = 0.0  # wall-clock seconds of the entity's last event, for idle expiry

    def observe(self, x: dict[str, float], event: Event, late: bool, with_gap: bool) -> None:
        """Write the window features of `event` into `x`, then add it unless `late`.

        Each window first moves its end to the event's time (if newest), is read,
        and only then takes the event: features never include the event itself.
        A late event is read against the windows as they are and never added.
        """
        if with_gap:
            newest = self.newest_ts
            ts = event.ts if newest is None or event.ts >= newest else newest
            x["secs_since_last"] = (ts - newest).total_seconds() if newest is not None else -1.0
        t = event.ts.timestamp()
        feats = event.features
        for w, rolling in zip(self._windows, self._rolling, strict=True):
            if late:
                _read(rolling, w, x)
                continue
            value = 0.0 if w.field is None else feats.get(w.field)
            rolling.expire(t)
            _read(rolling, w, x)
            if value.__class__ is float or value.__class__ is int:
                rolling.add(t, float(value))
        if not late and (self.newest_ts is None or event.ts > self.newest_ts):
            self.newest_ts = event.ts


def _read(rolling: RollingMoments, w: _Window, x: dict[str, float]) -> None:
    n = rolling.n
    for stat, name in w.names:
        if stat == "count":
            x[name] = float(n)
        elif stat == "mean":
            x[name] = rolling.mean if n else 0.0
        elif stat == "std":
            x[name] = rolling.std()
        else:  # sum
            x[name] = rolling.mean * n if n else 0.0


@dataclass(slots=True)
class Featured:
    """An event with the exact feature vector it is scored (and later learned) with."""

    event: Event
    x: dict[str, float]
    late: bool
    out_of_order: bool
    ingest: float  # wall-clock seconds when the event entered the flow
    seq: int = 0  # arrival order, restored in the scoring step
    shard: str = ""  # model key, set when routed to the scoring step


class WindowFieldCheck:
    """Whether each window's field shows up as a number in the first events.

    A window over a field the events never carry (a typo, or a default written
    for other data) reads zeros forever without a word; this watches the first
    `events` events of a process and reports each such field once. Only those
    events pay for it.
    """

    def __init__(self, fields: tuple[str, ...], events: int) -> None:
        self.numeric = dict.fromkeys(fields, 0)
        self.events = events
        self.checked = 0
        self.done = not fields

    def observe(self, features: Sequence[Mapping[str, object]]) -> list[str]:
        """Count a batch's features; the fields never seen as numbers once the check ends."""
        numeric = self.numeric
        for feats in features:
            for name in numeric:
                value = feats.get(name)
                if value.__class__ is float or value.__class__ is int:
                    numeric[name] += 1
        self.checked += len(features)
        if self.checked < self.events:
            return []
        self.done = True
        return [name for name, n in numeric.items() if n == 0]


class FeatureSet:
    """The feature definitions: builds per-entity state and feature vectors."""

    def __init__(self, config: FeaturesConfig) -> None:
        self.config = config
        self.version = feature_set_version(config)
        self.windows = tuple(_compile(w) for w in config.windows)
        self.allowed_lateness = config.allowed_lateness
        self.time_since_last = config.time_since_last
        longest = max((w.period for w in self.windows), default=timedelta(0))
        self.idle_ttl = config.idle_ttl or longest + self.allowed_lateness
        fields = tuple(dict.fromkeys(w.field for w in self.windows if w.field is not None))
        self.field_check = WindowFieldCheck(fields, FIELD_CHECK_EVENTS)

    def new_state(self) -> EntityWindows:
        return EntityWindows(self.windows)

    def featurize(
        self, state: EntityWindows, event: Event, ingest: float, seq: int = 0
    ) -> Featured:
        """Features of `event` from its entity's past, then add it to the windows."""
        x = vectorize(event.features)
        newest = state.newest_ts
        ts = event.ts
        late = newest is not None and ts < newest - self.allowed_lateness
        out_of_order = newest is not None and ts < newest and not late
        state.observe(x, event, late, self.time_since_last)
        return Featured(event, x, late, out_of_order, ingest, seq)
