"""The records the flow emits, one typed class each, and the outputs they are written to.

The scoring shard emits :class:`Prediction`, :class:`Alert`, :class:`DriftReport`,
:class:`DeadLetter` and outcome records (:class:`Classified` or :class:`Regressed`,
for the run monitor only); the encode step routes them by type to an
:class:`Output`. Each written record is serialised by orjson as it is: its JSON
keys are its fields, in their order. An alert also says how a person reads it on
the console.

The bottom layer: nothing here imports another driftline module at run time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import orjson

if TYPE_CHECKING:
    from driftline.flows.config import KafkaConfig


class Output(StrEnum):
    """The outputs of the flow: one JSONL file, or one Kafka topic, each."""

    PREDICTIONS = "predictions"
    ALERTS = "alerts"
    DEAD_LETTERS = "dead_letters"
    DRIFT_REPORTS = "drift_reports"

    @property
    def file_name(self) -> str:
        """Its file in `sinks.directory` (``predictions.jsonl``)."""
        return f"{self.value}.jsonl"

    @property
    def topic_setting(self) -> str:
        """The name of its topic's setting in the `kafka` section (``predictions_topic``)."""
        return f"{self.value}_topic"

    def topic(self, cfg: KafkaConfig) -> str:
        """Its Kafka topic in `cfg`."""
        topic: str = getattr(cfg, self.topic_setting)
        return topic


@dataclass
class Prediction:
    """One scored event, as written to the predictions output.

    Not slotted, on purpose: orjson serialises a dataclass with a `__dict__`
    through that dict, over three times faster than one with slots (measured 0.5
    vs 1.6 µs), and this record is made for every event. `late` is written
    only when true (see :class:`LatePrediction`).
    """

    id: str
    key: str
    ts: str
    prediction: Any
    score: float | None
    baseline: Any
    baseline_model: str  # which baseline: prior, no_change or rule fraud_rules:score@v3
    label: Any
    model: str
    model_version: int
    definition_version: str  # the model definition's (md-...): class, params or factory
    feature_version: str
    shard: str
    latency_ms: float
    segment: str | None = None  # the segment whose model scored it (model.segment_by)

    def to_json(self) -> bytes:
        return orjson.dumps(self)


@dataclass
class LatePrediction(Prediction):
    """A prediction for a late event (older than its entity's newest by more than
    `features.allowed_lateness`): the same record with ``"late": true`` last."""

    late: bool = True


AlertKind = Literal[
    "concept_drift",
    "data_drift",
    "prediction_drift",
    "estimated_accuracy",
    "model_reset",
    "challenger_started",
    "model_promoted",
    "challenger_dropped",
]
Severity = Literal["info", "warning", "critical"]


