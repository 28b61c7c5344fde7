"""Feeding the events and labels topics (`driftline produce`), at a chosen rate."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
from confluent_kafka import Producer

from connectors.kafka import client_config
from connectors.shutdown import stop_requested
from flows.config import KafkaConfig
from flows.events import LabelBytes


def file_messages(events: Path, labels: Path | None = None) -> Iterator[bytes]:
    """Lines of an events file, then of a labels file (as LabelBytes)."""
    with open(events, "rb") as f:
        for line in f:
            if line.strip():
                yield line.rstrip(b"\r\n")
    if labels is not None:
        with open(labels, "rb") as f:
            for line in f:
                if line.strip():
                    yield LabelBytes(line.rstrip(b"\r\n"))


def _key(raw: bytes) -> bytes | None:
    """Partition events by entity key and labels by id, when the message parses."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    key = data.get("id") if isinstance(raw, LabelBytes) else data.get("key")
    return key.encode() if isinstance(key, str) else None


def produce(
    cfg: KafkaConfig,
    messages: Iterable[bytes | None],
    rate: float = 0.0,
    progress: bool = True,
    limit: int = 0,
) -> dict[str, int]:
    """Send messages to the events or labels topic; `rate` in messages/s (0 = no limit)."""
    producer = Producer(
        {
            "bootstrap.servers": cfg.bootstrap_servers,
            "linger.ms": "5",
            "enable.idempotence": "true",
            **client_config(cfg, "producer"),
        }
    )
    sent = {"events": 0, "labels": 0}
    started = time.monotonic()
    last_report = started
    for i, raw in enumerate(messages):
        if stop_requested() or (limit and i >= limit):
            break
        is_label = isinstance(raw, LabelBytes)
        topic = cfg.labels_topic if is_label else cfg.events_topic
        while True:
            try:
                value = None if raw is None else bytes(raw)  # None: a tombstone
                producer.produce(topic, value, key=_key(raw) if raw is not None else None)
                break
            except BufferError:
                producer.poll(0.1)
        sent["labels" if is_label else "events"] += 1
        producer.poll(0)
        if rate > 0:
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        now = time.monotonic()
        if progress and now - last_report >= 1.0:
            last_report = now
            _report(sent, now - started)
    producer.flush(30)
    if progress:
        _report(sent, time.monotonic() - started, end="\n")
    return sent


def _report(sent: dict[str, int], elapsed: float, end: str = "\r") -> None:
    total = sent["events"] + sent["labels"]
    print(
        f"[produce] events {sent['events']:>10,}  labels {sent['labels']:>10,}  "
        f"{total / max(elapsed, 1e-9):>9,.0f} msg/s",
        end=end,
        file=sys.stderr,
        flush=True,
    )
