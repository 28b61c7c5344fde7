"""A team's own model through the real flow: a River class by path, a pipeline and a
factory score exactly as River's progressive_val_score on River's bundled data; bad
model configs exit 2 naming the key; `models check`; warm start by definition."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from river import compose, datasets, evaluate, linear_model, metrics, preprocessing, tree

from driftline.connectors.builtin import drifting_events
from driftline.flows.config import BuiltinStreamConfig
from driftline.flows.scoring.definition import model_definition
from tests.conftest import read_jsonl, write_jsonl
from tests.support.recovery import resume, run_whole_then_killed_and_resumed

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RAW = {"features": {"windows": [], "time_since_last": False}}  # raw features only
KEEP = {"drift": {"on_concept_drift": "keep"}}  # one model from start to end, as River's

FACTORY = '''"""A team's model factory, as a plugin directory holds it."""
from river import preprocessing, tree


def build(seed, grace_period=200):
    return preprocessing.StandardScaler() | tree.HoeffdingAdaptiveTreeClassifier(
        grace_period=grace_period, seed=seed
    )
'''


def _events(path: Path, rows: Iterable[tuple[dict[str, Any], Any]]) -> Path:
    """Envelope events with inline labels, one entity, a second apart."""
    lines = (
        orjson.dumps(
            {
                "id": f"e{i}",
                "key": "k",
                "ts": (T0 + timedelta(seconds=i)).isoformat(),
                "features": x,
                "label": y,
            }
        )
        for i, (x, y) in enumerate(rows)
    )
    return write_jsonl(path, lines)


def _driftline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftline.flows", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DRIFTLINE_RUN__PROGRESS_EVERY": "3600", **(env or {})},
    )


def _plugin(tmp_path: Path, name: str, code: str) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / f"{name}.py").write_text(code)
    return plugins


def _accuracy(predictions: list[dict[str, Any]]) -> float:
    """River's rule: a prediction of None (an untrained model) is not counted."""
    judged = [p for p in predictions if p["prediction"] is not None]
    return sum(p["prediction"] == p["label"] for p in judged) / len(judged)


# ------------------------------------------------------- the same metric as River's own


@pytest.mark.parametrize(
    ("model", "reference"),
    [
        (
            {"estimator": "river.tree.HoeffdingTreeClassifier", "params": {"grace_period": 50}},
            lambda: tree.HoeffdingTreeClassifier(grace_period=50),
        ),
        (
            {
                "pipeline": [
                    {"estimator": "river.preprocessing.StandardScaler"},
                    {"estimator": "river.linear_model.LogisticRegression", "params": {"l2": 0.001}},
                ]
            },
            lambda: preprocessing.StandardScaler() | linear_model.LogisticRegression(l2=0.001),
        ),
    ],
    ids=["estimator", "pipeline"],
)
def test_phishing_accuracy_equals_progressive_val_score(
    tmp_path: Path, make_settings, run_flow, model: dict[str, Any], reference
) -> None:
    path = _events(tmp_path / "phishing.jsonl", datasets.Phishing())
    result = run_flow(
        make_settings(
            run={"source": "file"}, files={"events_path": str(path)}, model=model, **RAW, **KEEP
        )
    )
    expected = evaluate.progressive_val_score(datasets.Phishing(), reference(), metrics.Accuracy())
    m = result.monitor
    assert m.labelled == 1250 and m.model_accuracy.value == expected.get()
    assert _accuracy(result.predictions) == expected.get()
    definition = model_definition(make_settings(model=model).model)
    assert {(p["model"], p["definition_version"]) for p in result.predictions} == {
        (definition.name, definition.version)
    }


def test_a_factory_from_a_plugin_directory_equals_progressive_val_score(tmp_path: Path) -> None:
    plugins = _plugin(tmp_path, "phishing_models", FACTORY)
    config = tmp_path / "model.toml"
    config.write_text(
        '[model]\nfactory = "phishing_models:build"\nversion = "2026-11-27"\n'
        "factory_params = { grace_period = 50 }\n"
        '[drift]\non_concept_drift = "keep"\n'
        "[features]\nwindows = []\ntime_since_last = false\n"
    )
    events = _events(tmp_path / "phishing.jsonl", datasets.Phishing())
    out = tmp_path / "out"
    proc = _driftline(
        "run",
        "-c",
        str(config),
        "--plugins",
        str(plugins),
        "--events-file",
        str(events),
        "--out",
        str(out),
        "--no-metrics",
        "--store",
        str(tmp_path / "models"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    spec = importlib.util.spec_from_file_location(
        "phishing_models_ref", plugins / "phishing_models.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = evaluate.progressive_val_score(  # the run's seed is model.seed, 42
        datasets.Phishing(), module.build(seed=42, grace_period=50), metrics.Accuracy()
    )
    predictions = read_jsonl(out / "predictions.jsonl")
    assert len(predictions) == 1250 and _accuracy(predictions) == expected.get()
    assert {p["model"] for p in predictions} == {"phishing_models:build"}
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("accuracy"))
    assert f"model {expected.get():.4f}" in line


def test_string_classes_equal_progressive_val_score(
    tmp_path: Path, make_settings, run_flow
) -> None:
    """Multi-class text labels (River's ImageSegments: 7 classes) end to end."""
    path = _events(tmp_path / "segments.jsonl", datasets.ImageSegments())
    model = {"estimator": "river.tree.HoeffdingTreeClassifier", "label_type": "str"}
    result = run_flow(
        make_settings(
            run={"source": "file"}, files={"events_path": str(path)}, model=model, **RAW, **KEEP
        )
    )
    expected = evaluate.progressive_val_score(
        datasets.ImageSegments(), tree.HoeffdingTreeClassifier(), metrics.Accuracy()
    )
    m = result.monitor
    assert m.labelled == 2310 and m.model_accuracy.value == expected.get()
    assert {p["prediction"] for p in result.predictions} - {None} <= {
        y for _, y in datasets.ImageSegments()
    }
    assert m.baseline_accuracy.value is not None  # the prior baseline scores text classes too
    assert m.model_accuracy.value > m.baseline_accuracy.value + 0.5


def test_a_regressor_equals_progressive_val_score(tmp_path: Path, make_settings, run_flow) -> None:
    path = _events(tmp_path / "trump.jsonl", datasets.TrumpApproval())
    model = {
        "pipeline": [
            {"estimator": "river.preprocessing.StandardScaler"},
            {"estimator": "river.linear_model.LinearRegression"},
        ],
        "label_type": "float",
    }
    result = run_flow(
        make_settings(
            run={"source": "file"}, files={"events_path": str(path)}, model=model, **RAW, **KEEP
        )
    )
    expected = evaluate.progressive_val_score(
        datasets.TrumpApproval(),
        compose.Pipeline(preprocessing.StandardScaler(), linear_model.LinearRegression()),
        metrics.MAE(),
    )
    m = result.monitor
    assert m.labelled == 1001 and m.regression
    assert m.model_mae.value == pytest.approx(expected.get(), rel=1e-12)
    assert "MAE" in m.summary()


# ------------------------------------------------------------------ refused at start-up

BAD_MODELS = '''"""Factories that cannot serve."""
from river import compose, linear_model


