"""Per-entity windowed features in event time, and the feature vector a model sees.

Numeric windows are :class:`driftline.flows.features.windows.RollingMoments`
(River's TimeRolling + Var semantics at O(1) per event), giving count, mean,
std and sum, with :class:`~driftline.flows.features.windows.RollingExtreme`
for min and max; text windows are
:class:`~driftline.flows.features.categories.RollingCategories` (count,
distinct, same, top). An event's features never include the event itself:
they describe the entity's events in each window as it stands when the event
arrives (see :meth:`EntityWindows.observe`). An event older than the entity's
newest event minus ``allowed_lateness`` is *late*: it is scored with the
current features but never added to a window (a late event cannot corrupt
one). Events that are out of order but within the allowed lateness are
inserted in event-time order.

A feature function (``features.derive``, see :mod:`driftline.flows.features.derive`)
adds the team's own features from the event and its window features.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from driftline.flows.config import FeaturesConfig, WindowSpec
from driftline.flows.features.categories import RollingCategories
from driftline.flows.features.derive import FeatureFunction
from driftline.flows.features.windows import RollingMoments, RollingNumbers
from driftline.flows.parse.events import Event

VECTORIZER_VERSION = 1  # bump when `vectorize` changes meaning
FIELD_CHECK_EVENTS = 1000  # events that must show a window's field before it is reported


def feature_set_version(config: FeaturesConfig) -> str:
    """A short stable hash of the feature definitions, stamped on every prediction.

    It covers the feature function's identity (``features.derive`` and
    ``features.derive_version``). Settings added after versions were first
    stamped are left out while unset, so a config that does not use them keeps
    its version (and its recovery stores and snapshots).
    """
    features = config.model_dump(mode="json")
    if features["derive"] is None:
        del features["derive"], features["derive_version"]
    for window in features["windows"]:
        if window["top_k"] is None:
            del window["top_k"]
    blob = orjson.dumps(
        {"v": VECTORIZER_VERSION, "features": features}, option=orjson.OPT_SORT_KEYS
    )
    return "fs-" + hashlib.sha256(blob).hexdigest()[:10]


def _period_label(period: timedelta) -> str:
    secs = int(period.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


#: A window's state: what its stats need.
Rolling = RollingMoments | RollingNumbers | RollingCategories
#: Writes a window's features for an event into `x`: (state, window, x, the event's field value).
Reader = Callable[[Any, "_Window", dict[str, float], object], None]

_NUMBERS: frozenset[type] = frozenset({float, int})
_TEXT: frozenset[type] = frozenset({str})


@dataclass(frozen=True, slots=True)
class _Window:
    """One compiled window: its feature names, what it takes, how it is read."""

    field: str | None
    period: timedelta
    names: tuple[tuple[str, str], ...]  # (stat, feature name), `top` aside
    top_names: tuple[str, ...]  # `top`: the 1st, 2nd... most frequent category's count
    accepts: frozenset[type]  # value classes that enter the window
    read: Reader
    make: Callable[[], Rolling]


def _compile(spec: WindowSpec) -> _Window:
    base = spec.field or "events"
    label = _period_label(spec.period)
    seconds = spec.period.total_seconds()
    stats = spec.stats
    names = tuple(
        (s, f"{base}_same_count_{label}" if s == "same" else f"{base}_{s}_{label}")
        for s in stats
        if s != "top"
    )
    top = tuple(f"{base}_top{i}_count_{label}" for i in range(1, (spec.top_k or 1) + 1))
    if spec.is_text:
        track_top = "top" in stats
        return _Window(
            spec.field,
            spec.period,
            names,
            top if track_top else (),
            _TEXT,
            _read_text,
            lambda: RollingCategories(seconds, track_top),
        )
    if "min" in stats or "max" in stats:
        moments = any(s in ("count", "mean", "std", "sum") for s in stats)
        low, high = "min" in stats, "max" in stats
        return _Window(
            spec.field,
            spec.period,
            names,
            (),
            _NUMBERS,
            _read_numbers,
            lambda: RollingNumbers(seconds, moments, low, high),
        )
    return _Window(
        spec.field, spec.period, names, (), _NUMBERS, _read_moments, lambda: RollingMoments(seconds)
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
    """All windows of one entity (the state of one key in the feature step).

    Holds only each window's state; the window definitions are the feature
    set's, passed to :meth:`observe`, so a snapshot carries data, not definitions.
    """

    __slots__ = ("_rolling", "newest_ts", "seen")

    def __init__(self, windows: tuple[_Window, ...]) -> None:
        self._rolling: list[Rolling] = [w.make() for w in windows]
        self.newest_ts: datetime | None = None
        self.seen = 0.0  # wall-clock seconds of the entity's last event, for idle expiry

    def observe(
        self,
        x: dict[str, float],
        event: Event,
        late: bool,
        with_gap: bool,
        windows: tuple[_Window, ...],
    ) -> None:
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
        for w, rolling in zip(windows, self._rolling, strict=True):
            value = 0.0 if w.field is None else feats.get(w.field)
            if late:
                w.read(rolling, w, x, value)
                continue
            rolling.expire(t)
            w.read(rolling, w, x, value)
            if value.__class__ in w.accepts:
                rolling.add(t, value)  # type: ignore[arg-type]  # `accepts` matches the state
        if not late and (self.newest_ts is None or event.ts > self.newest_ts):
            self.newest_ts = event.ts

    def __getstate__(self) -> tuple[list[Rolling], datetime | None, float]:
        return self._rolling, self.newest_ts, self.seen

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[0] is None:
            # pickled before the window definitions left the state: (None, slots)
            slots = state[1]
            state = (slots["_rolling"], slots["newest_ts"], slots["seen"])
        self._rolling, self.newest_ts, self.seen = state


def _read_moments(rolling: RollingMoments, w: _Window, x: dict[str, float], _: object) -> None:
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


def _read_numbers(rolling: RollingNumbers, w: _Window, x: dict[str, float], _: object) -> None:
    moments, low, high = rolling.moments, rolling.low, rolling.high
    for stat, name in w.names:
        if stat == "min" and low is not None:
            x[name] = low.value
        elif stat == "max" and high is not None:
            x[name] = high.value
        elif moments is not None:
            n = moments.n
            if stat == "count":
                x[name] = float(n)
            elif stat == "mean":
                x[name] = moments.mean if n else 0.0
            elif stat == "std":
                x[name] = moments.std()
            else:  # sum
                x[name] = moments.mean * n if n else 0.0


def _read_text(rolling: RollingCategories, w: _Window, x: dict[str, float], value: object) -> None:
    for stat, name in w.names:
        if stat == "count":
            x[name] = float(rolling.n)
        elif stat == "distinct":
            x[name] = float(len(rolling.counts))
        else:  # same: the event's own category
            x[name] = float(rolling.same(value))
    top_names = w.top_names
    if top_names:
        for name, count in zip(top_names, rolling.top(len(top_names)), strict=True):
            x[name] = float(count)


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
    """Whether each window's field shows up, as a number or as text, in the first events.

    A window over a field the events never carry (a typo, or a default written
    for other data) reads zeros forever without a word; this watches the first
    `events` events of a process and reports each such field once. A text
    window (distinct, same, top) wants text, any other a number. Only those
    events pay for it.
    """

    def __init__(self, fields: tuple[tuple[str, bool], ...], events: int) -> None:
        self.seen = dict.fromkeys(fields, 0)  # (field, is_text) -> events showing it so
        self.events = events
        self.checked = 0
        self.done = not fields

    def observe(self, features: Sequence[Mapping[str, object]]) -> list[tuple[str, bool]]:
        """Count a batch's features; `(field, is_text)` never seen so, once the check ends."""
        seen = self.seen
        for feats in features:
            for field, text in seen:
                value = feats.get(field)
                cls = value.__class__
                if (cls is str) if text else (cls is float or cls is int):
                    seen[field, text] += 1
        self.checked += len(features)
        if self.checked < self.events:
            return []
        self.done = True
        return [key for key, n in seen.items() if n == 0]


