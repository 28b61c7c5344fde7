"""A team's rule, a plain function of the served features, scored like a model.

Chip Huyen's advice: start with a simple rule, and keep it as the yardstick the
model must beat. ``model.rule = "fraud_rules:score"`` names a callable that takes
the feature vector a model sees for an event (raw features, window features,
derived features: ``{name: number}``) and returns

- for a classifier, a class of ``model.label_type`` (and of ``model.classes`` when
  set); for binary labels (``label_type = "bool"``) also a number in [0, 1], read
  as the probability of True and predicted True from 0.5 (so 0 and 1 mean
  False and True);
- for a regressor, a finite number.

The rule is wrapped here in a River-like estimator (``predict_one``,
``predict_proba_one`` for classification, ``learn_one`` that does nothing: a rule
does not learn), so the model shard scores it through the same code path as the
prior baseline (``model.baseline = "rule"``) or as the model itself
(``model.name = "rule"``, a rule alone). A rule that raises, or returns something
unusable (None, NaN, a class outside ``model.classes``), raises :class:`RuleError`
for that event; the shard turns it into a dead letter (stage ``score``, reason
``rule``) and goes on.

The rule's identity is its import path plus the user's ``model.rule_version``
(``fraud_rules:score@2024-06``): it names the baseline in records, metrics, alerts
and the summary, and the recovery manifest. A rule is pickled by that identity,
never as code, and loaded again by its path on unpickling (recovery resumes it).
"""

from __future__ import annotations

import inspect
import logging
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from driftline.flows.config.base import StartupError
from driftline.flows.plugins import PluginError, load_callable
from driftline.flows.scoring.definition import ModelDefinition, ModelDefinitionError, define

if TYPE_CHECKING:
    from driftline.flows.config import ModelConfig

log = logging.getLogger("driftline")

RULE_SETTING = "model.rule"
#: `model.name` that serves the rule alone, without an ML model.
RULE_MODEL = "rule"

Task = Literal["classification", "regression"]
LabelType = Literal["bool", "int", "str"]


_BOOLS = (bool, np.bool_)  # a tuple: isinstance is faster with it than with a union


class RuleError(ValueError):
    """The rule raised, or returned something unusable, for one event (a dead letter)."""


@dataclass(frozen=True, slots=True)
class RuleIdentity:
    """Which rule: its import path and the version string its owner gave it."""

    path: str
    version: str | None = None

    def __str__(self) -> str:
        """``fraud_rules:score@v3``, or ``fraud_rules:score`` without a version."""
        return self.path if self.version is None else f"{self.path}@{self.version}"


def load_rule(path: str, setting: str = RULE_SETTING) -> Callable[[dict[str, float]], Any]:
    """The rule at `path`: importable, callable, taking the features as one argument.

    Raises :class:`PluginError` naming `setting`, so start-up exits 2 rather than
    the first event failing.
    """
    rule: Callable[[dict[str, float]], Any] = load_callable(path, setting)
    try:
        signature = inspect.signature(rule)
    except (TypeError, ValueError):  # some builtins have none: the call will tell
        return rule
    try:
        signature.bind({})
    except TypeError as exc:
        raise PluginError(
            f"{setting}: {path!r} must take one argument, the event's features "
            f"(a dict of name -> number); its signature is {signature}"
        ) from exc
    return rule


class _Rule:
    """What both kinds of rule share: the callable, its identity, and pickling by path."""

    def __init__(self, identity: RuleIdentity) -> None:
        self.identity = identity
        self._rule = load_rule(identity.path)

    @property
    def name(self) -> str:
        """How records, metrics and the summary name this rule: ``rule fraud_rules:score@v3``."""
        return f"{RULE_MODEL} {self.identity}"

    def _call(self, x: dict[str, float]) -> Any:
        try:
            return self._rule(x)
        except Exception as exc:  # the team's code: its error goes to the dead letter
            raise RuleError(f"rule {self.identity} raised {exc!r}"[:1000]) from exc

    def _unusable(self, value: Any, wanted: str) -> RuleError:
        return RuleError(f"rule {self.identity} returned {value!r}"[:500] + f", not {wanted}")

    def learn_one(self, x: dict[str, float], y: Any) -> None:
        """Nothing: a rule does not learn (the shard calls this as for any model)."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_rule"]  # code is loaded by its path, never pickled
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._rule = load_rule(self.identity.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity})"


class RuleClassifier(_Rule):
    """A rule returning a class (or, for true/false labels, a probability of True)."""

    def __init__(
        self,
        identity: RuleIdentity,
        label_type: LabelType = "bool",
        classes: list[bool | int | str] | None = None,
    ) -> None:
        super().__init__(identity)
        self.label_type = label_type
        self.classes = None if classes is None else list(classes)

    @property
    def _multiclass(self) -> bool:
        """River's flag: int or str labels may have any number of classes."""
        return self.label_type != "bool"

    def predict_proba_one(self, x: dict[str, float]) -> dict[Any, float]:
        """The rule's answer as probabilities: 1 for the class it named, or its score.

        For true/false labels True comes first, so a score of exactly 0.5 is True.
        """
        value = self._call(x)
        if self.label_type == "bool":
            p = self._probability_of_true(value)
            return {True: p, False: 1.0 - p}
        return {self._class_of(value): 1.0}

    def predict_one(self, x: dict[str, float]) -> Any:
        """The class (what `predict_proba_one` ranks first), without building the dict."""
        value = self._call(x)
        if self.label_type == "bool":
            return self._probability_of_true(value) >= 0.5
        return self._class_of(value)

    def _probability_of_true(self, value: Any) -> float:
        if value is True or value is False or isinstance(value, _BOOLS):  # cheap first
            p = 1.0 if value else 0.0
        elif isinstance(value, numbers.Real) and 0.0 <= float(value) <= 1.0:
            p = float(value)
        else:
            raise self._unusable(value, "true/false or a probability of true in [0, 1]")
        if self.classes is not None and (p >= 0.5) not in self.classes:
            raise self._unusable(value, f"one of model.classes {self.classes}")
        return p

    def _class_of(self, value: Any) -> int | str:
        cls: int | str
        if self.label_type == "int":
            if isinstance(value, _BOOLS) or not isinstance(value, numbers.Integral):
                raise self._unusable(value, "a class of model.label_type int")
            cls = int(value)
        elif isinstance(value, str):
            cls = value
        else:
            raise self._unusable(value, "a class of model.label_type str")
        if self.classes is not None and cls not in self.classes:
            raise self._unusable(value, f"one of model.classes {self.classes}")
        return cls


