"""Prediction drift: the model's scores per window against a reference window, by the
same two-sample KS test as data drift (label-free: it needs no labels).

The scores are fed to a :class:`DataDriftMonitor` as one feature, ``score``: the
same windows (`drift.data_window` events), p-value threshold (`data_alpha`) and
one-alert-per-shift behaviour. Windows stay aligned with the instance's data
windows: every served event counts; one without a score (None, not finite, or
before the model is ready) adds no value.
"""

from __future__ import annotations

import math

from driftline.flows.config import DriftConfig
from driftline.flows.drift.data import DataDriftMonitor, DataSignal

SCORE = "score"
NEVER = 1.1  # a KS statistic is at most 1: no alert while the scores settle


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
    """

    def __init__(self, config: DriftConfig, ready: bool = False) -> None:
        self.scores = DataDriftMonitor(config)
        self.min_effect = config.prediction_min_effect
        self.warmup = config.warmup
        self.ready = ready
        self.version: int | None = None
        self.settle()

    @property
    def settled(self) -> bool:
        return self.scores.slide == "alike"

    def update(self, score: float | None, version: int, labelled: int) -> list[DataSignal]:
        """One served event's score; returns a signal when its window closes shifted."""
        scores = self.scores
        if not self.ready and labelled >= self.warmup and scores.filled == 0:
            self.ready = True  # from a window's start: its first window is all learned
        if version != self.version:
            if self.version is not None:  # a new model: its own scores settle again
                self.settle()
            self.version = version
        value = score if self.ready and score is not None and math.isfinite(score) else None
        signals = scores.update({SCORE: float(value)} if value is not None else {})
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

    @property
    def report(self) -> dict[str, float] | None:
        """The last closed window's scores against the reference (None without one)."""
        report = self.scores.report
        return report.get(SCORE) if report is not None else None
