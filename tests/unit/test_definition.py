"""Model definitions: a catalog name, a River class with params, a pipeline and a factory
are one kind of thing (name, task, binary-only, version, build), checked before any event."""

from __future__ import annotations

import doctest
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from river import base, compose, forest, linear_model, multiclass, preprocessing

from driftline.flows.config import ModelConfig, load_settings
from driftline.flows.plugins import add_plugin_dirs
from driftline.flows.scoring import definition as definition_module
from driftline.flows.scoring.catalog import CATALOG
from driftline.flows.scoring.definition import (
    ModelDefinitionError,
    check_model,
    define,
    label_problem,
    model_definition,
    resolve_definition,
)

PIPELINE = [
    {"estimator": "river.preprocessing.StandardScaler"},
    {"estimator": "river.linear_model.LogisticRegression", "params": {"l2": 0.001}},
]


def _cfg(**model: Any) -> ModelConfig:
    return load_settings(None, {"model": model}).model


def test_docstring_examples_run() -> None:
    assert doctest.testmod(definition_module).failed == 0


def test_a_class_by_path_is_built_with_its_params_and_the_run_seed() -> None:
    d = resolve_definition(_cfg(estimator="river.forest.ARFClassifier", params={"n_models": 3}))
    assert (d.name, d.task, d.binary_only, d.source) == (
        "ARFClassifier",
        "classification",
        False,
        "model.estimator",
    )
    assert d.description == "ARFClassifier(n_models=3)"
    model = d.build(seed=7)
    assert isinstance(model, forest.ARFClassifier) and model.n_models == 3 and model.seed == 7
    assert d.build(seed=8).seed == 8  # a challenger's own seed
    fixed = resolve_definition(
        _cfg(estimator="river.forest.ARFClassifier", params={"n_models": 3, "seed": 1})
    )
    assert fixed.build(seed=7).seed == 1  # the user's seed wins
    assert fixed.version != d.version


def test_a_pipeline_composes_its_steps_in_order() -> None:
    d = resolve_definition(_cfg(pipeline=PIPELINE))
    assert d.name == "StandardScaler | LogisticRegression" and d.source == "model.pipeline"
    assert d.description == "StandardScaler | LogisticRegression(l2=0.001)"
    assert d.task == "classification" and d.binary_only  # River's LogisticRegression
    model = d.build()
    assert isinstance(model, compose.Pipeline)
    first, last = model.steps.values()
    assert isinstance(first, preprocessing.StandardScaler) and last.l2 == 0.001


def test_a_catalog_name_is_the_definition_its_pipeline_would_be() -> None:
    logreg = CATALOG["logreg"]
    same = resolve_definition(_cfg(pipeline=[{"estimator": s["estimator"]} for s in PIPELINE]))
    assert logreg.version == same.version and logreg.name == "logreg"
    assert logreg.version != resolve_definition(_cfg(pipeline=PIPELINE)).version  # l2 differs
    assert resolve_definition(_cfg(name="hat")) is CATALOG["hat"]
    assert resolve_definition(ModelConfig()) is CATALOG["logreg"]  # the default
    assert {CATALOG[n].task for n in ("linreg", "hatr")} == {"regression"}


