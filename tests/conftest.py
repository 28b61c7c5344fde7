"""Shared fixtures: settings for quick runs, running the flow in-process, reading outputs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.flows.app.monitor import RunMonitor
from driftline.flows.config import Settings, load_settings


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


class RunResult:
    """Outputs of one in-process run."""

    def __init__(self, out: Path, monitor: RunMonitor) -> None:
        self.out = out
        self.monitor = monitor
        self.predictions = read_jsonl(out / "predictions.jsonl")
        self.alerts = read_jsonl(out / "alerts.jsonl")
        self.dead_letters = read_jsonl(out / "dead_letters.jsonl")
        self.drift_reports = read_jsonl(out / "drift_reports.jsonl")

    def alerts_of(self, kind: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["kind"] == kind]


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test run: outputs in tmp_path, no metrics server or page, quiet console."""

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "sinks": {"directory": str(tmp_path / "out")},
            "model": {"store": str(tmp_path / "models")},
            "metrics": {"enabled": False},
            "live": {"enabled": False},  # no page in tests of the flow (tests/live test it)
            "run": {"progress_every": 3600, "epoch_interval": "PT1S"},
        }
        for section, values in overrides.items():
            base.setdefault(section, {}).update(values)
        return load_settings(None, base)

    return make


@pytest.fixture
def run_flow() -> Callable[[Settings], RunResult]:
    """Run the job in-process to the end of its source; returns its outputs."""

    def run(settings: Settings) -> RunResult:
        from driftline.flows.app.runner import run as run_job

        monitor = run_job(settings, serve_metrics=False)
        return RunResult(settings.sinks.directory, monitor)

    return run


def write_jsonl(path: Path, lines: Iterable[bytes | None]) -> Path:
    """Write raw lines (bytes) to a file, one per line; None becomes an empty line."""
    path.write_bytes(b"".join((line or b"") + b"\n" for line in lines))
    return path


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A real Kafka-protocol broker (Tansu) on a free loopback port for the session."""
    from tests.support.broker import Broker

    with Broker(log_dir=tmp_path_factory.mktemp("tansu")) as b:
        yield b


OUTPUT_NAMES = ("events", "labels", "predictions", "alerts", "dead_letters", "drift_reports")


def kafka_job_env(bootstrap: str, tmp_path: Path, **settings: str) -> dict[str, str]:
    """Environment for a `driftline` subprocess on its own fresh topics.

    `settings` are extra DRIFTLINE_* variables without the prefix, e.g.
    ``MODEL__SHARDS="2"``. The topic names are in DRIFTLINE_KAFKA__<NAME>_TOPIC.
    """
    import os
    import uuid

    prefix = f"t{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "DRIFTLINE_KAFKA__TAIL": "false",
        "DRIFTLINE_KAFKA__PARTITIONS": "1",
        "DRIFTLINE_METRICS__ENABLED": "false",
        "DRIFTLINE_RUN__PROGRESS_EVERY": "3600",
        "DRIFTLINE_MODEL__STORE": str(tmp_path / "models"),
    }
    for name in OUTPUT_NAMES:
        env[f"DRIFTLINE_KAFKA__{name.upper()}_TOPIC"] = f"{prefix}.{name}"
    env.update({f"DRIFTLINE_{k}": v for k, v in settings.items()})
    return env
