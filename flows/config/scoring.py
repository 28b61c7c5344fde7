"""Settings of the scoring step: the model, delayed labels, and drift detection."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from driftline.flows.config.base import PositiveDuration, _Section
from driftline.flows.config.mapping import DEFAULT_TARGET


class PipelineStep(_Section):
    """One step of `model.pipeline`: a River class by import path and its parameters."""

    estimator: str = Field(
        min_length=1, description="Import path, e.g. 'river.preprocessing.StandardScaler'."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Its keyword arguments.")


class ModelConfig(_Section):
    """A model: one of `name`, `estimator`, `pipeline` or `factory` (see
    flows/scoring/definition.py), its labels, shards, snapshots and warm start, and
    what it serves (its label target, inputs, segments and slices).

    `[model]` is the job's one model; `[[models]]` lists several, each a table of
    these settings with an `id` of its own (see :class:`~driftline.flows.config.Settings`).
    """

    #: The ways to name the model; exactly one is used (`name` defaults to "logreg").
    MODEL_KINDS: ClassVar[tuple[str, ...]] = ("name", "estimator", "pipeline", "factory")
    #: Settings a `[[models]]` entry takes from `[model]` when it does not set them
    #: (so `--store`, `--warm-start` and `--snapshot-on-end` reach every model).
    SHARED: ClassVar[tuple[str, ...]] = (
        "store",
        "snapshot_every",
        "snapshot_on_end",
        "warm_start",
        "seed",
        "rolling_window",
    )

    id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="The model's own name, stamped on its predictions, alerts, metrics and "
        "snapshots (required in [[models]]; default: the definition's name, e.g. logreg).",
    )
    target: str = Field(
        DEFAULT_TARGET,
        min_length=1,
        max_length=256,
        description='The label target it learns: labels without a "target" are "default"\'s.',
    )
    features_include: list[str] = Field(
        default_factory=list,
        description="Input names (shell patterns: 'amount*') the model is served; none = all. "
        "A text feature's one-hot inputs (name=value) go by its name.",
    )
    features_exclude: list[str] = Field(
        default_factory=list, description="Input names (shell patterns) never served to it."
    )
    drift: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the job's [drift] settings for this model (same keys).",
    )
    segment_by: str | None = Field(
        None,
        min_length=1,
        description="An event field: one model instance per value of it (its own metrics, "
        "drift monitors, challenger and snapshots).",
    )
    max_segments: int = Field(
        1000,
        ge=1,
        description="Live segment models per shard; beyond it the least recently seen is "
        "snapshotted to the store and evicted (it is restored when its segment returns).",
    )
    segment_start: Literal["fresh", "parent"] = Field(
        "fresh",
        description="A new segment's model: fresh, or a copy of a parent model that learns "
        "from every segment's labels.",
    )
    slices: list[str] = Field(
        default_factory=list,
        description="Event fields to monitor the model per value of (rolling metric, lift, "
        "error-rate drift), without separate models.",
    )
    slice_values: int = Field(
        1000, ge=1, description="Distinct values watched per slice field; later ones are 'other'."
    )
    slice_top: int = Field(
        10,
        ge=1,
        description="Slice values per field exported to Prometheus (by traffic), plus 'other'.",
    )

    name: str | None = Field(
        None, description="Catalog model: logreg, hat, arf, linreg, hatr (default logreg)."
    )
    estimator: str | None = Field(
        None, description="A River class by import path: 'river.tree.HoeffdingTreeClassifier'."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of model.estimator."
    )
    pipeline: list[PipelineStep] | None = Field(
        None, description="Ordered steps, each {estimator, params}, composed as River's `|`."
    )
    factory: str | None = Field(
        None, description="Import path of a callable returning a River estimator."
    )
    factory_params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of model.factory."
    )
    version: str | None = Field(
        None,
        min_length=1,
        description="The factory's version (required with model.factory): part of the "
        "model-definition version; bump it when the factory's code changes.",
    )
    baseline: Literal["prior", "no_change", "rule"] = Field(
        "prior", description="Scored beside the model: prior, no_change, or rule (model.rule)."
    )
    rule: str | None = Field(
        None,
        description="A rule's import path ('fraud_rules:score'): the baseline when "
        'model.baseline = "rule", the model itself when model.name = "rule".',
    )
    rule_version: str | None = Field(
        None, description="The rule's version, given by its owner; part of its identity."
    )
    shards: int = Field(1, ge=1, description="Independent model shards (hash of event id).")
    rolling_window: int = Field(1000, ge=10)
    seed: int = 42
    label_type: Literal["bool", "int", "str", "float"] = Field(
        "bool",
        description="Type of a classifier's labels (bool, int, str), or float for a regressor's; "
        "others become dead letters.",
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
    def _known_model(cls, name: str | None) -> str | None:
        from driftline.flows.scoring.catalog import CATALOG

        if name is not None and name not in CATALOG and name != "rule":  # rule: model.rule
            hint = (
                f"; for a class by import path set model.estimator = {name!r}"
                if "." in name or ":" in name
                else "; or your own: model.estimator, model.pipeline or model.factory, or "
                '"rule" to serve model.rule alone'
            )
            raise ValueError(f"unknown model {name!r}; choose one of {sorted(CATALOG)}{hint}")
        return name

    @model_validator(mode="after")
    def _one_model(self) -> ModelConfig:
        """Exactly one way of naming the model, with only its own companion settings.

        The shapes are checked here; what the paths name is checked at start-up
        (flows/scoring/definition.py), once plugin directories are on the path.
        """
        if self.pipeline is not None and not self.pipeline:
            raise ValueError(
                "model.pipeline is empty: list its steps in order, e.g. "
                '[{estimator = "river.preprocessing.StandardScaler"}, '
                '{estimator = "river.linear_model.LogisticRegression"}]'
            )
        for key in ("estimator", "factory"):
            if getattr(self, key) is not None and not getattr(self, key).strip():
                raise ValueError(f"model.{key} is empty: give an import path")
        given = [kind for kind in self.MODEL_KINDS if getattr(self, kind) is not None]
        if len(given) > 1:
            raise ValueError(
                f"model.{given[0]} and model.{given[1]} are both set: they are alternatives "
                "(a catalog name, a River class with params, a pipeline or a factory); keep one"
            )
        if not given:  # the default, not marked as set (a [[models]] check tells them apart)
            self.__dict__["name"] = "logreg"
        companions = {
            "params": ("estimator", "a pipeline step has its own params"),
            "factory_params": ("factory", "keyword arguments of the factory"),
            "version": ("factory", "a class or pipeline is versioned by its parameters"),
        }
        for key, (owner, why) in companions.items():
            if getattr(self, key) and getattr(self, owner) is None:
                raise ValueError(f"model.{key} goes with model.{owner} ({why}); set or drop it")
        if self.factory is not None and self.version is None:
            raise ValueError(
                "model.version is required with model.factory: the factory's code cannot be "
                "hashed, so its version string (bumped when the code changes) is part of the "
                'model-definition version, e.g. version = "2026-11-27"'
            )
        return self

    @field_validator("features_include", "features_exclude", "slices")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name.strip():
                raise ValueError("names an empty field; give a field name")
        if len(set(names)) != len(names):
            raise ValueError(f"names a field twice: {names}")
        return names

    @model_validator(mode="after")
    def _segments_and_slices(self) -> ModelConfig:
        if self.segment_by is not None and self.segment_by in self.slices:
            raise ValueError(
                f"model.slices names {self.segment_by!r}, the model's segment_by field: each "
                "segment has its own model and metrics already; drop it from slices"
            )
        return self

    @model_validator(mode="after")
    def _labels_fit_the_model(self) -> ModelConfig:
        """Label type, classes and model agree, or no label could ever be learned.

        Checked here for a catalog name; a model named by path is checked at start-up
        the same way (definition.label_problem), once it can be imported.
        """
        from driftline.flows.scoring.catalog import CATALOG
        from driftline.flows.scoring.definition import label_problem

        if self.name in CATALOG:
            problem = label_problem(CATALOG[self.name], self)
            if problem is not None:
                raise ValueError(problem)
        if self.classes is not None:
            if self.label_type == "float":
                raise ValueError(
                    'model.classes: a regressor (model.label_type "float") has no classes; '
                    "drop model.classes"
                )
            self.classes = [_class_of(c, self.label_type) for c in self.classes]
        return self

    @model_validator(mode="after")
    def _rule_has_a_use(self) -> ModelConfig:
        """A rule is named when it is used, and used when it is named (see scoring/rule.py)."""
        serves_rule = self.name == "rule"
        if (self.baseline == "rule" or serves_rule) and not (self.rule or "").strip():
            uses = 'model.baseline = "rule"' if self.baseline == "rule" else 'model.name = "rule"'
            raise ValueError(
                f"model.rule: {uses} needs the rule's import path, e.g. "
                'model.rule = "fraud_rules:score"'
            )
        if self.rule is not None and self.baseline != "rule" and not serves_rule:
            raise ValueError(
                f"model.rule {self.rule!r} is set but nothing uses it: set "
                'model.baseline = "rule" to score it beside the model, or model.name = "rule" '
                "to serve it alone"
            )
        if self.rule_version is not None and self.rule is None:
            raise ValueError("model.rule_version is set without model.rule")
        if serves_rule and self.baseline == "rule":
            raise ValueError(
                'model.baseline: the rule is the model (model.name = "rule"); '
                'score it against "prior" or "no_change"'
            )
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
    @model_validator(mode="before")
    @classmethod
    def _replaced_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "min_increase" in data:
            raise ValueError(
                "drift.min_increase was replaced by drift.concept_alpha (the rise must be "
                "significant) and drift.concept_min_effect (an absolute minimum rise)"
            )
        return data

    concept_detector: Literal["adwin", "page_hinkley", "kswin", "ddm", "eddm"] = "adwin"
    adwin_delta: float = Field(0.02, gt=0, lt=1, description="Chosen by drift-eval.")
    warmup: int = Field(1000, ge=0, description="Labelled events before concept alerts may fire.")
    cooldown: int = Field(1000, ge=0, description="Events after an alert before the next one.")
    min_reference: int = Field(
        500, ge=1, description="Errors in the reference before a rise can be judged."
    )
    concept_alpha: float = Field(
        1e-4,
        gt=0,
        lt=1,
        description="A detection alerts only when the recent error is above the reference "
        "error with this one-sided p-value (exact test of two proportions on 0/1 errors, "
        "Welch on absolute errors). Chosen by drift-eval: 1e-4 caught all 33 abrupt drifts "
        "with no false alarm in 1.2M stable events at 0.5-30 % error (1e-3: 1; 1e-5 missed "
        "a drift).",
    )
    concept_min_effect: float = Field(
        0.0,
        ge=0,
        description="And the recent error exceeds the reference by at least this much "
        "(absolute: error rate for classifiers, the error's unit for regressors).",
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
    prediction_drift: bool = Field(
        True,
        description="Compare each data window's model scores with a reference window (KS); "
        "alert kind prediction_drift. Needs no labels.",
    )
    prediction_min_effect: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Minimum KS statistic of a prediction-drift alert: on the built-in stream "
        "a settled learning model's windows differed by KS <= 0.072, a salary x1.2 shift 0.17.",
    )
    estimate: bool = Field(
        True,
        description="Estimate a classifier's accuracy per data window from its confidence, "
        "calibrated on the labels that came (alert kind estimated_accuracy); needs no label "
        "of the window. Built-in stream, labels an hour late: within 1.1 points of the "
        "later-realized accuracy while stable, 1.8-2.8 points too low under a salary x1.5 "
        "shift.",
    )
    estimate_min_accuracy: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Alert when a window's estimated accuracy falls under this (once per "
        "crossing); None: no floor.",
    )
    estimate_max_drop: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Alert when a window's estimate is this much under its reference (see "
        "README): on the built-in stream a settled model's estimate fell <= 0.007 window to "
        "window, a salary x1.3 shift (no harm) 0.03, a salary x1.5 shift (realized -3.5 to "
        "-4.5 points) 0.07-0.075.",
    )
    estimate_bins: int = Field(
        10,
        ge=2,
        le=1000,
        description="Calibration bins of the confidence over [0, 1] (a binary model's "
        "confidence fills the upper half): the largest gap to the realized accuracy was 2.8 "
        "points with 10, 3.1 with 20, 3.3 with 40, 3.7 with 100 (finer bins: closer while "
        "stable, further under a shift).",
    )
    estimate_half_life: int = Field(
        20_000,
        ge=0,
        description="Labels after which a calibration label counts half (0: never "
        "forgotten): 20,000 tracked as well as none; 2,000-5,000 was noisier.",
    )
    estimate_windows: int = Field(
        64,
        ge=2,
        description="Recent windows whose realized accuracy is tallied as labels come: "
        "labels later than this many windows are not compared with the estimate.",
    )
    data_max_features: int = Field(
        256,
        ge=1,
        description="Distinct raw feature names watched for data drift per shard; "
        "names beyond it are counted, not watched.",
    )
