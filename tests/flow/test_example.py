"""The example project (examples/phishing) runs as the README says, on River's own data:
two models in one job, the team's model watched per TLD (slices) and one model per TLD
(segments)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "phishing"
TLDS = {"com", "net", "xyz"}


def _jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


@dataclass
class ExampleRun:
    """The example's data and one run of its job over it, as `make example` does."""

    events: list[dict]
    labels: dict[str, bool]  # url_id -> is_phishing
    stdout: str
    predictions: list[dict]
    drift_reports: list[dict]
    snapshots: list[dict]  # the model store's snapshot metadata, written at the end

    @property
    def tld(self) -> dict[str, str]:
        """Each page's TLD, by url_id."""
        return {e["page"]["url_id"]: e["page"]["tld"] for e in self.events}

    def of_model(self, model: str) -> list[dict]:
        return [p for p in self.predictions if p["model"] == model]


def _make_data(data: Path) -> str:
    made = subprocess.run(
        [sys.executable, str(EXAMPLE / "make_data.py"), str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    """One run for the module's tests: the job takes seconds, its outputs are read many ways."""
    tmp = tmp_path_factory.mktemp("example")
    data, out, store = tmp / "data", tmp / "out", tmp / "models"
    assert "1250 events, 1194 labels" in _make_data(data)
    run = subprocess.run(
        [
            sys.executable, "-m", "driftline.flows", "run",
            "-c", str(EXAMPLE / "phishing.toml"), "--plugins", str(EXAMPLE),
            "--events-file", str(data / "events.jsonl"),
            "--labels-file", str(data / "labels.jsonl"),
            "--out", str(out), "--store", str(store), "--no-metrics",
        ],
        capture_output=True, text=True, timeout=300, cwd=tmp,
        # every model, every segment snapshotted at the end: what each instance learned
        env={**os.environ, "DRIFTLINE_MODEL__SNAPSHOT_ON_END": "true"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return ExampleRun(
        events=_jsonl(data / "events.jsonl"),
        labels={row["url_id"]: row["is_phishing"] for row in _jsonl(data / "labels.jsonl")},
        stdout=run.stdout,
        predictions=_jsonl(out / "predictions.jsonl"),
        drift_reports=_jsonl(out / "drift_reports.jsonl"),
        snapshots=[orjson.loads(p.read_bytes()) for p in sorted(store.glob("*.json"))],
    )


def test_both_models_score_every_page_of_the_teams_own_shape(example: ExampleRun) -> None:
    assert "page" in example.events[0] and "crawled_at" in example.events[0]  # no envelope
    assert {e["page"]["tld"] for e in example.events} == TLDS
    assert "dead letters     0" in example.stdout
    assert "models           phishing, phishing_by_tld" in example.stdout
    pages = sorted(e["page"]["url_id"] for e in example.events)
    for model in ("phishing", "phishing_by_tld"):
        predictions = example.of_model(model)
        assert sorted(p["id"] for p in predictions) == pages, model  # each page once
        assert predictions[0]["baseline_model"] == "rule phishing_project:looks_phishy@1"
    assert len(example.predictions) == 2 * len(pages)  # and no third model


def test_the_segmented_model_scores_each_page_with_its_tlds_model(example: ExampleRun) -> None:
    assert all(p["segment"] is None for p in example.of_model("phishing"))
    assert all(p["segment"] == example.tld[p["id"]] for p in example.of_model("phishing_by_tld"))


def test_one_model_instance_per_tld_learns_only_its_tlds_reports(example: ExampleRun) -> None:
    """The end-of-input snapshots: one per TLD for the segmented model, each having seen
    exactly its TLD's pages and reports; one for the team's model, having seen them all."""
    pages = Counter(e["page"]["tld"] for e in example.events)
    reported = Counter(
        e["page"]["tld"] for e in example.events if e["page"]["url_id"] in example.labels
    )
    by_tld = {s["segment"]: s for s in example.snapshots if s["model"] == "phishing_by_tld"}
    assert set(by_tld) == TLDS
    for tld, snapshot in by_tld.items():
        assert (snapshot["events_seen"], snapshot["labelled"]) == (pages[tld], reported[tld])
        assert "page.tld" not in snapshot["features"]  # features_exclude: constant here
    (team,) = [s for s in example.snapshots if s["model"] == "phishing"]
    assert team["segment"] is None
    assert (team["events_seen"], team["labelled"]) == (len(example.events), len(example.labels))
    assert "page.tld" not in team["features"]  # watched (slices), not an input

    # each segment's drift reports count that segment's pages alone, up to the window's end
    ids = [e["page"]["url_id"] for e in example.events]
    segment_reports = [r for r in example.drift_reports if r["model"] == "phishing_by_tld"]
    assert {r["segment"] for r in segment_reports} == TLDS
    for report in segment_reports:
        through = example.events[: ids.index(report["window_end_event_id"]) + 1]
        seen = sum(e["page"]["tld"] == report["segment"] for e in through)
        assert report["events_seen"] == seen
        assert report["slices"] == {}  # slices are the team's model's


def test_the_team_models_drift_reports_carry_figures_per_tld(example: ExampleRun) -> None:
    reports = [r for r in example.drift_reports if r["model"] == "phishing"]
    assert len(reports) == 3  # data windows of 300 of 1,250 pages, after the first
    ids = [e["page"]["url_id"] for e in example.events]
    for report in reports:
        assert set(report["slices"]) == {f"page.tld={tld}" for tld in TLDS}
        end = ids.index(report["window_end_event_id"])
        before = Counter(e["page"]["tld"] for e in example.events[:end])
        through = Counter(e["page"]["tld"] for e in example.events[: end + 1])
        for tld in TLDS:
            figures = report["slices"][f"page.tld={tld}"]
            assert before[tld] <= figures["events"] <= through[tld]
            assert 0 < figures["labelled"] <= figures["events"]
            assert figures["lift"] == pytest.approx(
                figures["model"] - figures["baseline"], abs=2e-4
            )

    # the last report's accuracy per TLD is the model's on that TLD's reported pages
    # (a window of 1,000 holds every label of a slice here), and the TLDs differ
    last = reports[-1]["slices"]
    accuracy, page_tld = {}, example.tld
    for tld in TLDS:
        scored = [
            p["prediction"] == example.labels[p["id"]]
            for p in example.of_model("phishing")
            if p["id"] in example.labels and page_tld[p["id"]] == tld
        ]
        accuracy[tld] = sum(scored) / len(scored)
        assert last[f"page.tld={tld}"]["model"] == pytest.approx(accuracy[tld], abs=0.01)
    assert accuracy["net"] > accuracy["xyz"] > accuracy["com"]


def test_each_model_beats_the_rule_and_one_model_for_all_tlds_beats_one_per_tld(
    example: ExampleRun,
) -> None:
    """Prequential accuracy once the models have seen some reports, from the predictions."""
    late_ids = {p["id"] for p in example.of_model("phishing")[len(example.events) // 4 :]}
    right = {}
    for model in ("phishing", "phishing_by_tld"):
        late = [
            p for p in example.of_model(model) if p["id"] in late_ids and p["id"] in example.labels
        ]
        right[model] = sum(p["prediction"] == example.labels[p["id"]] for p in late)
        rule = sum(p["baseline"] == example.labels[p["id"]] for p in late)
        assert right[model] > rule > 0.8 * len(late), model
    assert right["phishing"] > right["phishing_by_tld"]  # a third of the reports each is too few
    assert "\nmodel phishing_by_tld accuracy " in example.stdout  # the summary's second model


def test_models_check_serves_each_example_model_what_a_run_would(tmp_path) -> None:
    """The smoke test's inputs are a run's: 9 signals, 2 window features, the time since the
    host's last page and the feature function's 2 features; page.tld, excluded by both
    models, is not among them (it would make 15)."""
    data = tmp_path / "data"
    _make_data(data)
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
    assert "id           phishing (target default)" in check.stdout
    assert "id           phishing_by_tld (target default)" in check.stdout
    assert "segments     by page.tld" in check.stdout
    assert "slices       page.tld" in check.stdout
    assert check.stdout.count("phishing_project:build() version '1'") == 2
    assert check.stdout.count("300 rows of up to 14 inputs") == 2