def test_versions_are_stable_and_short() -> None:
    """The same definition gives the same version in every process (no addresses)."""
    d = resolve_definition(
        _cfg(estimator="river.tree.HoeffdingTreeClassifier", params={"grace_period": 50})
    )
    assert d.version.startswith("md-") and len(d.version) == 13
    import subprocess

    code = (
        "from driftline.flows.config import ModelConfig;"
        "from driftline.flows.scoring.definition import resolve_definition as r;"
        "print(r(ModelConfig(estimator='river.tree.HoeffdingTreeClassifier',"
        " params={'grace_period': 50})).version)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == d.version


def test_a_nested_table_builds_a_wrapped_model() -> None:
    d = resolve_definition(
        _cfg(
            estimator="river.multiclass.OneVsRestClassifier",
            params={
                "classifier": {
                    "estimator": "river.linear_model.LogisticRegression",
                    "params": {
                        "optimizer": {"estimator": "river.optim.SGD", "params": {"lr": 0.1}}
                    },
                }
            },
        )
    )
    model = d.build()
    assert isinstance(model, multiclass.OneVsRestClassifier)
    assert isinstance(model.classifier, linear_model.LogisticRegression)
    assert model.classifier.optimizer.lr.learning_rate == 0.1
    assert not d.binary_only  # one-vs-rest makes the binary LogisticRegression multi-class


def test_a_factory_is_versioned_by_its_path_params_and_version(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "defn_team_models.py").write_text(
        "from river import preprocessing, tree\n"
        "def build(seed, grace_period=200):\n"
        "    return preprocessing.StandardScaler() | tree.HoeffdingAdaptiveTreeClassifier(\n"
        "        grace_period=grace_period, seed=seed)\n"
    )
    add_plugin_dirs([tmp_path])
    cfg = _cfg(
        factory="defn_team_models:build", version="2026-11-27", factory_params={"grace_period": 50}
    )
    d = resolve_definition(cfg)
    assert (d.name, d.task, d.source) == (
        "defn_team_models:build",
        "classification",
        "model.factory",
    )
    assert d.description == (
        "defn_team_models:build(grace_period=50) version '2026-11-27' -> "
        "StandardScaler | HoeffdingAdaptiveTreeClassifier"
    )
    assert d.build(seed=5)["HoeffdingAdaptiveTreeClassifier"].seed == 5
    bumped = resolve_definition(
        _cfg(**{**cfg.model_dump(include={"factory", "factory_params"}), "version": "2026-11-28"})
    )
    other_params = resolve_definition(_cfg(factory="defn_team_models:build", version="2026-11-27"))
    assert len({d.version, bumped.version, other_params.version}) == 3
    # the definition pickles by import path: it travels in a shard's recovery state
    again = pickle.loads(pickle.dumps(d))
    assert (
        again.version == d.version
        and again.build(seed=5)["HoeffdingAdaptiveTreeClassifier"].seed == 5
    )


def test_definitions_are_resolved_once_per_configuration() -> None:
    cfg = _cfg(estimator="river.tree.HoeffdingTreeClassifier")
    assert model_definition(cfg) is model_definition(_cfg(estimator=cfg.estimator))
    assert model_definition(cfg) is not model_definition(
        _cfg(estimator=cfg.estimator, params={"grace_period": 10})
    )


class _Always:
    """A model that is no River estimator but predicts like one (as a rule served alone)."""

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        return {True: 1.0}

    def learn_one(self, x: dict[str, float], y: Any) -> None:
        pass


def _always(seed: int) -> _Always:
    return _Always()


def test_another_kind_joins_through_define() -> None:
    d = define("always", _always, "model.rule", identity={"rule": "always"}, task="classification")
    assert (d.task, d.binary_only, d.description) == ("classification", True, "_Always")
    assert (
        d.version
        == define(
            "always", _always, "x", identity={"rule": "always"}, task="classification"
        ).version
    )
    with pytest.raises(ModelDefinitionError, match=r"model\.rule: always built a _Always, not a"):
        define("always", _always, "model.rule")  # without a task it must be a River model


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        (
            {"estimator": "river.linear_model.LinearRegression", "label_type": "bool"},
            "model.label_type 'bool' is a classifier's label type",
        ),
        (
            {"estimator": "river.linear_model.LinearRegression", "classes": [True, False]},
            "model.classes",
        ),
        (
            {"estimator": "river.tree.HoeffdingTreeClassifier", "label_type": "float"},
            'model.label_type "float" is a regression target',
        ),
        (
            {"estimator": "river.linear_model.LogisticRegression", "label_type": "int"},
            "is a binary classifier",
        ),
    ],
)
def test_labels_that_cannot_be_learned_are_refused(model: dict[str, Any], problem: str) -> None:
    cfg = _cfg(**model)
    assert problem in (label_problem(model_definition(cfg), cfg) or "")
    with pytest.raises(ModelDefinitionError, match=problem.split()[0]):
        check_model(cfg)


