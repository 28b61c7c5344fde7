"""Prequential metrics: accuracy or MAE of the predictions whose labels came, in O(1).

Every label updates four of them per model (the model's and its baseline's,
since the start and over the last ``model.rolling_window``) and two per slice
value. Both metrics are the mean of one number per label: 1 or 0 for a right
or wrong class, the absolute error for a regressor. So a metric keeps a count
and a sum, and a rolling one a ring of the last `window` numbers besides.

River's ``utils.Rolling(metrics.Accuracy)`` computes the same figures through a
confusion matrix, updated and reverted per label with the pair kept in a deque:
on the in-memory flow that was about 5 % of the job's time (cProfile, 30,000
events: River's metric updates and reverts, and Rolling's bookkeeping).

>>> acc = PrequentialMetric("classification", window=2)
>>> for y, y_pred in [(True, True), (True, False), (False, False)]:
...     acc.update(y, y_pred)
>>> acc.get(), acc.name, acc.bigger_is_better
(0.5, 'accuracy', True)
>>> mae = PrequentialMetric("regression")
>>> mae.update(3.0, 2.5)
>>> mae.update(1.0, 2.0)
>>> mae.get(), mae.name, mae.bigger_is_better
(0.75, 'mae', False)
"""

from __future__ import annotations

import math
from array import array
from typing import Any

from driftline.flows.scoring.definition import Task


class PrequentialMetric:
    """Accuracy (classification) or MAE (regression) over all labels, or the last `window`.

    :meth:`get` reads 0.0 before the first label, as River's metrics do. A
    rolling regression metric sums its ring afresh each time the ring wraps, so
    rounding from adding and removing errors never builds up.
    """

    __slots__ = ("_count", "_next", "_ring", "_sum", "bigger_is_better", "name", "task", "window")

    def __init__(self, task: Task, window: int | None = None) -> None:
        self.task = task
        self.window = window
        self.name = "accuracy" if task == "classification" else "mae"
        self.bigger_is_better = task == "classification"
        self._count = 0
        self._sum = 0.0
        self._ring = array("d", bytes(8 * window)) if window else array("d")
        self._next = 0  # the ring's slot the next number goes to

    def update(self, y: Any, y_pred: Any) -> None:
        """One label `y` for the prediction `y_pred`."""
        accuracy = self.bigger_is_better  # else MAE
        x = (1.0 if y == y_pred else 0.0) if accuracy else abs(y - y_pred)
        ring = self._ring
        if not ring:
            self._count += 1
            self._sum += x
            return
        i = self._next
        if self._count == len(ring):
            self._sum += x - ring[i]
        else:
            self._count += 1
            self._sum += x
        ring[i] = x
        i += 1
        if i == len(ring):
            i = 0
            if not accuracy:
                self._sum = math.fsum(ring)
        self._next = i

    def get(self) -> float:
        return self._sum / self._count if self._count else 0.0

    def __len__(self) -> int:
        """Labels counted (at most the window)."""
        return self._count

    @classmethod
    def from_river(cls, old: Any, task: Task, window: int | None = None) -> PrequentialMetric:
        """The same figure from a River metric (or ``utils.Rolling`` of one) unpickled from
        recovery state of the release before: a rolling one replays its window, a
        cumulative one keeps its count and mean."""
        new = cls(task, window)
        if hasattr(old, "window"):  # utils.Rolling: a deque of ((y, y_pred), kwargs)
            for args, _ in old.window:
                new.update(*args)
            return new
        n = old.cm.total_weight if task == "classification" else old._mean.n
        new._count, new._sum = int(n), old.get() * n
        return new
