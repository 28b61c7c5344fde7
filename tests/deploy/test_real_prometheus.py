"""The Grafana dashboard and the alerting rules against a real Prometheus scraping a real job.

A `driftline run` on the built-in stream (a concept drift at event 4000, a data drift after
it, labels on their own with a fifth missing, a malformed input every 50, slices by
`elevel`) serves /metrics; Debian's `prometheus` binary scrapes it every second with the
rules loaded. Then EVERY PromQL expression of deploy/grafana/dashboards/driftline.json
and of deploy/prometheus/alerts.yml runs against /api/v1/query: each returns data, and
each alert expression is in the state this run must put it in (the concept-drift rule
returns a series, the job-down rule none while the job is up, one after it stopped).
Prometheus sends what fires to a real Alertmanager (`prometheus-alertmanager`) running
deploy/alertmanager/alertmanager.yml, which routes it to the receiver of its severity.

Without `prometheus` or `prometheus-alertmanager` the tests skip (fail under
DRIFTLINE_REQUIRE_LIVE_TOOLS=1, as in CI).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.live_tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "driftline.json"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

JOB_CONFIG = """
[builtin]
events = 0
concepts = [7, 6]
drift_points = [4000]
data_drift_points = [5000]
labels = "separate"
label_missing = 0.2
bad_every = 50

[labels]
ttl = "30s"

[model]
slices = ["elevel"]

