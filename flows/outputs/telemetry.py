"""Prometheus metrics (prometheus-client) and the HTTP endpoint that serves them.

Every driftline metric lives in :data:`REGISTRY`, a registry of driftline's own
(not prometheus_client's default one), so the set of driftline metrics is what is
registered there. The endpoint serves that registry and, after it, the default
registry: the process and Python collectors and bytewax's
``bytewax_kafka_consumer_lag`` live there, and were served before too.

Steps update counters once per batch, not once per event, to keep the hot path cheap.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:  # the scoring step reports through here; telemetry only reads them
    from driftline.flows.drift import DataDriftMonitor
    from driftline.flows.drift.estimate import AccuracyEstimator
    from driftline.flows.records import DeadLetter
    from driftline.flows.scoring.instance import ModelInstance, ShardStats
    from driftline.flows.scoring.shard import ModelShard

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
"""Every driftline metric, and nothing else."""

EVENTS = Counter("driftline_events", "Events by outcome.", ["outcome"], registry=REGISTRY)
DEAD_LETTERS = Counter(
    "driftline_dead_letters",
    "Inputs sent to the dead-letter output.",
    ["stage", "reason"],
    registry=REGISTRY,
)
LATE_EVENTS = Counter(
    "driftline_late_events", "Events older than the allowed lateness.", registry=REGISTRY
)
OUT_OF_ORDER = Counter(
    "driftline_out_of_order_events",
    "Events out of event-time order but within lateness.",
    registry=REGISTRY,
)
SCORING_LATENCY = Histogram(
    "driftline_scoring_latency_seconds",
    "Seconds from an event entering the flow to its prediction.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
MODEL_METRIC = Gauge(
    "driftline_model_metric",
    "Rolling prequential metric of the model and the baseline (scorer); `baseline` names "
    "the run's baseline: prior, no_change or rule PATH@VERSION; `segment` the segment's "
    "model (model.segment_by; empty for an unsegmented model).",
    ["model", "segment", "metric", "scorer", "baseline"],
    registry=REGISTRY,
)
MODEL_LIFT = Gauge(
    "driftline_model_lift",
    "How much better the model's rolling metric is than the baseline's (positive = better).",
    ["model", "segment", "metric", "baseline"],
    registry=REGISTRY,
)
ESTIMATED_ACCURACY = Gauge(
    "driftline_estimated_accuracy",
    "A classifier's accuracy in its last closed data window, estimated from its confidence "
    "calibrated on the labels that came (drift.estimate): known before the window's labels.",
    ["model", "segment"],
    registry=REGISTRY,
)
REALIZED_ACCURACY = Gauge(
    "driftline_realized_accuracy",
    "Accuracy of the newest data window with at least half of its events labelled: the "
    "realized figure to set beside that window's estimate.",
    ["model", "segment"],
    registry=REGISTRY,
)
ESTIMATE_ERROR = Gauge(
    "driftline_estimated_accuracy_error",
    "Estimated minus realized accuracy of that same window (how far to trust the estimate).",
    ["model", "segment"],
    registry=REGISTRY,
)
SLICE_METRIC = Gauge(
    "driftline_slice_metric",
    "Rolling metric of the model and the baseline (scorer) on one slice value (model.slices); "
    "per field the model.slice_top values with the most events, and 'other' for the rest.",
    ["model", "segment", "slice", "value", "metric", "scorer"],
    registry=REGISTRY,
)
SEGMENTS = Counter(
    "driftline_segments",
    "Segment models by what happened: created, evicted (beyond model.max_segments, to the "
    "model store), restored (from the store, when their segment came back).",
    ["model", "event"],
    registry=REGISTRY,
)
LIVE_SEGMENTS = Gauge(
    "driftline_live_segments",
    "Segment models a model shard holds in memory (model.max_segments bounds it).",
    ["model", "shard"],
    registry=REGISTRY,
)
PREDICTIONS = Counter(
    "driftline_predictions",
    "Predictions by model (each event is scored by every model of the job).",
    ["model"],
    registry=REGISTRY,
)
DRIFT_ALERTS = Counter(
    "driftline_drift_alerts", "Alerts raised.", ["kind", "detector"], registry=REGISTRY
)
MODEL_VERSION = Gauge(
    "driftline_model_version",
    "Current model version.",
    ["model", "shard", "segment"],
    registry=REGISTRY,
)
LABELS = Counter(
    "driftline_labels",
    "Labels by outcome, per model (a label reaches every model of its target).",
    ["outcome", "model"],
    registry=REGISTRY,
)
PENDING_LABELS = Gauge(
    "driftline_pending_labels", "Scored events waiting for a label.", registry=REGISTRY
)
OUTPUT_ERRORS = Counter(
    "driftline_output_errors",
    "Output messages a sink could not deliver.",
    ["topic"],
    registry=REGISTRY,
)
EXPIRED_KEYS = Counter(
    "driftline_expired_keys", "Entity states dropped after idling.", registry=REGISTRY
)
SNAPSHOT_BYTES = Gauge(
    "driftline_model_snapshot_bytes",
    "Size of the latest snapshot of a model shard.",
    ["shard"],
    registry=REGISTRY,
)
SNAPSHOT_WRITTEN = Counter(
    "driftline_snapshot_bytes",
    "Bytes of state snapshots taken, by step.",
    ["step"],
    registry=REGISTRY,
)

WINDOW_FIELD_MISSING = Gauge(
    "driftline_window_field_missing",
    "1 when a window's field was not a number in any of the first events checked.",
    ["field"],
    registry=REGISTRY,
)
TRACKED_FEATURES = Gauge(
    "driftline_data_drift_features",
    "Numeric feature names a model shard watches for data drift (drift.data_max_features).",
    ["shard"],
    registry=REGISTRY,
)
UNTRACKED_FEATURES = Gauge(
    "driftline_untracked_features",
    "Numeric feature names in a shard's last data window beyond drift.data_max_features.",
    ["shard"],
    registry=REGISTRY,
)
UNTRACKED_FEATURE_VALUES = Counter(
    "driftline_untracked_feature_values",
    "Numeric feature values not watched for data drift (name beyond drift.data_max_features).",
    registry=REGISTRY,
)

# The endpoint: driftline's registry, then the default one (process, Python, bytewax).
_SERVED = CollectorRegistry()
_SERVED.register(REGISTRY)
_SERVED.register(prometheus_client.REGISTRY)


def count_dead_letters(dead: list[DeadLetter]) -> None:
    """Move the dead-letter counters once for a batch of DeadLetter records."""
    if not dead:
        return
    EVENTS.labels("dead_letter").inc(len(dead))
    for (stage, reason), n in Tally((d.stage, d.reason) for d in dead).items():
        DEAD_LETTERS.labels(stage, reason).inc(n)


@dataclass(slots=True)
class ReportedLabels:
    """What a scoring step last reported of its shard: label join and instances.

    The join counts its outcomes and pending labels in total; Prometheus counters
    take increments, so each batch reports the change since the last one. An
    instance's metrics are reported when it learned since (`labelled`, by instance).
    """

    outcomes: Tally[str] = field(default_factory=Tally)
    pending: int = 0
    labelled: dict[int, int] = field(default_factory=dict)


def report_shard_batch(
    shard: ModelShard, stats: ShardStats, last: ReportedLabels, primary: bool = True
) -> None:
    """Move a shard's metrics once for a batch (once per batch keeps the hot path cheap).

    `primary`: a shard of the job's first model, whose scored events count as the
    job's events (every model scores every event; each counts its predictions).
    """
    if primary:
        EVENTS.labels("scored").inc(stats.scored)
        observe = SCORING_LATENCY.observe
        for seconds in stats.latencies:
            observe(seconds)
        if stats.late:
            LATE_EVENTS.inc(stats.late)
            EVENTS.labels("late").inc(stats.late)
        if stats.out_of_order:
            OUT_OF_ORDER.inc(stats.out_of_order)
    if stats.scored:
        PREDICTIONS.labels(shard.name).inc(stats.scored)
    if stats.labelled:
        for instance in shard.instances():
            if last.labelled.get(id(instance)) != instance.labelled:
                last.labelled[id(instance)] = instance.labelled
                _report_model_metric(instance)
                MODEL_VERSION.labels(
                    instance.model_name, instance.shard, instance.segment or ""
                ).set(instance.policy.version)
        if len(last.labelled) > 4 * (shard.spec.config.max_segments + 1):  # evicted ones
            live = {id(i) for i in shard.instances()}
            last.labelled = {k: v for k, v in last.labelled.items() if k in live}
    elif not last.labelled:  # the version serves before any label
        for instance in shard.instances():
            MODEL_VERSION.labels(instance.model_name, instance.shard, instance.segment or "").set(
                instance.policy.version
            )
    if shard.segments is not None:
        LIVE_SEGMENTS.labels(shard.name, shard.shard).set(len(shard.segments))
    _report_labels(shard, last)


def _report_model_metric(instance: ModelInstance) -> None:
    """The rolling metric of the model and of the baseline, its lift, and its slices'."""
    metric = instance.metric_name
    model_value, base_value = instance.rolling.get(), instance.baseline_rolling.get()
    model, baseline, segment = instance.model_name, instance.baseline_name, instance.segment or ""
    MODEL_METRIC.labels(model, segment, metric, "model", baseline).set(model_value)
    MODEL_METRIC.labels(model, segment, metric, "baseline", baseline).set(base_value)
    better = instance.metric.bigger_is_better
    lift = model_value - base_value if better else base_value - model_value
    MODEL_LIFT.labels(model, segment, metric, baseline).set(lift)
    slices = instance.slices
    if slices is not None:
        rows = slices.exported()
        shown = {(name, value) for name, value, _, _ in rows}
        _forget_slices(instance, slices.shown - shown)  # left the top: counted in other now
        slices.shown = shown
        for name, value, model_metric, base_metric in rows:
            SLICE_METRIC.labels(model, segment, name, value, metric, "model").set(model_metric)
            SLICE_METRIC.labels(model, segment, name, value, metric, "baseline").set(base_metric)