class FeatureSet:
    """The feature definitions: builds per-entity state and feature vectors.

    `derive`, the loaded ``features.derive`` (:meth:`FeatureFunction.from_config`),
    is passed in rather than loaded here, so code that only needs the windows'
    names (model snapshots) never runs the team's function.
    """

    def __init__(self, config: FeaturesConfig, derive: FeatureFunction | None = None) -> None:
        self.config = config
        self.version = feature_set_version(config)
        self.windows = tuple(_compile(w) for w in config.windows)
        self.derive = derive
        self.allowed_lateness = config.allowed_lateness
        self.time_since_last = config.time_since_last
        longest = max((w.period for w in self.windows), default=timedelta(0))
        self.idle_ttl = config.idle_ttl or longest + self.allowed_lateness
        fields = tuple(
            dict.fromkeys((w.field, w.is_text) for w in config.windows if w.field is not None)
        )
        self.field_check = WindowFieldCheck(fields, FIELD_CHECK_EVENTS)

    def new_state(self) -> EntityWindows:
        return EntityWindows(self.windows)

    def featurize(
        self, state: EntityWindows, event: Event, ingest: float, seq: int = 0
    ) -> Featured:
        """Features of `event` from its entity's past, then add it to the windows.

        With a feature function, its features are added last; when it fails
        (:class:`~driftline.flows.features.derive.DeriveError`) the event has
        still entered its windows: it happened, only its features cannot be served.
        """
        x = vectorize(event.features)
        newest = state.newest_ts
        ts = event.ts
        late = newest is not None and ts < newest - self.allowed_lateness
        out_of_order = newest is not None and ts < newest and not late
        derive = self.derive
        if derive is None:
            state.observe(x, event, late, self.time_since_last, self.windows)
        else:
            windows: dict[str, float] = {}
            state.observe(windows, event, late, self.time_since_last, self.windows)
            x.update(windows)
            derive.extend(x, event, windows)
        return Featured(event, x, late, out_of_order, ingest, seq)
