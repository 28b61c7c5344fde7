"""Estimated accuracy before the labels come: confidence-based, calibrated online.

NannyML's CBPE estimates a classifier's accuracy on a batch without labels as the
mean probability that each prediction is right, read from the model's calibrated
confidence. Here it runs per event on a stream, beside prediction drift, in the
instance's data windows (`drift.data_window` served events, closed together in
``ModelInstance.serve``):

- each served event's confidence is the predicted class's probability (binary:
  ``max(p, 1 - p)``), taken once the model learned `drift.warmup` labels (or
  started from a snapshot): an untrained model's 0.5 says nothing;
- calibration: the confidence's bin (`drift.estimate_bins` equal bins over
  [0, 1]) holds how many of its labelled predictions were right, learned as
  labels arrive, forgotten with a half-life of `drift.estimate_half_life`
  labels, and pulled toward the raw confidence by a prior of :data:`PRIOR`
  pseudo-labels (a thin bin says what the model says);
- a window's estimate is the mean calibrated confidence of its events, reported
  once the calibration learned `drift.warmup` labels of the serving model version;
- each window's realized accuracy (right / labelled of the same events) is
  tallied as their labels come, for the last `drift.estimate_windows` windows.

Measured on the built-in stream (logreg, windows of 2,000 events). Offline first
(labels 14,400 events late, salary x1.5 at 40,000, two seeds): the raw mean
confidence was off the later-realized accuracy by up to 5.5 points (mean 3.5, the
online logistic regression is under-confident); calibrated by bins 0.8-1.4 (mean
0.5-0.7) for any prior of 5-100 and a half-life of 20,000 labels or none;
half-lives of 2,000-5,000 labels were noisier (bins thin out). Then through the
job (evaluation/harness/label_free.py: labels an hour late, 7,200 events; salary
x1.5 at 28,000, which cost 3.5-4.5 points of accuracy): while stable within 1.1 points
(mean 0.6); on the shifted windows 1.8-2.8 points too low with 10 bins, up to 3.1,
3.3 and 3.7 with 20, 40 and 100 (finer bins: closer while stable, further off under
the shift), hence 10. The built-in shift scales `salary` after the label is drawn,
so P(label | features) moves, which CBPE assumes it does not: the estimate fell about
7 points where accuracy fell 3.5-4.5, and under salary x1.3 it fell 2.9 points while
accuracy rose 1.5 (below the default drop of 5 points). Isotonic regression over
the bins was not needed: the bins' rates were already monotone where the events are.

Per served event: one bin lookup and one multiply-add, no allocation
(the bin's calibrated value is kept as ``a + b * confidence``, updated per label).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from driftline.flows.config import DriftConfig
from driftline.flows.records import EstimateReport, WindowAccuracy

#: Pseudo-labels at the raw confidence in every bin: a thin bin says what the model
#: says. 20 measured as good as 5-100 (the tracking error moved by 0.1 point).
PRIOR = 20.0
#: A drop alerts only when it is this many standard errors of the two windows' means
#: (the events' calibrated confidences vary): on 300-event windows of a learning
#: 3-class model a drop of 0.054 was sampling noise (3.3 standard errors; the next
#: window was back); the salary x1.5 shift on 2,000-event windows dropped 0.07 by
#: over 20.
NOISE_Z = 4.0
#: Renormalise the growing label weight (forgetting) before it overflows.
_RESCALE = 1e100


@dataclass(slots=True)
class WindowTally:
    """One recent data window: its estimate and, as labels come, its realized accuracy."""

    window: int
    end_event_id: str = ""
    estimate: float | None = None
    events: int = 0  # served events with a confidence (the estimate's events)
    labelled: int = 0  # of those, labelled so far
    right: int = 0  # of those, predicted right
    reported: int = -1  # `labelled` when last written in a drift report

    @property
    def realized(self) -> float | None:
        return self.right / self.labelled if self.labelled else None

    def figures(self) -> WindowAccuracy:
        return WindowAccuracy(
            self.window,
            self.end_event_id,
            _round(self.estimate),
            _round(self.realized),
            self.labelled,
            self.events,
        )


@dataclass(slots=True)
class EstimateSignal:
    """A window whose estimated accuracy fell: below the floor or by the allowed drop."""

    window: int
    estimate: float
    reference: float | None
    reasons: list[Literal["drop", "min_accuracy"]]
    realized: float | None
    labelled_fraction: float
    calibration_labels: int
    critical: bool

    def statistic(self, config: DriftConfig) -> dict[str, Any]:
        """The alert's statistic: the figures and the levels they were judged against."""
        drop = self.reference - self.estimate if self.reference is not None else None
        return {
            "estimate": _round(self.estimate),
            "reference": _round(self.reference),
            "drop": _round(drop),
            "realized": _round(self.realized),
            "labelled_fraction": round(self.labelled_fraction, 4),
            "window": self.window,
            "reasons": list(self.reasons),
            "max_drop": config.estimate_max_drop,
            "min_accuracy": config.estimate_min_accuracy,
            "calibration_labels": self.calibration_labels,
        }


