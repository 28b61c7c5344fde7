"""Counts of a text field's categories over an event-time window, in O(1) per event.

What fraud teams ask of a categorical field per entity (a card's merchants,
a device's accounts, an account's countries): how many different ones lately
(``distinct``), how often *this* one lately (``same``: the event's own
category), and how concentrated (``top``: the counts of the most frequent).
A counter per category plus an expiry queue in event-time order give the
first two in O(1); for ``top``, the counts present are kept as a linked list
of levels (each count that some category has, pointing to the next lower and
higher one): a count moves by one at a time, so a category moves to the
neighbouring level, creating or dropping it in O(1), and the top k counts are
read by walking down k levels at most.
"""

from __future__ import annotations

from typing import Any

from driftline.flows.features.windows import (
    AT_CUTOFF,
    COMPACT_AT,
    compacted,
    floats,
    insert_by_time,
    live_state,
    restore_slots,
)

_BOTTOM = 0  # sentinel levels of the list of counts
_TOP = 1 << 62


class RollingCategories:
    """Category counts of the texts in ``(newest - period, newest]``.

    As :class:`~driftline.flows.features.windows.RollingMoments`: :meth:`expire`
    with a new event's time before reading, then :meth:`add` the event's text.
    With `track_top` False the levels are not kept and :meth:`top` is unavailable.
    """

    __slots__ = (
        "_cats",
        "_down",
        "_head",
        "_size",
        "_times",
        "_up",
        "counts",
        "newest",
        "period",
        "track_top",
    )

    def __init__(self, period: float, track_top: bool = False) -> None:
        self.period = period
        self.track_top = track_top
        self._times = floats()  # compact: see flows/features/windows.py
        self._cats: list[str] = []
        self._head = 0
        self.newest = -float("inf")
        self.counts: dict[str, int] = {}
        # levels: count -> categories with that count; links to the next lower/higher count
        self._size: dict[int, int] = {}
        self._up: dict[int, int] = {_BOTTOM: _TOP}
        self._down: dict[int, int] = {_TOP: _BOTTOM}

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        return live_state(self, ("_times", "_cats"))

    def __setstate__(self, state: Any) -> None:
        restore_slots(self, state, ("_times",))

    @property
    def n(self) -> int:
        """Texts in the window."""
        return len(self._times) - self._head

    def distinct(self) -> int:
        """Different categories in the window."""
        return len(self.counts)

    def same(self, category: object) -> int:
        """How often `category` is in the window (0 for anything not a text in it)."""
        return self.counts.get(category, 0) if isinstance(category, str) else 0

    def top(self, k: int) -> list[int]:
        """The counts of the `k` most frequent categories, largest first, 0 where fewer."""
        out: list[int] = []
        size, down = self._size, self._down
        level = down[_TOP]
        while level != _BOTTOM and len(out) < k:
            out.extend([level] * min(size[level], k - len(out)))
            level = down[level]
        out.extend([0] * (k - len(out)))
        return out

    def expire(self, t: float) -> None:
        """Make `t` the window's end if it is the newest time: older texts leave."""
        if t <= self.newest:
            return
        self.newest = t
        cutoff = t - self.period + AT_CUTOFF
        times, head = self._times, self._head
        end = len(times)
        if head == end or times[head] > cutoff:
            return
        cats = self._cats
        while head < end and times[head] <= cutoff:
            self._remove(cats[head])
            head += 1
        if head >= COMPACT_AT:  # rarely: a call per expiry would cost every event
            head = compacted(head, times, cats)
        self._head = head

    def add(self, t: float, category: str) -> None:
        """Put `category` at time `t` into the window (after :meth:`expire` with `t`)."""
        times = self._times
        if not times or t >= times[-1]:
            times.append(t)
            self._cats.append(category)
        else:
            insert_by_time(times, self._cats, self._head, t, category)
        counts = self.counts
        c = counts.get(category, 0)
        counts[category] = c + 1
        if self.track_top:
            self._enter(c + 1, c)
            self._leave(c)

    def _remove(self, category: str) -> None:
        counts = self.counts
        c = counts[category]
        if c == 1:
            del counts[category]
        else:
            counts[category] = c - 1
        if self.track_top:
            if c > 1:
                self._enter(c - 1, self._down[c])
            self._leave(c)

    def _enter(self, level: int, below: int) -> None:
        """One more category at count `level`, which (if new) sits right above `below`."""
        size = self._size
        if level in size:
            size[level] += 1
            return
        size[level] = 1
        up, down = self._up, self._down
        above = up[below]
        up[below] = level
        down[level] = below
        up[level] = above
        down[above] = level

    def _leave(self, level: int) -> None:
        """One category fewer at count `level` (0: a new category, no level)."""
        if level == _BOTTOM:
            return
        size = self._size
        left = size[level] - 1
        if left:
            size[level] = left
            return
        del size[level]
        up, down = self._up, self._down
        below, above = down.pop(level), up.pop(level)
        up[below] = above
        down[above] = below
