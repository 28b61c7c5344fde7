"""Checks that docker-compose.yml, the Dockerfile and the Prometheus/Grafana provisioning
agree with each other and with the code (metric names, settings, topic names).

Docker is not available on the CI machines, so this is the compose validation.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
GRAFANA_PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
DATASOURCES = GRAFANA_PROVISIONING / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDER = GRAFANA_PROVISIONING / "dashboards" / "driftline.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "driftline.json"

SERVICES = {"kafka", "topics", "driftline", "producer", "prometheus", "alertmanager", "grafana"}
DRIFTLINE_SERVICES = {"topics", "driftline", "producer"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_METRIC_RE = re.compile(r"\b(driftline_[a-zA-Z0-9_]+)\b")
_TOPIC_RE = re.compile(r"\bdriftline\.[a-z0-9][a-z0-9._-]*")


def _yaml(path: Path) -> Any:
    with open(path) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _yaml(COMPOSE)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    with open(DASHBOARD) as f:
        return json.load(f)


def _env(service: dict[str, Any]) -> dict[str, str]:
    """Service environment as a dict (compose allows a mapping or a KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def _ports(entries: list[Any]) -> set[int]:
    """Container-side ports of `ports:` / `expose:` entries ("9108", "9108:9108", 9108)."""
    out = set()
    for entry in entries:
        if isinstance(entry, dict):  # long syntax
            out.add(int(entry["target"]))
            continue
        container = str(entry).rsplit(":", 1)[-1].split("/", 1)[0]
        out.add(int(container))
    return out


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to the repo) for bind mounts."""
    out = {}
    for vol in service.get("volumes") or []:
        host, container = str(vol).split(":")[:2]
        out[container] = host
    return out


def _host_path(host: str) -> Path:
    return (ROOT / host).resolve()


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = []
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop()
        panels.extend(panel.get("panels") or [])  # collapsed rows
        exprs.extend(t["expr"] for t in panel.get("targets") or [] if t.get("expr"))
    return exprs


# --- compose -----------------------------------------------------------------------


def test_services_present(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_kafka_is_kraft_with_both_listeners(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:3.9.0"
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "PLAINTEXT://kafka:9092" in advertised
    assert "PLAINTEXT_HOST://localhost:29092" in advertised
    names = {
        item.split(":", 1)[0] for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    }
    listeners = {item.split(":", 1)[0] for item in env["KAFKA_LISTENERS"].split(",")}
    assert {"PLAINTEXT", "PLAINTEXT_HOST", env["KAFKA_CONTROLLER_LISTENER_NAMES"]} <= listeners
    assert listeners <= names
    assert 29092 in _ports(kafka["ports"])
    assert "healthcheck" in kafka


def test_driftline_services_build_the_repo_image(services: dict[str, dict[str, Any]]) -> None:
    for name in DRIFTLINE_SERVICES:
        svc = services[name]
        build = svc["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert _host_path(context) == ROOT, name
        assert (ROOT / dockerfile).resolve() == DOCKERFILE, name
        assert _env(svc)["DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert _command(svc)[0] == "driftline", name


def test_commands_and_ordering(services: dict[str, dict[str, Any]]) -> None:
    assert _command(services["topics"]) == ["driftline", "topics", "create"]
    from driftline.flows.app.cli import build_parser

    parser = build_parser()
    job = parser.parse_args(_command(services["driftline"])[1:])
    assert (job.command, job.source, job.sink) == ("run", "kafka", "kafka")
    assert job.recovery_dir is not None  # state survives container restarts
    producer = parser.parse_args(_command(services["producer"])[1:])
    assert (producer.command, producer.source, producer.labels) == (
        "produce",
        "builtin",
        "separate",
    )
    assert producer.rate > 0
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("driftline", "producer"):
        dep = services[name]["depends_on"]["topics"]["condition"]
        assert dep == "service_completed_successfully", name


def test_services_use_the_same_topics_the_compose_file_names(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`topics` creates, `producer` feeds and the job reads and writes the same topics, and
    every topic the compose file names (its header tells users where to look) is one of them."""
    import os

    from driftline.flows.config import load_settings

    resolved = {}
    for name in sorted(DRIFTLINE_SERVICES):
        with monkeypatch.context() as m:
            for key in list(os.environ):
                if key.startswith("DRIFTLINE_"):
                    m.delenv(key)
            for key, value in _env(services[name]).items():
                m.setenv(key, value)
            kafka = load_settings().kafka
        resolved[name] = {f: getattr(kafka, f) for f in type(kafka).model_fields if "topic" in f}
    assert resolved["topics"] == resolved["driftline"] == resolved["producer"]
    used = set(resolved["driftline"].values())
    comments = [line for line in COMPOSE.read_text().splitlines() if line.startswith("#")]
    named = {topic.rstrip(".") for line in comments for topic in _TOPIC_RE.findall(line)}
    assert len(named) >= 5, named  # events, labels, predictions, alerts, dead letters
    assert named <= used, f"named in docker-compose.yml but not used: {sorted(named - used)}"


