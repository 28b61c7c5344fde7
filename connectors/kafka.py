"""Kafka in and out: bytewax's Kafka connectors over confluent-kafka, and topic admin.

Offsets: bytewax's `KafkaSource` assigns partitions itself and keeps each
partition's offset in bytewax's recovery store; it does not commit consumer-group
offsets (its `group.id` is ignored). Partitions are the unit of parallelism: each
partition is read by exactly one worker.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from bytewax.connectors.kafka import KafkaSource
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import KafkaError as _ConfluentError
from confluent_kafka import KafkaException
from confluent_kafka import Producer as _Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.shutdown import stop_requested
from flows.config import KafkaConfig
from flows.events import DeadLetter, LabelBytes
from flows.telemetry import OUTPUT_ERRORS

log = logging.getLogger(__name__)
_PARTITION_EOF = _ConfluentError._PARTITION_EOF

_SECRET_KEYS = ("password", "secret", "token", "key.pem", "jaas")


def client_config(cfg: KafkaConfig, role: str = "") -> dict[str, str]:
    """librdkafka settings for a client (`role` "consumer" or "producer" adds its own).

    The SASL password comes from a secret, never from a settings table.
    """
    conf = dict(cfg.settings)
    if role == "consumer":
        conf.update(cfg.consumer_settings)
    elif role == "producer":
        conf.update(cfg.producer_settings)
    if cfg.sasl_password is not None:
        conf["sasl.password"] = cfg.sasl_password.get_secret_value()
    return conf


def redacted(conf: dict[str, Any]) -> dict[str, Any]:
    """`conf` safe to log: values of secret-looking keys hidden."""
    return {k: ("***" if any(s in k.lower() for s in _SECRET_KEYS) else v) for k, v in conf.items()}


def _error_letter(msg: Any, topic: str, labels: bool) -> DeadLetter:
    """A consumer error (a confluent-kafka message with `.error()`) as a dead letter."""
    value = msg.value() or b""
    return DeadLetter(
        raw=value[:65_536].decode("utf-8", errors="backslashreplace"),
        error=f"kafka error on {topic}[{msg.partition()}]@{msg.offset()}: {msg.error()}",
        stage="kafka",
        ts=datetime.now(UTC).isoformat(),
        reason="kafka",
        source="labels" if labels else "events",
    )


def _raw_reader(part: Any, topic: str, labels: bool) -> Any:
    """Reads one partition as raw values, keeping bytewax's offset and end-of-partition state.

    bytewax's own `next_batch` builds a `KafkaSourceMessage` (eight accessor
    calls and a dataclass) per message that would be unpacked again at once;
    this does what it does (offset of the next message for the snapshot, stop
    after the partition's end) and returns the values themselves: label
    messages as :class:`LabelBytes`, consumer errors as dead letters.
    """
    consume, size = part._consumer.consume, part._batch_size

    def read() -> list[Any]:
        if part._eof:
            raise StopIteration
        batch: list[Any] = []
        last = None
        for msg in consume(size, 0.001):
            error = msg.error()
            if error is not None:
                if error.code() == _PARTITION_EOF:
                    part._eof = True  # end after emitting this batch
                    break
                batch.append(_error_letter(msg, topic, labels))
            else:
                value = msg.value()
                batch.append(LabelBytes(value) if labels and value is not None else value)
            last = msg.offset()
        if last is not None:
            part._offset = last + 1  # resume from the next message
        return batch

    return read


class RawKafkaSource(KafkaSource):
    """`KafkaSource` whose items are raw message values (labels as LabelBytes).

    Kafka-level errors become dead letters instead of stopping the job, and a
    stop request ends every partition after its current batch.
    """

    def __init__(
        self,
        *args: Any,
        labels: bool = False,
        admin_config: dict[str, str],
        batch_wait: float = 0.005,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.labels = labels
        self.admin_config = admin_config
        self.batch_wait = batch_wait

    def list_parts(self) -> list[str]:
        """Partitions of the topic, listed without consumer-only settings."""
        from bytewax.connectors.kafka import _list_parts

        admin = AdminClient({"bootstrap.servers": ",".join(self._brokers), **self.admin_config})
        return list(_list_parts(admin, self._topics))

    def build_part(self, step_id: str, for_part: str, resume_state: int | None):
        part = super().build_part(step_id, for_part, resume_state)
        topic = for_part.split("-", 1)[1]
        labels = self.labels
        inner = _raw_reader(part, topic, labels)
        size, wait = self._batch_size, self.batch_wait
        ended = False

        def next_batch() -> list[Any]:
            """Up to `batch_size` messages, waiting at most `batch_wait` s to fill a batch.

            A live topic trickles in: without the wait every batch would hold a
            few messages and pay every step's per-batch costs alone.
            """
            nonlocal ended
            if ended or stop_requested():
                raise StopIteration
            batch = inner()
            if not batch:  # nothing is flowing: do not hold the worker up
                return batch
            deadline = time.monotonic() + wait
            while len(batch) < size and time.monotonic() < deadline:
                try:
                    more = inner()
                except StopIteration:  # end of a non-tailing partition: send what we have
                    ended = True
                    break
                if not more:
                    break
                batch.extend(more)
            return batch

        part.next_batch = next_batch  # type: ignore[method-assign]
        return part


def kafka_source(cfg: KafkaConfig, topic: str, labels: bool = False) -> RawKafkaSource:
    """A source reading `topic` from the beginning (or the recovery store's offsets)."""
    return RawKafkaSource(
        brokers=cfg.bootstrap_servers.split(","),
        topics=[topic],
        tail=cfg.tail,
        # a stored offset the broker no longer has: re-read rather than skip events
        add_config={"auto.offset.reset": "earliest", **client_config(cfg, "consumer")},
        batch_size=cfg.batch_size,
        raise_on_errors=False,
        labels=labels,
        admin_config=client_config(cfg),
        batch_wait=cfg.batch_wait_ms / 1000.0,
    )


class _OutputsPartition(StatefulSinkPartition[tuple[str, bytes], None]):
    """One worker's producer for every output topic. Produces without waiting;
    waits for the acks at each snapshot.

    librdkafka sends within `linger.ms`, so outputs leave at once; the worker only
    blocks when bytewax snapshots (the end of every epoch): all outputs of the
    epoch are then acknowledged before the state that produced them is committed,
    which is what makes delivery at-least-once across a crash. A message the
    broker could not take, or acks that do not come within `flush_timeout`,
    fail the job loudly instead of losing outputs quietly (with a recovery store
    the restarted job produces them again).
    """

    def __init__(self, conf: dict[str, Any], topics: dict[str, str], timeout: float) -> None:
        self._conf = conf
        self._topics = topics
        self._timeout = timeout
        self._failed: list[str] = []
        self._producer = self._new_producer()

    def _new_producer(self) -> _Producer:
        return _Producer({**self._conf, "on_delivery": self._delivered})

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}: {err}")
            OUTPUT_ERRORS.labels(msg.topic() or "?").inc()

    def write_batch(self, values: list[tuple[str, bytes]]) -> None:
        producer, topics = self._producer, self._topics
        for output, value in values:
            topic = topics[output]
            while True:
                try:
                    producer.produce(topic, value)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.1)
        producer.poll(0)
        self._raise_failures()

    def snapshot(self) -> None:
        self._flush()

    def _flush(self) -> None:
        deadline = time.monotonic() + self._timeout
        while self._producer.flush(0.5) > 0:
            if time.monotonic() > deadline or stop_requested():
                left = len(self._producer)
                log.error("outputs not acknowledged", extra={"messages": left})
                self._producer = self._new_producer()  # a wedged producer is not reused
                raise RuntimeError(
                    f"{left} output messages not acknowledged by Kafka within "
                    f"{self._timeout:.0f} s; stopping so that a restart produces them again"
                )
        self._raise_failures()

    def _raise_failures(self) -> None:
        if self._failed:
            failed, self._failed = self._failed, []
            log.error("outputs rejected by Kafka", extra={"count": len(failed), "first": failed[0]})
            raise RuntimeError(f"Kafka rejected {len(failed)} output messages: {failed[0]}")

    def close(self) -> None:
        self._flush()


