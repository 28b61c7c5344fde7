"""Running the dataflow: metrics endpoint, signal handling, the engine, the summary."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from bytewax.recovery import RecoveryConfig
from bytewax.testing import run_main

from driftline.connectors.kafka.admin import check_kafka
from driftline.connectors.registry import (
    build_io,
    sample_events,
    sample_features,
    sample_label_messages,
    sample_messages,
)
from driftline.connectors.shutdown import SignalWatcher, clear_stop, stop_requested
from driftline.flows.app.compatibility import check_warm_start, holds_state, recovery_config
from driftline.flows.app.memory import MemoryTrimmer
from driftline.flows.app.monitor import RunMonitor
from driftline.flows.app.preflight import (
    SAMPLE_EVENTS,
    check_mapped_fields,
    check_model_fields,
    check_output_directory,
    check_window_fields,
)
from driftline.flows.config import Settings, StartupError
from driftline.flows.dataflow import FlowIO, build_dataflow
from driftline.flows.features.feature_set import feature_set_version
from driftline.flows.features.startup import check_feature_function
from driftline.flows.live import Watchers, close_page, open_page
from driftline.flows.outputs import telemetry
from driftline.flows.scoring.definition import check_model
from driftline.flows.scoring.rule import baseline_name, check_rule
from driftline.flows.scoring.spec import scoring_plan

log = logging.getLogger("driftline")


def run(
    settings: Settings,
    io: FlowIO | None = None,
    monitor: RunMonitor | None = None,
    recovery: RecoveryConfig | None = None,
    serve_metrics: bool | None = None,
) -> RunMonitor:
    """Run the job until its sources end (or a stop is requested); returns the monitor.

    Raises :class:`StartupError` (a ValueError) for anything found wrong before
    the flow starts. SIGTERM/SIGINT drain the flow within `run.shutdown_timeout`.
    """
    clear_stop()
    with (
        SignalWatcher(settings.run.shutdown_timeout),  # before any thread starts
        MemoryTrimmer(settings.run.memory_trim_interval),
    ):
        return _run(settings, io, monitor, recovery, serve_metrics)


def preflight(settings: Settings, feature_version: str) -> None:
    """Everything that can be found wrong before the flow starts, in the order a user fixes it."""
    check_models(settings)  # importable, estimators fitting the labels, rules that load
    check_kafka(settings)
    check_output_directory(settings)
    check_mapped_fields(
        settings,
        sample_messages(settings, SAMPLE_EVENTS),
        sample_label_messages(settings, SAMPLE_EVENTS),
    )
    features = sample_features(settings, SAMPLE_EVENTS)
    check_window_fields(settings, features)
    check_model_fields(settings, features)
    check_feature_function(settings.features, lambda: sample_events(settings, SAMPLE_EVENTS))
    check_warm_start(settings, feature_version)


def check_models(settings: Settings) -> None:
    """Each model of the job: its definition resolves and fits its labels, its rule loads.

    With `[[models]]` the error names the entry (``models[1] (churn): model.classes ...``).
    """
    several = bool(settings.models)
    for i, cfg in enumerate(settings.model_configs()):
        try:
            check_model(cfg)
            check_rule(cfg, settings.drift_for(cfg).on_concept_drift)
        except StartupError as exc:
            if not several:
                raise
            raise type(exc)(f"models[{i}] ({cfg.id}): {exc}") from exc


def _serve_metrics(settings: Settings) -> None:
    port = settings.metrics.port
    if port and settings.run.process_id:  # one endpoint per process of a cluster
        port += settings.run.process_id
    try:
        telemetry.serve(settings.metrics.host, port)
    except OSError as exc:
        raise StartupError(
            f"cannot serve metrics on {settings.metrics.host}:{port} ({exc.strerror}); "
            "set metrics.port / --metrics-port, or --no-metrics"
        ) from exc


def _run(
    settings: Settings,
    io: FlowIO | None,
    monitor: RunMonitor | None,
    recovery: RecoveryConfig | None,
    serve_metrics: bool | None,
) -> RunMonitor:
    feature_version = feature_set_version(settings.features)
    preflight(settings, feature_version)
    store = settings.recovery.directory if recovery is None else Path(recovery.db_dir)
    resumed = store is not None and holds_state(store)  # before a new store is made
    recovery = recovery or recovery_config(settings, feature_version)
    monitor = monitor or RunMonitor(
        progress_every=settings.run.progress_every,
        console_alerts=settings.run.console_alerts,
        progress_format=settings.run.log_format,
        resumed=resumed,
    )
    monitor.models = [spec.name for spec in scoring_plan(settings).specs]
    io = io or build_io(settings)
    models = _models_summary(settings)
    page = open_page(
        settings, _live_config(settings, models, feature_version), next(iter(monitor.models), None)
    )
    watcher = monitor if page is None else Watchers(monitor, page.feed)
    epoch = settings.run.epoch_interval if recovery is None else settings.recovery.snapshot_interval
    flow = build_dataflow(settings, io, watcher, recovering=recovery is not None)
    if serve_metrics if serve_metrics is not None else settings.metrics.enabled:
        _serve_metrics(settings)
    kafka = {}
    if "kafka" in (settings.run.source, settings.run.sink):
        from driftline.connectors.kafka import client_config, redacted

        conf = {"bootstrap.servers": settings.kafka.bootstrap_servers}
        kafka = {"kafka": redacted({**conf, **client_config(settings.kafka)})}
    log.info(
        "starting",
        extra={
            **kafka,
            "source": settings.run.source,
            "sink": settings.run.sink,
            "models": models,
            "feature_version": feature_version,
            "workers": settings.run.workers,
        },
    )
    try:
        if settings.run.workers == 1 and settings.run.process_id is None:
            run_main(flow, epoch_interval=epoch, recovery_config=recovery)
        else:
            from bytewax.run import cli_main

            cli_main(
                flow,
                workers_per_process=settings.run.workers,
                process_id=settings.run.process_id,
                addresses=settings.run.addresses or None,
                epoch_interval=epoch,
                recovery_config=recovery,
            )
    except BaseException:
        close_page(page, 0)
        raise
    close_page(page, settings.live.linger.total_seconds(), stop_requested)
    sys.stderr.flush()
    return monitor


def _models_summary(settings: Settings) -> list[dict[str, Any]]:
    """The job's models as the start-up line (and the live page) describe them."""
    return [
        {
            "model": spec.name,
            "definition_version": spec.definition.version,
            "baseline": baseline_name(spec.config),
            "target": spec.target,
            "shards": len(spec.keys),
            **({"segment_by": spec.config.segment_by} if spec.config.segment_by else {}),
            **({"slices": spec.config.slices} if spec.config.slices else {}),
        }
        for spec in scoring_plan(settings).specs
    ]


def _live_config(
    settings: Settings, models: list[dict[str, Any]], feature_version: str
) -> dict[str, Any]:
    """The run's configuration as the live page shows it: what runs, never a setting
    that could hold a secret (no Kafka settings, no paths)."""
    config: dict[str, Any] = {
        "models": models,
        "feature_version": feature_version,
        "source": settings.run.source,
        "sink": settings.run.sink,
        "workers": settings.run.workers,
        "process_id": settings.run.process_id,
        "history": settings.live.history,
    }
    if settings.run.source == "builtin":
        b = settings.builtin
        config["builtin"] = {
            "events": b.events,
            "generator": b.generator,
            "drift_points": b.drift_points,
            "data_drift_points": b.data_drift_points,
        }
    return config