def test_compose_env_is_valid_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every DRIFTLINE_* variable in compose is accepted by driftline's settings."""
    import os

    from driftline.flows.config import load_settings

    for name in DRIFTLINE_SERVICES:
        with monkeypatch.context() as m:
            for key in list(os.environ):
                if key.startswith("DRIFTLINE_"):
                    m.delenv(key)
            env = _env(services[name])
            for key, value in env.items():
                m.setenv(key, value)
            settings = load_settings()
            assert settings.kafka.bootstrap_servers == "kafka:9092", name
            if name == "driftline":
                assert settings.metrics.host == "0.0.0.0"
                assert settings.metrics.port == int(env["DRIFTLINE_METRICS__PORT"])


def test_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"pip install \.", text)
    cmd = re.findall(r"^CMD (.+)$", text, re.M)
    assert cmd and json.loads(cmd[-1]) == ["driftline", "run"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "driftline" in pyproject["project"]["scripts"]
    copied = " ".join(re.findall(r"^COPY (.+)$", text, re.M))
    for folder in pyproject["tool"]["setuptools"]["package-dir"].values():  # every mapped folder
        assert re.search(rf"(^|\s|\./){folder}(/|\s|$)", copied) or ". ." in copied, folder
    metrics_port = _env(services["driftline"])["DRIFTLINE_METRICS__PORT"]
    assert f"EXPOSE {metrics_port}" in text


# --- prometheus --------------------------------------------------------------------


def test_prometheus_scrapes_the_metrics_port(services: dict[str, dict[str, Any]]) -> None:
    driftline = services["driftline"]
    port = int(_env(driftline)["DRIFTLINE_METRICS__PORT"])
    assert _env(driftline)["DRIFTLINE_METRICS__HOST"] == "0.0.0.0"
    assert port in _ports(driftline.get("expose") or [])
    assert port in _ports(driftline.get("ports") or [])

    config = _yaml(PROMETHEUS)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for sc in jobs["driftline"]["static_configs"] for t in sc["targets"]]
    assert targets == [f"driftline:{port}"]
    assert jobs["driftline"].get("metrics_path", "/metrics") == "/metrics"


def test_prometheus_config_is_mounted(services: dict[str, dict[str, Any]]) -> None:
    prom = services["prometheus"]
    assert prom["image"].startswith("prom/prometheus")
    mounts = _mounts(prom)
    assert _host_path(mounts["/etc/prometheus/prometheus.yml"]) == PROMETHEUS
    assert "--config.file=/etc/prometheus/prometheus.yml" in _command(prom)
    assert 9090 in _ports(prom["ports"])


def test_prometheus_loads_the_rules_next_to_its_config(services: dict[str, dict[str, Any]]) -> None:
    """rule_files are relative to prometheus.yml: alerts.yml is mounted beside it."""
    config = _yaml(PROMETHEUS)
    mounts = _mounts(services["prometheus"])
    for rule_file in config["rule_files"]:
        container = f"/etc/prometheus/{rule_file}"
        assert container in mounts, f"{rule_file} is not mounted into the prometheus service"
        assert _host_path(mounts[container]) == ALERT_RULES


