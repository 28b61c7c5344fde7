"""Kafka in and out: client settings, the source, the outputs sink, topic admin.

Offsets: bytewax's `KafkaSource` assigns partitions itself and keeps each
partition's offset in bytewax's recovery store; it does not commit consumer-group
offsets (its `group.id` is ignored). Partitions are the unit of parallelism: each
partition is read by exactly one worker.
"""

from driftline.connectors.kafka.admin import (
    all_topics,
    check_kafka,
    create_topics,
    reach_brokers,
)
from driftline.connectors.kafka.settings import client_config, redacted
from driftline.connectors.kafka.sink import KafkaOutputs, kafka_outputs
from driftline.connectors.kafka.source import RawKafkaSource, kafka_source

__all__ = [
    "KafkaOutputs",
    "RawKafkaSource",
    "all_topics",
    "check_kafka",
    "client_config",
    "create_topics",
    "kafka_outputs",
    "kafka_source",
    "reach_brokers",
    "redacted",
]
