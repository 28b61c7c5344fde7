"""Kafka topic admin and the start-up preflight (brokers and topics).

Every check here is bounded by `kafka.connect_timeout`: librdkafka retries an
unreachable broker forever and bytewax lists topics with no timeout, so without
these a wrong address hangs the job in C code, where not even SIGTERM is handled.
Failures are :class:`StartupError` naming the setting to fix (the command line
exits 2 with the message).
"""

from __future__ import annotations

import logging
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from driftline.connectors.kafka.settings import client_config
from driftline.flows.config import KafkaConfig, Settings, StartupError
from driftline.flows.records import Output

log = logging.getLogger(__name__)
_librdkafka_log = logging.getLogger("driftline.connectors.kafka.librdkafka")

#: Topic settings the job reads when `run.source` is kafka, and writes when `run.sink` is.
SOURCE_TOPICS = ("events_topic", "labels_topic")
SINK_TOPICS = tuple(o.topic_setting for o in Output)

_CREATE_HINT = "create them with `driftline topics create` (same config and environment)"


class _DebugLog:
    """Receives librdkafka's log lines and keeps them at DEBUG.

    A check of an unreachable broker would otherwise print a "Connection
    refused" line every 50 ms to stderr, burying the one error that says what
    to fix; with `--log-level DEBUG` they are still there.
    """

    def log(self, level: int, msg: str, *args: object) -> None:
        _librdkafka_log.debug(msg, *args)


def quiet_admin(conf: dict[str, Any]) -> AdminClient:
    """An AdminClient for `conf` whose librdkafka log goes to DEBUG (see :class:`_DebugLog`).

    A bad librdkafka setting is a StartupError naming `kafka.settings`.
    """
    try:
        settings: dict[str, Any] = {**conf, "logger": _DebugLog()}  # a logger object, not text
        return AdminClient(settings)
    except KafkaException as exc:
        raise StartupError(f"invalid librdkafka setting in kafka.settings: {_reason(exc)}") from exc


def admin_client(cfg: KafkaConfig) -> AdminClient:
    """A quiet AdminClient for the configured brokers, with the shared client settings."""
    return quiet_admin({"bootstrap.servers": cfg.bootstrap_servers, **client_config(cfg)})


def _reason(exc: KafkaException) -> str:
    """The librdkafka error text of `exc` (its KafkaError's description)."""
    err = exc.args[0] if exc.args else None
    return err.str() if isinstance(err, KafkaError) else str(exc)


def reach_brokers(cfg: KafkaConfig) -> ClusterMetadata:
    """The cluster's metadata, fetched within `kafka.connect_timeout`.

    The one reachability check shared by `run`, `produce` and `topics create`,
    so an unreachable broker fails at once with one message instead of a hang
    or a stream of librdkafka retries. Raises StartupError naming
    `kafka.bootstrap_servers`.
    """
    admin = admin_client(cfg)
    try:
        return admin.list_topics(timeout=cfg.connect_timeout)
    except KafkaException as exc:
        raise StartupError(
            f"cannot reach the Kafka brokers at {cfg.bootstrap_servers!r} "
            f"(kafka.bootstrap_servers) within {cfg.connect_timeout:g} s "
            f"(kafka.connect_timeout): {_reason(exc)}. Check that the brokers are running and "
            "that kafka.bootstrap_servers (--bootstrap-servers, "
            "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS) points at them."
        ) from exc


def _exists(meta: ClusterMetadata, topic: str) -> bool:
    """Whether the metadata lists `topic` (a topic with a transient error still exists)."""
    tmeta = meta.topics.get(topic)
    return tmeta is not None and (
        tmeta.error is None or tmeta.error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART
    )


def required_topics(settings: Settings) -> dict[str, str]:
    """Setting name -> topic for every topic this run reads or writes on Kafka.

    The labels topic is required with a Kafka source: the job always reads it
    there (labels may arrive on it even when events carry labels inline).
    """
    names: list[str] = []
    if settings.run.source == "kafka":
        names += SOURCE_TOPICS
    if settings.run.sink == "kafka":
        names += SINK_TOPICS
    return {f"kafka.{name}": getattr(settings.kafka, name) for name in names}


def check_kafka(settings: Settings) -> None:
    """Start-up preflight: brokers reachable and this run's topics present.

    Does nothing unless `run.source` or `run.sink` is kafka. Lists every topic
    (not each by name) so a broker that auto-creates topics does not create a
    mistyped one with default partitions. Raises StartupError naming each
    missing topic's setting and how to create it.
    """
    if "kafka" not in (settings.run.source, settings.run.sink):
        return
    cfg = settings.kafka
    meta = reach_brokers(cfg)
    missing = {s: t for s, t in required_topics(settings).items() if not _exists(meta, t)}
    if missing:
        listed = ", ".join(f"{topic!r} ({setting})" for setting, topic in missing.items())
        raise StartupError(
            f"Kafka topics missing on {cfg.bootstrap_servers!r}: {listed}; {_CREATE_HINT}, "
            "or set those settings to existing topics"
        )
    log.info("kafka reachable", extra={"brokers": len(meta.brokers), "topics": len(meta.topics)})


def topic_partitions(admin: AdminClient, topic: str, timeout: float) -> list[int]:
    """Partition ids of `topic`, listed within `timeout` s (StartupError otherwise).

    Lists the topic by name, as bytewax does, so a broker that auto-creates
    topics still may; unlike bytewax's listing it cannot block forever.
    """
    try:
        meta = admin.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise StartupError(
            f"cannot list the partitions of Kafka topic {topic!r} within {timeout:g} s "
            f"(kafka.connect_timeout): {_reason(exc)}; check kafka.bootstrap_servers"
        ) from exc
    tmeta = meta.topics.get(topic)
    if tmeta is None or tmeta.error is not None or not tmeta.partitions:
        error = tmeta.error.str() if tmeta is not None and tmeta.error else "no partitions"
        raise StartupError(f"Kafka topic {topic!r} cannot be read: {error}; {_CREATE_HINT}")
    return sorted(tmeta.partitions)


def all_topics(cfg: KafkaConfig) -> list[str]:
    """Every driftline topic: the source's, then the sink's."""
    return [getattr(cfg, name) for name in (*SOURCE_TOPICS, *SINK_TOPICS)]


def create_topics(cfg: KafkaConfig, timeout: float = 30.0) -> dict[str, str]:
    """Create every driftline topic with `cfg.partitions`; existing topics are fine.

    Returns topic -> "created" or "exists". Checks the brokers first (within
    `kafka.connect_timeout`); any failure is a StartupError naming the topic.
    """
    reach_brokers(cfg)
    admin = admin_client(cfg)
    wanted = [
        NewTopic(t, num_partitions=cfg.partitions, replication_factor=cfg.replication_factor)
        for t in all_topics(cfg)
    ]
    result: dict[str, str] = {}
    for topic, future in admin.create_topics(wanted, request_timeout=timeout).items():
        result[topic] = _creation(topic, future, cfg.bootstrap_servers, timeout)
    return result


def _creation(topic: str, future: Any, bootstrap: str, timeout: float) -> str:
    """One topic's creation outcome ("created" or "exists"); StartupError on failure."""
    try:
        future.result(timeout=timeout)
    except KafkaException as exc:
        if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return "exists"
        reason = _reason(exc)
    except FutureTimeout:
        reason = f"no answer within {timeout:g} s"
    else:
        return "created"
    raise StartupError(f"creating Kafka topic {topic!r} on {bootstrap!r} failed: {reason}")
