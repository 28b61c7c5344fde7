"""The model catalog: River models chosen by name in the config, and their baselines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from river import compose, dummy, forest, linear_model, metrics, preprocessing, stats, tree

from driftline.flows.scoring.rule import RuleClassifier, RuleRegressor, build_rule

if TYPE_CHECKING:
    from driftline.flows.config import ModelConfig

Task = Literal["classification", "regression"]
# A River classifier or regressor: River types them apart (predict_proba_one is a
# classifier's), and the catalog entry's task says which one a model is.
Model = Any


@dataclass(frozen=True)
class ModelSpec:
    """How to build one catalog entry."""

    name: str
    task: Task
    build: Callable[[int], Model]
    description: str
    binary_only: bool = False  # learns true/false only (River's LogisticRegression)


def _logreg(seed: int) -> Model:
    return compose.Pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression())


def _hat(seed: int) -> Model:
    return tree.HoeffdingAdaptiveTreeClassifier(seed=seed)


def _arf(seed: int) -> Model:
    return forest.ARFClassifier(n_models=10, seed=seed)


def _linreg(seed: int) -> Model:
    return compose.Pipeline(preprocessing.StandardScaler(), linear_model.LinearRegression())


def _hatr(seed: int) -> Model:
    return tree.HoeffdingAdaptiveTreeRegressor(seed=seed)


CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "logreg",
            "classification",
            _logreg,
            "StandardScaler | LogisticRegression",
            binary_only=True,
        ),
        ModelSpec("hat", "classification", _hat, "HoeffdingAdaptiveTreeClassifier"),
        ModelSpec("arf", "classification", _arf, "ARFClassifier(n_models=10)"),
        ModelSpec("linreg", "regression", _linreg, "StandardScaler | LinearRegression"),
        ModelSpec("hatr", "regression", _hatr, "HoeffdingAdaptiveTreeRegressor"),
    )
}


def build_model(name: str, seed: int = 42) -> Model:
    """A fresh, untrained model from the catalog."""
    return CATALOG[name].build(seed)


def build_baseline(
    task: Task, kind: Literal["prior", "no_change", "rule"], config: ModelConfig | None = None
) -> Model:
    """The simple model scored beside the real one, to report lift against.

    ``rule`` is the team's rule that `config` (the model section) names, wrapped as an
    estimator that never learns (flows/scoring/rule.py).
    """
    if kind == "rule":
        if config is None:
            raise ValueError("a rule baseline needs the model section that names model.rule")
        return build_rule(config, task)
    if task == "regression":
        if kind == "no_change":
            return dummy.StatisticRegressor(stats.Shift(1))
        return dummy.StatisticRegressor(stats.Mean())
    if kind == "no_change":
        return dummy.NoChangeClassifier()
    return dummy.PriorClassifier()


def baseline_name(baseline: Model) -> str:
    """How records, metrics and the summary name a baseline: ``prior``, ``no_change``,
    or ``rule fraud_rules:score@v3``.

    Read from the estimator, not the settings, so a shard resumed from a recovery
    store names the baseline it really scores.
    """
    if isinstance(baseline, RuleClassifier | RuleRegressor):
        return baseline.name
    if isinstance(baseline, dummy.NoChangeClassifier):
        return "no_change"
    if isinstance(baseline, dummy.StatisticRegressor) and isinstance(
        baseline.statistic, stats.Shift
    ):
        return "no_change"
    return "prior"


def metric_class(task: Task) -> type[metrics.base.Metric]:
    """The prequential metric for a task: accuracy or MAE."""
    return metrics.Accuracy if task == "classification" else metrics.MAE


def build_metric(task: Task) -> metrics.base.Metric:
    return metric_class(task)()
