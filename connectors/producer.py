"""Feeding the events and labels topics (`driftline produce`), at a chosen rate."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer

from driftline.connectors.kafka.settings import client_config
from driftline.connectors.shutdown import stop_requested
from driftline.flows.config import KafkaConfig
from driftline.flows.parse.events import LabelBytes

log = logging.getLogger(__name__)


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


@dataclass
class StreamCounts:
    """What became of the messages sent to one topic."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    first_error: str | None = None

    @property
    def undelivered(self) -> int:
        """Sent but neither acknowledged nor rejected: still queued when the flush ended."""
        return self.sent - self.delivered - self.failed

    def on_delivery(self, err: KafkaError | None, _msg: object) -> None:
        """librdkafka's delivery report: the broker's ack or the final failure."""
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            if self.first_error is None:
                self.first_error = err.str()


@dataclass
class ProduceResult:
    """Counts per stream after `produce`; `ok` only when every message was acknowledged."""

    events: StreamCounts = field(default_factory=StreamCounts)
    labels: StreamCounts = field(default_factory=StreamCounts)

    @property
    def failed(self) -> int:
        return self.events.failed + self.labels.failed

    @property
    def not_delivered(self) -> int:
        return sum(c.failed + c.undelivered for c in (self.events, self.labels))

    @property
    def ok(self) -> bool:
        return self.not_delivered == 0

    @property
    def first_error(self) -> str | None:
        return self.events.first_error or self.labels.first_error

    def as_log(self) -> dict[str, int]:
        """Flat counts for a structured log line."""
        out: dict[str, int] = {}
        for name, c in (("events", self.events), ("labels", self.labels)):
            out[name] = c.sent
            out[f"{name}_delivered"] = c.delivered
            out[f"{name}_failed"] = c.failed
            out[f"{name}_undelivered"] = c.undelivered
        return out


def produce(
    cfg: KafkaConfig,
    messages: Iterable[bytes | None],
    rate: float = 0.0,
    progress: bool = True,
    limit: int = 0,
) -> ProduceResult:
    """Send messages to the events or labels topic; `rate` in messages/s (0 = no limit).

    Returns what the broker acknowledged, rejected, or had not answered when the
    final flush (`kafka.flush_timeout` s) ended: a producer that only counts what
    it queued reports success for messages that never left the process. Stops
    at the first rejected message: a wrong topic rejects every message, and an
    endless stream would otherwise be pumped into it forever.
    """
    producer = Producer(
        {
            "bootstrap.servers": cfg.bootstrap_servers,
            "linger.ms": "5",
            "enable.idempotence": "true",
            **client_config(cfg, "producer"),
        }
    )
    result = ProduceResult()
    started = time.monotonic()
    last_report = started
    for i, raw in enumerate(messages):
        if stop_requested() or (limit and i >= limit) or result.failed:
            break
        is_label = isinstance(raw, LabelBytes)
        counts = result.labels if is_label else result.events
        counts.sent += 1
        topic = cfg.labels_topic if is_label else cfg.events_topic
        value = None if raw is None else bytes(raw)  # None: a tombstone
        key = _key(raw) if raw is not None else None
        if not _enqueue(producer, topic, value, key, counts.on_delivery, cfg.flush_timeout):
            if not stop_requested():
                log.error(
                    "the brokers take no messages: stopped producing",
                    extra={"queued": len(producer), "waited_s": cfg.flush_timeout},
                )
            break
        producer.poll(0)
        if rate > 0:
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        now = time.monotonic()
        if progress and now - last_report >= 1.0:
            last_report = now
            _report(result, now - started)
    producer.flush(cfg.flush_timeout)  # what is still queued after it counts as undelivered
    if progress:
        _report(result, time.monotonic() - started, end="\n")
    return result


def _enqueue(
    producer: Producer,
    topic: str,
    value: bytes | None,
    key: bytes | None,
    on_delivery: Callable[[KafkaError | None, object], None],
    timeout: float,
) -> bool:
    """Queue one message, waiting for room at most `timeout` s or until a stop request.

    False when it could not be queued: the brokers take nothing (the queue
    stays full), and waiting on would hang the command. A message the client
    refuses at once (e.g. a topic it already knows to be invalid) is reported
    to `on_delivery` as failed.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            producer.produce(topic, value, key=key, on_delivery=on_delivery)
            return True
        except KafkaException as exc:
            on_delivery(exc.args[0] if exc.args else KafkaError(KafkaError._FAIL), None)
            return True
        except BufferError:
            if time.monotonic() > deadline or stop_requested():
                return False
            producer.poll(0.1)


def _report(result: ProduceResult, elapsed: float, end: str = "\r") -> None:
    events, labels = result.events.sent, result.labels.sent
    total = events + labels
    print(
        f"[produce] events {events:>10,}  labels {labels:>10,}  "
        f"{total / max(elapsed, 1e-9):>9,.0f} msg/s",
        end=end,
        file=sys.stderr,
        flush=True,
    )