class KafkaOutputs(FixedPartitionedSink[tuple[str, bytes], None]):
    """Writes outputs to the predictions, alerts, dead-letter and report topics.

    One partition (one producer for all topics) per worker: the flow addresses
    each output to the worker that scored it (`per_worker`), so outputs are
    produced where they were made instead of crossing processes to the one
    worker that would own a topic. bytewax gives partition i of the sorted
    names to worker i. At-least-once: after a resume, outputs of the resumed
    epoch are written again; every record carries the event id and model
    version so consumers can de-duplicate.
    """

    per_worker = True

    def __init__(self, cfg: KafkaConfig, workers: int = 1) -> None:
        self.cfg = cfg
        self.topics = {
            "predictions": cfg.predictions_topic,
            "alerts": cfg.alerts_topic,
            "dead_letters": cfg.dead_letters_topic,
            "drift_reports": cfg.drift_reports_topic,
        }
        self._parts = [f"worker-{i:04d}" for i in range(workers)]

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


def kafka_outputs(cfg: KafkaConfig, workers: int = 1) -> KafkaOutputs:
    return KafkaOutputs(cfg, workers)


def all_topics(cfg: KafkaConfig) -> list[str]:
    return [
        cfg.events_topic,
        cfg.labels_topic,
        cfg.predictions_topic,
        cfg.alerts_topic,
        cfg.dead_letters_topic,
        cfg.drift_reports_topic,
    ]


def create_topics(cfg: KafkaConfig, timeout: float = 30.0) -> dict[str, str]:
    """Create every driftline topic with `cfg.partitions`; existing topics are fine.

    Returns topic -> "created" or "exists".
    """
    admin = AdminClient({"bootstrap.servers": cfg.bootstrap_servers, **client_config(cfg)})
    wanted = [
        NewTopic(t, num_partitions=cfg.partitions, replication_factor=cfg.replication_factor)
        for t in all_topics(cfg)
    ]
    result: dict[str, str] = {}
    for topic, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
            result[topic] = "created"
        except KafkaException as exc:
            err = exc.args[0]
            if err.name() == "TOPIC_ALREADY_EXISTS":
                result[topic] = "exists"
            else:
                raise
    return result


__all__ = [
    "KafkaOutputs",
    "RawKafkaSource",
    "client_config",
    "create_topics",
    "kafka_outputs",
    "kafka_source",
    "redacted",
]
