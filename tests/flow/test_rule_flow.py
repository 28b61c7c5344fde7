"""A team's rule scored beside the model (records, summary, metrics, alerts, dead
letters), and served alone as the model.

The rule lives in a plugin directory (`run.plugins`, `--plugins DIR`), as a team's
would. It is Agrawal's concept 7 written by hand, so it is right on the built-in
stream's first concept and wrong after the drift to concept 6.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from driftline.connectors.builtin import drifting_events
from driftline.flows.app.monitor import event_index
from driftline.flows.outputs import telemetry
from driftline.flows.plugins import add_plugin_dirs
from tests.conftest import RunResult

RULES = '''
import math

SEEN = []  # the features each call saw, in order (the run is in this process)


def concept_seven(x):
    """Agrawal's classification function 7: True = a bad loan."""
    SEEN.append(dict(x))
    disposable = 2 * (x["salary"] + x["commission"]) / 3 - 5000 * x["elevel"] - 20000
    return disposable <= 1


def picky(x):
    """Raises on high salaries, answers NaN for the top education level."""
    if x["salary"] > 140_000:
        raise ValueError("salary out of band")
    if x["elevel"] == 4:
        return math.nan
    return x["salary"] < 60_000


def by_amount_and_country(x, country):
    return x["amount"] > 100 and country == "NL"