# --- alertmanager ------------------------------------------------------------------


def test_prometheus_sends_alerts_to_the_alertmanager_service(
    services: dict[str, dict[str, Any]],
) -> None:
    am = services["alertmanager"]
    assert am["image"].startswith("prom/alertmanager")
    mounts = _mounts(am)
    assert _host_path(mounts["/etc/alertmanager/alertmanager.yml"]) == ALERTMANAGER
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in _command(am)
    assert 9093 in _ports(am["ports"])
    targets = [
        target
        for manager in _yaml(PROMETHEUS)["alerting"]["alertmanagers"]
        for sc in manager["static_configs"]
        for target in sc["targets"]
    ]
    assert targets == ["alertmanager:9093"]
    assert "alertmanager" in services["prometheus"]["depends_on"]


# --- grafana -----------------------------------------------------------------------


def test_grafana_service(services: dict[str, dict[str, Any]]) -> None:
    graf = services["grafana"]
    assert graf["image"].startswith("grafana/grafana")
    assert 3000 in _ports(graf["ports"])
    env = _env(graf)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    mounts = _mounts(graf)
    assert _host_path(mounts["/etc/grafana/provisioning"]) == GRAFANA_PROVISIONING.resolve()


def test_grafana_datasource_points_at_prometheus(services: dict[str, dict[str, Any]]) -> None:
    sources = _yaml(DATASOURCES)["datasources"]
    prom = [s for s in sources if s["type"] == "prometheus"]
    assert len(prom) == 1
    url = prom[0]["url"]
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    assert host == "prometheus" and host in services
    assert int(port) in _ports(services["prometheus"]["ports"])


def test_grafana_dashboard_provider_loads_the_dashboard(
    services: dict[str, dict[str, Any]], dashboard: dict[str, Any]
) -> None:
    providers = _yaml(DASHBOARD_PROVIDER)["providers"]
    assert len(providers) == 1 and providers[0]["type"] == "file"
    container_dir = providers[0]["options"]["path"].rstrip("/")
    mounts = _mounts(services["grafana"])
    assert _host_path(mounts[container_dir]) == DASHBOARD.parent.resolve()
    home = _env(services["grafana"]).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert home == f"{container_dir}/{DASHBOARD.name}"
    assert dashboard["uid"] == "driftline"


def test_dashboard_panels_use_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    uid = next(s["uid"] for s in _yaml(DATASOURCES)["datasources"] if s["type"] == "prometheus")
    assert 36 <= dashboard["schemaVersion"] <= 41
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_dashboard_covers_the_key_metrics(dashboard: dict[str, Any]) -> None:
    exprs = "\n".join(_exprs(dashboard))
    for needle in (
        "rate(driftline_events_total[1m])",
        "histogram_quantile(0.99, sum(rate(driftline_scoring_latency_seconds_bucket[1m])) by (le))",
        "histogram_quantile(0.5,",
        'driftline_model_metric{scorer="model"}',
        'driftline_model_metric{scorer="baseline"}',
        "driftline_model_lift",
        "increase(driftline_drift_alerts_total[5m])",
        "driftline_model_version",
        "rate(driftline_dead_letters_total[1m])",
        "rate(driftline_late_events_total[1m])",
    ):
        assert needle in exprs, needle


def test_dashboard_metric_names_are_registered(dashboard: dict[str, Any]) -> None:
    """Every metric in the dashboard's PromQL is one that driftline registers."""
    from driftline.flows.outputs.telemetry import metric_names

    registered = set(metric_names())
    assert registered, "driftline.flows.outputs.telemetry.metric_names() returned nothing"
    used = {m for expr in _exprs(dashboard) for m in _METRIC_RE.findall(expr)}
    assert used

    def known(name: str) -> bool:
        if name in registered:
            return True
        return any(
            name.endswith(sfx) and name.removesuffix(sfx) in registered
            for sfx in HISTOGRAM_SUFFIXES
        )

    unknown = sorted(m for m in used if not known(m))
    assert not unknown, f"dashboard uses metrics driftline does not register: {unknown}"
