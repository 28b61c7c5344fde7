"""Kafka in and out: bytewax's Kafka connectors over confluent-kafka, and topic admin.

Offsets: bytewax's `KafkaSource` assigns partitions itself and keeps each
partition's offset in bytewax's recovery store; it does not commit consumer-group
offsets (its `group.id` is ignored). Partitions are the unit of parallelism: each
partition is read by exactly one worker.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from bytewax.connectors.kafka import KafkaError, KafkaSource, KafkaSourceMessage
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaException
from confluent_kafka import Producer as _Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.shutdown import stop_requested
from flows.config import KafkaConfig
from flows.events import DeadLetter, LabelBytes

log = logging.getLogger(__name__)

_SECRET_KEYS = ("password", "secret", "token", "key.pem", "jaas")


def client_config(cfg: KafkaConfig) -> dict[str, str]:
    """librdkafka settings from the config; the SASL password comes from a secret."""
    conf = dict(cfg.settings)
    if cfg.sasl_password is not None:
        conf["sasl.password"] = cfg.sasl_password.get_secret_value()
    return conf


def redacted(conf: dict[str, Any]) -> dict[str, Any]:
    """`conf` safe to log: values of secret-looking keys hidden."""
    return {k: ("***" if any(s in k.lower() for s in _SECRET_KEYS) else v) for k, v in conf.items()}


def _to_raw(item: KafkaSourceMessage | KafkaError, topic: str, labels: bool) -> Any:
    if isinstance(item, KafkaError):
        value = item.msg.value or b""
        return DeadLetter(
            raw=value[:65_536].decode("utf-8", errors="backslashreplace"),
            error=f"kafka error on {topic}[{item.msg.partition}]@{item.msg.offset}: {item.err}",
            stage="kafka",
            ts=datetime.now(UTC).isoformat(),
            reason="kafka",
            source="labels" if labels else "events",
        )
    value = item.value
    if labels and value is not None:
        return LabelBytes(value)
    return value


class RawKafkaSource(KafkaSource):
    """`KafkaSource` whose items are raw message values (labels as LabelBytes).

    Kafka-level errors become dead letters instead of stopping the job, and a
    stop request ends every partition after its current batch.
    """

    def __init__(self, *args: Any, labels: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.labels = labels

    def build_part(self, step_id: str, for_part: str, resume_state: int | None):
        part = super().build_part(step_id, for_part, resume_state)
        inner = part.next_batch
        topic = for_part.split("-", 1)[1]
        labels = self.labels

        def next_batch() -> list[Any]:
            if stop_requested():
                raise StopIteration
            return [_to_raw(m, topic, labels) for m in inner()]

        part.next_batch = next_batch  # type: ignore[method-assign]
        return part


def kafka_source(cfg: KafkaConfig, topic: str, labels: bool = False) -> RawKafkaSource:
    """A source reading `topic` from the beginning (or the recovery store's offsets)."""
    return RawKafkaSource(
        brokers=cfg.bootstrap_servers.split(","),
        topics=[topic],
        tail=cfg.tail,
        add_config=client_config(cfg),
        batch_size=cfg.batch_size,
        raise_on_errors=False,
        labels=labels,
    )


class _OutputsPartition(StatelessSinkPartition[tuple[str, bytes]]):
    def __init__(self, producer: _Producer, topics: dict[str, str]) -> None:
        self._producer = producer
        self._topics = topics

    def write_batch(self, items: list[tuple[str, bytes]]) -> None:
        produce, poll, topics = self._producer.produce, self._producer.poll, self._topics
        for name, value in items:
            while True:
                try:
                    produce(topics[name], value)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    poll(0.1)
        poll(0)
        self._producer.flush()

    def close(self) -> None:
        self._producer.flush()


class KafkaOutputs(DynamicSink[tuple[str, bytes]]):
    """Writes `(output, json)` items to the predictions, alerts and dead-letter topics.

    At-least-once: after a resume, outputs of the resumed epoch are written again;
    every record carries the event id and model version so consumers can de-duplicate.
    """

    def __init__(self, cfg: KafkaConfig) -> None:
        self.cfg = cfg
        self.topics = {
            "predictions": cfg.predictions_topic,
            "alerts": cfg.alerts_topic,
            "dead_letters": cfg.dead_letters_topic,
            "drift_reports": cfg.drift_reports_topic,
        }

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _OutputsPartition:
        conf = {
            "bootstrap.servers": self.cfg.bootstrap_servers,
            "linger.ms": "5",
            "enable.idempotence": "true",
            **client_config(self.cfg),
        }
        return _OutputsPartition(_Producer(conf), self.topics)


def kafka_outputs(cfg: KafkaConfig) -> KafkaOutputs:
    return KafkaOutputs(cfg)


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
