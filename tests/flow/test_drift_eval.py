"""Pins the drift defaults' measured behaviour (the harness's default gate) on fixed seeds.

The numbers behind these pins are in docs/drift-eval.md (`driftline drift-eval`).
The default gate is `concept_detectors.DEFAULT`, the row the page recommends
(concept_alpha 1e-4). The seeds below are the ones the table's claims rest on; the
adaptation test checks the product's challenger policy against a model that is
never replaced, on the streams where the page shows the challenger ahead.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import pytest

from driftline.evaluation import drift_eval
from driftline.evaluation.harness import (
    adaptation,
    concept_detectors,
    data_detectors,
    label_free,
    scoring,
    streams,
)
from driftline.flows.config import DriftConfig

N = 24_000  # the default run's concept stream length: drifts at 8,000 and 16,000
DEFAULT = concept_detectors.ConceptSetting("adwin (default)", concept_detectors.DEFAULT)


def _stream(name: str) -> streams.ConceptStream:
    return next(s for s in streams.concept_streams(N) if s.name == name)


@pytest.mark.parametrize("name", ["sea-abrupt", "agrawal-abrupt"])
@pytest.mark.parametrize("seed", [2, 3])
def test_default_detects_every_abrupt_drift_in_time(name: str, seed: int) -> None:
    stream = _stream(name)
    alarms = concept_detectors.concept_alarms(DEFAULT, streams.error_stream(stream, seed, N), seed)
    out = scoring.score(alarms, stream.drifts, stream.width, N, scoring.MAX_DELAY)
    assert out.missed == 0, alarms
    assert all(-stream.width // 2 <= d <= scoring.MAX_DELAY for d in out.delays), out.delays
    assert out.false_alarms == 0 and out.repeats == 0, alarms


@pytest.mark.parametrize("name", ["sea-stable", "agrawal-stable"])
def test_default_has_no_false_alarm_on_stable_streams(name: str) -> None:
    stream = _stream(name)
    for seed in (1, 2, 3):
        errors = streams.error_stream(stream, seed, N)
        assert concept_detectors.concept_alarms(DEFAULT, errors, seed) == [], (name, seed)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The `--quick` run's JSON result, once for the tests below."""
    parser = argparse.ArgumentParser()
    drift_eval.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path_factory.mktemp("eval") / "results.json"
    args = parser.parse_args(["drift-eval", "--quick", "--jobs", "1", "--out", str(out)])
    assert args.func(args) == 0
    return json.loads(out.read_text())


def test_quick_cli_run_shows_baselines_have_no_skill(quick: dict) -> None:
    result = quick
    for part in ("concept", "data"):
        rows = result[part]["overall"]
        never, rand = rows["never"], rows["random"]
        default = next(v for k, v in rows.items() if "(default)" in k)
        assert never["detected"] == 0
        assert never["false_alarms_stable"] + never["false_alarms_drifting"] == 0
        assert rand["false_alarms_stable"] + rand["false_alarms_drifting"] > 0
        assert default["false_alarms_stable"] == 0 and default["detected"] > 0
    concept = result["concept"]["overall"]
    default = concept["adwin (default)"]
    assert default["false_alarms_drifting"] == 0
    assert concept["random"]["detected"] < default["detected"]


@pytest.mark.parametrize("generator", ["agrawal", "friedman"])
def test_data_default_detects_half_sd_shift_within_two_windows(generator: str) -> None:
    n, cfg = 20_000, DriftConfig()
    feature, at = streams.DATA_GENERATORS[generator], streams.data_shift_point(n)
    rows = streams.feature_rows(generator, 1, n)
    stable = data_detectors.data_alarms(data_detectors.KSMonitor(cfg), rows, feature)
    assert stable == []
    data = streams.shifted(rows, feature, streams.Shift("mean +0.5 sd", delta=0.5), at)
    alarms = data_detectors.data_alarms(data_detectors.KSMonitor(cfg), data, feature)
    assert alarms and all(on_feature for _, on_feature in alarms), alarms
    assert at <= alarms[0][0] < at + 2 * cfg.data_window, (at, alarms)


