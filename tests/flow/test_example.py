"""The example project (examples/phishing) runs as the README says, on River's own data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "phishing"


def _jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def test_the_example_project_beats_its_rule_with_its_own_model_and_features(tmp_path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    made = subprocess.run(
        [sys.executable, str(EXAMPLE / "make_data.py"), str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "1250 events, 1194 labels" in made.stdout
    events = _jsonl(data / "events.jsonl")
    assert "page" in events[0] and "crawled_at" in events[0]  # the team's shape, no envelope
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftline.flows",
            "run",
            "-c",
            str(EXAMPLE / "phishing.toml"),
            "--plugins",
            str(EXAMPLE),
            "--events-file",
            str(data / "events.jsonl"),
            "--labels-file",
            str(data / "labels.jsonl"),
            "--out",
            str(out),
            "--no-metrics",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "dead letters     0" in run.stdout
    predictions = _jsonl(out / "predictions.jsonl")
    assert sorted(p["id"] for p in predictions) == sorted(e["page"]["url_id"] for e in events)
    first = predictions[0]
    assert first["model"] == "phishing_project:build"
    assert first["baseline_model"] == "rule phishing_project:looks_phishy@1"
    labels = {row["url_id"]: row["is_phishing"] for row in _jsonl(data / "labels.jsonl")}
    late = predictions[len(predictions) // 4 :]  # once the model has seen some reports
    model = sum(p["prediction"] == labels[p["id"]] for p in late if p["id"] in labels)
    rule = sum(p["baseline"] == labels[p["id"]] for p in late if p["id"] in labels)
    assert model > rule > 0.8 * sum(p["id"] in labels for p in late)


def test_models_check_serves_the_example_model_what_a_run_would(tmp_path) -> None:
    """The smoke test's inputs are a run's: 9 signals, 2 window features, the time since the
    host's last page and the feature function's 2 features."""
    data = tmp_path / "data"
    subprocess.run([sys.executable, str(EXAMPLE / "make_data.py"), str(data)], check=True)
    check = subprocess.run(
        [
            sys.executable, "-m", "driftline.flows", "models", "check",
            "-c", str(EXAMPLE / "phishing.toml"), "--plugins", str(EXAMPLE),
        ],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "DRIFTLINE_FILES__EVENTS_PATH": str(data / "events.jsonl"),
             "DRIFTLINE_FILES__LABELS_PATH": str(data / "labels.jsonl")},
    )  # fmt: skip
    assert check.returncode == 0, check.stderr[-2000:]
    assert "phishing_project:build() version '1'" in check.stdout
    assert "300 rows of up to 14 inputs" in check.stdout