[run]
sink = "null"
progress_every = 3600
"""

#: What this run does to each alert expression: "fires" (returns a series), "silent"
#: (returns nothing), "either" (depends on timing; its value part must still return data)
#: or "unborn" (a drift kind this run may never raise: its counter is born with its first
#: alert, so neither the expression nor its value part need return data; promtool's unit
#: tests make those rules fire).
EXPECTED = {
    "DriftlineConceptDrift": "fires",  # the drift at event 4000
    "DriftlineDataDrift": "fires",  # salary's distribution changes with the concept
    "DriftlineModelChanged": "fires",  # the challenger beats the champion after the drift
    # label-free (issue 17): labels come within seconds and the model follows the concept
    "DriftlinePredictionDrift": "unborn",
    "DriftlineEstimatedAccuracyDrop": "unborn",
    "DriftlineModelWorseThanBaseline": "either",  # below the baseline right after the drift
    "DriftlineDeadLetterShare": "fires",  # 1 input in 50 is malformed: 2% > 1%
    "DriftlineLabelsUnjoined": "fires",  # a fifth of the labels never come: 20% > 10%
    "DriftlineLabelsTooLate": "silent",  # labels come within labels.ttl: about 1% < 5%
    "DriftlineNoEventsScored": "silent",  # it scores thousands a second
    "DriftlineJobDown": "silent",  # up
}

#: Grafana's built-in variables, as Grafana would set them for a 1 s scrape interval
#: over the last few minutes.
GRAFANA_VARIABLES = {
    "$__rate_interval": "30s",
    "$__interval_ms": "1000",
    "$__interval": "1s",
    "$__range_s": "300",
    "$__range_ms": "300000",
    "$__range": "5m",
}
_COMPARISON = re.compile(r"^(?P<value>.*\S)\s*(?:>|<|==|!=|>=|<=)\s*-?[0-9.]+\s*$", re.S)
_METRICS_URL = re.compile(r'metrics endpoint listening url="(http://[^"]+)"')
WAIT_SECONDS = 45.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def dashboard_exprs() -> list[tuple[str, str]]:
    """`(panel title, PromQL)` of every target of every panel (rows' panels too), with
    Grafana's variables substituted."""
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    variables = dict(GRAFANA_VARIABLES)
    for var in (dashboard.get("templating") or {}).get("list", []):
        for form in (f"${{{var['name']}}}", f"[[{var['name']}]]", f"${var['name']}"):
            variables[form] = ".*"  # "All": template variables sit in =~ matchers
    out = []
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels") or [])
        for target in panel.get("targets") or []:
            expr = target.get("expr", "")
            for name in sorted(variables, key=len, reverse=True):
                expr = expr.replace(name, variables[name])
            if expr.strip():
                assert "$" not in expr, f"{panel['title']}: unknown variable in {expr}"
                out.append((panel["title"], expr))
    return out


def rules() -> dict[str, str]:
    """Alert name -> expression."""
    with open(RULES) as f:
        groups = yaml.safe_load(f)["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def value_part(expr: str) -> str:
    """An alert expression without its final threshold (`A / B > 0.01` -> `A / B`)."""
    match = _COMPARISON.match(expr.strip())
    assert match, f"no final comparison in {expr!r}"
    return match.group("value")


@dataclass
class Stack:
    prometheus: subprocess.Popen[bytes]
    alertmanager: subprocess.Popen[bytes]
    job: subprocess.Popen[bytes]
    url: str
    alertmanager_url: str
    tmp: Path

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        result: list[dict[str, Any]] = data["result"]
        return result

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n" + (self.tmp / name).read_text(errors="replace")[-4000:]
            for name in ("job.log", "prometheus.log", "alertmanager.log")
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start_job(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`driftline run` on the built-in stream; returns it and its /metrics URL."""
    (tmp / "job.toml").write_text(JOB_CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    args = ["run", "-c", "job.toml", "--metrics-port", "0", "--no-live"]
    with open(tmp / "job.log", "wb") as log:
        job = subprocess.Popen(
            [sys.executable, "-m", "driftline.flows", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
            env=env,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = _METRICS_URL.search((tmp / "job.log").read_text(errors="replace"))
        if found:
            return job, found.group(1)
        if job.poll() is not None:
            break
        time.sleep(0.1)
    _stop(job)
    raise AssertionError("the job logged no metrics URL:\n" + (tmp / "job.log").read_text())


def _start_server(tmp: Path, name: str, command: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    """Start a Prometheus-style server (`{port}` in `command`) on a free loopback port;
    returns it and its URL once /-/ready answers."""
    for _attempt in range(3):  # a free port may be taken between the check and the bind
        port = _free_port()
        with open(tmp / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [arg.format(port=port) for arg in command],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return proc, url
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)
        _stop(proc)
    raise AssertionError(f"{name} did not start:\n" + (tmp / f"{name}.log").read_text())


def _start_alertmanager(tmp: Path, binary: str) -> tuple[subprocess.Popen[bytes], str]:
    """The repo's alertmanager.yml, alone (no cluster), with a temporary storage."""
    return _start_server(
        tmp,
        "alertmanager",
        [
            binary,
            f"--config.file={ALERTMANAGER_CONFIG}",
            f"--storage.path={tmp / 'alertmanager-data'}",
            "--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
    )


def _start_prometheus(
    tmp: Path, binary: str, metrics_url: str, alertmanager_url: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Scrapes the job every second, evaluates the rules every second, sends to Alertmanager."""
    target = urllib.parse.urlsplit(metrics_url)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [urllib.parse.urlsplit(alertmanager_url).netloc]}]}
            ]
        },
        "scrape_configs": [
            {
                "job_name": "driftline",
                "metrics_path": target.path,
                "static_configs": [{"targets": [target.netloc]}],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    return _start_server(
        tmp,
        "prometheus",
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            "--web.listen-address=127.0.0.1:{port}",
        ],
    )


def _everything_answers(stack: Stack) -> list[str]:
    """The expressions that return nothing yet (waited on before the tests judge them)."""
    wanted = [expr for _, expr in dashboard_exprs()]
    wanted += [value_part(e) for name, e in rules().items() if EXPECTED.get(name) != "unborn"]
    wanted += [expr for name, expr in rules().items() if EXPECTED.get(name) == "fires"]
    wanted.append('count_over_time(up{job="driftline"}[5m]) >= 3')  # three scrapes at least
    return [expr for expr in wanted if not stack.query(expr)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = require_tool("prometheus", "apt-get install --no-install-recommends prometheus")
    am_binary = require_tool(
        "prometheus-alertmanager", "apt-get install --no-install-recommends prometheus-alertmanager"
    )
    tmp = tmp_path_factory.mktemp("real-prometheus")
    alertmanager, am_url = _start_alertmanager(tmp, am_binary)
    try:
        job, metrics_url = _start_job(tmp)
    except BaseException:
        _stop(alertmanager)
        raise
    try:
        prometheus, url = _start_prometheus(tmp, binary, metrics_url, am_url)
    except BaseException:
        _stop(job)
        _stop(alertmanager)
        raise
    stack = Stack(prometheus, alertmanager, job, url, am_url, tmp)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while _everything_answers(stack) and time.monotonic() < deadline:
            assert job.poll() is None, "the job ended:\n" + stack.logs()
            time.sleep(1)
        yield stack
    finally:
        _stop(prometheus)
        _stop(job)
        _stop(alertmanager)


def test_prometheus_loads_every_rule_and_evaluates_it_without_error(stack: Stack) -> None:
    groups = stack.get("/api/v1/rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(loaded) == set(rules())
    for name, rule in loaded.items():
        assert rule["health"] == "ok", (name, rule.get("lastError"))


def test_every_dashboard_expression_returns_data(stack: Stack) -> None:
    empty = [f"{title}: {expr}" for title, expr in dashboard_exprs() if not stack.query(expr)]
    assert not empty, "dashboard queries with no data:\n" + "\n".join(empty) + "\n" + stack.logs()


def test_dashboard_counts_the_first_drift_alert(stack: Stack) -> None:
    """A kind's counter is born at 1 with its first alert; the drift-alerts panel must
    show that alert, not 0 (plain increase() cannot see a series' first step)."""
    exprs = [expr for _, expr in dashboard_exprs() if "driftline_drift_alerts_total" in expr]
    assert exprs
    for expr in exprs:
        by_kind = {r["metric"].get("kind"): float(r["value"][1]) for r in stack.query(expr)}
        assert by_kind.get("concept_drift", 0) >= 1, (expr, by_kind)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rule_expression_matches_the_metrics_and_the_run(stack: Stack, name: str) -> None:
    expr = rules()[name]
    value = value_part(expr)
    if EXPECTED[name] == "unborn":
        return
    assert stack.query(value), f"{name}: {value} returns no data\n{stack.logs()}"
    fired = stack.query(expr)
    if EXPECTED[name] == "fires":
        assert fired, f"{name} should fire during this run: {expr}"
    elif EXPECTED[name] == "silent":
        assert not fired, f"{name} should stay silent during this run: {fired}"


def test_every_rule_has_an_expected_state() -> None:
    assert set(EXPECTED) == set(rules())


def test_prometheus_fires_the_drift_alerts_itself(stack: Stack) -> None:
    """Prometheus's own evaluation: the drift rules (no `for`) fire; the dead-letter rule
    (for: 5m) is pending; nothing says the job is down."""
    deadline = time.monotonic() + 10
    while True:
        alerts = stack.get("/api/v1/alerts")["alerts"]
        states = {(a["labels"]["alertname"], a["state"]) for a in alerts}
        wanted = {
            ("DriftlineConceptDrift", "firing"),
            ("DriftlineModelChanged", "firing"),
            ("DriftlineDeadLetterShare", "pending"),
        }
        if wanted <= states or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert wanted <= states, states
    concept = next(a for a in alerts if a["labels"]["alertname"] == "DriftlineConceptDrift")
    assert concept["labels"]["severity"] == "warning"
    assert concept["annotations"]["summary"].startswith("Concept drift on 127.0.0.1:")
    assert not any(name == "DriftlineJobDown" for name, _ in states)


def test_alertmanager_receives_the_alerts_and_routes_them_by_severity(stack: Stack) -> None:
    """What fires reaches the repo's Alertmanager config and lands at the receiver of its
    severity (the place to put Slack, PagerDuty or a webhook)."""
    wanted = {
        "DriftlineConceptDrift": "driftline-team",  # warning
        "DriftlineModelChanged": "driftline-info",  # info
    }
    deadline = time.monotonic() + 20
    while True:
        url = f"{stack.alertmanager_url}/api/v2/alerts"
        with urllib.request.urlopen(url, timeout=10) as resp:
            alerts = json.load(resp)
        got = {a["labels"]["alertname"]: sorted(r["name"] for r in a["receivers"]) for a in alerts}
        if all(got.get(name) == [rcv] for name, rcv in wanted.items()):
            break
        assert time.monotonic() < deadline, f"Alertmanager has {got}\n{stack.logs()}"
        time.sleep(0.5)
    concept = next(a for a in alerts if a["labels"]["alertname"] == "DriftlineConceptDrift")
    assert concept["labels"]["severity"] == "warning"
    assert concept["annotations"]["runbook"]
    assert concept["status"]["state"] == "active"


def test_job_down_fires_once_the_job_stops(stack: Stack) -> None:
    """Last (it stops the job): the job-down expression returns the target once a scrape
    failed."""
    expr = rules()["DriftlineJobDown"]
    assert not stack.query(expr)
    _stop(stack.job)
    deadline = time.monotonic() + 15
    while not stack.query(expr) and time.monotonic() < deadline:
        time.sleep(0.5)
    down = stack.query(expr)
    assert [r["metric"]["job"] for r in down] == ["driftline"], down
