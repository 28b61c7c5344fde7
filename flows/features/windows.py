"""Rolling count, mean, variance, min and max over an event-time window, in O(1) per event.

The semantics are those of River's ``utils.TimeRolling(stats.Var, period)``: a
value at time ``t`` joins the window in event-time order, and when ``t`` is the
newest time seen, values at or before ``t - period`` leave it; the moments are
updated and reverted with River's own Welford formulas. What differs is the
cost: TimeRolling copies its lists each time something expires and keeps a
``datetime`` plus an argument tuple per value. Measured on the built-in stream's
default windows that was 18 µs per event, more than the model itself; this
keeps two flat arrays of floats and a head index instead.

The arrays are ``array('d')``, not lists: a window holds every value of its
period (the built-in 1 h window at 600 events/s holds 2.16 million), and the
whole state is pickled at every snapshot. A list of floats costs 32 bytes a
value in memory (the float object and its slot) and pickles float by float; an
array costs 8 and pickles as one block of bytes. Measured on the soak's own
feature snapshot at minute 10 (600 events/s): 13.1 -> 11.7 MB pickled (a float
pickles to 9 bytes either way) and 47 -> 24 ms to pickle; in memory a quarter.

:class:`RollingExtreme` keeps the window's max (or min) with a monotonic deque:
only the values that can still become the extreme are kept, each added and
dropped once (amortized O(1); an out-of-order value costs a bisect).
:class:`RollingNumbers` puts the moments and the extremes of one window together.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import MutableSequence
from typing import Any, TypeVar

T = TypeVar("T")

COMPACT_AT = 64  # drop expired slots once this many have piled up at the front
#: Event times are whole microseconds, but as float seconds since the epoch they are
#: exact to about 0.24 µs only: `t - period` can land a hair beside a value that is
#: exactly `period` older. Values within half a microsecond of the cutoff count as at
#: it (and leave), as River's TimeRolling, which subtracts datetimes, decides.
AT_CUTOFF = 5e-7


def floats(values: Any = ()) -> array[float]:
    """A compact array of floats (a window's times or values), from `values`."""
    return array("d", values)


def restore_slots(obj: object, state: Any, arrays: tuple[str, ...]) -> None:
    """Unpickle a slotted window: `(None, slots)`; the `arrays` among them become arrays
    (a snapshot of the release before kept them as lists of floats)."""
    _, slots = state
    for name, value in slots.items():
        setattr(obj, name, floats(value) if name in arrays and isinstance(value, list) else value)


def live_state(obj: Any, sequences: tuple[str, ...]) -> tuple[None, dict[str, Any]]:
    """A slotted window's pickle state, `(None, slots)`, without its expired slots: the
    `sequences` start at the head, and the head is 0. A snapshot carries only the
    values still in the window."""
    slots = {name: getattr(obj, name) for name in type(obj).__slots__}
    head = slots["_head"]
    if head:
        for name in sequences:
            slots[name] = slots[name][head:]
        slots["_head"] = 0
    return None, slots


def compacted(head: int, times: MutableSequence[float], values: MutableSequence[Any]) -> int:
    """The head after cutting expired slots off the front, once enough have piled up.

    `del` shifts the slots after the head, so the front is cut only when at
    least `COMPACT_AT` slots and a quarter of the sequence have expired: each
    expired value costs at most three shifted slots (amortized O(1)), and a
    window holds at most a third more slots than values. It was half: a window
    then held up to twice its values, so its memory grew for twice its period,
    and the soak's RSS (15 min window) kept growing until minute 30 after a
    warm-up sized for one period (bench/soak_results.md of 2026-11-28, 07:10).
    """
    if head >= COMPACT_AT and head * 4 >= len(times):
        del times[:head]
        del values[:head]
        return 0
    return head


def insert_by_time(
    times: MutableSequence[float], values: MutableSequence[T], head: int, t: float, x: T
) -> None:
    """Put a value that came out of event-time order in its place, so expiry stays exact."""
    i = bisect.bisect_left(times, t, head)
    times.insert(i, t)
    values.insert(i, x)


class RollingMoments:
    """Count, mean and variance of the values in ``(newest - period, newest]``.

    Times are seconds (floats). Use :meth:`expire` with a new event's time
    before reading its features, then :meth:`add` the event: reads never see
    the event itself, and late events can be read without ever being added.
    """

    __slots__ = ("_head", "_times", "_values", "m2", "mean", "n", "newest", "period")

    def __init__(self, period: float) -> None:
        self.period = period
        self._times = floats()
        self._values = floats()
        self._head = 0  # index of the oldest value still in the window
        self.newest = -math.inf
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0  # sum of squared deviations (River's Var._S)

    def expire(self, t: float) -> None:
        """Make `t` the window's end if it is the newest time: older values leave."""
        if t <= self.newest:
            return
        self.newest = t
        cutoff = t - self.period + AT_CUTOFF
        times, head = self._times, self._head
        end = len(times)
        if head == end or times[head] > cutoff:
            return
        values = self._values
        n, mean, m2 = self.n, self.mean, self.m2
        while head < end and times[head] <= cutoff:
            x = values[head]
            old = mean
            n -= 1
            mean = 0.0 if n == 0 else mean - (x - mean) / n
            m2 -= (x - old) * (x - mean)
            head += 1
        if n == 0:
            m2 = 0.0
        self.n, self.mean, self.m2 = n, mean, m2
        if head >= COMPACT_AT:  # rarely: a call per expiry would cost every event
            head = compacted(head, times, values)
        self._head = head

    def add(self, t: float, x: float) -> None:
        """Put value `x` at time `t` into the window (after :meth:`expire` with `t`)."""
        times = self._times
        if not times or t >= times[-1]:
            times.append(t)
            self._values.append(x)
        else:
            insert_by_time(times, self._values, self._head, t, x)
        old = self.mean
        self.n += 1
        self.mean = old + (x - old) / self.n
        self.m2 += (x - old) * (x - self.mean)

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        return live_state(self, ("_times", "_values"))

    def __setstate__(self, state: Any) -> None:
        restore_slots(self, state, ("_times", "_values"))

    def var(self) -> float:
        """Sample variance (ddof 1), 0 with fewer than two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0

    def std(self) -> float:
        return math.sqrt(max(self.var(), 0.0))


class RollingExtreme:
    """The max (or, with ``largest`` False, the min) of the values in ``(newest - period, newest]``.

    A monotonic deque in event-time order: a value is kept only while no later
    value beats it, since that later value stays in the window at least as
    long. So the values kept fall strictly (for the max) from the oldest, the
    oldest is the extreme, and expiry drops from the front. An out-of-order
    value is placed by time: dropped at once if a later kept value beats it,
    else it drops the earlier values it beats. Reads 0.0 when the window is empty.
    """

    __slots__ = ("_head", "_sign", "_times", "_values", "newest", "period")

    def __init__(self, period: float, largest: bool = True) -> None:
        self.period = period
        self._sign = 1.0 if largest else -1.0  # the min is the max of the negated values
        self._times = floats()
        self._values = floats()
        self._head = 0
        self.newest = -math.inf

    def expire(self, t: float) -> None:
        """Make `t` the window's end if it is the newest time: older values leave."""
        if t <= self.newest:
            return
        self.newest = t
        cutoff = t - self.period + AT_CUTOFF
        times, head = self._times, self._head
        end = len(times)
        while head < end and times[head] <= cutoff:
            head += 1
        if head >= COMPACT_AT:  # rarely: a call per expiry would cost every event
            head = compacted(head, times, self._values)
        self._head = head

    def add(self, t: float, x: float) -> None:
        """Put value `x` at time `t` into the window (after :meth:`expire` with `t`)."""
        times, values, head = self._times, self._values, self._head
        v = x * self._sign
        if len(times) == head or t >= times[-1]:  # in order: drop the kept values it beats
            while len(values) > head and values[-1] <= v:
                values.pop()
                times.pop()
            times.append(t)
            values.append(v)
            return
        i = bisect.bisect_right(times, t, head)
        if i < len(values) and values[i] >= v:
            return  # a later value beats it for as long as it would stay
        j = i
        while j > head and values[j - 1] <= v:
            j -= 1
        values[j:i] = floats((v,))
        times[j:i] = floats((t,))

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        return live_state(self, ("_times", "_values"))

    def __setstate__(self, state: Any) -> None:
        restore_slots(self, state, ("_times", "_values"))

    @property
    def value(self) -> float:
        """The window's extreme, 0.0 when it is empty."""
        head = self._head
        return self._values[head] * self._sign if head < len(self._values) else 0.0

    def __len__(self) -> int:
        """Values kept (at most the window's count; for tests of the bound)."""
        return len(self._values) - self._head


class RollingNumbers:
    """One numeric window that reads min or max: the moments (when read) and the extremes."""

    __slots__ = ("_parts", "high", "low", "moments")

    def __init__(self, period: float, moments: bool, low: bool, high: bool) -> None:
        self.moments = RollingMoments(period) if moments else None
        self.low = RollingExtreme(period, largest=False) if low else None
        self.high = RollingExtreme(period, largest=True) if high else None
        self._parts: list[RollingMoments | RollingExtreme] = [
            p for p in (self.moments, self.low, self.high) if p is not None
        ]

    def expire(self, t: float) -> None:
        for part in self._parts:
            part.expire(t)

    def add(self, t: float, x: float) -> None:
        for part in self._parts:
            part.add(t, x)
