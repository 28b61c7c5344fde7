"""The alerting rules (deploy/prometheus/alerts.yml) checked and unit-tested by the real
promtool, and their shape: every rule says how bad it is, what happened, what to do, uses
only metrics driftline exports, and has a unit test that makes it fire. The Alertmanager
config (deploy/alertmanager/alertmanager.yml) checked by amtool, its documented receiver
examples too, and each rule's severity routed to its receiver.

promtool comes with Debian's `prometheus` package, amtool with `prometheus-alertmanager`;
without them these tests skip (fail under DRIFTLINE_REQUIRE_LIVE_TOOLS=1, as in CI).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.live_tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.yml"
RULE_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
AMTOOL_HINT = "apt-get install --no-install-recommends prometheus-alertmanager"
#: where each severity goes (alertmanager.yml's routes)
RECEIVERS = {"critical": "driftline-oncall", "warning": "driftline-team", "info": "driftline-info"}

SEVERITIES = {"info", "warning", "critical"}
ANNOTATIONS = {"summary", "description", "runbook"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_METRIC_RE = re.compile(r"\b(driftline_[a-zA-Z0-9_]+)\b")


def _promtool() -> str:
    return require_tool("promtool", "apt-get install --no-install-recommends prometheus")


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd)


def _rules() -> list[dict[str, Any]]:
    with open(RULES) as f:
        groups = yaml.safe_load(f)["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    done = _run(_promtool(), "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = _run(_promtool(), "test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests fail when a rule changes: a dead-letter threshold of 3% instead of
    1% no longer fires on the 2% case, and promtool says so."""
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    text = RULES.read_text()
    broken = text.replace("      > 0.01\n", "      > 0.03\n")
    assert broken != text
    (tmp_path / RULES.name).write_text(broken)
    done = _run(_promtool(), "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "DriftlineDeadLetterShare" in done.stdout + done.stderr


def test_prometheus_config_loads_the_rules_and_checks() -> None:
    """prometheus.yml names alerts.yml (relative to itself, as in the container) and
    promtool accepts the whole config with the rules."""
    with open(PROMETHEUS_CONFIG) as f:
        config = yaml.safe_load(f)
    assert config["rule_files"] == [RULES.name]
    done = _run(_promtool(), "check", "config", str(PROMETHEUS_CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in done.stdout


def test_every_rule_has_severity_annotations_and_a_firing_unit_test() -> None:
    with open(RULE_TESTS) as f:
        cases = yaml.safe_load(f)["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check.get("exp_alerts")
    }
    rules = _rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        name = rule["alert"]
        assert name.startswith("Driftline"), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert set(rule["annotations"]) == ANNOTATIONS, name
        assert all(str(v).strip() for v in rule["annotations"].values()), name
        assert name in fired, f"{name}: no unit test in {RULE_TESTS.name} makes it fire"


def test_rules_cover_what_a_person_must_act_on() -> None:
    """Issue 16: drift alert fired, model worse than its baseline, dead-letter share, labels
    expiring unjoined, no events scored, the job down."""
    exprs = {rule["alert"]: " ".join(rule["expr"].split()) for rule in _rules()}
    assert 'driftline_drift_alerts_total{kind="concept_drift"}' in exprs["DriftlineConceptDrift"]
    assert 'driftline_drift_alerts_total{kind="data_drift"}' in exprs["DriftlineDataDrift"]
    # label-free: the scores moved, the estimated accuracy fell (issue 17)
    assert 'kind="prediction_drift"' in exprs["DriftlinePredictionDrift"]
    assert 'kind="estimated_accuracy"' in exprs["DriftlineEstimatedAccuracyDrop"]
    assert exprs["DriftlineModelWorseThanBaseline"] == "driftline_model_lift < 0"
    assert 'outcome="dead_letter"' in exprs["DriftlineDeadLetterShare"]
    assert 'outcome="unlabelled"' in exprs["DriftlineLabelsUnjoined"]
    assert 'outcome="expired"' in exprs["DriftlineLabelsTooLate"]
    assert 'outcome="scored"' in exprs["DriftlineNoEventsScored"]
    assert exprs["DriftlineJobDown"] == 'up{job="driftline"} == 0'


def test_rule_metrics_are_registered() -> None:
    """Every driftline metric the rules use is one the job exports (counters with _total)."""
    from driftline.flows.outputs.telemetry import metric_names

    registered = metric_names()
    used = {m for rule in _rules() for m in _METRIC_RE.findall(rule["expr"])}
    assert used
    unknown = sorted(
        m
        for m in used
        if m not in registered
        and not any(m.endswith(s) and m.removesuffix(s) in registered for s in HISTOGRAM_SUFFIXES)
    )
    assert not unknown, f"rules use metrics driftline does not export: {unknown}"


# --- alertmanager ------------------------------------------------------------------


def _receiver_examples() -> str:
    """alertmanager.yml with its commented receiver examples uncommented into receivers."""
    text = ALERTMANAGER_CONFIG.read_text()
    head, marker, rest = text.partition("# --- receiver examples")
    assert marker, "alertmanager.yml lost its receiver examples"
    block = rest.split("\n", 1)[1].split("# --- end of receiver examples")[0]
    lines = [line[1:] for line in block.splitlines() if line.startswith("#  ")]
    assert lines
    return head + "\n".join(lines) + "\n"


def test_amtool_checks_the_alertmanager_config() -> None:
    amtool = require_tool("amtool", AMTOOL_HINT)
    done = _run(amtool, "check-config", str(ALERTMANAGER_CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    assert f"- {len(RECEIVERS)} receivers" in done.stdout


def test_amtool_checks_the_documented_receiver_examples(tmp_path: Path) -> None:
    """The Slack, PagerDuty and webhook examples are valid receivers once uncommented."""
    amtool = require_tool("amtool", AMTOOL_HINT)
    config = tmp_path / "alertmanager.yml"
    config.write_text(_receiver_examples())
    receivers = yaml.safe_load(config.read_text())["receivers"]
    kinds = {key for r in receivers for key in r if key.endswith("_configs")}
    assert kinds == {"slack_configs", "pagerduty_configs", "webhook_configs"}
    done = _run(amtool, "check-config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"- {len(RECEIVERS) + 3} receivers" in done.stdout


def test_amtool_catches_a_broken_config(tmp_path: Path) -> None:
    amtool = require_tool("amtool", AMTOOL_HINT)
    config = tmp_path / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG.read_text().replace("driftline-oncall", "nobody", 1))
    done = _run(amtool, "check-config", str(config))
    assert done.returncode != 0
    assert "nobody" in done.stdout + done.stderr


def test_each_rule_is_routed_by_its_severity() -> None:
    amtool = require_tool("amtool", AMTOOL_HINT)
    for rule in _rules():
        severity = rule["labels"]["severity"]
        done = _run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER_CONFIG}",
            f"--verify.receivers={RECEIVERS[severity]}",
            f"alertname={rule['alert']}",
            f"severity={severity}",
        )
        assert done.returncode == 0, (rule["alert"], done.stdout + done.stderr)
        assert done.stdout.strip() == RECEIVERS[severity], rule["alert"]
