"""A new user's first day: start-up errors instead of tracebacks, flags never ignored,
SIGTERM that always ends the job, labels and windows that say when they do nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from driftline.flows.config import load_settings, unknown_environment
from tests.conftest import read_jsonl, write_jsonl

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def driftline(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None):
    """Run the command line to its end; returns the completed process (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "driftline.flows", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, "DRIFTLINE_RUN__PROGRESS_EVERY": "3600", **(env or {})},
    )


def events_file(path: Path, n: int = 300, label=lambda i: i % 2, **features) -> Path:
    lines = [
        orjson.dumps(
            {
                "id": f"e{i}",
                "key": f"k{i % 7}",
                "ts": (T0 + timedelta(seconds=i)).isoformat(),
                "features": {"a": float(i % 13), "b": float(i % 5), **features},
                "label": label(i),
            }
        )
        for i in range(n)
    ]
    return write_jsonl(path, lines)


def assert_refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    err = proc.stderr.decode()
    assert proc.returncode == 2, err[-2000:]
    assert "Traceback" not in err and "panicked" not in err, err[-2000:]
    assert "starting" not in err, "refused only after the flow started"
    for word in words:
        assert word in err, err[-2000:]


# --- item 6: errors at start-up, not tracebacks mid-run ---------------------------------


