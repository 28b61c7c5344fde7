"""Tests for the Tansu test-broker helper in tests/broker.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from tests.support.broker import (
    Broker,
    BrokerError,
    consume_all,
    create_topics,
    free_port,
    produce,
    tansu_binary,
)

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker for this module."""
    with Broker(log_dir=tmp_path_factory.mktemp("tansu")) as b:
        yield b


def test_free_port_is_free() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # raises if the port were taken


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_TANSU_BIN", "/nonexistent/tansu")
    with pytest.raises(BrokerError, match="DRIFTLINE_TANSU_BIN"):
        tansu_binary()


def test_broker_flags_and_log(broker: Broker) -> None:
    cmd = broker.command()
    url = f"tcp://{broker.bootstrap}"
    assert cmd[cmd.index("--listener-url") + 1] == url
    assert cmd[cmd.index("--advertised-listener-url") + 1] == url
    assert cmd[cmd.index("--storage-engine") + 1] == "memory://tansu/"
    assert broker.bootstrap == f"127.0.0.1:{broker.port}"
    assert broker.is_running()
    assert broker.log_path.exists()
    # The broker advertises the address we gave it, not localhost:9092.
    meta = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
    assert {f"{b.host}:{b.port}" for b in meta.brokers.values()} == {broker.bootstrap}


def test_create_produce_consume_roundtrip(broker: Broker) -> None:
    topic = "broker-test.roundtrip"
    create_topics(broker.bootstrap, {topic: 3})
    create_topics(broker.bootstrap, {topic: 3})  # idempotent
    with pytest.raises(BrokerError, match="partitions"):
        create_topics(broker.bootstrap, {topic: 5}, timeout=5)

    messages = [(f"k{i % 10}".encode(), f"v{i}".encode()) for i in range(100)]
    assert produce(broker.bootstrap, topic, messages) == 100

    got = consume_all(broker.bootstrap, topic, expect=100, timeout=15)
    assert len(got) == 100
    assert sorted(r.value for r in got) == sorted(v for _, v in messages)
    assert {r.partition for r in got} <= {0, 1, 2}
    assert len({r.partition for r in got}) > 1  # keys spread over partitions
    for p in {r.partition for r in got}:
        offsets = [r.offset for r in got if r.partition == p]
        assert offsets == sorted(offsets)
    # Same key -> same partition.
    by_key: dict[bytes | None, set[int]] = {}
    for r in got:
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(ps) == 1 for ps in by_key.values())

    # Without `expect`, reading stops at the end of every partition.
    again = consume_all(broker.bootstrap, topic, timeout=15)
    assert len(again) == 100


def test_consume_empty_topic_returns_quickly(broker: Broker) -> None:
    topic = "broker-test.empty"
    create_topics(broker.bootstrap, {topic: 2})
    assert consume_all(broker.bootstrap, topic, timeout=10, idle=1.0) == []


def test_restart_keeps_port_and_accepts(tmp_path: Path) -> None:
    b = Broker(log_dir=tmp_path)
    with b:
        port = b.port
        create_topics(b.bootstrap, {"broker-test.restart": 1})
        first_pid = b.pid
        b.restart()
        assert b.port == port
        assert b.pid != first_pid
        assert b.is_running()
        # Memory storage: topics are gone after a restart; the broker takes new work.
        create_topics(b.bootstrap, {"broker-test.restart": 1})
        produce(b.bootstrap, "broker-test.restart", [(None, b"after")])
        got = consume_all(b.bootstrap, "broker-test.restart", expect=1, timeout=10)
        assert [r.value for r in got] == [b"after"]
    assert not b.is_running()
    assert "--- starting" in b.log_path.read_text()


def test_restart_with_connected_client_is_quick(tmp_path: Path) -> None:
    """A client still connected must not stall stop(); it reconnects after restart."""
    with Broker(log_dir=tmp_path) as b:
        create_topics(b.bootstrap, {"broker-test.reconnect": 1})
        producer = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        producer.produce("broker-test.reconnect", b"before")
        assert producer.flush(10) == 0
        started = time.monotonic()
        b.restart()
        assert time.monotonic() - started < 3.0
        create_topics(b.bootstrap, {"broker-test.reconnect": 1})
        producer.produce("broker-test.reconnect", b"after")
        assert producer.flush(15) == 0
        got = consume_all(b.bootstrap, "broker-test.reconnect", expect=1, timeout=10)
        assert [r.value for r in got] == [b"after"]
        started = time.monotonic()
        b.restart(grace=0)  # crash-style
        assert time.monotonic() - started < 1.0
        assert b.is_running()
