import socket
import urllib.request

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
    for name in telemetry.metric_names() - {"driftline_labels_total", "driftline_pending_labels"}:
        assert name in body, name
    assert 'driftline_events_total{outcome="scored"}' in body
    assert 'driftline_dead_letters_total{reason="json",stage="parse"}' in body
    assert 'driftline_model_metric{metric="accuracy",model="logreg",scorer="baseline"}' in body
