"""Pins the drift defaults' measured behaviour (DriftConfig()) on fixed seeds.

The numbers behind these pins are in docs/drift-eval.md (`driftline drift-eval`).
Known, documented misses are not hidden here: with seed 1 the default ADWIN
misses the first SEA drift (0 -> 3), and seed 5's stable SEA stream has one
false alarm; the seeds below are the ones the table's claims rest on.
"""

from __future__ import annotations

import argparse
import json

import pytest

from driftline.evaluation import drift_eval
from driftline.evaluation.harness import concept_detectors, data_detectors, scoring, streams
from driftline.flows.config import DriftConfig

N = 24_000  # the default run's concept stream length: drifts at 8,000 and 16,000
DEFAULT = concept_detectors.ConceptSetting("adwin (default)", DriftConfig())


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


def test_quick_cli_run_shows_baselines_have_no_skill(tmp_path) -> None:
    parser = argparse.ArgumentParser()
    drift_eval.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "results.json"
    args = parser.parse_args(["drift-eval", "--quick", "--jobs", "1", "--out", str(out)])
    assert args.func(args) == 0
    result = json.loads(out.read_text())
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
