"""Latency: event produced to prediction written, at a fixed rate, through Kafka.

Starts driftline from Kafka to Kafka (tailing; bench.driftline_flow) in a subprocess,
produces events at `--rate` per second (each send time kept by event id),
reads the predictions topic in the same loop and matches ids. The first
`--warmup` seconds are not counted. Latency = prediction received by this
process minus the produce() call, so it includes the producer's linger, the
broker both ways and driftline's batching. For driftline it also reports the
in-job share (each prediction's ``latency_ms``: source batch handed over ->
scored), which tells the job's own delay from the broker's and the clients'.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from bench.common import emit, load_raw


def build_messages(raws: list[bytes], total: int) -> list[bytes]:
    """`total` messages with ids ``lat-<i>``; past the file's end the events repeat, later."""
    events = [orjson.loads(r) for r in raws]
    t_first = datetime.fromisoformat(events[0]["ts"])
    span = datetime.fromisoformat(events[-1]["ts"]) - t_first + timedelta(seconds=1)
    out = []
    for i in range(total):
        cycle, j = divmod(i, len(events))
        e = dict(events[j])
        e["id"] = f"lat-{i:09d}"
        if cycle:
            e["ts"] = (datetime.fromisoformat(e["ts"]) + cycle * span).isoformat()
        out.append(orjson.dumps(e))
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def run(args: argparse.Namespace) -> dict[str, Any]:
    total = int(args.rate * (args.warmup + args.duration))
    messages = build_messages(load_raw(args.events_file), total)
    prefix = args.prefix
    overrides = {
        "run": {"source": "kafka", "sink": "kafka"},
        "kafka": {
            "bootstrap_servers": args.bootstrap,
            "tail": True,
            "events_topic": f"{prefix}.events",
            "labels_topic": f"{prefix}.labels",
            "predictions_topic": f"{prefix}.predictions",
            "alerts_topic": f"{prefix}.alerts",
            "dead_letters_topic": f"{prefix}.dead_letters",
            "drift_reports_topic": f"{prefix}.drift_reports",
        },
    }
    # Tansu does not end a long-polling fetch when data arrives: every consumer
    # waits out fetch.wait.max.ms (librdkafka default 500 ms, ~125 ms per hop
    # measured), so the job's and this bench's consumers use 5 ms. Apache Kafka
    # answers a waiting fetch as soon as data arrives; there it makes no difference.
    overrides["kafka"]["settings"] = {"fetch.wait.max.ms": "5"}
    for section, values in orjson.loads(args.settings).items():
        overrides.setdefault(section, {}).update(values)
    if args.job == "driftline":
        cmd = ["bench.driftline_flow", "--mode", "kafka", "--settings", orjson.dumps(overrides)]
    else:  # the hand-written loop, same topics
        cmd = ["bench.kafka_loop", "--bootstrap", args.bootstrap, "--events", "0"]
        cmd += ["--topic", f"{prefix}.events", "--out-topic", f"{prefix}.predictions"]
        cmd += ["--consumer-config", args.loop_consumer_config]
    job = subprocess.Popen(  # both end on SIGTERM, drain and exit
        [sys.executable, "-m", *(c if isinstance(c, str) else c.decode() for c in cmd)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 1})
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"{prefix}-lat",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.assign([TopicPartition(f"{prefix}.predictions", 0, OFFSET_BEGINNING)])
    sent = [0.0] * total
    received = [0.0] * total
    inside = [0.0] * total  # driftline's own share: source batch in -> scored (latency_ms)
    n_recv = 0
    try:
        time.sleep(args.startup)  # let the job connect before the clock starts
        topic = f"{prefix}.events"
        produce, poll, consume = producer.produce, producer.poll, consumer.consume
        i = 0
        t0 = time.perf_counter()
        end_send = t0 + args.warmup + args.duration
        deadline = end_send + args.drain
        while True:
            now = time.perf_counter()
            if now >= deadline or (now >= end_send and n_recv >= total):
                break
            due = min(total, int((now - t0) * args.rate) + 1)
            while i < due:
                try:
                    produce(topic, messages[i])
                except BufferError:
                    break
                sent[i] = time.perf_counter()
                i += 1
            poll(0)
            msgs = consume(1000, 0.002)  # a wait, not a spin: the harness shares the cores
            t_recv = time.perf_counter()
            for m in msgs:
                if m.error() is None:
                    rec = orjson.loads(m.value())
                    k = int(rec["id"][4:])
                    if not received[k]:
                        received[k] = t_recv
                        n_recv += 1
                        inside[k] = rec.get("latency_ms") or 0.0
    finally:
        job.send_signal(signal.SIGTERM)
        try:
            _, err = job.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            job.kill()
            _, err = job.communicate()
        consumer.close()
        producer.flush(5)
    first_counted = int(args.warmup * args.rate)
    lat = sorted(
        (received[k] - sent[k]) * 1000
        for k in range(first_counted, total)
        if received[k] and sent[k]
    )
    if not lat:
        tail = err.decode(errors="replace")[-2000:] if err else ""
        raise RuntimeError(f"no predictions matched; job exit {job.returncode}: {tail}")
    own = sorted(inside[k] for k in range(first_counted, total) if received[k] and sent[k])
    return {
        "job": args.job,
        "rate": args.rate,
        "sent": total,
        "counted": total - first_counted,
        "received": len(lat),
        "p50_ms": percentile(lat, 50),
        "p90_ms": percentile(lat, 90),
        "p99_ms": percentile(lat, 99),
        "max_ms": lat[-1] if lat else float("nan"),
        # driftline only: from the source handing over a batch to the event being scored
        "in_job_p50_ms": percentile(own, 50) if args.job == "driftline" else None,
        "in_job_p99_ms": percentile(own, 99) if args.job == "driftline" else None,
        "job_stderr_tail": err.decode(errors="replace")[-400:] if err else "",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--prefix", required=True, help="topic prefix (topics must exist)")
    ap.add_argument("--events-file", type=Path, required=True)
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--startup", type=float, default=3.0)
    ap.add_argument("--drain", type=float, default=5.0)
    ap.add_argument("--settings", default="{}", help="JSON overrides of driftline settings")
    ap.add_argument("--job", choices=["driftline", "loop"], default="driftline")
    ap.add_argument(
        "--loop-consumer-config", default='{"fetch.wait.max.ms": 5}', help="JSON, for --job loop"
    )
    emit(run(ap.parse_args()))


if __name__ == "__main__":
    main()
