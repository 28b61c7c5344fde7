"""Drift detection: concept drift on the error stream, data drift on the features."""

from driftline.flows.drift.concept import ConceptDriftMonitor, ConceptSignal, build_detector
from driftline.flows.drift.data import DataDriftMonitor, DataSignal

__all__ = [
    "ConceptDriftMonitor",
    "ConceptSignal",
    "DataDriftMonitor",
    "DataSignal",
    "build_detector",
]