@pytest.mark.parametrize(
    "model",
    [
        {"estimator": "river.linear_model.LinearRegression"},  # label type left out
        {"estimator": "river.linear_model.LinearRegression", "label_type": "float"},
        {"estimator": "river.tree.HoeffdingTreeClassifier", "label_type": "str"},
        {"name": "hatr"},
    ],
)
def test_labels_that_fit_pass(model: dict[str, Any]) -> None:
    cfg = _cfg(**model)
    assert check_model(cfg) is model_definition(cfg)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"name": "hat", "estimator": "river.tree.HoeffdingTreeClassifier"},
            "model.name and model.estimator are both set",
        ),
        (
            {"pipeline": PIPELINE, "factory": "m:f", "version": "1"},
            "model.pipeline and model.factory are both set",
        ),
        ({"pipeline": []}, "model.pipeline is empty"),
        ({"pipeline": [{"params": {"l2": 0.1}}]}, "pipeline.0.estimator"),
        (
            {"pipeline": [{"estimator": "river.preprocessing.StandardScaler", "parms": {}}]},
            "pipeline.0.parms",
        ),
        ({"factory": "m:f"}, "model.version is required with model.factory"),
        (
            {"estimator": "river.tree.HoeffdingTreeClassifier", "version": "1"},
            "model.version goes with model.factory",
        ),
        ({"params": {"grace_period": 5}}, "model.params goes with model.estimator"),
        ({"factory_params": {"a": 1}, "name": "hat"}, "model.factory_params goes with"),
        ({"estimator": " "}, "model.estimator is empty"),
        ({"name": "river.tree.HoeffdingTreeClassifier"}, "set model.estimator ="),
        ({"name": "logreg", "label_type": "str"}, "model.label_type"),
        ({"name": "linreg", "label_type": "int"}, "model.label_type"),
        ({"estimator": "x.Y", "label_type": "float", "classes": [1.0]}, "model.classes"),
    ],
)
def test_config_shapes_are_refused_naming_the_key(model: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        load_settings(None, {"model": model})
    assert message in str(refused.value)


def test_what_the_checks_report(tmp_path: Path) -> None:
    """Each failure of a path starts with its key (more kinds run through the CLI in
    tests/flow/test_model_definitions.py)."""
    cases = {
        "river.tree.HoeffdingTreeClassifier": None,
        "river.optim.SGD": "model.estimator: river.optim.SGD is not a River estimator",
        "river.compose": "model.estimator: 'river.compose' is a module, not a class",
        "river.nope.Tree": "model.estimator: cannot import module 'river.nope'",
        "river.tree.NoTree": "model.estimator: module 'river.tree' has no attribute 'NoTree'",
        "river.evaluate.progressive_val_score": "is a function, not a class; a function "
        "returning a model is a model.factory",
        "river.preprocessing.OneHotEncoder": "is a transformer, not a classifier or regressor",
        "river.anomaly.HalfSpaceTrees": "is an anomaly detector",
    }
    for path, message in cases.items():
        if message is None:
            assert isinstance(resolve_definition(_cfg(estimator=path)).build(), base.Classifier)
            continue
        with pytest.raises(ModelDefinitionError) as refused:
            resolve_definition(_cfg(estimator=path))
        assert message in str(refused.value), refused.value
    with pytest.raises(ModelDefinitionError, match=r"pipeline ending in a transformer"):
        resolve_definition(_cfg(pipeline=[{"estimator": "river.preprocessing.StandardScaler"}]))
