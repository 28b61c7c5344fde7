"""The Kafka source: bytewax's KafkaSource reading raw message values, with bounded waits."""

from __future__ import annotations

import logging
import time
from typing import Any

from bytewax.connectors.kafka import KafkaSource
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import KafkaError as _ConfluentError

from driftline.connectors.kafka.admin import quiet_admin, topic_partitions
from driftline.connectors.kafka.settings import client_config
from driftline.connectors.shutdown import stop_requested
from driftline.flows.config import KafkaConfig
from driftline.flows.parse.events import LabelBytes
from driftline.flows.records import DeadLetter, dead_letter

log = logging.getLogger(__name__)
_PARTITION_EOF = _ConfluentError._PARTITION_EOF


def _error_letter(msg: Any, topic: str, labels: bool) -> DeadLetter:
    """A consumer error (a confluent-kafka message with `.error()`) as a dead letter."""
    return dead_letter(
        msg.value() or b"",
        f"kafka error on {topic}[{msg.partition()}]@{msg.offset()}: {msg.error()}",
        stage="kafka",
        reason="kafka",
        source="labels" if labels else "events",
    )


class _RawPartition(StatefulSourcePartition[Any, int | None]):
    """One topic partition read as raw values, in batches filled for up to `wait` s.

    It drives bytewax's own partition (its consumer, offset and end-of-partition
    state, so snapshots and resumes stay bytewax's) but not its `next_batch`: that
    builds a `KafkaSourceMessage` (eight accessor calls and a dataclass) per
    message that would be unpacked again at once. Values come out as they are:
    label messages as :class:`LabelBytes`, consumer errors as dead letters.
    """

    def __init__(self, inner: Any, topic: str, labels: bool, wait: float) -> None:
        self._inner = inner
        self._topic = topic
        self._labels = labels
        self._wait = wait
        self._ended = False

    def _read(self) -> list[Any]:
        part = self._inner
        if part._eof:
            raise StopIteration
        batch: list[Any] = []
        last = None
        for msg in part._consumer.consume(part._batch_size, 0.001):
            error = msg.error()
            if error is not None:
                if error.code() == _PARTITION_EOF:
                    part._eof = True  # end after emitting this batch
                    break
                batch.append(_error_letter(msg, self._topic, self._labels))
            else:
                value = msg.value()
                batch.append(LabelBytes(value) if self._labels and value is not None else value)
            last = msg.offset()
        if last is not None:
            part._offset = last + 1  # resume from the next message
        return batch

    def next_batch(self) -> list[Any]:
        """Up to `batch_size` messages, waiting at most `batch_wait` s to fill a batch.

        A live topic trickles in: without the wait every batch would hold a
        few messages and pay every step's per-batch costs alone.
        """
        if self._ended or stop_requested():
            raise StopIteration
        batch = self._read()
        if not batch:  # nothing is flowing: do not hold the worker up
            return batch
        size = self._inner._batch_size
        deadline = time.monotonic() + self._wait
        while len(batch) < size and time.monotonic() < deadline:
            try:
                more = self._read()
            except StopIteration:  # end of a non-tailing partition: send what we have
                self._ended = True
                break
            if not more:
                break
            batch.extend(more)
        return batch

    def snapshot(self) -> int | None:
        offset: int | None = self._inner.snapshot()
        return offset

    def close(self) -> None:
        self._inner.close()


class RawKafkaSource(FixedPartitionedSource[Any, int | None]):
    """bytewax's `KafkaSource` whose items are raw message values (labels as LabelBytes).

    Kafka-level errors become dead letters instead of stopping the job, and a
    stop request ends every partition after its current batch. The partitions
    are bytewax's own (consumer, offsets, end of partition), driven as
    :class:`_RawPartition` describes.
    """

    def __init__(
        self,
        kafka: KafkaSource,
        *,
        brokers: list[str],
        topics: list[str],
        labels: bool = False,
        admin_config: dict[str, str],
        batch_wait: float = 0.005,
        connect_timeout: float = 10.0,
    ) -> None:
        self.kafka = kafka
        self.brokers = brokers
        self.topics = topics
        self.labels = labels
        self.admin_config = admin_config
        self.batch_wait = batch_wait
        self.connect_timeout = connect_timeout

    def list_parts(self) -> list[str]:
        """Partitions of the topics (bytewax's names), listed without consumer-only settings.

        Within `connect_timeout` s: bytewax's own listing has no timeout and
        blocks the worker in C, deaf to SIGTERM, while the brokers are away.
        """
        admin = quiet_admin({"bootstrap.servers": ",".join(self.brokers), **self.admin_config})
        return [
            f"{part}-{topic}"
            for topic in self.topics
            for part in topic_partitions(admin, topic, self.connect_timeout)
        ]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _RawPartition:
        topic = for_part.split("-", 1)[1]
        inner = self.kafka.build_part(step_id, for_part, resume_state)
        return _RawPartition(inner, topic, self.labels, self.batch_wait)


def kafka_source(cfg: KafkaConfig, topic: str, labels: bool = False) -> RawKafkaSource:
    """A source reading `topic` from the beginning (or the recovery store's offsets)."""
    brokers = cfg.bootstrap_servers.split(",")
    return RawKafkaSource(
        KafkaSource(
            brokers=brokers,
            topics=[topic],
            tail=cfg.tail,
            # a stored offset the broker no longer has: re-read rather than skip events
            add_config={"auto.offset.reset": "earliest", **client_config(cfg, "consumer")},
            batch_size=cfg.batch_size,
            raise_on_errors=False,
        ),
        brokers=brokers,
        topics=[topic],
        labels=labels,
        admin_config=client_config(cfg),
        batch_wait=cfg.batch_wait_ms / 1000.0,
        connect_timeout=cfg.connect_timeout,
    )