def test_quick_run_has_error_levels_targets_and_adaptation(quick: dict) -> None:
    stream = quick["concept_streams"]["linear-0.5%"]
    assert stream["level"] == "0.5%" and 0.003 < stream["realized_error"] < 0.008, stream
    levels = quick["levels"]
    assert levels["random"]["linear-0.5%"]["false_alarms"] > 0
    assert levels["adwin (default)"]["linear-0.5%"] == {
        "false_alarms": 0, "events": 10_000, "per_100k": 0.0
    }  # fmt: skip
    targets = quick["targets"]
    assert targets["never"]["abrupt_detected"] == 0 and not targets["never"]["met"]
    # sea-abrupt and agrawal-abrupt: the error rose after every drift, so all 4 count
    assert targets["adwin (default)"]["abrupt_drifts"] == 4
    table = quick["adaptation"]["all"]
    assert set(table) == set(adaptation.POLICIES)
    assert all(0.5 < cell["accuracy"] <= 1.0 and cell["drifts"] == 1 for cell in table.values())


@pytest.mark.parametrize("flip", streams.LEVELS)
def test_error_level_stream_settles_at_its_level(flip: float) -> None:
    stream = next(s for s in streams.level_streams(20_000) if s.level == streams._pct(flip))
    errors = streams.error_stream(stream, 7, stream.events)
    realized = sum(errors[1000:]) / len(errors[1000:])
    assert abs(realized - flip) < 0.25 * flip + 0.002, realized


def test_stagger_second_drift_lowers_the_error_so_targets_leave_it_out() -> None:
    stream = _stream("stagger-abrupt")
    first, second = scoring.rises(streams.error_stream(stream, 1, N), stream.drifts)
    assert first > 0.3 and second < 0, (first, second)


@pytest.mark.parametrize("name", ["linear-0.5%-abrupt", "agrawal-abrupt"])
def test_challenger_beats_never_retrained_after_abrupt_drifts(name: str) -> None:
    stream, cfg = _stream(name), concept_detectors.DEFAULT
    runs = {p: adaptation.adapt(stream, 2, p, cfg, 5_000) for p in ("driftline", "never")}
    driftline, never = runs["driftline"], runs["never"]
    assert driftline.replaced >= 1 and never.alerts == never.replaced == 0
    assert sum(never.accuracy) < sum(driftline.accuracy), (never, driftline)


def _label_free_result() -> label_free.LabelFreeResult:
    def run(name: str, shift: int | None, alerts: dict[str, list[int]]) -> label_free.LabelFreeRun:
        windows = [
            label_free.WindowGap(2_000, 0.90, 0.91, 2_000, 2_000, False),
            label_free.WindowGap(4_000, 0.80, None, 0, 2_000, True),
        ]
        return label_free.LabelFreeRun(
            name, shift, 4_000, windows, 0.01, 0.01, 1, alerts, None, 0.91, None
        )

    stable = run("stable", None, {"prediction_drift": []})
    shifted = run("shifted", 3_000, {"prediction_drift": [3_500], "estimated_accuracy": [3_900]})
    return label_free.LabelFreeResult(1, "1 h", 500.0, 2_000, "salary x1.5", stable, shifted, 1.0)


@pytest.mark.parametrize("skip", [False, True])
def test_default_run_appends_the_label_free_section_unless_skipped(
    skip: bool,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Harness and label-free runs stubbed: the wiring only (the real run takes a minute)."""
    from driftline.evaluation.harness import report, runner

    calls: list[int] = []
    monkeypatch.setattr(runner, "run", lambda plan: {"seconds": 0.0, "plan": {"quick": plan.quick}})
    monkeypatch.setattr(report, "markdown", lambda result: "## concept tables")
    monkeypatch.setattr(
        label_free, "run_label_free", lambda seed=1: calls.append(seed) or _label_free_result()
    )
    parser = argparse.ArgumentParser()
    drift_eval.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "results.json"
    argv = ["drift-eval", "--markdown", "--out", str(out), *(["--no-label-free"] if skip else [])]
    args = parser.parse_args(argv)
    assert args.label_free is not skip
    assert args.func(args) == 0
    text, result = capsys.readouterr().out, json.loads(out.read_text())
    assert text.startswith("## concept tables")
    if skip:
        assert calls == [] and "label_free" not in result and "Before the labels" not in text
    else:
        assert calls == [1] and result["label_free"]["shifted"]["alerts"]["prediction_drift"]
        section = text.index("## Before the labels come")
        assert section > text.index("## concept tables")
        assert "| prediction_drift | 3,500 | 500 |" in text[section:]
