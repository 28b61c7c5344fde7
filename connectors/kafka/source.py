"""The Kafka source: bytewax's KafkaSource reading raw message values, with bounded waits."""

from __future__ import annotations

import logging
import time
from typing import Any

from bytewax.connectors.kafka import KafkaSource
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
        connect_timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.labels = labels
        self.admin_config = admin_config
        self.batch_wait = batch_wait
        self.connect_timeout = connect_timeout

    def list_parts(self) -> list[str]:
        """Partitions of the topics, listed without consumer-only settings.

        Within `connect_timeout` s: bytewax's own listing has no timeout and
        blocks the worker in C, deaf to SIGTERM, while the brokers are away.
        """
        admin = quiet_admin({"bootstrap.servers": ",".join(self._brokers), **self.admin_config})
        return [
            f"{part}-{topic}"
            for topic in self._topics
            for part in topic_partitions(admin, topic, self.connect_timeout)
        ]

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
        connect_timeout=cfg.connect_timeout,
    )
