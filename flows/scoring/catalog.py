"""The model catalog: River models chosen by name in the config, and their baselines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from river import compose, dummy, forest, linear_model, metrics, preprocessing, stats, tree

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


def build_baseline(task: Task, kind: Literal["prior", "no_change"]) -> Model:
    """The simple model scored beside the real one, to report lift against."""
    if task == "regression":
        if kind == "no_change":
            return dummy.StatisticRegressor(stats.Shift(1))
        return dummy.StatisticRegressor(stats.Mean())
    if kind == "no_change":
        return dummy.NoChangeClassifier()
    return dummy.PriorClassifier()


def metric_class(task: Task) -> type[metrics.base.Metric]:
    """The prequential metric for a task: accuracy or MAE."""
    return metrics.Accuracy if task == "classification" else metrics.MAE


def build_metric(task: Task) -> metrics.base.Metric:
    return metric_class(task)()
