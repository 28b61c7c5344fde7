"""River alone in a plain Python loop: the floor per core.

``--mode floor``: events already parsed into (features, label) in memory.
``--mode orjson``: the same loop from message bytes, orjson parse and encode
per event (what any consumer must at least do), still in memory.
``--mode features``: the floor loop on the inputs driftline's model sees (raw
features plus driftline's windowed features, computed before the clock starts):
the floor for the same model on the same inputs, so the gap between it and
driftline is everything but the model.

``--model`` (floor and features modes): a catalog name (logreg, hat, arf) or a
River class by import path, built as driftline builds it from ``model.name`` or
``model.estimator`` (same definition, same seed); default logreg. With
``--mode features`` it is each model's own cost in a job of several models.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import orjson
from river import metrics

from bench.common import emit, load_raw, quiet_settings
from driftline.flows.scoring.catalog import CATALOG, build_model


def configured_model(name: str) -> Any:
    """A fresh model as driftline builds it for ``model.name`` (a catalog name) or
    ``model.estimator`` (an import path): the same definition and seed as in a job."""
    from driftline.flows.config import ModelConfig
    from driftline.flows.scoring.definition import model_definition

    cfg = ModelConfig(name=name) if name in CATALOG else ModelConfig(estimator=name)
    return model_definition(cfg).build(cfg.seed)


def timed_loop(
    data: list[tuple[dict[str, float], bool]], model_name: str = "logreg"
) -> dict[str, float]:
    """predict_proba_one, the metric and learn_one per event, timed; `data` is in memory."""
    model = configured_model(model_name)
    metric = metrics.Accuracy()
    t0 = time.perf_counter()
    for x, y in data:
        p = model.predict_proba_one(x).get(True, 0.0)
        metric.update(y, p >= 0.5)
        model.learn_one(x, y)
    seconds = time.perf_counter() - t0
    return {"events": len(data), "seconds": seconds, "accuracy": metric.get()}


def run_floor(raws: list[bytes], model_name: str = "logreg") -> dict[str, float]:
    """The floor: the timed loop on pre-parsed events (their raw features)."""
    data = [(e["features"], e["label"]) for e in map(orjson.loads, raws)]
    return timed_loop(data, model_name)


def run_features(raws: list[bytes], model_name: str = "logreg") -> dict[str, float]:
    """The floor loop over driftline's feature vectors.

    The feature set is the one the in-memory driftline rows run with (the job's
    default settings, not a bare ``FeaturesConfig()``, whose windows differ), so the
    model here sees exactly the inputs driftline's model does.
    """
    from driftline.flows.config import load_settings
    from driftline.flows.features.feature_set import FeatureSet
    from driftline.flows.parse.events import Parser

    settings = load_settings(None, quiet_settings())
    events = Parser("events", settings.validation).parse_batch(raws).good
    features = FeatureSet(settings.features)
    states: dict[str, object] = {}
    data = []
    for e in events:
        state = states.get(e.key)
        if state is None:
            state = states[e.key] = features.new_state()
        data.append((features.featurize(state, e, 0.0).x, e.label))  # type: ignore[arg-type]
    return {**timed_loop(data, model_name), "inputs": len(data[-1][0])}


def run_orjson(raws: list[bytes], model_name: str = "logreg") -> dict[str, float]:
    """The floor loop plus orjson parse of each message and encode of each prediction.

    Only logreg: the row compares the loop's per-message cost with the floor's."""
    if model_name != "logreg":
        raise SystemExit("--mode orjson measures logreg only")
    model = build_model("logreg")
    metric = metrics.Accuracy()
    out: list[bytes] = []
    t0 = time.perf_counter()
    for raw in raws:
        e = orjson.loads(raw)
        x, y = e["features"], e["label"]
        p = model.predict_proba_one(x).get(True, 0.0)
        metric.update(y, p >= 0.5)
        model.learn_one(x, y)
        out.append(orjson.dumps({"id": e["id"], "score": p, "prediction": p >= 0.5}))
    seconds = time.perf_counter() - t0
    return {"events": len(raws), "seconds": seconds, "accuracy": metric.get()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events-file", type=Path, required=True)
    ap.add_argument("--mode", choices=["floor", "orjson", "features"], default="floor")
    ap.add_argument("--model", default="logreg", help="catalog name or River class import path")
    args = ap.parse_args()
    raws = load_raw(args.events_file)
    run = {"floor": run_floor, "orjson": run_orjson, "features": run_features}[args.mode]
    emit({**run(raws, args.model), "model": args.model})


if __name__ == "__main__":
    main()
