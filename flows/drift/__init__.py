"""Drift detection: concept drift on the error stream, data drift on the features,
prediction drift on the model's scores."""

from driftline.flows.drift.concept import ConceptDriftMonitor, ConceptSignal, build_detector
from driftline.flows.drift.data import DataDriftMonitor, DataSignal
from driftline.flows.drift.prediction import PredictionDriftMonitor

__all__ = [
    "ConceptDriftMonitor",
    "ConceptSignal",
    "DataDriftMonitor",
    "DataSignal",
    "PredictionDriftMonitor",
    "build_detector",
]
