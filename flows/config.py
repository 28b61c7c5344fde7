"""Configuration: one pydantic-settings tree, read from a TOML file and the environment.

Precedence (highest first): explicit overrides (CLI flags), environment variables
(``DRIFTLINE_`` prefix, ``__`` between nested names, e.g.
``DRIFTLINE_MODEL__NAME=hat``), the TOML file (pydantic-settings'
``TomlConfigSettingsSource``), then the defaults below. Sources merge per setting:
a file can set ``metrics.host`` while the environment sets ``metrics.port``.
Everything is validated at start-up so a bad value fails before the first event.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

STDIN = Path("-")  # `--events-file -`: read events from standard input

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_SHORT_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w))", re.IGNORECASE)


def _short_duration(value: Any) -> Any:
    """`5m`, `1h30m`, `30s`, `250ms` as a timedelta; anything else is left to pydantic.

    pydantic reads ISO-8601 (`PT5M`), `HH:MM:SS` and plain seconds; people write
    durations the short way in TOML and environment variables too.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    parts = _SHORT_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
        return value
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts))


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be a positive duration, got {value}")
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError(f"must not be negative, got {value}")
    return value


Duration = Annotated[timedelta, BeforeValidator(_short_duration), AfterValidator(_not_negative)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_short_duration), AfterValidator(_positive)]


class StartupError(ValueError):
    """A problem found before the flow starts; the command line exits 2 with its message."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


# --------------------------------------------------------------------------- features


WindowStat = Literal["count", "mean", "std", "sum"]
_DEFAULT_STATS: tuple[WindowStat, ...] = ("count", "mean", "std")


class WindowSpec(_Section):
    """One windowed aggregate family: stats of `field` per key over `period`."""

    field: str | None = Field(None, description="Numeric feature; None = event counts only.")
    period: PositiveDuration
    stats: list[WindowStat] = Field(default_factory=lambda: list(_DEFAULT_STATS))


def builtin_windows() -> list[WindowSpec]:
    """The built-in stream's windows: event counts, and its loan amounts over 5 min and 1 h."""
    return [
        WindowSpec(field=None, period=timedelta(minutes=5), stats=["count"]),
        WindowSpec(field="loan", period=timedelta(minutes=5), stats=["mean", "std"]),
        WindowSpec(field="loan", period=timedelta(hours=1), stats=["count", "mean"]),
    ]


class FeaturesConfig(_Section):
    windows: list[WindowSpec] = Field(
        default_factory=lambda: [
            WindowSpec(field=None, period=timedelta(minutes=5), stats=["count"]),
            WindowSpec(field=None, period=timedelta(hours=1), stats=["count"]),
        ],
        description="Defaults read no field of the events (they cannot know your fields).",
    )
    time_since_last: bool = True
    allowed_lateness: Duration = Field(
        timedelta(seconds=30), description="Older than the key's newest event minus this = late."
    )
    idle_ttl: PositiveDuration | None = Field(
        None,
        description="Drop an entity's windows after this much wall-clock idleness "
        "(default: the longest window plus the allowed lateness).",
    )

    @model_validator(mode="after")
    def _lateness_below_periods(self) -> FeaturesConfig:
        for w in self.windows:
            if w.period <= self.allowed_lateness:
                raise ValueError(
                    f"window period {w.period} must exceed allowed_lateness {self.allowed_lateness}"
                )
        return self


# --------------------------------------------------------------------------- scoring and drift


class ModelConfig(_Section):
    name: str = "logreg"
    baseline: Literal["prior", "no_change"] = "prior"
    shards: int = Field(1, ge=1, description="Independent model shards (hash of event id).")
    rolling_window: int = Field(1000, ge=10)
    seed: int = 42
    label_type: Literal["bool", "int", "str"] = Field(
        "bool", description="Type of a classifier's labels; others become dead letters."
    )
    classes: list[bool | int | str] | None = Field(
        None, description="Accepted class labels (classifiers); None = any of `label_type`."
    )
    store: Path = Field(Path("models"), description="Model store: the only place loaded from.")
    snapshot_every: int = Field(
        50_000, ge=0, description="Snapshot each shard's model every N labels (0 = never)."
    )
    snapshot_on_end: bool = Field(False, description="Snapshot every shard when input ends.")
    warm_start: str | None = Field(
        None, description="'latest' or a snapshot file in the store to start from."
    )

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        from driftline.flows.scoring.catalog import CATALOG

        if name not in CATALOG:
            raise ValueError(f"unknown model {name!r}; choose one of {sorted(CATALOG)}")
        return name

    @model_validator(mode="after")
    def _labels_fit_the_model(self) -> ModelConfig:
        """Label type, classes and model agree, or no label could ever be learned."""
        from driftline.flows.scoring.catalog import CATALOG

        spec = CATALOG[self.name]
        if spec.task == "classification" and spec.binary_only and self.label_type != "bool":
            raise ValueError(
                f"model.name {self.name!r} is a binary classifier: it needs model.label_type "
                f'"bool" (labels true/false or 0/1), got {self.label_type!r}; pick a '
                "multi-class model (hat, arf) for int or str labels"
            )
        if self.classes is not None:
            self.classes = [_class_of(c, self.label_type) for c in self.classes]
        return self


