"""Model snapshots: trusted store only, warm start gives the saved model's predictions."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from driftline.connectors.builtin import drifting_events
from driftline.flows.config import BuiltinStreamConfig, FeaturesConfig
from driftline.flows.features.feature_set import FeatureSet
from driftline.flows.parse.events import Event
from driftline.flows.scoring.catalog import build_model
from driftline.flows.scoring.store import ModelStore, UntrustedSnapshot
from tests.conftest import write_jsonl


def trained(n: int = 500):
    model = build_model("logreg")
    for e in drifting_events(BuiltinStreamConfig(events=n)):
        x = {k: v for k, v in e["features"].items()}
        model.learn_one(x, e["label"])
    return model


def meta(**kw):
    base = dict(
        model="logreg", version=3, shard="shard-0", feature_version="fs-x", events_seen=500,
        labelled=500, metric="accuracy", metric_value=0.9, reason="test",
    )  # fmt: skip
    return {**base, **kw}


def test_save_list_load_roundtrip(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    model = trained()
    info = store.save(model, **meta())
    assert [i.file for i in store.list()] == [info.file]
    loaded = store.load(store.resolve("latest", "logreg"))
    x = {"salary": 50_000.0, "age": 30, "loan": 1000.0}
    assert loaded.predict_proba_one(x) == model.predict_proba_one(x)


def test_only_the_store_is_trusted(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    info = store.save(trained(50), **meta())
    outside = tmp_path / "evil.pkl"
    outside.write_bytes(b"not a model")
    with pytest.raises(UntrustedSnapshot):
        store.resolve(str(outside))
    with pytest.raises(UntrustedSnapshot):
        store.resolve("../evil.pkl")
    (store.directory / info.file).write_bytes(b"tampered")
    with pytest.raises(UntrustedSnapshot, match="checksum"):
        store.load(info)


def test_warm_start_serves_the_saved_models_predictions(
    tmp_path: Path, make_settings, run_flow
) -> None:
    # 1. learn on history and snapshot at the end (what `driftline replay` does)
    history = [orjson.dumps(e) for e in drifting_events(BuiltinStreamConfig(events=3000))]
    first = make_settings(
        run={"source": "file"},
        files={"events_path": str(write_jsonl(tmp_path / "history.jsonl", history))},
        model={"snapshot_on_end": True, "snapshot_every": 0},
        drift={"on_concept_drift": "keep"},
    )
    run_flow(first)
    store = ModelStore(first.model.store)
    info = store.latest("logreg")
    assert info is not None and info.reason == "end of input" and info.labelled == 3000
    saved = store.load(info)

    # 2. a new run warm-started from it, on unlabelled events (so nothing is learned)
    fresh = list(drifting_events(BuiltinStreamConfig(events=300, seed=9)))
    for e in fresh:
        e.pop("label")
    live = make_settings(
        run={"source": "file"},
        files={"events_path": str(write_jsonl(tmp_path / "live.jsonl", map(orjson.dumps, fresh)))},
        model={"warm_start": "latest"},
    )
    result = run_flow(live)
    assert {p["model_version"] for p in result.predictions} == {info.version}

    # 3. the saved model, given the same features, predicts exactly the same
    fs = FeatureSet(FeaturesConfig())
    states: dict = {}
    by_id = {p["id"]: p for p in result.predictions}
    for e in fresh:
        event = Event(**e)
        x = fs.featurize(states.setdefault(event.key, fs.new_state()), event, 0.0).x
        assert by_id[event.id]["score"] == saved.predict_proba_one(x)[True]


def test_warm_start_with_another_feature_set_is_refused(tmp_path: Path, make_settings) -> None:
    from driftline.flows.app.runner import check_warm_start

    s = make_settings(model={"warm_start": "latest"})
    ModelStore(s.model.store).save(trained(50), **meta(feature_version="fs-other"))
    with pytest.raises(ValueError, match="train/serve skew"):
        check_warm_start(s, "fs-this")
