"""The model catalog: River models chosen by name in the config, and their baselines.

Each name is a :class:`~driftline.flows.scoring.definition.ModelDefinition`, as a
model configured by class, pipeline or factory is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from river import dummy, stats

from driftline.flows.scoring.definition import (
    EstimatorBuilder,
    Model,
    ModelDefinition,
    PipelineBuilder,
    Recipe,
    Task,
    define,
)
from driftline.flows.scoring.prior import CountingPrior
from driftline.flows.scoring.rule import RuleClassifier, RuleRegressor, build_rule

if TYPE_CHECKING:
    from driftline.flows.config import ModelConfig


def _river(path: str, **params: Any) -> Recipe:
    return Recipe(f"river.{path}", params, key="model.name", params_key="model.name")


def _entry(name: str, *steps: Recipe) -> ModelDefinition:
    """A catalog name as a definition of the same type a config's own model gets."""
    builder = EstimatorBuilder(steps[0]) if len(steps) == 1 else PipelineBuilder(steps)
    return define(name, builder, "model.name")


#: The shortcuts `model.name` chooses from: the same definitions `model.estimator`
#: or `model.pipeline` would give (``logreg`` has the version of the pipeline
#: StandardScaler | LogisticRegression), under a short name.
CATALOG: dict[str, ModelDefinition] = {
    entry.name: entry
    for entry in (
        _entry(
            "logreg",
            _river("preprocessing.StandardScaler"),
            _river("linear_model.LogisticRegression"),
        ),
        _entry("hat", _river("tree.HoeffdingAdaptiveTreeClassifier")),
        _entry("arf", _river("forest.ARFClassifier", n_models=10)),
        _entry(
            "linreg",
            _river("preprocessing.StandardScaler"),
            _river("linear_model.LinearRegression"),
        ),
        _entry("hatr", _river("tree.HoeffdingAdaptiveTreeRegressor")),
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
    return CountingPrior()


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
