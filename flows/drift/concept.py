"""Concept drift: a detector on the model's error stream, gated so only a real rise alerts.

Concept drift feeds every labelled event's error (0/1 for classifiers, absolute
error for regressors) to a River detector (ADWIN by default). A detection only
becomes an alert when the recent error is clearly *higher* than the reference
error (by `min_increase`; a model that got better is not drift), once the
reference holds `min_reference` errors after the warm-up, outside a cooldown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from river import base, drift, stats, utils

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


@dataclass(slots=True)
class ConceptSignal:
    """A detection that passed the direction, warm-up and cooldown checks."""

    reference_error: float
    recent_error: float
    observed: int


class ConceptDriftMonitor:
    """Watches one model's error stream."""

    def __init__(self, config: DriftConfig, recent_window: int = 200) -> None:
        self.config = config
        self.recent_window = recent_window
        self.reset()

    def reset(self) -> None:
        """Start over (after the model was replaced)."""
        # binary detectors (DDM, EDDM) take the 0/1 error as a number as well
        self.detector: Any = build_detector(self.config)
        self.reference = stats.Mean()
        # Rolling forwards `get` to the stat it wraps, which its type does not say
        self.recent: Any = utils.Rolling(stats.Mean, window_size=self.recent_window)
        self.observed = 0
        self.quiet_until = self.config.warmup
        self.pending_until = 0  # a detection waiting for the recent error to rise

    def update(self, error: float) -> ConceptSignal | None:
        """Feed one error; returns a signal when drift towards worse is detected.

        A detection whose recent error has not risen enough yet stays pending for
        `recent_window` errors and is judged again on each one: the detector
        often fires before the last-200 error has caught up with the change.
        """
        self.observed += 1
        self.recent.update(error)
        detector = self.detector
        detector.update(error)
        signal = None
        cfg = self.config
        if (
            detector.drift_detected
            and self.observed > self.quiet_until
            and self.reference.n >= cfg.min_reference
        ):
            self.pending_until = self.observed + self.recent_window
        if self.observed <= self.pending_until:
            ref = self.reference.get()
            rec = self.recent.get()
            if rec > ref * (1.0 + cfg.min_increase) and rec > ref:
                signal = ConceptSignal(ref, rec, self.observed)
                self.quiet_until = self.observed + cfg.cooldown
                self.pending_until = 0
                self.reference = stats.Mean()
        if self.observed > cfg.warmup:  # a learning model's first errors are no reference
            self.reference.update(error)
        return signal