class RuleRegressor(_Rule):
    """A rule returning a value (a finite number)."""

    def predict_one(self, x: dict[str, float]) -> float:
        value = self._call(x)
        if (
            isinstance(value, _BOOLS)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
        ):
            raise self._unusable(value, "a finite number")
        return float(value)


def identity_of(cfg: ModelConfig) -> RuleIdentity:
    """The configured rule's identity (`model.rule`, `model.rule_version`)."""
    if cfg.rule is None:
        raise PluginError(f"{RULE_SETTING}: no rule configured")
    return RuleIdentity(cfg.rule.strip(), cfg.rule_version)


@dataclass(frozen=True)
class RuleBuilder:
    """Builds the rule's estimator, for a rule baseline and for a rule served alone
    (a picklable builder, as :func:`~driftline.flows.scoring.definition.define`
    asks). The seed is ignored: a rule is the same rule whatever the seed."""

    identity: RuleIdentity
    task: Task
    label_type: LabelType = "bool"
    classes: tuple[bool | int | str, ...] | None = None

    def __call__(self, seed: int = 0) -> RuleClassifier | RuleRegressor:
        try:
            if self.task == "regression":
                return RuleRegressor(self.identity)
            classes = None if self.classes is None else list(self.classes)
            return RuleClassifier(self.identity, self.label_type, classes)
        except PluginError as exc:
            raise ModelDefinitionError(str(exc)) from exc

    def describe(self) -> str:
        return f"{RULE_MODEL} {self.identity}"


def rule_builder(cfg: ModelConfig, task: Task) -> RuleBuilder:
    """The builder of the configured rule for `task` (label type float: a regression target)."""
    if task == "regression" or cfg.label_type == "float":
        return RuleBuilder(identity_of(cfg), "regression")
    classes = None if cfg.classes is None else tuple(cfg.classes)
    return RuleBuilder(identity_of(cfg), "classification", cfg.label_type, classes)


def build_rule(cfg: ModelConfig, task: Task) -> RuleClassifier | RuleRegressor:
    """The configured rule as an estimator for `task`."""
    return rule_builder(cfg, task)()


def rule_definition(cfg: ModelConfig) -> ModelDefinition:
    """The rule served alone (``model.name = "rule"``) as the run's model definition.

    A classifier of ``model.label_type`` (a regressor for ``"float"``), stamped
    ``model = "rule"`` with a definition version hashed from its path and
    ``model.rule_version``; it never learns.
    """
    task: Task = "regression" if cfg.label_type == "float" else "classification"
    builder = rule_builder(cfg, task)
    identity = {"rule": builder.identity.path, "version": builder.identity.version}
    return define(RULE_MODEL, builder, RULE_SETTING, identity=identity, task=task)


def is_rule(model: Any) -> bool:
    """Whether `model` is a rule, which cannot retrain (a new one is the same rule)."""
    return isinstance(model, RuleClassifier | RuleRegressor)


def check_rule(cfg: ModelConfig, reaction: str) -> None:
    """Start-up: a model's rule loads (importable, callable, one argument).

    `reaction` is the model's `drift.on_concept_drift`.

    Raises :class:`StartupError` naming ``model.rule``, so the job exits 2 before
    the first event instead of dead-lettering every one. A rule served alone
    cannot retrain: a drift reaction other than "keep" is said, once, to act as it.
    """
    if cfg.rule is None:
        return
    try:
        load_rule(cfg.rule)
    except PluginError as exc:
        raise StartupError(str(exc)) from exc
    if cfg.name == RULE_MODEL and reaction != "keep":
        log.warning(
            f"model.name = {RULE_MODEL!r} serves a rule, which cannot retrain: "
            f"drift.on_concept_drift {reaction!r} acts as 'keep' (concept drift only alerts)",
            extra={"setting": "drift.on_concept_drift", "rule": str(identity_of(cfg))},
        )


def baseline_name(cfg: ModelConfig) -> str:
    """How the configured baseline is named: ``prior``, ``no_change`` or ``rule PATH@VERSION``."""
    return f"{RULE_MODEL} {identity_of(cfg)}" if cfg.baseline == "rule" else cfg.baseline