@dataclass(slots=True)
class Alert:
    """Something an operator should know about, tied to the event where it fired."""

    kind: AlertKind
    detector: str
    model: str
    model_version: int
    event_id: str
    event_ts: str
    shard: str
    severity: Severity = "warning"
    feature: str | None = None
    statistic: dict[str, Any] = field(default_factory=dict)
    events_seen: int = 0
    segment: str | None = None  # the segment model it is about (model.segment_by)
    slice: str | None = None  # the slice it is about ("country=BR", model.slices)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    def describe(self) -> str:
        """One line for people watching the console."""
        s = self.statistic
        where = f"at event {self.event_id} ({self.event_ts}), shard {self.shard}"
        who = f"{self.model} v{self.model_version}"
        if self.segment is not None:
            who = f"{self.model}[{self.segment}] v{self.model_version}"
        if self.slice is not None:
            who += f" for {self.slice}"
        if self.kind == "concept_drift":
            what = (
                f"CONCEPT DRIFT [{self.detector}] {who}: error rate "
                f"{s.get('reference_error', float('nan')):.3f} -> "
                f"{s.get('recent_error', float('nan')):.3f}"
            )
            if "baseline_metric" in s:  # does the model still beat its baseline?
                what += (
                    f"; rolling {s.get('metric')} model {s['model_metric']:.3f}, "
                    f"{baseline_label(s.get('baseline'))} {s['baseline_metric']:.3f}"
                )
            what += _moved_with(s)
        elif self.kind == "data_drift":
            what = (
                f"DATA DRIFT [{self.detector}] {who} feature {self.feature!r}: "
                f"KS={s.get('ks', float('nan')):.3f} p={s.get('p_value', float('nan')):.1e}, "
                f"mean {s.get('reference_mean', float('nan')):.4g} -> "
                f"{s.get('current_mean', float('nan')):.4g}"
            )
        elif self.kind == "prediction_drift":
            what = (
                f"PREDICTION DRIFT [{self.detector}] {who}: "
                f"KS={s.get('ks', float('nan')):.3f} p={s.get('p_value', float('nan')):.1e}, "
                f"mean score {s.get('reference_mean', float('nan')):.4g} -> "
                f"{s.get('current_mean', float('nan')):.4g}"
            )
            classes = s.get("classes")
            if classes is not None:  # a multi-class model's predicted classes moved
                what += (
                    f"; predicted classes TVD={classes.get('tvd', float('nan')):.3f} "
                    f"p={classes.get('p_value', float('nan')):.1e}"
                )
        elif self.kind == "estimated_accuracy":
            realized = s.get("realized")
            what = (
                f"ESTIMATED ACCURACY [{self.detector}] {who}: "
                f"{s.get('estimate', float('nan')):.3f} (reference "
                f"{s.get('reference') if s.get('reference') is not None else '-'}; "
                f"{', '.join(s.get('reasons', []))}), realized so far "
                f"{'-' if realized is None else format(realized, '.3f')} on "
                f"{s.get('labelled_fraction', 0.0):.0%} of the window labelled"
            )
        elif self.kind == "challenger_started":
            what = (
                f"CHALLENGER v{s.get('challenger_version')} training beside {who} "
                f"(compared over {s.get('window')} labelled events)"
            )
        elif self.kind in ("model_promoted", "challenger_dropped"):
            verb = "PROMOTED" if self.kind == "model_promoted" else "DROPPED"
            what = (
                f"CHALLENGER {verb}: v{s.get('challenger_version')} error "
                f"{s.get('challenger_error', float('nan')):.3f} vs champion "
                f"v{s.get('from_version')} {s.get('champion_error', float('nan')):.3f} "
                f"over {s.get('compared')} events; serving {who}"
            )
        else:
            what = (
                f"MODEL RESET {self.model} v{s.get('from_version')} -> v{self.model_version} "
                f"({s.get('reason', '')})"
            )
        return f"{what} {where}"


def baseline_label(name: str | None) -> str:
    """How people read a baseline's name: ``baseline prior``, or the rule by its name.

    >>> baseline_label("prior"), baseline_label("rule fraud_rules:score@v3")
    ('baseline prior', 'rule fraud_rules:score@v3')
    """
    if name is None:
        return "baseline"
    return name if name.startswith("rule ") else f"baseline {name}"


@dataclass(slots=True)
class WindowAccuracy:
    """One recent data window's estimated accuracy and its realized accuracy so far."""

    window: int  # the instance's data window number
    end_event_id: str
    estimate: float | None  # None: not calibrated yet when it closed
    realized: float | None  # right / labelled of its events, None before any label
    labelled: int
    events: int  # its events served with a confidence (the estimate's events)


@dataclass(slots=True)
class EstimateReport:
    """Estimated accuracy in a drift report (drift.estimate, classifiers only).

    `estimate` is the last closed window's; `windows` the recent windows whose
    labels came since the previous report, estimate beside realized (a window's
    last entry is its most complete).
    """

    window: int
    estimate: float | None
    reference: float | None
    events: int
    calibration_labels: int  # labels the calibration learned for this model version
    windows: list[WindowAccuracy]