def _class_of(value: bool | int | str, label_type: str) -> bool | int | str:
    """One entry of `model.classes` as a value of `model.label_type` (0/1 allowed for bool)."""
    if label_type == "bool" and value.__class__ is int and value in (0, 1):
        return bool(value)
    expected = {"bool": bool, "int": int, "str": str}[label_type]
    if value.__class__ is not expected:
        raise ValueError(f"model.classes entry {value!r} is not of model.label_type {label_type!r}")
    return value


class LabelsConfig(_Section):
    """Delayed labels: how long a prediction waits for its label, and how many may wait."""

    ttl: PositiveDuration = Field(timedelta(hours=1), description="In event time.")
    max_pending: int = Field(200_000, ge=1, description="Per model shard.")


class DriftConfig(_Section):
    concept_detector: Literal["adwin", "page_hinkley", "kswin", "ddm", "eddm"] = "adwin"
    adwin_delta: float = Field(0.02, gt=0, lt=1, description="Chosen by drift-eval.")
    warmup: int = Field(1000, ge=0, description="Labelled events before concept alerts may fire.")
    cooldown: int = Field(1000, ge=0, description="Events after an alert before the next one.")
    min_reference: int = Field(
        500, ge=1, description="Errors in the reference before a rise can be judged."
    )
    min_increase: float = Field(
        0.25, ge=0, description="Recent error must exceed the reference by this fraction."
    )
    on_concept_drift: Literal["challenger", "reset", "keep"] = Field(
        "challenger",
        description="challenger: train a new model beside the champion and promote it if "
        "better; reset: replace at once; keep: only alert.",
    )
    challenge_window: int = Field(
        500, ge=10, description="Labelled events both models are compared on."
    )
    challenger_warm_start: int = Field(
        0, ge=0, description="Recent labelled examples a challenger learns from first."
    )
    data_window: int = Field(2000, ge=50, description="Events per data-drift comparison window.")
    data_alpha: float = Field(1e-6, gt=0, lt=1, description="KS p-value threshold.")
    data_min_effect: float = Field(
        0.05, ge=0, le=1, description="Minimum KS statistic (chosen by drift-eval)."
    )
    data_max_features: int = Field(
        256,
        ge=1,
        description="Distinct raw feature names watched for data drift per shard; "
        "names beyond it are counted, not watched.",
    )


# --------------------------------------------------------------------------- outputs


class SinkConfig(_Section):
    """Where outputs go when the sink kind is `file`."""

    directory: Path = Path("out")
    fsync: bool = False


class MetricsConfig(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)


# --------------------------------------------------------------------------- app


class RunConfig(_Section):
    source: Literal["builtin", "file", "kafka"] = "builtin"
    sink: Literal["file", "kafka", "null"] = "file"
    workers: int = Field(1, ge=1, description="Worker threads in this process.")
    process_id: int | None = Field(None, ge=0, description="This process in a cluster (-i).")
    addresses: list[str] = Field(
        default_factory=list, description="host:port of every cluster process, in order (-a)."
    )
    progress_every: float = Field(2.0, gt=0, description="Seconds between progress lines.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    console_alerts: bool = True
    epoch_interval: PositiveDuration = timedelta(seconds=2)
    shutdown_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds SIGTERM/SIGINT may take to drain; then the job exits anyway "
        "(a second signal exits at once).",
    )

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


# --------------------------------------------------------------------------- settings

# The TOML file `load_settings` is reading (None = no file): a context variable, not a
# class attribute, so concurrent loads in threads do not see each other's file.
_config_file: ContextVar[Path | None] = ContextVar("driftline_config_file", default=None)