'''

DRIFT_AT = 3_000
EVENTS = 6_000


def concept_seven(features: dict[str, Any]) -> bool:
    """The rule, computed here from the raw event: what its baseline must be."""
    disposable = 2 * (features["salary"] + features["commission"]) / 3
    return disposable - 5000 * features["elevel"] - 20000 <= 1


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A plugin directory holding `flow_rules`, on sys.path for this module's tests."""
    directory = tmp_path_factory.mktemp("plugins")
    (directory / "flow_rules.py").write_text(RULES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "path", list(sys.path))
        mp.delitem(sys.modules, "flow_rules", raising=False)
        yield directory
        sys.modules.pop("flow_rules", None)


def run_with_plugins(settings_overrides: dict[str, Any], out: Path) -> RunResult:
    """Load settings as the CLI does (plugin dirs on sys.path) and run the flow in-process."""
    from driftline.flows.app.runner import run
    from driftline.flows.config import load_settings

    base: dict[str, Any] = {
        "sinks": {"directory": str(out)},
        "metrics": {"enabled": False},
        "run": {"progress_every": 3600},
    }
    for section, values in settings_overrides.items():
        base.setdefault(section, {}).update(values)
    settings = load_settings(None, base)
    add_plugin_dirs(settings.run.plugins)
    return RunResult(out, run(settings, serve_metrics=False))


@pytest.fixture(scope="module")
def rule_run(
    plugins: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RunResult, ModuleType]:
    out = tmp_path_factory.mktemp("rule-run")
    result = run_with_plugins(
        {
            "run": {"plugins": [str(plugins)]},
            "model": {
                "baseline": "rule",
                "rule": "flow_rules:concept_seven",
                "rule_version": "v1",
                "store": str(out / "models"),
            },
            "builtin": {
                "events": EVENTS,
                "concepts": [7, 6],
                "drift_points": [DRIFT_AT],
                "data_drift_points": [],
                "bad_every": 0,
            },
            "drift": {"on_concept_drift": "keep"},
        },
        out,
    )
    return result, sys.modules["flow_rules"]


def builtin_events(n: int, drift_at: int = DRIFT_AT) -> dict[str, dict[str, Any]]:
    from driftline.flows.config import BuiltinStreamConfig

    cfg = BuiltinStreamConfig(
        events=n, concepts=[7, 6], drift_points=[drift_at], data_drift_points=[], bad_every=0
    )
    return {e["id"]: e for e in drifting_events(cfg)}


def test_the_baseline_is_the_rule_on_the_served_features(rule_run) -> None:
    result, rules = rule_run
    events = builtin_events(EVENTS)
    predictions = result.predictions
    assert len(predictions) == EVENTS == len(rules.SEEN)
    for p, seen in zip(predictions, rules.SEEN, strict=True):  # one call per event, in order
        raw = events[p["id"]]["features"]
        assert {k: seen[k] for k in raw} == raw  # the event's own features ...
        assert {"events_count_5m", "secs_since_last"} <= set(seen)  # ... and its windows
        assert p["baseline"] is concept_seven(raw)
        assert p["baseline_model"] == "rule flow_rules:concept_seven@v1"


def test_the_summary_reports_lift_over_the_rule(rule_run) -> None:
    result, _ = rule_run
    m = result.monitor
    labelled = [p for p in result.predictions if p["label"] is not None]
    rule_accuracy = sum(p["baseline"] == p["label"] for p in labelled) / len(labelled)
    assert m.baseline_accuracy.value == pytest.approx(rule_accuracy)
    before = [p for p in labelled if event_index(p["id"]) < DRIFT_AT - 100]
    assert all(p["baseline"] == p["label"] for p in before)  # the rule is concept 7 exactly
    line = next(s for s in m.summary().splitlines() if s.startswith("accuracy"))
    lift = m.model_accuracy.value - rule_accuracy
    assert f"rule flow_rules:concept_seven@v1 {rule_accuracy:.4f}  lift {lift:+.4f}" in line


def test_the_metrics_say_the_baseline_is_the_rule(rule_run) -> None:
    result, _ = rule_run
    labels = {
        "model": "logreg",
        "segment": "",
        "metric": "accuracy",
        "baseline": "rule flow_rules:concept_seven@v1",
    }
    rule_metric = telemetry.REGISTRY.get_sample_value(
        "driftline_model_metric", {**labels, "scorer": "baseline"}
    )
    model_metric = telemetry.REGISTRY.get_sample_value(
        "driftline_model_metric", {**labels, "scorer": "model"}
    )
    lift = telemetry.REGISTRY.get_sample_value("driftline_model_lift", labels)
    assert rule_metric is not None and model_metric is not None and lift is not None
    assert lift == pytest.approx(model_metric - rule_metric)
    tail = result.predictions[-1000:]  # the rolling window (model.rolling_window)
    assert rule_metric == pytest.approx(sum(p["baseline"] == p["label"] for p in tail) / 1000)


def test_a_concept_drift_alert_compares_the_model_with_the_rule(rule_run) -> None:
    result, _ = rule_run
    alerts = result.alerts_of("concept_drift")
    assert alerts and all(event_index(a["event_id"]) > DRIFT_AT - 200 for a in alerts)
    s = alerts[0]["statistic"]
    assert s["metric"] == "accuracy" and s["baseline"] == "rule flow_rules:concept_seven@v1"
    at = event_index(alerts[0]["event_id"])
    window = [p for p in result.predictions if at - 1000 < event_index(p["id"]) <= at]
    assert s["baseline_metric"] == pytest.approx(
        sum(p["baseline"] == p["label"] for p in window) / len(window), abs=1e-4
    )
    assert s["baseline_metric"] < 1.0  # the rule is wrong on the new concept too


def test_a_rule_that_fails_on_some_events_dead_letters_exactly_those(
    plugins: Path, tmp_path: Path
) -> None:
    events = builtin_events(2_000)
    raises = {i for i, e in events.items() if e["features"]["salary"] > 140_000}
    nan = {i for i, e in events.items() if i not in raises and e["features"]["elevel"] == 4}
    assert len(raises) > 50 and len(nan) > 50
    counted = (
        telemetry.REGISTRY.get_sample_value(
            "driftline_dead_letters_total", {"stage": "score", "reason": "rule"}
        )
        or 0.0
    )
    result = run_with_plugins(
        {
            "run": {"plugins": [str(plugins)]},
            "model": {"baseline": "rule", "rule": "flow_rules:picky", "store": str(tmp_path)},
            "builtin": {
                "events": 2_000,
                "concepts": [7, 6],
                "drift_points": [DRIFT_AT],
                "data_drift_points": [],
                "bad_every": 0,
            },
        },
        tmp_path / "out",
    )
    import orjson

    letters = {orjson.loads(d["raw"])["id"]: d for d in result.dead_letters}
    assert set(letters) == raises | nan
    assert {(d["stage"], d["reason"], d["source"]) for d in letters.values()} == {
        ("score", "rule", "events")
    }
    for i in raises:
        assert (
            letters[i]["error"] == "rule flow_rules:picky raised ValueError('salary out of band')"
        )
    for i in nan:
        assert letters[i]["error"].startswith("rule flow_rules:picky returned nan, not true/false")
    scored = {p["id"] for p in result.predictions}
    assert scored == set(events) - raises - nan  # the job went on with every other event
    assert result.monitor.dead_reasons == {"rule": len(raises | nan)}
    assert result.monitor.labelled == len(scored)  # a dead-lettered event is not learned
    assert telemetry.REGISTRY.get_sample_value(
        "driftline_dead_letters_total", {"stage": "score", "reason": "rule"}
    ) == counted + len(raises | nan)


def driftline(
    args: list[str], cwd: Path, settings: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env.update(settings or {})
    return subprocess.run(
        [sys.executable, "-m", "driftline.flows", *args, "--no-metrics"],
        capture_output=True, text=True, timeout=120, cwd=cwd, env=env,
    )  # fmt: skip


def test_the_command_line_takes_the_rule_from_plugins(plugins: Path, tmp_path: Path) -> None:
    config = tmp_path / "rule.toml"
    config.write_text('[model]\nbaseline = "rule"\nrule = "flow_rules:concept_seven"\n')
    proc = driftline(
        ["run", "-c", str(config), "--plugins", str(plugins), "--events", "1500",
         "--out", str(tmp_path / "out"), "--store", str(tmp_path / "models")],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"baseline":"rule flow_rules:concept_seven"' in proc.stderr  # the starting line
    assert "rule flow_rules:concept_seven 1.0000  lift " in proc.stdout


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ('baseline = "rule"', 'model.rule: model.baseline = "rule" needs the rule\'s import path'),
        ('rule = "flow_rules:picky"', "model.rule 'flow_rules:picky' is set but nothing uses it"),
        ('rule_version = "v2"', "model.rule_version is set without model.rule"),
        ('baseline = "rule"\nrule = "flow_rules:nope"', "model.rule: module 'flow_rules' has no"),
        (
            'baseline = "rule"\nrule = "flow_rules:by_amount_and_country"',
            "model.rule: 'flow_rules:by_amount_and_country' must take one argument",
        ),
        ('baseline = "rule"\nrule = "team_rules:x"', "model.rule: cannot import module 'team_r"),
    ],
)
def test_a_rule_config_that_cannot_work_exits_2_naming_the_key(
    plugins: Path, tmp_path: Path, model: str, message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f"[model]\n{model}\n")
    proc = driftline(
        ["run", "-c", str(config), "--plugins", str(plugins), "--events", "10",
         "--out", str(tmp_path / "out")],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr
    assert not (tmp_path / "out" / "predictions.jsonl").exists()


# -- a rule alone: no ML model, the same metrics and drift alerts --------------------


@pytest.fixture(scope="module")
def rule_alone(
    plugins: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RunResult, list[logging.LogRecord]]:
    out = tmp_path_factory.mktemp("rule-alone")
    handler = _Collect()
    logging.getLogger("driftline").addHandler(handler)
    try:
        result = run_with_plugins(
            {
                "run": {"plugins": [str(plugins)]},
                "model": {
                    "name": "rule",
                    "rule": "flow_rules:concept_seven",
                    "rule_version": "v1",
                    "store": str(out / "models"),
                },
                "builtin": {
                    "events": EVENTS,
                    "concepts": [7, 6],
                    "drift_points": [DRIFT_AT],
                    "data_drift_points": [],
                    "bad_every": 0,
                },
            },  # drift.on_concept_drift stays "challenger": a rule cannot follow it
            out,
        )
    finally:
        logging.getLogger("driftline").removeHandler(handler)
    return result, handler.records


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_rule_alone_predicts_what_the_rule_says(rule_alone) -> None:
    result, _ = rule_alone
    events = builtin_events(EVENTS)
    predictions = result.predictions
    assert len(predictions) == EVENTS
    for p in predictions:
        assert p["prediction"] is concept_seven(events[p["id"]]["features"])
        assert p["score"] == (1.0 if p["prediction"] else 0.0)
        assert p["model"] == "rule" and p["baseline_model"] == "prior"
    assert len({p["definition_version"] for p in predictions}) == 1
    m = result.monitor
    accuracy = sum(p["prediction"] == p["label"] for p in predictions) / len(predictions)
    assert m.model_accuracy.value == pytest.approx(accuracy)
    assert m.accuracy_between(0, DRIFT_AT - 100) == 1.0  # the rule is the first concept
    assert m.accuracy_between(DRIFT_AT + 100, EVENTS) < 0.7  # and not the second


def test_a_rule_alone_alerts_on_concept_and_data_drift_and_never_retrains(rule_alone) -> None:
    result, logged = rule_alone
    concept = result.alerts_of("concept_drift")
    assert concept, "the rule's error stream rose after the drift: an alert was due"
    first = event_index(concept[0]["event_id"])
    assert DRIFT_AT - 200 <= first <= DRIFT_AT + 1_000
    assert concept[0]["model"] == "rule" and concept[0]["statistic"]["baseline"] == "prior"
    assert result.alerts_of("data_drift")  # the new concept moves salary: watched as before
    # alerts only: nothing retrains (a rule's estimated accuracy falls with the drift too)
    kinds = {a["kind"] for a in result.alerts}
    assert (
        {"concept_drift", "data_drift"}
        <= kinds
        <= {
            "concept_drift",
            "data_drift",
            "estimated_accuracy",
        }
    )
    assert {p["model_version"] for p in result.predictions} == {1}
    said = [r for r in logged if "cannot retrain" in r.getMessage()]
    assert len(said) == 1 and "drift.on_concept_drift 'challenger' acts as 'keep'" in (
        said[0].getMessage()
    )


def test_the_command_line_serves_a_rule_alone(plugins: Path, tmp_path: Path) -> None:
    proc = driftline(
        ["run", "--model", "rule", "--plugins", str(plugins), "--events", "1500",
         "--out", str(tmp_path / "out"), "--store", str(tmp_path / "models")],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2  # the rule itself is missing: named, before any event
    assert 'model.rule: model.name = "rule" needs the rule\'s import path' in proc.stderr
    env_rule = {"DRIFTLINE_MODEL__RULE": "flow_rules:concept_seven"}
    proc = driftline(
        ["run", "--model", "rule", "--plugins", str(plugins), "--events", "1500",
         "--out", str(tmp_path / "out"), "--store", str(tmp_path / "models")],
        tmp_path,
        env_rule,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"model":"rule"' in proc.stderr and "accuracy         model 1.0000" in proc.stdout