@dataclass(slots=True, kw_only=True)
class DriftReport:
    """What a closed data window looked like, for the drift reports output.

    `untracked_features`: numeric feature names the window had beyond
    `drift.data_max_features`, which are not watched. `prediction`: how the
    model's scores compared with their reference window (drift.prediction_drift).
    """

    kind: Literal["drift_report"] = "drift_report"
    shard: str
    model: str
    segment: str | None = None
    model_version: int
    feature_version: str
    window_end_event_id: str
    window_end_ts: str
    events: int
    events_seen: int
    recent_error: float | None
    rolling_metric: dict[str, float]
    features: dict[str, Any]
    tracked_features: int
    untracked_features: int
    drifted: list[str]
    slices: dict[str, dict[str, Any]] = field(default_factory=dict)  # "country=BR": figures
    # the model's scores in the last closed prediction window against their reference
    # (ks, p_value, reference_mean, current_mean); None until there is a reference
    prediction: dict[str, Any] | None = None
    # estimated vs realized accuracy per window (drift.estimate; None for a regressor)
    estimate: EstimateReport | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(self)


RAW_KEEP = 65_536  # characters of an unusable input a dead letter keeps


@dataclass(slots=True)
class DeadLetter:
    """An input that could not be used, kept with the reason (made by :func:`dead_letter`)."""

    raw: str
    error: str
    stage: str
    ts: str
    reason: str = "invalid"
    source: str = "events"

    def to_json(self) -> bytes:
        return orjson.dumps(self)


def dead_letter(
    raw: bytes | str, error: str, stage: str, reason: str, source: str, whole: bool = False
) -> DeadLetter:
    """A dead letter for `raw`, stamped with the time now (UTC).

    `raw` is kept as text: its first :data:`RAW_KEEP` characters (bytes decoded as
    UTF-8, anything else kept as backslash escapes), or all of it when `whole`
    (a record the flow encoded itself, already within `validation.max_bytes`).
    """
    if not whole:
        raw = raw[:RAW_KEEP]
    text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="backslashreplace")
    return DeadLetter(text, error, stage, datetime.now(UTC).isoformat(), reason, source)


class Classified(NamedTuple):
    """A classifier's prediction met its label: were the model and the baseline right?

    None where that scorer made no prediction (still untrained): the label is
    counted, but not in that scorer's accuracy, as River's metrics do. Written to
    no output: the shard emits it for the run monitor. A named tuple, so readers of
    the `(event_id, right, baseline_right)` tuple it replaced keep working.
    """

    event_id: str
    right: bool | None
    baseline_right: bool | None
    model: str = ""  # which model of the job ("" when a reader does not care)


class Regressed(NamedTuple):
    """A regressor's prediction met its label: absolute errors of the model and the baseline."""

    event_id: str
    error: float | None
    baseline_error: float | None
    model: str = ""


Outcome = Classified | Regressed

#: What a model shard emits, and the encode step routes by type.
Record = Prediction | Alert | DriftReport | DeadLetter | Outcome


def outcome_of(
    task: str, event_id: str, y: Any, y_pred: Any, b_pred: Any, model: str = ""
) -> Outcome:
    """What a shard emits for the monitor when `model`'s prediction meets its (learnable)
    label `y`. `task` is "classification" or "regression".
    """
    if task == "regression":
        return Regressed(event_id, _abs_error(y, y_pred), _abs_error(y, b_pred), model)
    return Classified(
        event_id,
        None if y_pred is None else bool(y_pred == y),
        None if b_pred is None else bool(b_pred == y),
        model,
    )


def _abs_error(y: Any, pred: Any) -> float | None:
    """|y - pred|, or None when there is no usable prediction (never raises: state has moved)."""
    try:
        return None if pred is None else abs(float(y) - float(pred))
    except (TypeError, ValueError):
        return None


def _moved_with(statistic: dict[str, Any]) -> str:
    """What a concept-drift alert says moved with the errors, in a few words."""
    said = ""
    moved = statistic.get("moved_features")
    if moved:
        top = moved[0]
        said += f"; input moved most: {top['feature']} (KS {top['ks']:.3f} p={top['p_value']:.1e})"
    rising = statistic.get("rising_slices")
    if rising:
        said += "; error rose most for " + ", ".join(
            f"{r['slice']} ({r['reference_error']:.3f} -> {r['recent_error']:.3f})"
            for r in rising[:2]
        )
    return said
