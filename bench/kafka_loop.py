"""A hand-written confluent-kafka consumer loop with the same River model.

What a user would write without a framework: ``consume(1000)`` batches,
orjson, predict, learn, produce the prediction. Partitions are assigned
(no group join) and read from the beginning until `--events` were scored.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
import uuid
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from river import metrics

from bench.common import emit
from driftline.flows.scoring.catalog import build_model

_STOP = threading.Event()


def run(
    bootstrap: str,
    topic: str,
    out_topic: str,
    n: int,
    timeout: float = 300.0,
    consumer_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score `n` events from `topic`, produce predictions to `out_topic`; time it.

    With ``n == 0`` it tails the topic until SIGTERM (the latency bench).
    """
    t_start = time.perf_counter()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **(consumer_config or {}),
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    meta = consumer.list_topics(topic, timeout=10)
    parts = sorted(meta.topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    model = build_model("logreg")
    metric = metrics.Accuracy()
    produce, poll = producer.produce, producer.poll
    loads, dumps = orjson.loads, orjson.dumps
    seen = 0
    t_first: float | None = None
    deadline = time.monotonic() + timeout if n else float("inf")
    while (seen < n or not n) and time.monotonic() < deadline and not _STOP.is_set():
        msgs = consumer.consume(1000, 0.005 if not n else 1.0)  # tailing: do not wait to batch
        if msgs and t_first is None:
            t_first = time.perf_counter()
        for m in msgs:
            if m.error() is not None:
                continue
            e = loads(m.value())
            x, y = e["features"], e["label"]
            p = model.predict_proba_one(x).get(True, 0.0)
            metric.update(y, p >= 0.5)
            model.learn_one(x, y)
            value = dumps({"id": e["id"], "score": p, "prediction": p >= 0.5})
            while True:
                try:
                    produce(out_topic, value)
                    break
                except BufferError:
                    poll(0.05)
            seen += 1
        poll(0)
    producer.flush()
    t_end = time.perf_counter()
    consumer.close()
    return {
        "events": seen,
        "seconds": t_end - (t_first or t_end),
        "startup_seconds": (t_first or t_end) - t_start,
        "accuracy": metric.get(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--out-topic", required=True)
    ap.add_argument("--events", type=int, required=True, help="0 = tail until SIGTERM")
    ap.add_argument("--consumer-config", default="{}", help="JSON librdkafka settings")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: _STOP.set())
    extra = orjson.loads(args.consumer_config)
    emit(run(args.bootstrap, args.topic, args.out_topic, args.events, consumer_config=extra))


if __name__ == "__main__":
    main()