def raises():
    raise RuntimeError("no credentials for the feature store")


def not_a_model():
    return {"model": "logreg"}


def holds_a_lambda():
    return compose.FuncTransformer(lambda x: x) | linear_model.LogisticRegression()


def build(seed):
    return linear_model.LogisticRegression()
'''
PIPE = '{ estimator = "river.preprocessing.StandardScaler" }'


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ('estimator = "river.nope.Tree"', ["model.estimator", "cannot import module 'river.nope'"]),
        ('estimator = "river.tree.NoSuchTree"', ["model.estimator", "no attribute 'NoSuchTree'"]),
        ('estimator = "river.evaluate.progressive_val_score"', ["model.estimator", "not a class"]),
        ('estimator = "river.optim.SGD"', ["model.estimator", "not a River estimator"]),
        (
            'estimator = "river.preprocessing.StandardScaler"',
            ["model.estimator", "a transformer, not a classifier or regressor"],
        ),
        (
            'estimator = "river.linear_model.LinearRegression"\nlabel_type = "str"',
            ["model.label_type 'str'", "is a regressor"],
        ),
        (
            'estimator = "river.tree.HoeffdingTreeClassifier"\nlabel_type = "float"',
            ['model.label_type "float"', "is a classifier"],
        ),
        (
            'estimator = "river.linear_model.LogisticRegression"\nlabel_type = "str"',
            ["model.label_type", "binary classifier"],
        ),
        (
            'estimator = "river.tree.HoeffdingTreeClassifier"\nparams = { grace_perod = 50 }',
            ["model.params", "no parameter 'grace_perod'"],
        ),
        (
            'estimator = "river.tree.SGTClassifier"\nparams = { lambda_value = -1.0 }',
            ["model.params", "refused its parameters", "lambda_value"],
        ),
        (
            f'pipeline = [{PIPE}, {{ estimator = "river.linear_model.LogisticRegression", '
            "params = { l3 = 1.0 } }]",
            ["model.pipeline[1].params", "'l3'"],
        ),
        (
            f'pipeline = [{{ estimator = "river.optim.SGD" }}, {PIPE}]',
            ["model.pipeline[0].estimator", "not a River estimator"],
        ),
        (
            'factory = "bad_models:raises"\nversion = "1"',
            ["model.factory", "raised RuntimeError('no credentials for the feature store')"],
        ),
        (
            'factory = "bad_models:not_a_model"\nversion = "1"',
            ["model.factory", "returned a dict, not a River estimator"],
        ),
        (
            'factory = "bad_models:holds_a_lambda"\nversion = "1"',
            ["model.factory", "cannot be pickled"],
        ),
        (
            'factory = "no_such_team:build"\nversion = "1"',
            ["model.factory", "cannot import module 'no_such_team'"],
        ),
        (
            'factory = "bad_models:build"\nversion = "1"\nfactory_params = { depth = 3 }',
            ["model.factory_params", "'depth'"],
        ),
        ('factory = "bad_models:build"', ["model.version is required with model.factory"]),
        (
            'name = "hat"\nestimator = "river.tree.HoeffdingTreeClassifier"',
            ["model.name and model.estimator are both set"],
        ),
        ("pipeline = []", ["model.pipeline is empty"]),
        (
            "pipeline = [{ params = { l2 = 0.1 } }]",
            ["model.pipeline.0.estimator", "Field required"],
        ),
    ],
)
def test_a_bad_model_config_exits_2_naming_the_key(
    tmp_path: Path, model: str, says: list[str]
) -> None:
    plugins = _plugin(tmp_path, "bad_models", BAD_MODELS)
    config = tmp_path / "bad.toml"
    config.write_text(f"[model]\n{model}\n")
    out = tmp_path / "out"
    proc = _driftline(
        "run",
        "-c",
        str(config),
        "--plugins",
        str(plugins),
        "--events",
        "50",
        "--no-metrics",
        "--out",
        str(out),
        "--store",
        str(tmp_path / "models"),
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    for fragment in says:
        assert fragment in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert not (out / "predictions.jsonl").exists()  # refused before any event


# ------------------------------------------------------------------------ models check


def test_models_check_describes_a_model_that_works(tmp_path: Path) -> None:
    plugins = _plugin(tmp_path, "checked_models", FACTORY)
    config = tmp_path / "model.toml"
    config.write_text('[model]\nfactory = "checked_models:build"\nversion = "v7"\n')
    proc = _driftline("models", "check", "-c", str(config), "--plugins", str(plugins))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(None, 1) for line in proc.stdout.splitlines() if " " in line)
    assert lines["model"] == "checked_models:build (model.factory)"
    assert lines["description"] == (
        "checked_models:build() version 'v7' -> StandardScaler | HoeffdingAdaptiveTreeClassifier"
    )
    assert lines["task"] == "classification (multi-class); labels bool"
    assert lines["definition"].startswith("md-") and lines["feature"].startswith("set  fs-")
    assert "300 rows" in lines["smoke"] and "the built-in stream" in lines["smoke"]
    assert proc.stdout.splitlines()[-1] == "ok"
    # the same model under another version string is another definition
    config.write_text('[model]\nfactory = "checked_models:build"\nversion = "v8"\n')
    again = _driftline(
        "models", "-c", str(config), "check", "--plugins", str(plugins), "--rows", "20"
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"definition   {lines['definition']}" not in again.stdout
    assert "20 rows" in again.stdout


def test_models_check_finds_what_only_learning_shows(tmp_path: Path) -> None:
    """River accepts a text grace period when built; the first learn_one fails on it."""
    config = tmp_path / "model.toml"
    config.write_text(
        '[model]\nestimator = "river.tree.HoeffdingTreeClassifier"\n'
        'params = { grace_period = "fifty" }\n'
    )
    proc = _driftline("models", "check", "-c", str(config))
    assert proc.returncode == 2
    assert "model.estimator: HoeffdingTreeClassifier failed in learn_one" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_models_check_reads_inputs_like_the_configured_source(tmp_path: Path) -> None:
    events = _events(tmp_path / "segments.jsonl", datasets.ImageSegments())
    config = tmp_path / "model.toml"
    config.write_text(
        '[model]\nname = "hat"\nlabel_type = "str"\n'
        f'[run]\nsource = "file"\n[files]\nevents_path = "{events}"\n'
    )
    proc = _driftline("models", "check", "-c", str(config))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "of up to 21 inputs (features of the first 300 events of files.events_path)" in (
        proc.stdout  # 19 raw features, 2 window features of the default feature set
    )
    assert "task         classification (multi-class); labels str" in proc.stdout


# ---------------------------------------------------------------------- warm start, listing


def test_warm_start_takes_only_a_snapshot_of_the_same_definition(tmp_path: Path) -> None:
    events = _events(tmp_path / "phishing.jsonl", datasets.Phishing())
    store = tmp_path / "models"
    grace = tmp_path / "grace50.toml"
    grace.write_text(
        '[model]\nestimator = "river.tree.HoeffdingTreeClassifier"\n'
        "params = { grace_period = 50 }\n"
    )
    replay = _driftline(
        "replay", "-c", str(grace), "--events-file", str(events), "--store", str(store)
    )
    assert replay.returncode == 0, replay.stderr[-3000:]
    [snapshot] = [p.name for p in store.glob("*.pkl")]
    assert snapshot.startswith("HoeffdingTreeClassifier-v1-shard-0-")
    listing = _driftline("models", "--store", str(store))
    assert listing.returncode == 0
    old = model_definition(_model_config(grace)).version
    assert f"definition {old}; labels bool" in listing.stdout

    other = tmp_path / "grace60.toml"
    other.write_text(grace.read_text().replace("50", "60"))
    new = model_definition(_model_config(other)).version
    run = [
        "run",
        "--events-file",
        str(events),
        "--store",
        str(store),
        "--no-metrics",
        "--out",
        str(tmp_path / "out"),
    ]
    refused = _driftline(*run, "-c", str(other), "--warm-start", snapshot)
    assert refused.returncode == 2
    assert f"{old} (HoeffdingTreeClassifier) -> {new} (HoeffdingTreeClassifier)" in refused.stderr
    assert "model definition version" in refused.stderr and "Traceback" not in refused.stderr
    latest = _driftline(*run, "-c", str(other), "--warm-start", "latest")
    assert latest.returncode == 2
    assert f"no snapshot of 'HoeffdingTreeClassifier' (definition {new})" in latest.stderr

    same = _driftline(*run, "-c", str(grace), "--warm-start", "latest")
    assert same.returncode == 0, same.stderr[-3000:]
    predictions = read_jsonl(tmp_path / "out" / "predictions.jsonl")
    assert predictions[0]["prediction"] is not None  # it starts trained
    assert {p["definition_version"] for p in predictions} == {old}


def _model_config(path: Path):
    from driftline.flows.config import load_settings

    return load_settings(path).model


# --------------------------------------------- text classes and numbers through a drift


def _drifting(kind: str, n: int = 6000, flip: int = 3000) -> list[tuple[dict[str, float], Any]]:
    """Three text classes by `a` (their order rotates at `flip`), or y = 3a + 1 (then
    10 - 3a): a concept change a tree that keeps its splits is slow to follow."""
    rng = random.Random(1)
    rows: list[tuple[dict[str, float], Any]] = []
    for i in range(n):
        a, b = rng.random(), rng.random()
        if kind == "str":
            y: Any = "low" if a < 1 / 3 else "mid" if a < 2 / 3 else "high"
            if i >= flip:
                y = {"low": "high", "mid": "low", "high": "mid"}[y]
        else:
            y = 3 * a + 1 if i < flip else 10 - 3 * a
            y += rng.gauss(0, 0.1)
        rows.append(({"a": a, "b": b}, y))
    return rows


def test_text_classes_drift_and_a_challenger_takes_over(
    tmp_path: Path, make_settings, run_flow
) -> None:
    """Delayed text labels: metrics, the prior baseline, the detector on the error
    stream and the challenger all work on classes that are strings."""
    rows = _drifting("str")
    events = write_jsonl(
        tmp_path / "events.jsonl",
        (
            orjson.dumps(
                {
                    "id": f"e{i}",
                    "key": f"k{i % 7}",
                    "ts": (T0 + timedelta(seconds=i)).isoformat(),
                    "features": x,
                }
            )
            for i, (x, _) in enumerate(rows)
        ),
    )
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        (
            orjson.dumps(
                {"id": f"e{i}", "label": y, "ts": (T0 + timedelta(seconds=i + 1)).isoformat()}
            )
            for i, (_, y) in enumerate(rows)
        ),
    )
    model = {
        "estimator": "river.tree.HoeffdingTreeClassifier",
        "params": {"grace_period": 50},
        "label_type": "str",
        "classes": ["low", "mid", "high"],
    }
    result = run_flow(
        make_settings(
            run={"source": "file"},
            model=model,
            **RAW,
            files={"events_path": str(events), "labels_path": str(labels)},
        )
    )
    m = result.monitor
    assert m.labelled == 6000 and not result.dead_letters
    kinds = [a["kind"] for a in result.alerts if a["kind"] != "data_drift"]
    assert kinds == ["concept_drift", "challenger_started", "model_promoted"]
    drift = result.alerts_of("concept_drift")[0]
    assert 3000 <= int(drift["event_id"][1:]) < 3300
    # labels arrive on their own stream: the promoted model serves from some event on
    after = [p for p in result.predictions if p["model_version"] == 2]
    assert len(after) >= 500 and int(after[0]["id"][1:]) > 3000
    right = [p["prediction"] == rows[int(p["id"][1:])][1] for p in after]
    assert sum(right) / len(right) > 0.9  # the promoted model learned the new order
    assert {p["prediction"] for p in after} == {"low", "mid", "high"}
    assert {p["baseline"] for p in result.predictions} - {None} <= {"low", "mid", "high"}
    assert m.model_accuracy.value > m.baseline_accuracy.value + 0.2


def test_a_regressor_drifts_and_a_challenger_takes_over(
    tmp_path: Path, make_settings, run_flow
) -> None:
    path = _events(tmp_path / "numbers.jsonl", _drifting("float"))
    model = {
        "estimator": "river.tree.HoeffdingTreeRegressor",
        "params": {"grace_period": 50},
        "label_type": "float",
    }
    result = run_flow(
        make_settings(run={"source": "file"}, files={"events_path": str(path)}, model=model, **RAW)
    )
    kinds = [a["kind"] for a in result.alerts if a["kind"] != "data_drift"]
    assert kinds == ["concept_drift", "challenger_started", "model_promoted"]
    promotion = result.alerts_of("model_promoted")[0]["statistic"]
    assert promotion["challenger_error"] < promotion["champion_error"] / 2
    m = result.monitor
    assert m.regression and m.model_mae.value < m.baseline_mae.value / 2
    assert {p["model"] for p in result.predictions} == {"HoeffdingTreeRegressor"}


# ---------------------------------------------------------- kill -9 and resume, a factory


def test_kill_9_and_resume_with_a_factory_model(tmp_path: Path) -> None:
    """A job killed mid-stream resumes its factory-built model from the recovery store:
    the outputs are those of a run never killed; another factory version is refused."""
    plugins = _plugin(tmp_path, "recovered_models", FACTORY)
    config = tmp_path / "model.toml"
    config.write_text('[model]\nfactory = "recovered_models:build"\nversion = "2026-11-27"\n')
    events = write_jsonl(
        tmp_path / "events.jsonl",
        (orjson.dumps(e) for e in drifting_events(BuiltinStreamConfig(events=N_RECOVERY))),
    )

    def command(out: str, *more: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "driftline.flows",
            "run",
            "-c",
            str(config),
            "--plugins",
            str(plugins),
            "--events-file",
            str(events),
            "--no-metrics",
            "--out",
            str(tmp_path / out),
            "--store",
            str(tmp_path / "models"),
            *more,
        ]

    whole, written = run_whole_then_killed_and_resumed(command, tmp_path, N_RECOVERY)

    def outcome(p: dict[str, Any]) -> tuple[Any, ...]:
        return (p["id"], p["prediction"], p["score"], p["model_version"], p["definition_version"])

    reference = [outcome(p) for p in read_jsonl(whole)]
    killed = [outcome(p) for p in read_jsonl(written)]
    assert len(reference) == N_RECOVERY and killed == reference

    config.write_text(config.read_text().replace("2026-11-27", "2026-11-28"))
    changed = resume(command, tmp_path)
    assert changed.returncode == 2
    assert "model definition version" in changed.stderr and "model.version" in changed.stderr
    assert "Traceback" not in changed.stderr


N_RECOVERY = 20_000
