"""Settings of the outputs and the run: sinks, metrics endpoint, workers, recovery."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from driftline.flows.config.base import Duration, PositiveDuration, _Section

# --------------------------------------------------------------------------- outputs


class SinkConfig(_Section):
    """Where outputs go when the sink kind is `file`."""

    directory: Path = Path("out")
    fsync: bool = False


class MetricsConfig(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)


class LiveConfig(_Section):
    """The live page the job serves (alerts, metrics over time, versions, drift, config)."""

    enabled: bool = True
    host: str = Field("127.0.0.1", description="Loopback by default, like /metrics.")
    port: int = Field(9109, ge=0, le=65535, description="0 = any free port (logged).")
    history: int = Field(
        500, ge=10, le=100_000, description="Alerts, points and samples the page keeps."
    )
    linger: Duration = Field(
        timedelta(0),
        description="Keep serving the page this long after the input ended (a replay's "
        "last state stays on screen).",
    )


# --------------------------------------------------------------------------- app


class RunConfig(_Section):
    source: Literal["builtin", "file", "kafka"] = "builtin"
    sink: Literal["file", "kafka", "null"] = "file"
    workers: int = Field(1, ge=1, description="Worker threads in this process.")
    feature_partitions: int = Field(
        64,
        ge=1,
        le=4096,
        description="Entities are hashed to this many feature-state partitions, which bytewax "
        "spreads over the workers: the most workers the feature step can use. Fixed for the "
        "life of a recovery store, which then resumes on any number of workers.",
    )
    process_id: int | None = Field(None, ge=0, description="This process in a cluster (-i).")
    addresses: list[str] = Field(
        default_factory=list, description="host:port of every cluster process, in order (-a)."
    )
    progress_every: float = Field(2.0, gt=0, description="Seconds between progress lines.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    console_alerts: bool = True
    epoch_interval: PositiveDuration = timedelta(seconds=2)
    plugins: list[Path] = Field(
        default_factory=list,
        description="Directories searched first for model factories, feature functions and "
        "rules (--plugins DIR). Code there runs in the job: trust it like the job's own.",
    )
    shutdown_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds SIGTERM/SIGINT may take to drain; then the job exits anyway "
        "(a second signal exits at once).",
    )
    memory_trim_interval: Duration = Field(
        timedelta(seconds=5),
        description="How often freed memory is handed back to the system (glibc's "
        "malloc_trim, in a thread); 0 = never. Without it RSS climbs in steps after the "
        "state is full.",
    )

    @field_validator("plugins")
    @classmethod
    def _plugin_dirs_exist(cls, dirs: list[Path]) -> list[Path]:
        for directory in dirs:
            if not directory.is_dir():
                raise ValueError(f"plugin directory {directory} (--plugins) is not a directory")
        return dirs

    @property
    def cluster_workers(self) -> int:
        """Workers in the whole cluster: threads per process times processes."""
        return self.workers * max(1, len(self.addresses))


class RecoverySection(_Section):
    """Bytewax recovery: snapshots of operator state and source offsets."""

    directory: Path | None = Field(None, description="Recovery store; None = no recovery.")
    partitions: int = Field(1, ge=1, description="Store partitions, created when missing.")
    snapshot_interval: PositiveDuration = Field(
        timedelta(seconds=5), description="How often state is snapshotted (the epoch length)."
    )
    backup_interval: Duration = Field(
        timedelta(0), description="Keep superseded snapshots this long (for off-box backups)."
    )