def test_missing_labels_file_is_refused_naming_the_flag(tmp_path: Path) -> None:
    events = events_file(tmp_path / "e.jsonl")
    proc = driftline(
        "run", "--events-file", str(events), "--labels-file", str(tmp_path / "nope.jsonl"),
        "--no-metrics", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert_refused(proc, "--labels-file", "does not exist")


def test_events_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    proc = driftline("run", "--events-file", str(tmp_path), "--no-metrics")
    assert_refused(proc, "--events-file", "is not a file")


@pytest.mark.parametrize("where", ["a_file", "under_a_file"])
def test_out_that_cannot_be_a_directory_is_refused(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    out = blocker if where == "a_file" else blocker / "out"
    proc = driftline("run", "--events", "100", "--no-metrics", "--out", str(out))
    assert_refused(proc, "--out")


def test_events_from_standard_input(tmp_path: Path) -> None:
    events = events_file(tmp_path / "e.jsonl", n=500)
    proc = driftline(
        "run", "--events-file", "-", "--no-metrics", "--out", str(tmp_path / "out"),
        stdin=events.read_bytes(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    ids = [p["id"] for p in read_jsonl(tmp_path / "out" / "predictions.jsonl")]
    assert ids == [f"e{i}" for i in range(500)]


def test_standard_input_cannot_be_resumed(tmp_path: Path) -> None:
    proc = driftline(
        "run", "--events-file", "-", "--no-metrics", "--recovery-dir", str(tmp_path / "rec"),
        stdin=b"",
    )  # fmt: skip
    assert_refused(proc, "recovery")


# --- item 7: bad values refused at start-up, naming the key -----------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"recovery": {"snapshot_interval": "PT0S"}}, "snapshot_interval"),
        ({"recovery": {"snapshot_interval": -5}}, "snapshot_interval"),
        ({"run": {"epoch_interval": "-PT1S"}}, "epoch_interval"),
        ({"labels": {"ttl": 0}}, "labels.ttl"),
        ({"recovery": {"backup_interval": -1}}, "backup_interval"),
        ({"model": {"name": "hat", "label_type": "str", "classes": [1, 2]}}, "model.classes"),
        ({"model": {"name": "logreg", "label_type": "str"}}, "model.label_type"),
        ({"model": {"name": "logreg", "label_type": "int"}}, "model.label_type"),
    ],
)
def test_bad_values_fail_naming_the_key(overrides: dict, key: str) -> None:
    with pytest.raises(ValidationError) as info:
        load_settings(None, overrides)
    assert key in str(info.value)


def test_durations_may_be_written_the_short_way() -> None:
    s = load_settings(
        None,
        {
            "labels": {"ttl": "90m"},
            "recovery": {"snapshot_interval": "30s"},
            "features": {"windows": [{"period": "1h30m"}], "allowed_lateness": "250ms"},
        },
    )
    assert s.labels.ttl == timedelta(minutes=90)
    assert s.recovery.snapshot_interval == timedelta(seconds=30)
    assert s.features.windows[0].period == timedelta(hours=1, minutes=30)
    assert s.features.allowed_lateness == timedelta(milliseconds=250)


def test_misspelt_environment_variable_is_refused(tmp_path: Path) -> None:
    proc = driftline("run", "--events", "10", "--no-metrics", env={"DRIFTLINE_MODEL_NAME": "hat"})
    assert_refused(proc, "DRIFTLINE_MODEL_NAME", "DRIFTLINE_MODEL__NAME")


def test_unknown_environment_variable_is_a_warning() -> None:
    errors, warnings = unknown_environment(
        {"DRIFTLINE_FOO": "1", "DRIFTLINE_PORT": "tcp://10.0.0.1:9108", "DRIFTLINE_RUN__SINK": "x"}
    )
    assert errors == []
    assert [w.split()[2] for w in warnings] == ["DRIFTLINE_FOO", "DRIFTLINE_PORT"]


def test_window_over_a_text_field_is_refused(tmp_path: Path) -> None:
    events = events_file(tmp_path / "e.jsonl", country="BR")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[features.windows]]\nfield = "country"\nperiod = "5m"\n')
    proc = driftline("run", "-c", str(cfg), "--events-file", str(events), "--no-metrics")
    assert_refused(proc, "features.windows[0].field", "country")


# --- item 8: a flag the user gave is never ignored ---------------------------------------


def test_events_file_implies_the_file_source(tmp_path: Path) -> None:
    events = events_file(tmp_path / "e.jsonl", n=50)
    proc = driftline("run", "--events-file", str(events), "--no-metrics", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert len(read_jsonl(tmp_path / "predictions.jsonl")) == 50


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--source", "builtin", "--events-file", "EVENTS"], "--events-file"),
        (["--events", "10", "--bootstrap-servers", "127.0.0.1:1"], "--bootstrap-servers"),
        (["--events-file", "EVENTS", "--events", "10"], "--events"),
        (["--events", "10", "--sink", "null", "--out", "x"], "--out"),
    ],
)
def test_flags_for_another_source_or_sink_are_refused(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    events = str(events_file(tmp_path / "e.jsonl", n=10))
    proc = driftline("run", "--no-metrics", *[events if a == "EVENTS" else a for a in args])
    assert_refused(proc, flag)


# --- item 9: the real metrics port --------------------------------------------------------


def test_metrics_port_zero_logs_the_port_it_listens_on(tmp_path: Path) -> None:
    job = subprocess.Popen(
        [sys.executable, "-m", "driftline.flows", "run", "--events", "0", "--metrics-port", "0",
         "--out", str(tmp_path / "out"), "--store", str(tmp_path / "models")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert job.stderr is not None
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            line = job.stderr.readline().decode()
            match = re.search(r'url="(http://127\.0\.0\.1:(\d+)/metrics)"', line)
            if match:
                url, port = match.group(1), int(match.group(2))
        assert url is not None and port != 0
        body = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "driftline_events_total" in body
    finally:
        job.send_signal(signal.SIGTERM)
        job.communicate(timeout=60)
    assert job.returncode == 0


# --- SIGTERM ends the job in bounded time in every phase ---------------------------------


def _stuck_reading_stdin(tmp_path: Path, timeout: str) -> subprocess.Popen:
    """A job whose source is blocked in a read that never returns (stdin open, no data)."""
    return subprocess.Popen(
        [sys.executable, "-m", "driftline.flows", "run", "--events-file", "-", "--no-metrics",
         "--out", str(tmp_path / "out")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "DRIFTLINE_RUN__SHUTDOWN_TIMEOUT": timeout},
    )  # fmt: skip


def _wait_for_start(job: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:  # made by the start-up checks
        time.sleep(0.1)
    time.sleep(1.0)  # into the flow's blocking read


def test_sigterm_ends_a_job_that_cannot_drain_within_the_timeout(tmp_path: Path) -> None:
    job = _stuck_reading_stdin(tmp_path, "2")
    _wait_for_start(job, tmp_path / "out")
    sent = time.monotonic()
    job.send_signal(signal.SIGTERM)
    job.wait(timeout=30)  # not communicate(): that closes stdin, and the source would end
    stderr = job.stderr.read()  # type: ignore[union-attr]
    assert job.returncode == 128 + signal.SIGTERM
    assert time.monotonic() - sent < 10
    assert b"did not drain within 2 s" in stderr


def test_second_signal_exits_at_once(tmp_path: Path) -> None:
    job = _stuck_reading_stdin(tmp_path, "600")
    _wait_for_start(job, tmp_path / "out")
    job.send_signal(signal.SIGINT)
    time.sleep(0.5)
    sent = time.monotonic()
    job.send_signal(signal.SIGINT)
    job.wait(timeout=30)
    stderr = job.stderr.read()  # type: ignore[union-attr]
    assert job.returncode == 128 + signal.SIGINT
    assert time.monotonic() - sent < 5
    assert b"second SIGINT" in stderr


# --- item 10: 0/1 labels for a boolean label type -----------------------------------------


def test_zero_one_labels_are_learned_by_a_boolean_model(
    tmp_path: Path, make_settings, run_flow
) -> None:
    path = events_file(tmp_path / "e.jsonl", n=400, label=lambda i: int(i % 13 > 6))
    result = run_flow(
        make_settings(
            run={"source": "file"},
            files={"events_path": str(path)},
            features={"windows": []},
        )
    )
    assert [d for d in result.dead_letters if d["reason"] == "label"] == []
    assert result.monitor.labelled == 400
    assert {p["prediction"] for p in result.predictions[100:]} <= {True, False}


# --- item 11: windows over a field that never comes ---------------------------------------


def test_window_over_a_field_that_never_appears_is_reported(
    tmp_path: Path, make_settings, run_flow, caplog
) -> None:
    from driftline.flows.outputs import telemetry

    path = events_file(tmp_path / "e.jsonl", n=1500)
    settings = make_settings(
        run={"source": "file"},
        files={"events_path": str(path)},
        features={"windows": [{"field": "amount_typo", "period": "5m", "stats": ["mean"]}]},
    )
    with caplog.at_level("WARNING"):
        run_flow(settings)
    warned = [r for r in caplog.records if getattr(r, "field", None) == "amount_typo"]
    assert any("never seen as a number" in r.getMessage() for r in warned)
    gauge = telemetry.WINDOW_FIELD_MISSING.labels("amount_typo")
    assert gauge._value.get() == 1


def test_default_windows_read_no_field_of_the_events() -> None:
    for_files = load_settings(None, {"run": {"source": "kafka"}}).features.windows
    assert for_files and all(w.field is None for w in for_files)
    builtin = load_settings().features.windows  # the demo stream brings its own
    assert {w.field for w in builtin} == {None, "loan"}
    mine = [{"field": "amount", "period": "5m"}]
    chosen = load_settings(None, {"features": {"windows": mine}}).features.windows
    assert [w.field for w in chosen] == ["amount"]