def _forget_slices(instance: ModelInstance, values: set[tuple[str, str]]) -> None:
    """Remove the slice series of `(field, value)` pairs of an instance."""
    model, segment, metric = instance.model_name, instance.segment or "", instance.metric_name
    for name, value in values:
        for scorer in ("model", "baseline"):
            with contextlib.suppress(KeyError):  # a resumed process never set it
                SLICE_METRIC.remove(model, segment, name, value, metric, scorer)


def forget_instance(instance: ModelInstance) -> None:
    """An evicted segment's series go, so Prometheus holds the live segments only."""
    segment = instance.segment or ""
    model, metric, baseline = instance.model_name, instance.metric_name, instance.baseline_name
    for gauge, labels in (
        (MODEL_METRIC, (model, segment, metric, "model", baseline)),
        (MODEL_METRIC, (model, segment, metric, "baseline", baseline)),
        (MODEL_LIFT, (model, segment, metric, baseline)),
        (MODEL_VERSION, (model, instance.shard, segment)),
        (ESTIMATED_ACCURACY, (model, segment)),
        (REALIZED_ACCURACY, (model, segment)),
        (ESTIMATE_ERROR, (model, segment)),
    ):
        with contextlib.suppress(KeyError):  # never reported (it learned nothing)
            gauge.remove(*labels)
    if instance.slices is not None:
        _forget_slices(instance, instance.slices.shown)


