"""Prometheus metrics (prometheus-client) and the HTTP endpoint that serves them.

Steps update counters once per batch, not once per event, to keep the hot path cheap.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

EVENTS = Counter("driftline_events", "Events by outcome.", ["outcome"])
DEAD_LETTERS = Counter(
    "driftline_dead_letters", "Inputs sent to the dead-letter output.", ["stage", "reason"]
)
LATE_EVENTS = Counter("driftline_late_events", "Events older than the allowed lateness.")
OUT_OF_ORDER = Counter(
    "driftline_out_of_order_events", "Events out of event-time order but within lateness."
)
SCORING_LATENCY = Histogram(
    "driftline_scoring_latency_seconds",
    "Seconds from an event entering the flow to its prediction.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
MODEL_METRIC = Gauge(
    "driftline_model_metric",
    "Rolling prequential metric of the model and the baseline.",
    ["model", "metric", "scorer"],
)
MODEL_LIFT = Gauge(
    "driftline_model_lift",
    "How much better the model's rolling metric is than the baseline's (positive = better).",
    ["model", "metric"],
)
DRIFT_ALERTS = Counter("driftline_drift_alerts", "Alerts raised.", ["kind", "detector"])
MODEL_VERSION = Gauge("driftline_model_version", "Current model version.", ["model", "shard"])
LABELS = Counter("driftline_labels", "Labels by outcome.", ["outcome"])
PENDING_LABELS = Gauge("driftline_pending_labels", "Scored events waiting for a label.")
OUTPUT_ERRORS = Counter(
    "driftline_output_errors", "Output messages a sink could not deliver.", ["topic"]
)
EXPIRED_KEYS = Counter("driftline_expired_keys", "Entity states dropped after idling.")
SNAPSHOT_BYTES = Gauge(
    "driftline_model_snapshot_bytes", "Size of the latest snapshot of a model shard.", ["shard"]
)
SNAPSHOT_WRITTEN = Counter(
    "driftline_snapshot_bytes", "Bytes of state snapshots taken, by step.", ["step"]
)

WINDOW_FIELD_MISSING = Gauge(
    "driftline_window_field_missing",
    "1 when a window's field was not a number in any of the first events checked.",
    ["field"],
)
TRACKED_FEATURES = Gauge(
    "driftline_data_drift_features",
    "Numeric feature names a model shard watches for data drift (drift.data_max_features).",
    ["shard"],
)
UNTRACKED_FEATURES = Gauge(
    "driftline_untracked_features",
    "Numeric feature names in a shard's last data window beyond drift.data_max_features.",
    ["shard"],
)
UNTRACKED_FEATURE_VALUES = Counter(
    "driftline_untracked_feature_values",
    "Numeric feature values not watched for data drift (name beyond drift.data_max_features).",
)

_ALL = (
    WINDOW_FIELD_MISSING,
    EVENTS,
    DEAD_LETTERS,
    LATE_EVENTS,
    OUT_OF_ORDER,
    SCORING_LATENCY,
    MODEL_METRIC,
    MODEL_LIFT,
    DRIFT_ALERTS,
    MODEL_VERSION,
    LABELS,
    PENDING_LABELS,
    EXPIRED_KEYS,
    OUTPUT_ERRORS,
    SNAPSHOT_BYTES,
    SNAPSHOT_WRITTEN,
    TRACKED_FEATURES,
    UNTRACKED_FEATURES,
    UNTRACKED_FEATURE_VALUES,
)


def count_dead_letters(dead: list) -> None:
    """Move the dead-letter counters once for a batch of DeadLetter records."""
    if not dead:
        return
    EVENTS.labels("dead_letter").inc(len(dead))
    for (stage, reason), n in Tally((d.stage, d.reason) for d in dead).items():
        DEAD_LETTERS.labels(stage, reason).inc(n)


def metric_names() -> set[str]:
    """Exposed base names of every driftline metric (counters end in `_total`)."""
    names = set()
    for metric in _ALL:
        name = metric._name  # prometheus-client strips `_total` from counter names
        names.add(f"{name}_total" if isinstance(metric, Counter) else name)
    return names


def serve(host: str, port: int) -> int:
    """Start the /metrics endpoint (in a daemon thread); returns the port it listens on.

    Port 0 lets the system choose: the log then names the port actually bound.
    """
    server, _ = start_http_server(port, addr=host, registry=REGISTRY)
    bound = int(server.server_port)
    log.info("metrics endpoint listening", extra={"url": f"http://{host}:{bound}/metrics"})
    return bound
