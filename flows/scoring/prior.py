"""The prior baseline: the most frequent class so far, kept as labels come.

River's ``dummy.PriorClassifier`` answers ``predict_one`` by building the class
probabilities and taking their max, per event, and learns with
``Counter.update([y])``; the baseline is scored for every event and learns
every label, so that was about 2 µs an event on the built-in stream for a
figure that changes only when a label moves a count past another.
:class:`CountingPrior` is that classifier (the same counts and probabilities,
and an instance of it for everything that asks) with the most frequent class
kept up to date in ``learn_one``; ties go to the class seen first, as River's
``max`` over the counts in insertion order decides.

>>> prior = CountingPrior()
>>> prior.predict_one({}) is None
True
>>> for y in [False, True, True, False]:
...     prior.learn_one({}, y)
>>> prior.predict_one({}), prior.predict_proba_one({})
(False, {False: 0.5, True: 0.5})
"""

from __future__ import annotations

from typing import Any

from river import base, dummy


class CountingPrior(dummy.PriorClassifier):
    """River's PriorClassifier with its prediction kept as it learns (O(1) to predict)."""

    def __init__(self) -> None:
        super().__init__()
        self._top: base.typing.ClfTarget | None = None
        self._order: dict[base.typing.ClfTarget, int] = {}  # class -> when first seen

    def learn_one(self, x: object, y: base.typing.ClfTarget) -> None:
        counts = self.counts
        counts[y] += 1
        self.n += 1
        order = self._order
        if y not in order:
            order[y] = len(order)
        top = self._top
        if top is None:
            self._top = y
        elif y != top:
            gained, held = counts[y], counts[top]
            if gained > held or (gained == held and order[y] < order[top]):
                self._top = y

    def predict_one(self, x: dict[Any, Any], **kwargs: Any) -> base.typing.ClfTarget | None:
        return self._top
