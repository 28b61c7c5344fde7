"""Kafka out: one producer per worker for every output topic, acknowledged at each snapshot."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, NoReturn

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import Producer as _KafkaProducer

from driftline.connectors.kafka.settings import client_config
from driftline.connectors.shutdown import stop_requested
from driftline.flows.config import KafkaConfig
from driftline.flows.outputs.encode import SinkItem
from driftline.flows.outputs.telemetry import OUTPUT_ERRORS
from driftline.flows.records import Output

log = logging.getLogger(__name__)


class _Producer:
    """The producer a process shares among its output partitions, with its failures.

    One per process and configuration (:func:`_shared`): a worker may own several
    output partitions after a rescale (see :class:`KafkaOutputs`), and one
    producer per partition would multiply connections for nothing. confluent-kafka
    producers are thread-safe, so the workers of a process share it too.
    """

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.failed: list[str] = []
        self.users = 0
        self.producer = self.new()

    def new(self) -> _KafkaProducer:
        return _KafkaProducer({**self.conf, "on_delivery": self._delivered})

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed.append(f"{msg.topic()}: {err}")
            OUTPUT_ERRORS.labels(msg.topic() or "?").inc()


_producers: dict[bytes, _Producer] = {}
_producers_lock = threading.Lock()


def _shared(conf: dict[str, Any]) -> _Producer:
    key = repr(sorted(conf.items())).encode()
    with _producers_lock:
        shared = _producers.get(key)
        if shared is None:
            shared = _producers[key] = _Producer(conf)
        shared.users += 1
        return shared


def _release(shared: _Producer) -> None:
    with _producers_lock:
        shared.users -= 1
        if shared.users == 0:
            _producers.pop(repr(sorted(shared.conf.items())).encode(), None)


class _OutputsPartition(StatefulSinkPartition[SinkItem, None]):
    """An output partition: produces every output topic's messages through its
    process's producer without waiting; waits for the acks at each snapshot.

    Each message carries the key the encode step gave its record (the event id
    and model for a prediction, see flows/outputs/encode.py): Kafka's partitioner
    puts equal keys in one partition, so a consumer that keeps the last record
    per key, or a compacted topic, drops the duplicates a resume writes.

    librdkafka sends within `linger.ms`, so outputs leave at once; the worker only
    blocks when bytewax snapshots (the end of every epoch): all outputs of the
    epoch are then acknowledged before the state that produced them is committed,
    which is what makes delivery at-least-once across a crash. A message the
    broker could not take, or acks that do not come within `flush_timeout`,
    fail the job loudly instead of losing outputs quietly (with a recovery store
    the restarted job produces them again).
    """

    def __init__(self, conf: dict[str, Any], topics: dict[str, str], timeout: float) -> None:
        self._shared = _shared(conf)
        self._topics = topics
        self._timeout = timeout
        self._closed = False

    @property
    def _producer(self) -> _KafkaProducer:
        return self._shared.producer

    def write_batch(self, values: list[SinkItem]) -> None:
        producer, topics = self._producer, self._topics
        for output, key, value in values:
            topic = topics[output]
            try:
                producer.produce(topic, value, key)
            except BufferError:  # local queue full: let deliveries drain
                self._produce_when_room(topic, value, key)
        producer.poll(0)
        self._raise_failures()

    def _produce_when_room(self, topic: str, value: bytes, key: bytes | None) -> None:
        """Produce once the local queue has room, within `flush_timeout` s.

        The queue stays full while the brokers are away; waiting without a
        bound would keep the worker from ever seeing a stop request. After a
        stop request it gives up as soon as the broker takes nothing in a poll
        (a busy but live broker may still drain the queue).
        """
        deadline = time.monotonic() + self._timeout
        while True:
            queued = len(self._producer)
            self._producer.poll(0.1)
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                stalled = len(self._producer) >= queued
                if time.monotonic() > deadline or (stalled and stop_requested()):
                    self._give_up("outputs not accepted: the local queue stays full")

    def snapshot(self) -> None:
        self._flush()

    def _flush(self) -> None:
        # a stop request does not cut this short: draining means outputs acknowledged,
        # and run.shutdown_timeout already bounds how long a drain may take
        deadline = time.monotonic() + self._timeout
        while self._producer.flush(0.5) > 0:
            if time.monotonic() > deadline:
                self._give_up("outputs not acknowledged")
        self._raise_failures()

    def _give_up(self, what: str) -> NoReturn:
        """Fail the job: the broker has not taken the outputs within `flush_timeout`."""
        left = len(self._producer)
        log.error(what, extra={"messages": left})
        self._shared.producer = self._shared.new()  # a wedged producer is not reused
        raise RuntimeError(
            f"{what}: {left} output messages not acknowledged by Kafka within "
            f"{self._timeout:.0f} s (kafka.flush_timeout); "
            "stopping so that a restart produces them again"
        )

    def _raise_failures(self) -> None:
        shared = self._shared
        if shared.failed:
            failed, shared.failed = shared.failed, []
            log.error("outputs rejected by Kafka", extra={"count": len(failed), "first": failed[0]})
            raise RuntimeError(f"Kafka rejected {len(failed)} output messages: {failed[0]}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._flush()
        finally:
            _release(self._shared)


#: Output partitions of the Kafka sink, whatever the worker count (see KafkaOutputs);
#: workers beyond it write through partition `worker % OUTPUT_PARTITIONS`.
OUTPUT_PARTITIONS = 64


class KafkaOutputs(FixedPartitionedSink[SinkItem, None]):
    """Writes outputs to the predictions, alerts, dead-letter and report topics.

    The flow addresses each output to the worker that scored it (`per_worker`):
    output partition i takes worker i's outputs, and bytewax gives partition i of
    the sorted names to worker i % workers, so outputs are produced where they
    were made instead of crossing processes to the one worker that would own a
    topic. The partitions are a fixed :data:`OUTPUT_PARTITIONS`, not one per
    worker: bytewax keeps a snapshot per partition, and a resume on fewer workers
    must still list every partition the store holds (with one per worker, going
    from 2 workers back to 1 stopped the job at start-up: its store held
    `worker-0001`). A partition is built when it first gets outputs (or resumes),
    and the partitions of a process share its producer. At-least-once: after a
    resume, outputs of the resumed epoch are written again, with the same message
    keys (a prediction's is ``<event id>/<model>``), so consumers de-duplicate by
    key (README, "Message keys").
    """

    per_worker = True

    def __init__(self, cfg: KafkaConfig) -> None:
        self.cfg = cfg
        self.topics = {o.value: o.topic(cfg) for o in Output}
        self._parts = [f"worker-{i:04d}" for i in range(OUTPUT_PARTITIONS)]

    def list_parts(self) -> list[str]:
        return list(self._parts)

    def part_fn(self, item_key: str) -> int:
        return int(item_key) % len(self._parts)

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _OutputsPartition:
        conf = {
            "bootstrap.servers": self.cfg.bootstrap_servers,
            "linger.ms": "5",
            "enable.idempotence": "true",
            "delivery.report.only.error": True,
            **client_config(self.cfg, "producer"),
        }
        return _OutputsPartition(conf, self.topics, self.cfg.flush_timeout)


def kafka_outputs(cfg: KafkaConfig) -> KafkaOutputs:
    return KafkaOutputs(cfg)


__all__ = ["KafkaOutputs", "kafka_outputs"]
