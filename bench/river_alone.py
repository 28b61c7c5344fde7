"""River alone in a plain Python loop: the floor per core.

``--mode floor``: events already parsed into (features, label) in memory.
``--mode orjson``: the same loop from message bytes, orjson parse and encode
per event (what any consumer must at least do), still in memory.
``--mode features``: the floor loop on the inputs driftline's model sees (raw
features plus driftline's windowed features, computed before the clock starts):
the floor for the same model on the same inputs, so the gap between it and
driftline is everything but the model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson
from river import metrics

from bench.common import emit, load_raw
from driftline.flows.scoring.catalog import build_model


def timed_loop(data: list[tuple[dict[str, float], bool]]) -> dict[str, float]:
    """predict_proba_one, the metric and learn_one per event, timed; `data` is in memory."""
    model = build_model("logreg")
    metric = metrics.Accuracy()
    t0 = time.perf_counter()
    for x, y in data:
        p = model.predict_proba_one(x).get(True, 0.0)
        metric.update(y, p >= 0.5)
        model.learn_one(x, y)
    seconds = time.perf_counter() - t0
    return {"events": len(data), "seconds": seconds, "accuracy": metric.get()}


def run_floor(raws: list[bytes]) -> dict[str, float]:
    """The floor: the timed loop on pre-parsed events (their raw features)."""
    return timed_loop([(e["features"], e["label"]) for e in map(orjson.loads, raws)])


def run_features(raws: list[bytes]) -> dict[str, float]:
    """The floor loop over driftline's feature vectors (default feature set)."""
    from driftline.flows.config import FeaturesConfig, ValidationConfig
    from driftline.flows.features.feature_set import FeatureSet
    from driftline.flows.parse.events import Parser

    events = Parser("events", ValidationConfig()).parse_batch(raws).good
    features = FeatureSet(FeaturesConfig())
    states: dict[str, object] = {}
    data = []
    for e in events:
        state = states.get(e.key)
        if state is None:
            state = states[e.key] = features.new_state()
        data.append((features.featurize(state, e, 0.0).x, e.label))  # type: ignore[arg-type]
    return {**timed_loop(data), "inputs": len(data[-1][0])}


def run_orjson(raws: list[bytes]) -> dict[str, float]:
    """The floor loop plus orjson parse of each message and encode of each prediction."""
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
    args = ap.parse_args()
    raws = load_raw(args.events_file)
    run = {"floor": run_floor, "orjson": run_orjson, "features": run_features}[args.mode]
    result = run(raws)
    emit(result)


if __name__ == "__main__":
    main()
