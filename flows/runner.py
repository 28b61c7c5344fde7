"""Running the dataflow: metrics endpoint, signal handling, the engine, the summary."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import run_main

from connectors.registry import build_io
from connectors.shutdown import clear_stop, request_stop
from flows import telemetry
from flows.config import Settings
from flows.dataflow import FlowIO, build_dataflow
from flows.features import feature_set_version
from flows.model_store import ModelStore
from flows.monitor import RunMonitor

log = logging.getLogger("driftline")


def _install_signal_handlers() -> None:
    """SIGTERM/SIGINT end the sources; the flow drains, sinks flush, state snapshots."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        log.warning("stop requested, draining", extra={"signal": signal.Signals(signum).name})
        request_stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def recovery_config(settings: Settings) -> RecoveryConfig | None:
    """Bytewax recovery for the configured store, initialising it when missing."""
    section = settings.recovery
    if section.directory is None:
        return None
    directory = section.directory
    if not directory.exists() or not any(directory.iterdir()):
        directory.mkdir(parents=True, exist_ok=True)
        init_db_dir(directory, section.partitions)
        log.info("recovery store created", extra={"directory": str(directory)})
    else:
        log.info("resuming from recovery store", extra={"directory": str(directory)})
    return RecoveryConfig(directory, backup_interval=section.backup_interval)


def check_warm_start(settings: Settings, feature_version: str) -> None:
    """Fail at start-up when the configured warm start cannot be used."""
    ref = settings.model.warm_start
    if not ref:
        return
    store = ModelStore(settings.model.store)
    info = store.resolve(ref, settings.model.name)
    if info.model != settings.model.name:
        raise ValueError(f"warm start {info.file} is a {info.model!r}, not {settings.model.name!r}")
    if info.feature_version != feature_version:
        raise ValueError(
            f"warm start {info.file} was trained on feature set {info.feature_version}, "
            f"this run computes {feature_version}: refusing a train/serve skew"
        )
    store.load(info)  # checksum verified now, not mid-stream
    log.info("warm start", extra={"snapshot": info.file, "version": info.version})


def run(
    settings: Settings,
    io: FlowIO | None = None,
    monitor: RunMonitor | None = None,
    recovery: RecoveryConfig | None = None,
    serve_metrics: bool | None = None,
) -> RunMonitor:
    """Run the job until its sources end (or a stop is requested); returns the monitor."""
    clear_stop()
    monitor = monitor or RunMonitor(
        progress_every=settings.run.progress_every, console_alerts=settings.run.console_alerts
    )
    check_warm_start(settings, feature_set_version(settings.features))
    io = io or build_io(settings)
    recovery = recovery or recovery_config(settings)
    epoch = settings.run.epoch_interval if recovery is None else settings.recovery.snapshot_interval
    flow = build_dataflow(settings, io, monitor, recovering=recovery is not None)
    if serve_metrics if serve_metrics is not None else settings.metrics.enabled:
        port = settings.metrics.port
        if port and settings.run.process_id:  # one endpoint per process of a cluster
            port += settings.run.process_id
        try:
            telemetry.serve(settings.metrics.host, port)
        except OSError as exc:
            raise ValueError(
                f"cannot serve metrics on {settings.metrics.host}:{port} ({exc.strerror}); "
                "set metrics.port / --metrics-port, or --no-metrics"
            ) from exc
    _install_signal_handlers()
    kafka = {}
    if "kafka" in (settings.run.source, settings.run.sink):
        from connectors.kafka import client_config, redacted

        conf = {"bootstrap.servers": settings.kafka.bootstrap_servers}
        kafka = {"kafka": redacted({**conf, **client_config(settings.kafka)})}
    log.info(
        "starting",
        extra={
            **kafka,
            "source": settings.run.source,
            "sink": settings.run.sink,
            "model": settings.model.name,
            "feature_version": feature_set_version(settings.features),
            "workers": settings.run.workers,
        },
    )
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
    sys.stderr.flush()
    return monitor
