"""A team's feature function and the new window stats, through the real flow.

The events' label is whether `a` and `b` have the same sign: no linear model of
`a` and `b` learns that, a linear model of `a*b > 0` does. So a feature
function that serves it changes what the model predicts; and it can only do
so if what it served is what the model learned from.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.flows.features.feature_set import feature_set_version
from driftline.flows.outputs.telemetry import REGISTRY
from driftline.flows.plugins import add_plugin_dirs
from tests.conftest import RunResult, write_jsonl
from tests.support.recovery import resume, run_whole_then_killed_and_resumed

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EVENTS = 3000

FEATURES = """
import math

CALLS = []


def same_sign(event, windows):
    CALLS.append(event.id)
    f = event.features
    return {"same_sign": f["a"] * f["b"] > 0, "a_above_max": f["a"] > windows["a_max_10m"]}


def flaky(event, windows):
    i = int(event.id[1:])
    if i % 10 == 3:
        raise ValueError(f"no merchant history for {event.id}")
    if i % 10 == 7:
        return {"merchant_share": math.nan}
    seen = windows["merchant_count_1h"]
    return {"merchant_share": windows["merchant_same_count_1h"] / seen if seen else 0.0}
"""

WINDOWS: list[dict[str, Any]] = [
    {"field": "a", "period": "10m", "stats": ["min", "max"]},
    {
        "field": "merchant",
        "period": "1h",
        "stats": ["count", "distinct", "same", "top"],
        "top_k": 2,
    },
]


def sign_events(path: Path, n: int = EVENTS, seed: int = 5) -> Path:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
        event = {
            "id": f"e{i}",
            "key": f"k{i % 20}",
            "ts": (T0 + timedelta(seconds=i)).isoformat(),
            "features": {"a": a, "b": b, "merchant": rng.choice("abc")},
            "label": a * b > 0,
        }
        lines.append(orjson.dumps(event))
    return write_jsonl(path, lines)


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A plugin directory holding `flow_features`, on sys.path for this module's tests."""
    directory = tmp_path_factory.mktemp("plugins")
    (directory / "flow_features.py").write_text(FEATURES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "path", list(sys.path))
        mp.delitem(sys.modules, "flow_features", raising=False)
        yield directory
        sys.modules.pop("flow_features", None)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sign_events(tmp_path_factory.mktemp("events") / "events.jsonl")


def run_with(features: dict[str, Any], events: Path, out: Path, plugins: Path | None = None):
    """Load settings as the CLI does (plugin dirs on sys.path) and run the flow in-process."""
    from driftline.flows.app.runner import run
    from driftline.flows.config import load_settings

    settings = load_settings(
        None,
        {
            "run": {"source": "file", "progress_every": 3600, "console_alerts": False,
                    "plugins": [str(plugins)] if plugins else []},
            "files": {"events_path": str(events)},
            "sinks": {"directory": str(out)},
            "model": {"store": str(out / "models")},
            "metrics": {"enabled": False},
            "features": {"windows": WINDOWS, **features},
        },
    )  # fmt: skip
    add_plugin_dirs(settings.run.plugins)
    return settings, RunResult(out, run(settings, serve_metrics=False))


