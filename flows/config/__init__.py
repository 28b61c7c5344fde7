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
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from driftline.flows.config.base import STDIN, Duration, PositiveDuration, StartupError
from driftline.flows.config.features import (
    FeaturesConfig,
    WindowSpec,
    WindowStat,
    builtin_windows,
)
from driftline.flows.config.mapping import EventMapping, LabelMapping, MappingConfig
from driftline.flows.config.run import (
    LiveConfig,
    MetricsConfig,
    RecoverySection,
    RunConfig,
    SinkConfig,
)
from driftline.flows.config.scoring import DriftConfig, LabelsConfig, ModelConfig
from driftline.flows.config.sources import (
    BuiltinStreamConfig,
    FileSourceConfig,
    KafkaConfig,
    ValidationConfig,
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
    models: list[ModelConfig] = Field(
        default_factory=list,
        description="Several models in one job ([[models]], each with an `id`); none = [model].",
    )
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    recovery: RecoverySection = Field(default_factory=RecoverySection)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    mapping: MappingConfig = Field(default_factory=MappingConfig)

    @model_validator(mode="after")
    def _cluster_is_complete(self) -> Settings:
        run = self.run
        if (run.process_id is None) != (not run.addresses):
            raise ValueError("run.process_id and run.addresses go together")
        if run.process_id is not None and run.process_id >= len(run.addresses):
            raise ValueError(f"run.process_id {run.process_id} has no address")
        return self

    @model_validator(mode="after")
    def _models_are_distinct(self) -> Settings:
        """`[[models]]` entries: each named once, each drift override valid; `[model]`
        then only holds what they share (:attr:`ModelConfig.SHARED`)."""
        for i, entry in enumerate(self.models):
            where = f"models[{i}]" + (f" ({entry.id})" if entry.id else "")
            if entry.id is None:
                raise ValueError(
                    f'{where}.id: every [[models]] entry needs an id, e.g. id = "fraud"'
                )
        ids = [entry.id for entry in self.models]
        twice = sorted({i for i in ids if ids.count(i) > 1 and i is not None})
        if twice:
            raise ValueError(f"models: id {twice[0]!r} names two models; ids must differ")
        if self.models:
            own = sorted(self.model.model_fields_set - set(ModelConfig.SHARED))
            if own:
                raise ValueError(
                    f"model.{own[0]} is set while [[models]] lists the models: set it in each "
                    f"[[models]] entry (models[i].{own[0]}); [model] may only hold what they "
                    f"share: {', '.join(ModelConfig.SHARED)}"
                )
            for entry in self.models:
                for key in ModelConfig.SHARED:
                    if key in self.model.model_fields_set and key not in entry.model_fields_set:
                        entry.__dict__[key] = getattr(self.model, key)
        for i, cfg in enumerate(self.model_configs()):
            if cfg.drift:
                where = f"models[{i}]" if self.models else "model"
                try:
                    self.drift_for(cfg)
                except ValidationError as exc:
                    err = exc.errors(include_url=False)[0]
                    loc = ".".join(str(p) for p in err["loc"])
                    raise ValueError(f"{where}.drift.{loc}: {err['msg']}") from None
        return self

    def model_configs(self) -> list[ModelConfig]:
        """The job's models: the `[[models]]` entries, or the one `[model]`."""
        return list(self.models) if self.models else [self.model]

    def drift_for(self, cfg: ModelConfig) -> DriftConfig:
        """The drift settings of a model: the job's `[drift]` with its own overrides."""
        if not cfg.drift:
            return self.drift
        return DriftConfig.model_validate({**self.drift.model_dump(), **cfg.drift})

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


__all__ = [
    "ENV_PREFIX",
    "STDIN",
    "BuiltinStreamConfig",
    "DriftConfig",
    "Duration",
    "EventMapping",
    "FeaturesConfig",
    "FileSourceConfig",
    "KafkaConfig",
    "LabelMapping",
    "LabelsConfig",
    "LiveConfig",
    "MappingConfig",
    "MetricsConfig",
    "ModelConfig",
    "PositiveDuration",
    "RecoverySection",
    "RunConfig",
    "Settings",
    "SinkConfig",
    "StartupError",
    "ValidationConfig",
    "WindowSpec",
    "WindowStat",
    "builtin_windows",
    "load_settings",
    "unknown_environment",
]
