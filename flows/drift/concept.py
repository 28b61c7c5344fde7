"""Concept drift: a detector on the model's error stream, gated so only a real rise alerts.

Concept drift feeds every labelled event's error (0/1 for classifiers, absolute
error for regressors) to a River detector (ADWIN by default). A detection is only
the trigger: it becomes an alert when the recent errors are *significantly* above
the reference errors, by a one-sided test of the two samples (see
:func:`rise_p_value`), at `drift.concept_alpha`, and by at least
`drift.concept_min_effect`; once the reference holds `min_reference` errors after
the warm-up, outside a cooldown. A model that got better is not drift.

Why a test and not a relative rise: with a relative gate (recent > 1.25 x
reference) a good model false-alarmed. On SEA at a reference error of 0.51 %, two
errors in the last 200 (1.0 %) passed it; the exact test gives that p = 0.28.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from river import base, drift
from scipy.stats import hypergeom

from driftline.flows.config import DriftConfig


def build_detector(config: DriftConfig) -> base.DriftDetector | base.BinaryDriftDetector:
    """The configured River drift detector for the error stream."""
    name = config.concept_detector
    if name == "adwin":
        return drift.ADWIN(delta=config.adwin_delta)
    if name == "page_hinkley":
        return drift.PageHinkley(mode="up")
    if name == "kswin":
        return drift.KSWIN(seed=42)
    if name == "ddm":
        return drift.binary.DDM()
    return drift.binary.EDDM()


class ErrorSample:
    """Count, sum and sum of squares of a run of errors (all a test of means needs)."""

    __slots__ = ("n", "squares", "total")

    def __init__(self) -> None:
        self.n = 0
        self.total = 0.0
        self.squares = 0.0

    def add(self, error: float) -> None:
        self.n += 1
        self.total += error
        self.squares += error * error

    def remove(self, error: float) -> None:
        self.n -= 1
        self.total -= error
        self.squares -= error * error

    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    def variance(self) -> float:
        """The sample variance (0 for fewer than two errors)."""
        n = self.n
        if n < 2:
            return 0.0
        return max(self.squares - self.total * self.total / n, 0.0) / (n - 1)


def rise_p_value(recent: ErrorSample, reference: ErrorSample, binary: bool) -> float:
    """One-sided p-value of "the recent errors' mean is above the reference's".

    0/1 errors: the exact conditional test of two proportions (Fisher's, one-sided):
    given all the errors of both samples, how likely would the recent window hold
    at least this many of them if both had the same rate. Exact at any error rate,
    where a normal approximation is not (0.5 % of 200 is one error).
    Other errors (absolute errors of a regressor): Welch's z on the two means.
    """
    if recent.n == 0 or reference.n == 0:
        return 1.0
    if binary:
        k = round(recent.total)
        errors = k + round(reference.total)
        return float(hypergeom.sf(k - 1, recent.n + reference.n, errors, recent.n))
    spread = recent.variance() / recent.n + reference.variance() / reference.n
    rise = recent.mean() - reference.mean()
    if spread <= 0.0:
        return 0.0 if rise > 0 else 1.0
    return 0.5 * math.erfc(rise / math.sqrt(2.0 * spread))


@dataclass(slots=True)
class ConceptSignal:
    """A detection that passed the significance, warm-up and cooldown checks."""

    reference_error: float
    recent_error: float
    observed: int
    p_value: float = 0.0
    reference_n: int = 0  # errors in the reference the recent window was tested against


class ConceptDriftMonitor:
    """Watches one model's error stream.

    The recent window holds the last `recent_window` errors; an error leaving it
    joins the reference (once past the warm-up), so the two samples the gate
    tests never share an error.
    """

    def __init__(self, config: DriftConfig, recent_window: int = 200) -> None:
        self.config = config
        self.recent_window = recent_window
        self.reset()

    def reset(self) -> None:
        """Start over (after the model was replaced)."""
        # binary detectors (DDM, EDDM) take the 0/1 error as a number as well
        self.detector: Any = build_detector(self.config)
        self.reference = ErrorSample()
        self.window: deque[float] = deque()
        self.recent = ErrorSample()
        self.straddling = 0  # errors in the window at the last alert: not the next reference
        self.alerted_against: ErrorSample | None = None  # the reference of the last alert
        self.alerted_at = 0
        self.binary = True  # until an error other than 0 or 1 is seen
        self.observed = 0
        self.quiet_until = self.config.warmup
        self.pending_until = 0  # a detection waiting for the recent error to rise

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Monitors pickled by the release with the relative gate start their samples over."""
        self.__dict__.update(state)
        if not isinstance(state.get("recent"), ErrorSample):
            observed, quiet = self.observed, self.quiet_until
            self.reset()  # also sets the fields added since
            self.observed, self.quiet_until = observed, quiet

    def update(self, error: float) -> ConceptSignal | None:
        """Feed one error; returns a signal when drift towards worse is detected.

        A detection whose recent error has not risen significantly yet stays
        pending for `recent_window` errors and is judged again on each one: the
        detector often fires before the last-200 error has caught up with the change.
        """
        self.observed += 1
        if self.binary and error != 0.0 and error != 1.0:
            self.binary = False
        self._push(error)
        detector = self.detector
        detector.update(error)
        cfg = self.config
        if (
            detector.drift_detected
            and self.observed > self.quiet_until
            and self.reference.n >= cfg.min_reference
        ):
            self.pending_until = self.observed + self.recent_window
        if self.observed > self.pending_until:
            return None
        return self._judge()

    def rise(self) -> ConceptSignal | None:
        """The recent error against the reference now, significant or not (None when
        there is no judged reference, or no rise). Within a window of an alert, whose
        reference was just cleared, against that alert's reference."""
        reference = self.reference
        if reference.n < self.config.min_reference:
            last = self.alerted_against
            if last is None or self.observed - self.alerted_at >= self.recent_window:
                return None
            reference = last
        return self._compare(reference)

    def _compare(self, reference: ErrorSample) -> ConceptSignal | None:
        """The recent errors against `reference`, with the test's p-value (None: no rise)."""
        recent = self.recent
        ref, rec = reference.mean(), recent.mean()
        if rec <= ref:
            return None
        p_value = rise_p_value(recent, reference, self.binary)
        return ConceptSignal(ref, rec, self.observed, p_value, reference.n)

    def _push(self, error: float) -> None:
        """`error` into the recent window; the one it pushes out into the reference."""
        window, recent = self.window, self.recent
        window.append(error)
        recent.add(error)
        if len(window) > self.recent_window:
            old = window.popleft()
            recent.remove(old)
            if self.straddling:
                self.straddling -= 1
            # a learning model's first errors are no reference
            elif self.observed - self.recent_window > self.config.warmup:
                self.reference.add(old)

    def _judge(self) -> ConceptSignal | None:
        """The pending detection as an alert, when the rise is significant and large enough."""
        cfg = self.config
        if self.recent.mean() - self.reference.mean() < max(cfg.concept_min_effect, 1e-12):
            return None  # no rise (or too small): no test needed
        signal = self._compare(self.reference)
        if signal is None or signal.p_value >= cfg.concept_alpha:
            return None
        self.quiet_until = self.observed + cfg.cooldown
        self.pending_until = 0
        # the errors after the alert are the next reference: the window's errors
        # straddle the change, so they leave it without joining (when they did, a
        # second alert followed on a model still adapting: its errors from before
        # the change made the new reference too low)
        self.alerted_against, self.alerted_at = self.reference, self.observed
        self.reference = ErrorSample()
        self.straddling = len(self.window)
        return signal