def accuracy(predictions: list[dict[str, Any]]) -> float:
    later = predictions[len(predictions) // 2 :]  # once the model has learned
    return sum(p["prediction"] == p["label"] for p in later) / len(later)


@pytest.fixture(scope="module")
def plain(events: Path, tmp_path_factory: pytest.TempPathFactory):
    return run_with({}, events, tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def derived(events: Path, plugins: Path, tmp_path_factory: pytest.TempPathFactory):
    settings, result = run_with(
        {"derive": "flow_features:same_sign", "derive_version": "2026-01"},
        events,
        tmp_path_factory.mktemp("derived"),
        plugins,
    )
    return settings, result, sys.modules["flow_features"]


def test_the_served_feature_is_what_the_model_learns_from(plain, derived) -> None:
    _, without = plain
    _, result, _ = derived
    assert len(without.predictions) == len(result.predictions) == EVENTS
    assert accuracy(without.predictions) < 0.7  # a and b alone: no linear model of the sign
    assert accuracy(result.predictions) > 0.95  # learned from the served `same_sign`


def test_it_runs_once_per_event_in_the_feature_step(derived) -> None:
    """Once per event, where it is served; nothing calls it again when the label comes."""
    _, result, module = derived
    checked = Counter(f"e{i}" for i in range(200))  # the start-up check, on the first events
    served = Counter(module.CALLS) - checked
    assert served == Counter(p["id"] for p in result.predictions)
    assert max(served.values()) == 1 and len(module.CALLS) == EVENTS + 200


def test_predictions_carry_the_version_with_the_function(plain, derived) -> None:
    plain_settings, without = plain
    settings, result, _ = derived
    version = feature_set_version(settings.features)
    assert {p["feature_version"] for p in result.predictions} == {version}
    assert {p["feature_version"] for p in without.predictions} == {
        feature_set_version(plain_settings.features)
    }
    assert version != feature_set_version(plain_settings.features)


def dead_letter_count() -> float:
    value = REGISTRY.get_sample_value(
        "driftline_dead_letters_total", {"stage": "features", "reason": "derive"}
    )
    return value or 0.0


def test_failures_are_dead_letters_and_the_rest_is_scored(
    events: Path, plugins: Path, tmp_path: Path
) -> None:
    before = dead_letter_count()
    _, result = run_with(
        {"derive": "flow_features:flaky", "derive_version": "1"}, events, tmp_path, plugins
    )
    predicted = Counter(p["id"] for p in result.predictions)
    dead = Counter(orjson.loads(d["raw"])["id"] for d in result.dead_letters)
    assert max(predicted.values()) == 1 and max(dead.values()) == 1
    assert predicted.keys().isdisjoint(dead)
    assert len(predicted) + len(dead) == EVENTS  # each event predicted or dead, exactly once
    assert set(dead) == {f"e{i}" for i in range(EVENTS) if i % 10 in (3, 7)}
    assert {(d["stage"], d["reason"]) for d in result.dead_letters} == {("features", "derive")}
    errors = {d["error"].split(" for e")[0].split(" = ")[0] for d in result.dead_letters}
    assert errors == {
        "features.derive 'flow_features:flaky' raised ValueError: no merchant history",
        "features.derive 'flow_features:flaky' returned 'merchant_share'",
    }
    assert dead_letter_count() == before + len(dead)
    assert result.monitor.dead_letters == len(dead)


def driftline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftline.flows", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('derive = "flow_features:nope"\nderive_version = "1"\n', "features.derive: module"),
        ('derive = "flow_features:same_sign"\n', "features.derive_version"),
        (
            '[[features.windows]]\nfield = "a"\nperiod = "5m"\nstats = ["distinct"]\n',
            "features.windows[0].stats",
        ),
        (
            '[[features.windows]]\nfield = "merchant"\nperiod = "5m"\nstats = ["max"]\n',
            "features.windows[0].stats",
        ),
    ],
)
def test_bad_feature_settings_exit_2_naming_the_key(
    events: Path, plugins: Path, tmp_path: Path, toml: str, key: str
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml if toml.startswith("[[") else "[features]\n" + toml)
    proc = driftline("run", "-c", str(cfg), "--plugins", str(plugins), "--events-file",
                     str(events), "--no-metrics", "--out", str(tmp_path / "out"))  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert key in proc.stderr and "Traceback" not in proc.stderr
    assert "starting" not in proc.stderr  # refused before the flow started


# ---------------------------------------------------------- kill -9 and resume, a feature function

RECOVERED = """
def derive(event, windows):
    f = event.features
    return {
        "loan_over_max_1h": f["loan"] / windows["loan_max_1h"] if windows["loan_max_1h"] else 0.0,
        "zip_share_1h": windows["zip_same_count_1h"] / (windows["zip_count_1h"] or 1.0),
    }
"""
N_RECOVERY = 20_000


def test_kill_9_and_resume_with_a_feature_function(tmp_path: Path) -> None:
    """A job killed mid-stream resumes its windows (min/max and text ones too) and serves
    the same features: its outputs are those of a run never killed; another
    `derive_version` is refused."""
    from driftline.connectors.builtin import drifting_events
    from driftline.flows.config import BuiltinStreamConfig
    from tests.conftest import read_jsonl

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "recovered_features.py").write_text(RECOVERED)
    config = tmp_path / "features.toml"
    config.write_text(
        '[features]\nderive = "recovered_features:derive"\nderive_version = "1"\n'
        '[[features.windows]]\nfield = "loan"\nperiod = "1h"\nstats = ["count", "max"]\n'
        '[[features.windows]]\nfield = "zip"\nperiod = "1h"\n'
        'stats = ["count", "distinct", "same", "top"]\ntop_k = 2\n'
    )
    events = []
    for e in drifting_events(BuiltinStreamConfig(events=N_RECOVERY, bad_every=0)):
        e["features"]["zip"] = f"z{e['features']['zipcode']}"
        events.append(orjson.dumps(e))
    events_path = write_jsonl(tmp_path / "events.jsonl", events)

    def command(out: str, *more: str) -> list[str]:
        run = ["run", "-c", str(config), "--plugins", str(plugins), "--no-metrics"]
        files = ["--events-file", str(events_path), "--out", str(tmp_path / out)]
        store = ["--store", str(tmp_path / "models")]
        return [sys.executable, "-m", "driftline.flows", *run, *files, *store, *more]

    whole, written = run_whole_then_killed_and_resumed(command, tmp_path, N_RECOVERY)

    def outcome(p: dict[str, Any]) -> tuple[Any, ...]:
        return (p["id"], p["prediction"], p["score"], p["model_version"], p["feature_version"])

    reference = [outcome(p) for p in read_jsonl(whole)]
    killed = [outcome(p) for p in read_jsonl(written)]
    assert len(reference) == N_RECOVERY and killed == reference

    config.write_text(config.read_text().replace('derive_version = "1"', 'derive_version = "2"'))
    changed = resume(command, tmp_path)
    assert changed.returncode == 2, changed.stderr[-3000:]
    assert "feature-set version" in changed.stderr and "Traceback" not in changed.stderr
