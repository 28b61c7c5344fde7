"""A team's rule as an estimator: what it may return, what is refused, how it is named."""

from __future__ import annotations

import math
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from river import dummy, stats

from driftline.flows.config import ModelConfig, Settings, StartupError
from driftline.flows.plugins import PluginError
from driftline.flows.records import Alert
from driftline.flows.scoring.catalog import baseline_name, build_baseline
from driftline.flows.scoring.definition import ModelDefinitionError, model_definition
from driftline.flows.scoring.rule import (
    RuleClassifier,
    RuleError,
    RuleIdentity,
    RuleRegressor,
    check_rule,
    load_rule,
    rule_definition,
)

RULES = """
import math

ANSWER = {}  # what `answer` returns, set by each test


def answer(x):
    return ANSWER["value"]


def boom(x):
    raise KeyError("salary")


def two_args(x, y):
    return True


big_spender = lambda x: x["amount"] > 100  # noqa: E731 (pickled by path, never as code)

NOT_CALLABLE = 3
"""


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A plugin module of rules, importable for this test only."""
    (tmp_path / "unit_rules.py").write_text(RULES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "unit_rules", raising=False)
    import unit_rules

    yield unit_rules
    sys.modules.pop("unit_rules", None)


def answering(rules, value, **kwargs) -> RuleClassifier:
    rules.ANSWER["value"] = value
    return RuleClassifier(RuleIdentity("unit_rules:answer", "v1"), **kwargs)


@pytest.mark.parametrize(
    ("value", "proba", "predicted"),
    [
        (True, {True: 1.0, False: 0.0}, True),
        (False, {True: 0.0, False: 1.0}, False),
        (np.bool_(True), {True: 1.0, False: 0.0}, True),
        (0.7, {True: 0.7, False: pytest.approx(0.3)}, True),
        (np.float64(0.2), {True: 0.2, False: 0.8}, False),
        (0.5, {True: 0.5, False: 0.5}, True),  # a tie is True: a score >= 0.5 is True
        (1, {True: 1.0, False: 0.0}, True),
        (0, {True: 0.0, False: 1.0}, False),
    ],
)
def test_a_binary_rule_returns_a_class_or_a_probability_of_true(
    rules, value, proba, predicted
) -> None:
    rule = answering(rules, value)
    assert rule.predict_proba_one({}) == proba
    assert rule.predict_one({}) is predicted


@pytest.mark.parametrize("value", [None, math.nan, 1.5, -0.1, "yes", [True]])
def test_a_binary_rule_returning_anything_else_is_refused(rules, value) -> None:
    with pytest.raises(RuleError, match=r"rule unit_rules:answer@v1 returned .*, not true/false"):
        answering(rules, value).predict_one({})


def test_a_multiclass_rule_names_a_class_of_the_label_type(rules) -> None:
    assert answering(rules, 2, label_type="int").predict_proba_one({}) == {2: 1.0}
    assert answering(rules, np.int64(2), label_type="int").predict_one({}) == 2
    assert answering(rules, "high", label_type="str").predict_one({}) == "high"
    for value, label_type in [(True, "int"), (2.0, "int"), ("2", "int"), (2, "str")]:
        with pytest.raises(RuleError, match=f"not a class of model.label_type {label_type}"):
            answering(rules, value, label_type=label_type).predict_one({})


def test_a_class_outside_model_classes_is_refused(rules) -> None:
    rule = answering(rules, 3, label_type="int", classes=[0, 1, 2])
    with pytest.raises(RuleError, match=r"returned 3, not one of model.classes \[0, 1, 2\]"):
        rule.predict_one({})
    with pytest.raises(RuleError, match=r"not one of model\.classes"):
        answering(rules, 0.9, classes=[False]).predict_one({})
    assert answering(rules, 0.1, classes=[False]).predict_one({}) is False


def test_a_regression_rule_returns_a_finite_number(rules) -> None:
    rules.ANSWER["value"] = np.float32(2.5)
    rule = RuleRegressor(RuleIdentity("unit_rules:answer"))
    assert rule.predict_one({}) == 2.5 and not hasattr(rule, "predict_proba_one")
    for value in (None, math.nan, math.inf, True, "3"):
        rules.ANSWER["value"] = value
        with pytest.raises(RuleError, match="not a finite number"):
            rule.predict_one({})


def test_the_rules_own_error_is_kept(rules) -> None:
    rule = RuleClassifier(RuleIdentity("unit_rules:boom"))
    with pytest.raises(RuleError, match=r"^rule unit_rules:boom raised KeyError\('salary'\)$"):
        rule.predict_one({"amount": 1.0})


def test_a_rule_does_not_learn(rules) -> None:
    rule = RuleClassifier(RuleIdentity("unit_rules:big_spender"))
    for _ in range(50):
        rule.learn_one({"amount": 500.0}, False)
    assert rule.predict_one({"amount": 500.0}) is True


def test_a_rule_is_pickled_by_its_path_not_as_code(rules) -> None:
    rule = RuleClassifier(RuleIdentity("unit_rules:big_spender", "2024-06"), "bool", [True, False])
    blob = pickle.dumps(rule)  # a lambda: pickling the code itself would fail
    assert b"big_spender" in blob and b"<lambda>" not in blob
    rules.big_spender = lambda x: x["amount"] > 1000  # the code as it is when resumed
    again = pickle.loads(blob)
    assert again.identity == RuleIdentity("unit_rules:big_spender", "2024-06")
    assert again.classes == [True, False]
    assert again.predict_one({"amount": 500.0}) is False


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("unit_rules:two_args", "must take one argument, the event's features"),
        ("unit_rules:NOT_CALLABLE", "is a int, not a callable"),
        ("unit_rules:nope", "has no attribute 'nope'"),
        ("no_such_rules:score", "cannot import module 'no_such_rules'"),
    ],
)
def test_a_rule_that_cannot_be_used_names_model_rule(rules, path, message) -> None:
    with pytest.raises(PluginError, match=message) as caught:
        load_rule(path)
    assert str(caught.value).startswith("model.rule: ")
    cfg = ModelConfig(baseline="rule", rule=path)
    with pytest.raises(StartupError, match=message):
        check_rule(cfg, "challenger")


def test_the_baseline_is_named_by_what_it_is(rules) -> None:
    rule_cfg = ModelConfig(baseline="rule", rule="unit_rules:boom", rule_version="v3")
    assert baseline_name(build_baseline("classification", "rule", rule_cfg)) == (
        "rule unit_rules:boom@v3"
    )
    regression = build_baseline(
        "regression", "rule", rule_cfg.model_copy(update={"rule_version": None})
    )
    assert isinstance(regression, RuleRegressor) and baseline_name(regression) == (
        "rule unit_rules:boom"
    )
    assert baseline_name(build_baseline("classification", "prior")) == "prior"
    assert baseline_name(build_baseline("classification", "no_change")) == "no_change"
    assert baseline_name(build_baseline("regression", "prior")) == "prior"
    assert baseline_name(build_baseline("regression", "no_change")) == "no_change"
    assert baseline_name(dummy.StatisticRegressor(stats.Mean())) == "prior"


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ({"baseline": "rule"}, 'model.rule: model.baseline = "rule" needs the rule\'s import'),
        ({"baseline": "rule", "rule": "  "}, "model.rule: model.baseline"),
        ({"rule": "fraud_rules:score"}, "model.rule 'fraud_rules:score' is set but nothing"),
        ({"rule_version": "v1"}, "model.rule_version is set without model.rule"),
    ],
)
def test_rule_settings_that_do_not_fit_name_the_key(model, key) -> None:
    with pytest.raises(ValidationError, match=key.replace("(", r"\(")):
        ModelConfig(**model)


def test_a_concept_drift_alert_says_how_the_model_fares_against_the_rule() -> None:
    alert = Alert(
        "concept_drift", "adwin", "logreg", 1, "evt-1", "2026-01-01T00:00:00", "shard-0",
        statistic={"reference_error": 0.02, "recent_error": 0.3, "metric": "accuracy",
                   "model_metric": 0.61, "baseline": "rule fraud_rules:score@v3",
                   "baseline_metric": 0.83},
    )  # fmt: skip
    assert "rolling accuracy model 0.610, rule fraud_rules:score@v3 0.830" in alert.describe()
    alert.statistic["baseline"] = "prior"
    assert "rolling accuracy model 0.610, baseline prior 0.830" in alert.describe()


def test_the_baseline_label_examples_run() -> None:
    import doctest

    from driftline.flows import records

    assert doctest.testmod(records).attempted >= 1
    assert doctest.testmod(records).failed == 0


# -- a rule alone, as the run's model definition ---------------------------------------


def test_a_rule_alone_is_a_model_definition(rules) -> None:
    cfg = ModelConfig(name="rule", rule="unit_rules:big_spender", rule_version="v1")
    d = model_definition(cfg)
    assert (d.name, d.task, d.binary_only, d.source) == (
        "rule",
        "classification",
        True,
        "model.rule",
    )
    assert d.description == "rule unit_rules:big_spender@v1"
    assert pickle.loads(pickle.dumps(d)).build(7).predict_one({"amount": 500.0}) is True
    bumped = model_definition(cfg.model_copy(update={"rule_version": "v2"}))
    other = model_definition(cfg.model_copy(update={"rule": "unit_rules:boom"}))
    assert len({d.version, bumped.version, other.version}) == 3  # path and version count
    assert d.version.startswith("md-") and rule_definition(cfg).version == d.version
    multi = rule_definition(ModelConfig(name="rule", rule="unit_rules:boom", label_type="str"))
    assert not multi.binary_only
    value = rule_definition(ModelConfig(name="rule", rule="unit_rules:boom", label_type="float"))
    assert value.task == "regression" and isinstance(value.build(), RuleRegressor)


def test_a_rule_alone_that_cannot_load_names_model_rule(rules) -> None:
    with pytest.raises(ModelDefinitionError, match=r"^model\.rule: .*must take one argument"):
        rule_definition(ModelConfig(name="rule", rule="unit_rules:two_args"))


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ({"name": "rule"}, 'model.rule: model.name = "rule" needs the rule'),
        (
            {"name": "rule", "rule": "unit_rules:boom", "baseline": "rule"},
            "model.baseline: the rule is the model",
        ),
        ({"name": "rules"}, 'or "rule" to serve model.rule alone'),
    ],
)
def test_a_rule_alone_configured_wrong_names_the_key(model, key) -> None:
    with pytest.raises(ValidationError, match=re.escape(key)):
        ModelConfig(**model)


def test_the_recovery_manifest_records_the_rule_only_when_there_is_one() -> None:
    from driftline.flows.app.compatibility import state_definition

    with_rule = Settings(
        model=ModelConfig(baseline="rule", rule="loan_rules:risky", rule_version="3")
    )
    assert state_definition(with_rule, "fs-a")["model.rule"] == "loan_rules:risky@3"
    assert "model.rule" not in state_definition(Settings(), "fs-a")  # older stores still resume
