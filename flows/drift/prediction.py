"""Prediction drift: the model's scores per window against a reference window, by the
same two-sample KS test as data drift (label-free: it needs no labels).

The scores are fed to a :class:`DataDriftMonitor` as one feature, ``score``: the
same windows (`drift.data_window` events), p-value threshold (`data_alpha`) and
one-alert-per-shift behaviour. Windows stay aligned with the instance's data
windows: every served event counts; one without a score (None, not finite, or
before the model is ready) adds no value.

A multi-class model's predicted classes are compared too (:class:`ClassShift`): its
score, the predicted class's probability, can keep its distribution while the
classes it goes to change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy.stats import chi2_contingency

from driftline.flows.config import DriftConfig
from driftline.flows.drift.data import DataDriftMonitor, DataSignal

SCORE = "score"
NEVER = 1.1  # a KS statistic is at most 1: no alert while the scores settle


@dataclass(slots=True)
class ClassShift:
    """A multi-class model's predicted classes in a window against its reference window:
    a chi-square test of the two windows' class counts (2 x classes table)."""

    chi2: float
    p_value: float
    tvd: float  # total variation distance of the two windows' class shares, in [0, 1]
    reference_shares: dict[str, float]
    current_shares: dict[str, float]

    def figures(self) -> dict[str, Any]:
        return {
            "chi2": round(self.chi2, 2),
            "p_value": float(f"{self.p_value:.3g}"),
            "tvd": round(self.tvd, 4),
            "reference_shares": self.reference_shares,
            "current_shares": self.current_shares,
        }


def class_shift(reference: dict[Any, int], current: dict[Any, int]) -> ClassShift:
    """Chi-square two-sample test of class counts (classes seen in either window)."""
    classes = sorted(reference.keys() | current.keys(), key=repr)
    ref = [reference.get(c, 0) for c in classes]
    cur = [current.get(c, 0) for c in classes]
    n_ref, n_cur = sum(ref), sum(cur)
    chi2, p_value, _, _ = chi2_contingency([ref, cur], correction=False)
    tvd = 0.5 * sum(abs(r / n_ref - c / n_cur) for r, c in zip(ref, cur, strict=True))
    return ClassShift(
        float(chi2),
        float(p_value),
        tvd,
        {str(c): round(r / n_ref, 4) for c, r in zip(classes, ref, strict=True)},
        {str(c): round(n / n_cur, 4) for c, n in zip(classes, cur, strict=True)},
    )


class PredictionDriftMonitor:
    """KS of each window's model scores against a reference window of the same model.

    A model learning online moves its scores: unlike a feature's, their reference
    cannot stay the first window. Measured on the built-in stream (logreg, labels
    6,000 events late, no shift): against the first window the scores' KS grew
    to 0.22 over 10,000 events as the model learned its first 8,000 labels.
    So, once the model is ready (it learned `drift.warmup` labels, or started from
    a snapshot; an untrained logistic regression answers 0.5 to everything):

    - settling: each window is the next one's reference, without alerts, until a
      window is like the one before (KS p-value not under `drift.data_alpha`);
    - then a window alerts when its p-value is under `data_alpha` and its KS is at
      least `drift.prediction_min_effect`; a window like its reference becomes
      the reference (slow learning is followed), one that differs without
      alerting does not (a shift cut by a window boundary alerts at the next one);
      after an alert the next full window is the reference (one alert a shift).

    A new model version (promoted, reset) settles again from its own scores.

    A multi-class model (3 or more classes predicted in a window and its reference)
    also has its predicted classes' counts compared by a chi-square test
    (:func:`class_shift`) at the same `data_alpha`, with `prediction_min_effect` as
    the least total variation distance of the class shares; the reference follows
    the same rules (every window while settling, alike windows after, the window
    after an alert), and a shifted window sets :attr:`class_shift` for its alert.
    """

    #: class counts of this window, of the reference; the last window's test and the
    #: shift it alerts on (class attributes: a monitor pickled before them resumes)
    class_counts: dict[Any, int]
    class_reference: dict[Any, int] | None = None
    class_rebase = False
    class_report: ClassShift | None = None
    class_shift: ClassShift | None = None

    def __init__(self, config: DriftConfig, ready: bool = False) -> None:
        self.scores = DataDriftMonitor(config)
        self.min_effect = config.prediction_min_effect
        self.warmup = config.warmup
        self.ready = ready
        self.version: int | None = None
        self.class_counts = {}
        self.settle()

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("class_counts", {})
        self.__dict__.update(state)

    @property
    def settled(self) -> bool:
        return self.scores.slide == "alike"

    def update(
        self, score: float | None, version: int, labelled: int, y_pred: Any = None
    ) -> list[DataSignal]:
        """One served event's score (and predicted class); returns a signal when its
        window closes with the scores shifted (a class shift sets :attr:`class_shift`)."""
        scores = self.scores
        if not self.ready and labelled >= self.warmup and scores.filled == 0:
            self.ready = True  # from a window's start: its first window is all learned
        if version != self.version:
            if self.version is not None:  # a new model: its own scores settle again
                self.settle()
            self.version = version
        value = score if self.ready and score is not None and math.isfinite(score) else None
        if value is not None and y_pred is not None:
            counts = self.class_counts
            counts[y_pred] = counts.get(y_pred, 0) + 1
        signals = scores.update({SCORE: float(value)} if value is not None else {})
        if scores.filled == 0:
            self._close_classes()
            # one alert a shift: either test's alert makes the next window both references
            if signals:
                self.class_rebase = True
            if self.class_shift is not None:
                scores.rebase.add(SCORE)
        if scores.filled == 0 and not self.settled:
            report = self.report
            if report is not None and report["p_value"] >= scores.alpha:
                scores.slide, scores.min_effect = "alike", self.min_effect
        return signals

    def settle(self) -> None:
        """Forget the reference and this window's scores; no alert until they settle."""
        scores = self.scores
        scores.reference.clear()
        scores.rebase.clear()
        for column in scores.columns.values():
            column.clear()
        scores.slide, scores.min_effect = "always", NEVER
        self.class_counts = {}
        self.class_reference, self.class_rebase = None, False

    def _close_classes(self) -> None:
        """A window closed: its predicted classes against the reference's (see the class)."""
        counts, self.class_counts = self.class_counts, {}
        self.class_shift = self.class_report = None
        reference = self.class_reference
        if not counts:
            return
        if reference is None or self.class_rebase or not self.settled:
            self.class_reference, self.class_rebase = counts, False
            return
        if len(reference.keys() | counts.keys()) < 3:  # binary: the scores' KS says it
            self.class_reference = counts
            return
        shift = self.class_report = class_shift(reference, counts)
        if shift.p_value < self.scores.alpha and shift.tvd >= self.min_effect:
            self.class_shift, self.class_rebase = shift, True
        elif shift.p_value >= self.scores.alpha:
            self.class_reference = counts  # alike: followed

    @property
    def report(self) -> dict[str, Any] | None:
        """The last closed window's scores against the reference (None without one),
        with its predicted classes' test under ``classes`` for a multi-class model."""
        report = self.scores.report
        scores = report.get(SCORE) if report is not None else None
        classes = self.class_report
        if classes is None:
            return scores
        return {**(scores or {}), "classes": classes.figures()}
