"""Warm start: snapshots record the labels and inputs their model learned, a run that
would serve it with other labels is refused at start-up, and replay prints a command
that works and never stores an untrained model."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from driftline.connectors.builtin import drifting_events
from driftline.flows.app.compatibility import check_warm_start
from driftline.flows.config import BuiltinStreamConfig, StartupError
from driftline.flows.features.feature_set import feature_set_version
from driftline.flows.scoring.catalog import build_model
from driftline.flows.scoring.shard import ModelShard
from driftline.flows.scoring.store import (
    MAX_INPUT_NAMES,
    InputNames,
    ModelStore,
    derived_feature_names,
)
from tests.conftest import read_jsonl, write_jsonl

RAW = ["age", "car", "commission", "elevel", "hvalue", "hyears", "loan", "salary", "zipcode"]


def _events(path: Path, n: int = 1500, label=lambda y: y) -> Path:
    events = []
    for e in drifting_events(BuiltinStreamConfig(events=n)):
        events.append(orjson.dumps({**e, "label": label(e["label"])}))
    return write_jsonl(path, events)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftline.flows", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DRIFTLINE_RUN__PROGRESS_EVERY": "3600", **(env or {})},
    )


def _hat_trained_on(labels: tuple, n: int = 300):
    model = build_model("hat")
    for i, e in enumerate(drifting_events(BuiltinStreamConfig(events=n))):
        model.learn_one(e["features"], labels[i % len(labels)])
    return model


def _meta(**kw):
    base = dict(
        model="hat", version=2, shard="shard-0", feature_version="fs-x", events_seen=300,
        labelled=300, metric="accuracy", metric_value=0.9, reason="test",
    )  # fmt: skip
    return {**base, **kw}


def test_a_snapshot_records_the_labels_and_raw_inputs_learned(make_settings) -> None:
    s = make_settings(model={"name": "hat", "label_type": "str", "classes": ["high", "low"]})
    shard = ModelShard("shard-0", s, "fs-x")
    derived = sorted(derived_feature_names(s.features))
    assert "secs_since_last" in derived
    for x in ({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0}, {"color=red": 1.0, "a": 0.5}):
        shard.instance.inputs.learned({**x, **dict.fromkeys(derived, 0.0)})
    shard.instance.policy.snapshot("test")
    info = ModelStore(s.model.store).latest("hat")
    assert info is not None and info.task == "classification"
    assert (info.label_type, info.classes) == ("str", ["high", "low"])
    assert info.features == ["a", "b", "color"] and not info.features_capped
    assert info.labels_text() == "str ['high', 'low']"
    assert info.features_text(limit=2) == "a, b (+1 more)"


def test_input_names_are_bounded() -> None:
    names = InputNames(frozenset())
    names.learned({f"f{i}": 1.0 for i in range(MAX_INPUT_NAMES + 5)})
    assert len(names.names) == MAX_INPUT_NAMES and names.capped


def test_replay_records_the_events_raw_inputs(tmp_path: Path, make_settings, run_flow) -> None:
    s = make_settings(
        run={"source": "file"},
        files={"events_path": str(_events(tmp_path / "history.jsonl"))},
        model={"snapshot_on_end": True, "snapshot_every": 0},
    )
    run_flow(s)
    info = ModelStore(s.model.store).latest("logreg")
    assert info is not None and info.features == RAW


def test_warm_start_with_other_label_type_or_classes_is_refused(make_settings) -> None:
    s = make_settings(model={"name": "hat", "warm_start": "latest"})
    fv = feature_set_version(s.features)
    store = ModelStore(s.model.store)
    store.save(_hat_trained_on(("high", "low")), **_meta(
        feature_version=fv, task="classification", label_type="str", classes=None))  # fmt: skip
    with pytest.raises(StartupError) as refused:
        check_warm_start(s, fv)
    message = str(refused.value)
    assert "model.label_type: 'str' -> 'bool'" in message and "--warm-start" in message

    store.save(_hat_trained_on((True, False)), **_meta(
        feature_version=fv, task="classification", label_type="bool", classes=[True]))  # fmt: skip
    with pytest.raises(StartupError, match=r"model.classes: \[True\] -> None"):
        check_warm_start(s, fv)
    check_warm_start(make_settings(model={"name": "hat", "warm_start": "latest",
                                          "classes": [True]}), fv)  # fmt: skip


def test_every_shards_snapshot_is_checked(make_settings) -> None:
    s = make_settings(model={"name": "hat", "warm_start": "latest", "shards": 2})
    fv = feature_set_version(s.features)
    store = ModelStore(s.model.store)
    fits = dict(task="classification", label_type="bool")
    store.save(_hat_trained_on((True, False)), **_meta(shard="shard-1", feature_version="fs-old"))
    store.save(_hat_trained_on((True, False)), **_meta(feature_version=fv, **fits))
    with pytest.raises(StartupError, match=r"shard-1.*train/serve skew"):
        check_warm_start(s, fv)


def _legacy(store: ModelStore, model, fv: str) -> None:
    """A snapshot as an earlier release wrote it: none of the recorded-labels fields."""
    info = store.save(model, **_meta(feature_version=fv))
    meta = store.directory / info.file.replace(".pkl", ".json")
    data = orjson.loads(meta.read_bytes())
    for key in ("task", "label_type", "classes", "features", "features_capped"):
        del data[key]
    meta.write_bytes(orjson.dumps(data))


def test_old_snapshots_list_and_are_judged_by_their_classes(make_settings, caplog) -> None:
    s = make_settings(model={"name": "hat", "warm_start": "latest"})
    fv = feature_set_version(s.features)
    store = ModelStore(s.model.store)
    _legacy(store, _hat_trained_on(("high", "low")), fv)
    [info] = store.list()
    assert info.task is None and info.features_text() == "(not recorded)"
    with pytest.raises(StartupError, match=r"predates recorded label types.*'high'"):
        check_warm_start(s, fv)
    text = make_settings(model={"name": "hat", "warm_start": "latest", "label_type": "str"})
    with caplog.at_level(logging.WARNING, logger="driftline"):
        check_warm_start(text, fv)
    assert "without a recorded label type" in caplog.text


def test_served_inputs_unlike_the_learned_ones_warn_once(caplog) -> None:
    derived = frozenset({"events_count_5m"})
    warm = InputNames(derived, ["salary", "age"], expected=True)
    with caplog.at_level(logging.WARNING, logger="driftline"):
        for _ in range(3):
            warm.served({"temperature": 1.0, "events_count_5m": 2.0})
    assert warm.unmatched == 3 and caplog.text.count("share no name") == 1
    warm.served({"salary": 1.0, "events_count_5m": 2.0})
    assert warm.unmatched == 3
    cold = InputNames(derived)
    cold.served({"temperature": 1.0})
    assert cold.unmatched == 0


def test_replay_whose_labels_were_all_refused_stores_nothing(tmp_path: Path) -> None:
    events = _events(tmp_path / "history.jsonl", n=500, label=lambda y: "high" if y else "low")
    store = tmp_path / "models"
    replay = _cli("replay", "--events-file", str(events), "--store", str(store))
    assert replay.returncode == 1, replay.stderr[-3000:]
    assert "no model snapshot" in replay.stderr and "model.label_type" in replay.stderr
    assert ModelStore(store).list() == []


def test_the_printed_warm_start_command_works(tmp_path: Path) -> None:
    events = _events(tmp_path / "history.jsonl")
    store = tmp_path / "models"
    replay = _cli("replay", "--events-file", str(events), "--model", "hat", "--store", str(store))
    assert replay.returncode == 0, replay.stderr[-3000:]
    [line] = [ln for ln in replay.stdout.splitlines() if ln.startswith("warm-start a live run")]
    printed = shlex.split(line.split(": ", 1)[1])
    assert printed[:2] == ["driftline", "run"] and "--store" in printed and "--model" in printed
    info = ModelStore(store).latest("hat")
    assert info is not None and printed[-2:] == ["--warm-start", info.file]
    out = tmp_path / "out"
    live = _cli(*printed[1:], "--source", "file", "--events-file", str(events),
                "--out", str(out), "--no-metrics")  # fmt: skip
    assert live.returncode == 0, live.stderr[-3000:]
    predictions = read_jsonl(out / "predictions.jsonl")
    assert predictions and {(p["model"], p["model_version"]) for p in predictions} == {
        ("hat", info.version)
    }
