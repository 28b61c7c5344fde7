import logging
import socket
import urllib.request

import prometheus_client
import pytest
from prometheus_client import Counter
from prometheus_client.metrics import MetricWrapperBase

from driftline.flows.outputs import telemetry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_metrics_endpoint_serves_driftline_metrics(make_settings, run_flow) -> None:
    port = _free_port()
    telemetry.serve("127.0.0.1", port)
    run_flow(make_settings(builtin={"events": 3000, "bad_every": 500}))
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    only_with = {  # labels: a labels stream; the others: segment_by and slices
        "driftline_labels_total",
        "driftline_pending_labels",
        "driftline_slice_metric",
        "driftline_segments_total",
        "driftline_live_segments",
    }
    for name in telemetry.metric_names() - only_with:
        assert name in body, name
    assert 'driftline_events_total{outcome="scored"}' in body
    assert 'driftline_dead_letters_total{reason="json",stage="parse"}' in body
    assert (
        'driftline_model_metric{baseline="prior",metric="accuracy",model="logreg",'
        'scorer="baseline",segment=""}' in body
    )


def _metrics() -> list[MetricWrapperBase]:
    return [m for m in vars(telemetry).values() if isinstance(m, MetricWrapperBase)]


def test_every_metric_is_in_driftline_registry_only() -> None:
    names = telemetry.metric_names()
    assert len(names) == len(_metrics()) > 10
    for metric in _metrics():
        exposed = f"{metric._name}_total" if isinstance(metric, Counter) else metric._name
        assert exposed in names
    assert all(name.startswith("driftline_") for name in names)
    default = {family.name for family in prometheus_client.REGISTRY.collect()}
    assert not {name for name in default if name.startswith("driftline_")}


def test_serve_binds_a_free_port_and_serves_both_registries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=telemetry.__name__):
        port = telemetry.serve("127.0.0.1", 0)
    assert port > 0
    assert any(
        getattr(r, "url", None) == f"http://127.0.0.1:{port}/metrics" for r in caplog.records
    )
    telemetry.EXPIRED_KEYS.inc(0)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "driftline_expired_keys_total" in body
    assert "python_info" in body  # the default registry (process, Python, bytewax Kafka lag)
