"""Settings of the sources (built-in stream, files, Kafka) and of parsing."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    model_validator,
)

from driftline.flows.config.base import Duration, _Section

# --------------------------------------------------------------------------- sources


class BuiltinStreamConfig(_Section):
    """The embedded drifting stream (no broker needed)."""

    events: int = Field(60_000, ge=0, description="Events to generate; 0 = endless.")
    seed: int = 42
    generator: Literal["agrawal", "sea"] = "agrawal"
    balance_classes: bool = Field(True, description="Agrawal: alternate the two classes.")
    concepts: list[int] = Field(
        default_factory=lambda: [7, 6, 9],
        min_length=1,
        description="Classification function per concept (Agrawal 0-9, SEA 0-3).",
    )
    drift_points: list[int] = Field(
        default_factory=lambda: [20_000, 40_000],
        description="Event index where each next concept starts (one fewer than concepts).",
    )
    drift_width: int = Field(1, ge=1, description="1 = abrupt; larger = gradual drift.")
    data_drift_points: list[int] = Field(
        default_factory=lambda: [50_000],
        description="Event indexes where a covariate shift of `data_drift_feature` starts.",
    )
    data_drift_feature: str = "hvalue"
    data_drift_scale: float = 1.5
    keys: int = Field(500, ge=1, description="Number of distinct entities.")
    start: datetime = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    mean_gap_ms: float = Field(50.0, gt=0, description="Mean event-time gap between events.")
    disorder: float = Field(
        0.01, ge=0, le=1, description="Share of events emitted out of event-time order."
    )
    bad_every: int = Field(5000, ge=0, description="Inject a malformed message every N events.")
    batch_size: int = Field(500, ge=1)
    labels: Literal["inline", "separate"] = Field(
        "inline", description="Labels inside events, or as their own delayed messages."
    )
    label_delay: Duration = Field(
        timedelta(seconds=5), description="Mean event-time delay of a separate label."
    )
    label_delay_kind: Literal["fixed", "exponential"] = "exponential"
    label_missing: float = Field(0.0, ge=0, le=1, description="Share of labels that never come.")

    @model_validator(mode="after")
    def _points_match_concepts(self) -> BuiltinStreamConfig:
        if len(self.drift_points) != len(self.concepts) - 1:
            raise ValueError(
                f"drift_points needs {len(self.concepts) - 1} entries for "
                f"{len(self.concepts)} concepts, got {len(self.drift_points)}"
            )
        if self.drift_points != sorted(self.drift_points):
            raise ValueError("drift_points must be increasing")
        limit = 10 if self.generator == "agrawal" else 4
        bad = [c for c in self.concepts if not 0 <= c < limit]
        if bad:
            raise ValueError(f"{self.generator} has functions 0..{limit - 1}; got {bad}")
        return self


class FileSourceConfig(_Section):
    events_path: Path | None = None
    labels_path: Path | None = Field(None, description="JSONL labels replayed beside events.")
    batch_size: int = Field(1000, ge=1)


class KafkaConfig(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    events_topic: str = "driftline.events"
    labels_topic: str = "driftline.labels"
    predictions_topic: str = "driftline.predictions"
    alerts_topic: str = "driftline.alerts"
    dead_letters_topic: str = "driftline.dead-letters"
    drift_reports_topic: str = "driftline.drift-reports"
    partitions: int = Field(3, ge=1)
    replication_factor: int = Field(1, ge=1)
    batch_size: int = Field(1000, ge=1)
    batch_wait_ms: float = Field(
        5.0, ge=0, description="How long a batch may wait to fill up (latency for throughput)."
    )
    tail: bool = Field(True, description="Keep waiting for new messages at the end.")
    settings: dict[str, str] = Field(
        default_factory=dict, description="librdkafka settings for every client (SASL/SSL...)."
    )
    consumer_settings: dict[str, str] = Field(
        default_factory=dict, description="librdkafka settings for the consumers only."
    )
    producer_settings: dict[str, str] = Field(
        default_factory=dict, description="librdkafka settings for the producers only."
    )
    flush_timeout: float = Field(
        30.0, gt=0, description="Seconds a batch of outputs may wait for the broker's acks."
    )
    sasl_password: SecretStr | None = Field(None, description="Taken from the environment.")
    connect_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds to reach the brokers and find the topics at start-up "
        "(exit 2 when they cannot be reached).",
    )


# --------------------------------------------------------------------------- parse


class ValidationConfig(_Section):
    max_bytes: int = Field(65_536, ge=64)
    max_features: int = Field(256, ge=1)
    max_string: int = Field(256, ge=1)
    min_event_time: datetime = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
    max_future: Duration = timedelta(days=1)
