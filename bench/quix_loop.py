"""Quix Streams with the same River model (runs in bench/.venv, see bench/README.md).

Quix Streams 3.x pins confluent-kafka<2.13 and pydantic<2.14, which conflict
with driftline's own pins, so it lives in its own virtualenv; this module
needs only quixstreams, river and orjson (plus the repo on sys.path for
``driftline.flows.scoring.catalog``, which imports nothing but River).
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from typing import Any

from river import metrics

from bench.common import emit
from driftline.flows.scoring.catalog import build_model


def run(bootstrap: str, topic: str, out_topic: str, n: int, guarantee: str) -> dict[str, Any]:
    """Score `n` events from `topic` with a StreamingDataFrame; predictions to `out_topic`."""
    import quixstreams
    from quixstreams import Application

    t_start = time.perf_counter()
    fast = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
    app = Application(
        broker_address=bootstrap,
        consumer_group=f"bench-quix-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        consumer_extra_config=fast,
        processing_guarantee=guarantee,  # type: ignore[arg-type]
        use_changelog_topics=False,
        loglevel="WARNING",
    )
    source = app.topic(topic, value_deserializer="json")
    sink = app.topic(out_topic, value_serializer="json")
    model = build_model("logreg")
    metric = metrics.Accuracy()
    state = {"seen": 0, "first": None, "last": None}

    def score(e: dict[str, Any]) -> dict[str, Any]:
        if state["first"] is None:
            state["first"] = time.perf_counter()
        x, y = e["features"], e["label"]
        p = model.predict_proba_one(x).get(True, 0.0)
        metric.update(y, p >= 0.5)
        model.learn_one(x, y)
        state["seen"] += 1
        if state["seen"] >= n:
            app.stop()
        return {"id": e["id"], "score": p, "prediction": p >= 0.5}

    sdf = app.dataframe(source)
    sdf = sdf.apply(score)
    sdf.to_topic(sink)
    app.run()  # returns after stop(): the producer is flushed and offsets committed
    t_end = time.perf_counter()
    first = state["first"] or t_end
    return {
        "events": state["seen"],
        "seconds": t_end - first,
        "startup_seconds": first - t_start,
        "accuracy": metric.get(),
        "version": quixstreams.__version__,
        "guarantee": guarantee,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--out-topic", required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--guarantee", default="at-least-once")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    emit(run(args.bootstrap, args.topic, args.out_topic, args.events, args.guarantee))


if __name__ == "__main__":
    main()