def _report_labels(shard: ModelShard, last: ReportedLabels) -> None:
    """Label outcomes and pending labels since `last`, which is brought up to date."""
    outcomes = shard.join.outcomes
    if outcomes != last.outcomes:
        for outcome, n in (outcomes - last.outcomes).items():
            LABELS.labels(outcome, shard.name).inc(n)
        last.outcomes = Tally(outcomes)
    pending = len(shard.join)
    if pending != last.pending:
        PENDING_LABELS.inc(pending - last.pending)
        last.pending = pending


def report_data_window(instance: ModelInstance, data: DataDriftMonitor) -> None:
    """An instance's data window closed: the feature names it watches and those it cannot."""
    TRACKED_FEATURES.labels(instance.shard).set(len(data.columns))
    UNTRACKED_FEATURES.labels(instance.shard).set(data.untracked)
    if data.untracked_values:
        UNTRACKED_FEATURE_VALUES.inc(data.untracked_values)


def report_estimate(instance: ModelInstance, estimator: AccuracyEstimator) -> None:
    """A data window closed: its estimated accuracy, and the newest realized one."""
    model, segment = instance.model_name, instance.segment or ""
    if estimator.last is not None:
        ESTIMATED_ACCURACY.labels(model, segment).set(estimator.last)
    tally = estimator.realized()
    if tally is not None and tally.realized is not None:
        REALIZED_ACCURACY.labels(model, segment).set(tally.realized)
        if tally.estimate is not None:
            ESTIMATE_ERROR.labels(model, segment).set(tally.estimate - tally.realized)


def metric_names() -> set[str]:
    """Exposed base names of every driftline metric (counters end in `_total`)."""
    return {  # a counter's family is named without `_total`; its samples carry it
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in REGISTRY.collect()
    }


def serve(host: str, port: int) -> int:
    """Start the /metrics endpoint (in a daemon thread); returns the port it listens on.

    Serves :data:`REGISTRY` and the default registry (see the module's docstring).
    Port 0 lets the system choose: the log then names the port actually bound.
    """
    server, _ = start_http_server(port, addr=host, registry=_SERVED)
    bound = int(server.server_port)
    log.info("metrics endpoint listening", extra={"url": f"http://{host}:{bound}/metrics"})
    return bound