class AccuracyEstimator:
    """A classifier's accuracy per data window, estimated from its calibrated confidence.

    Alerts, once per window at most:

    - `drift.estimate_min_accuracy` (when set): a window whose estimate is under it
      while the window before was not (one alert per crossing);
    - `drift.estimate_max_drop`: a window whose estimate is that much under its
      reference. The reference follows the model as prediction drift's does: a
      window not more than half the allowed drop under the reference (or above it)
      becomes the reference, so a learning model's slow improvement is followed;
      one further under it without alerting does not (a shift cut by a window
      boundary alerts at the next window); after an alert the next window is the
      reference (one alert a shift).

    A drop also has to be :data:`NOISE_Z` standard errors of the two windows' mean
    calibrated confidences, so small windows do not alert on sampling noise.

    A new model version (promoted, reset) starts its calibration and reference
    again: its confidence means something else. Labels of the older version's
    predictions still count in their windows' realized accuracy.
    """

    #: this window's squared calibrated confidences; the reference's standard error
    #: (class attributes: an estimator pickled before them resumes)
    squares = 0.0
    reference_se = 0.0

    def __init__(self, config: DriftConfig, ready: bool = False) -> None:
        self.config = config
        self.warmup = config.warmup
        self.ready = ready  # the model learned `warmup` labels (or came from a snapshot)
        self.bins = config.estimate_bins
        self.growth = 2.0 ** (1.0 / config.estimate_half_life) if config.estimate_half_life else 1.0
        self.version: int | None = None
        self.weight = 1.0  # the next label's weight: grows, so older labels count less
        self.right = [0.0] * self.bins  # weighted right predictions per confidence bin
        self.total = [0.0] * self.bins
        # calibrated value of a confidence c in bin b: a[b] + b[b] * c
        self.a = [0.0] * self.bins
        self.b = [1.0] * self.bins
        self.calibration_labels = 0  # labels of the serving version learned
        self.window = 0  # this window's number (data windows since the start)
        self.sum = 0.0  # this window's calibrated confidences
        self.squares = 0.0
        self.tallies: deque[WindowTally] = deque([WindowTally(0)], maxlen=config.estimate_windows)
        self.reference: float | None = None
        self.rebase = False  # the next window's estimate becomes the reference
        self.below = False  # the last estimate was under estimate_min_accuracy
        self.last: float | None = None  # the last closed window's estimate

    def observe(self, y_pred: Any, score: float | None, version: int, labelled: int) -> int:
        """A served event's prediction: its confidence bin, or -1 when it has none."""
        if version != self.version:
            if self.version is not None:
                self.restart()
            self.version = version
        if not self.ready:
            if labelled < self.warmup:
                return -1
            self.ready = True
        if score is None or y_pred is None or not 0.0 <= score <= 1.0:  # NaN fails too
            return -1
        # binary: score is P(True); else it is the predicted class's probability
        confidence = 1.0 - score if y_pred is False and score <= 0.5 else score
        i = int(confidence * self.bins)
        if i == self.bins:
            i -= 1
        calibrated = self.a[i] + self.b[i] * confidence
        self.sum += calibrated
        self.squares += calibrated * calibrated
        self.tallies[-1].events += 1
        return i

    def learn(self, window: int, bin_: int, right: bool, version: int) -> None:
        """A served event's label came: its window's realized tally, and calibration."""
        if not 0 <= bin_ < self.bins:  # no confidence (or another calibration's bin)
            return
        first = self.tallies[0].window
        if first <= window <= self.window:
            tally = self.tallies[window - first]
            tally.labelled += 1
            tally.right += right
        if version != self.version:  # another model's confidence: not this one's calibration
            return
        weight = self.weight = self.weight * self.growth
        if weight > _RESCALE:
            self._rescale()
            weight = self.weight
        total = self.total[bin_] = self.total[bin_] + weight
        hits = self.right[bin_] = self.right[bin_] + weight * right
        # (hits + PRIOR * weight * c) / (total + PRIOR * weight), in the label weight's units
        denominator = total + PRIOR * weight
        self.a[bin_] = hits / denominator
        self.b[bin_] = PRIOR * weight / denominator
        self.calibration_labels += 1

    def close(self, end_event_id: str) -> EstimateSignal | None:
        """This data window closed: its estimate; a signal when it fell (see the class)."""
        tally = self.tallies[-1]
        tally.end_event_id = end_event_id
        calibrated = self.calibration_labels >= self.warmup
        # an estimate needs most of the window predicted by a ready model
        n = tally.events
        if calibrated and n * 2 >= self.config.data_window:
            tally.estimate = self.sum / n
        squares, self.squares = self.squares, 0.0
        self.window += 1
        self.sum = 0.0
        self.tallies.append(WindowTally(self.window))
        estimate = tally.estimate
        if estimate is None:
            return None
        self.last = estimate
        se = math.sqrt(max(squares / n - estimate * estimate, 0.0) / n)
        return self._judge(tally, estimate, se)

    def _judge(self, tally: WindowTally, estimate: float, se: float) -> EstimateSignal | None:
        config = self.config
        reasons: list[Literal["drop", "min_accuracy"]] = []
        floor = config.estimate_min_accuracy
        below = floor is not None and estimate < floor
        if below and not self.below:
            reasons.append("min_accuracy")
        self.below = below
        reference, max_drop = self.reference, config.estimate_max_drop
        noise = NOISE_Z * math.hypot(se, self.reference_se)
        if reference is None or self.rebase:
            self.reference, self.reference_se, self.rebase = estimate, se, False
        elif reference - estimate >= max(max_drop, noise):
            reasons.append("drop")
            self.rebase = True
        elif reference - estimate <= max_drop / 2:
            self.reference, self.reference_se = estimate, se  # like it, or better: followed
        if not reasons:
            return None
        drop = reference - estimate if reference is not None else 0.0
        return EstimateSignal(
            tally.window,
            estimate,
            reference,
            reasons,
            tally.realized,
            tally.labelled / tally.events,
            self.calibration_labels,
            critical=below or drop >= 2 * max_drop,
        )

    def restart(self) -> None:
        """A new model version: calibration and reference start again."""
        self.weight = 1.0
        self.right = [0.0] * self.bins
        self.total = [0.0] * self.bins
        self.a = [0.0] * self.bins
        self.b = [1.0] * self.bins
        self.calibration_labels = 0
        self.reference, self.rebase, self.below = None, False, False
        self.reference_se = 0.0

    def _rescale(self) -> None:
        """Divide every weight by the current one (same rates, no overflow)."""
        w = self.weight
        self.right = [r / w for r in self.right]
        self.total = [t / w for t in self.total]
        self.weight = 1.0
        for i in range(self.bins):
            denominator = self.total[i] + PRIOR
            self.a[i] = self.right[i] / denominator
            self.b[i] = PRIOR / denominator

    @property
    def estimated(self) -> bool:
        """Whether the last closed window has an estimate."""
        return len(self.tallies) > 1 and self.tallies[-2].estimate is not None

    def report(self) -> EstimateReport | None:
        """The last closed window's estimate and the recent windows whose labels came
        since the last report (estimate vs realized); None before any estimate."""
        closed = list(self.tallies)[:-1]
        if not closed:
            return None
        last = closed[-1]
        windows = []
        for tally in closed:
            if tally.labelled != tally.reported and tally.labelled:
                tally.reported = tally.labelled
                windows.append(tally.figures())
        if last.estimate is None and not windows:
            return None
        return EstimateReport(
            last.window,
            _round(last.estimate),
            _round(self.reference),
            last.events,
            self.calibration_labels,
            windows,
        )

    def realized(self) -> WindowTally | None:
        """The newest closed window with at least half of its events labelled."""
        for tally in reversed(self.tallies):
            if tally.window < self.window and tally.events and tally.labelled * 2 >= tally.events:
                return tally
        return None


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)