class Settings(BaseSettings):
    """Everything driftline reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTLINE_", env_nested_delimiter="__", extra="forbid"
    )

    run: RunConfig = Field(default_factory=RunConfig)
    builtin: BuiltinStreamConfig = Field(default_factory=BuiltinStreamConfig)
    files: FileSourceConfig = Field(default_factory=FileSourceConfig)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    sinks: SinkConfig = Field(default_factory=SinkConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    recovery: RecoverySection = Field(default_factory=RecoverySection)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)

    @model_validator(mode="after")
    def _cluster_is_complete(self) -> Settings:
        run = self.run
        if (run.process_id is None) != (not run.addresses):
            raise ValueError("run.process_id and run.addresses go together")
        if run.process_id is not None and run.process_id >= len(run.addresses):
            raise ValueError(f"run.process_id {run.process_id} has no address")
        return self

    @model_validator(mode="after")
    def _source_has_inputs(self) -> Settings:
        files = self.files
        if self.run.source != "file":
            if files.labels_path is not None:
                raise ValueError(
                    "files.labels_path (--labels-file) is only read with run.source = 'file' "
                    f"(--source file), not {self.run.source!r}"
                )
            return self
        if files.events_path is None:
            raise ValueError("run.source = 'file' needs files.events_path (--events-file)")
        if files.events_path == STDIN:
            if self.recovery.directory is not None:
                raise ValueError(
                    "files.events_path '-' (standard input) cannot be resumed: drop "
                    "recovery.directory (--recovery-dir) or read from a file"
                )
        else:
            _readable_file("files.events_path (--events-file)", files.events_path)
        if files.labels_path is not None:
            _readable_file("files.labels_path (--labels-file)", files.labels_path)
        return self

    @model_validator(mode="after")
    def _builtin_stream_windows(self) -> Settings:
        """The built-in stream brings windows over its own `loan` field, unless set.

        The general defaults read no field (they cannot know a user's); the
        demo stream would otherwise show no windowed feature of a value.
        """
        if self.run.source == "builtin" and "windows" not in self.features.model_fields_set:
            self.features.windows = builtin_windows()
        return self

    @model_validator(mode="after")
    def _outputs_can_be_written(self) -> Settings:
        directory = self.sinks.directory
        if self.run.sink == "file" and directory.exists() and not directory.is_dir():
            raise ValueError(
                f"sinks.directory (--out) {directory} is a file; outputs need a directory"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file.get())
        return (init_settings, env_settings, toml)


def _readable_file(setting: str, path: Path) -> None:
    if not path.exists():
        raise ValueError(f"{setting} {path} does not exist")
    if not path.is_file():
        raise ValueError(f"{setting} {path} is not a file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{setting} {path} cannot be read (permissions)")


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load settings from `path` (TOML), the environment and `overrides` (nested dicts)."""
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"config file {path} not found")
    token = _config_file.set(Path(path) if path is not None else None)
    try:
        return Settings(**(overrides or {}))
    finally:
        _config_file.reset(token)


ENV_PREFIX = "DRIFTLINE_"


def _setting_names() -> dict[str, str]:
    """`SECTION__FIELD` -> `section.field` for every setting an environment variable can set."""
    names = {}
    for section, info in Settings.model_fields.items():
        names[section.upper()] = section
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name in annotation.model_fields:
                names[f"{section}__{name}".upper()] = f"{section}.{name}"
    return names


def unknown_environment(environ: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """`DRIFTLINE_*` variables that set nothing: (errors, warnings).

    A variable that is a misspelt setting (one underscore where two belong, as in
    `DRIFTLINE_MODEL_NAME`) is an error: the user meant a setting and would run
    without it. Any other unknown name is only a warning, because a deployment
    shares the prefix with things driftline does not own: Kubernetes sets
    `DRIFTLINE_PORT`, `DRIFTLINE_SERVICE_HOST`, ... for a Service named driftline.
    Nested table entries (`DRIFTLINE_KAFKA__SETTINGS__...`) are checked by the
    settings themselves.
    """
    environ = dict(os.environ) if environ is None else environ
    known = _setting_names()
    squashed = {name.replace("__", "_"): name for name in known}
    errors, warnings = [], []
    for var in sorted(environ):
        if not var.upper().startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX) :].upper()
        parts = rest.split("__")
        if rest in known or "__".join(parts[:2]) in known:
            continue
        meant = squashed.get(rest.replace("__", "_"))
        if meant is not None:
            errors.append(
                f"environment variable {var} sets nothing: did you mean "
                f"{ENV_PREFIX}{meant} ({known[meant]})? Sections and names are joined by '__'"
            )
        else:
            warnings.append(f"environment variable {var} matches no setting and is ignored")
    return errors, warnings
