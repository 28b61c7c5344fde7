"""Champion / challenger: retrain on drift without taking the serving model away.

After a concept-drift alert a challenger starts learning from the labelled events
that follow (optionally first from a short buffer of recent ones) while the
champion keeps serving. Both predict every event; on the next `window` labelled
events that both predicted, their errors are compared. The challenger is
promoted when its error is lower, otherwise it is dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from driftline.flows.scoring.definition import Task


def prediction_of(model: Any, task: Task, x: dict[str, float]) -> Any:
    """A model's point prediction (River's predict_one rule for classifiers)."""
    if task == "classification":
        proba = model.predict_proba_one(x)
        return max(proba, key=proba.get) if proba else None
    return model.predict_one(x)


def error_of(task: Task, y: Any, y_pred: Any) -> float:
    """0/1 error for classifiers, absolute error for regressors."""
    if task == "classification":
        return 0.0 if y_pred == y else 1.0
    return abs(float(y) - float(y_pred if y_pred is not None else 0.0))


@dataclass(slots=True)
class Verdict:
    """The end of a challenge."""

    outcome: Literal["promoted", "dropped"]
    champion_error: float
    challenger_error: float
    compared: int


class Challenge:
    """One challenger model being compared with the champion."""

    def __init__(self, model: Any, task: Task, window: int) -> None:  # a River model
        self.model = model
        self.task = task
        self.window = window
        self.compared = 0
        self.champion_errors = 0.0
        self.challenger_errors = 0.0

    def warm_up(self, recent: deque[tuple[dict[str, float], Any]]) -> None:
        """Learn from recent labelled examples first (oldest first)."""
        for x, y in recent:
            self.model.learn_one(x, y)

    def predict(self, x: dict[str, float]) -> Any:
        return prediction_of(self.model, self.task, x)

    def learn(
        self, x: dict[str, float], y: Any, champion_pred: Any, own_pred: Any
    ) -> Verdict | None:
        """Score both on a labelled event (if the challenger predicted it), then learn."""
        verdict = None
        if own_pred is not _NOT_PREDICTED:
            self.compared += 1
            self.champion_errors += error_of(self.task, y, champion_pred)
            self.challenger_errors += error_of(self.task, y, own_pred)
            if self.compared >= self.window:
                verdict = self._verdict()
        self.model.learn_one(x, y)
        return verdict

    def _verdict(self) -> Verdict:
        champ = self.champion_errors / self.compared
        chall = self.challenger_errors / self.compared
        return Verdict("promoted" if chall < champ else "dropped", champ, chall, self.compared)


class _NotPredicted:
    """Marks a served event the challenger did not exist for."""

    def __repr__(self) -> str:
        return "NOT_PREDICTED"

    def __reduce__(self) -> str:
        return "_NOT_PREDICTED"


_NOT_PREDICTED = _NotPredicted()
NOT_PREDICTED: Any = _NOT_PREDICTED
