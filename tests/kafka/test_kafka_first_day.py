"""First-day Kafka failures: an unreachable broker, missing topics, undelivered messages.

Each must end at once with one clear message naming the setting to fix (exit 2
before anything starts, exit 1 when `produce` could not deliver) instead of
hanging, printing librdkafka's retries, or reporting success. "No broker" is
127.0.0.1:1 (refused at once); the rest runs against the real test broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from driftline.connectors.kafka import check_kafka, kafka_source
from driftline.connectors.kafka.sink import _OutputsPartition
from driftline.connectors.producer import produce
from driftline.connectors.shutdown import clear_stop, request_stop
from driftline.flows.config import KafkaConfig, Settings, StartupError
from driftline.flows.outputs.encode import SinkItem
from tests.conftest import kafka_job_env
from tests.support.broker import Broker, create_topics

pytestmark = pytest.mark.kafka

NO_BROKER = "127.0.0.1:1"
TOPIC_SETTINGS = (
    "events_topic",
    "labels_topic",
    "predictions_topic",
    "alerts_topic",
    "dead_letters_topic",
    "drift_reports_topic",
)


def _fresh_topics() -> dict[str, str]:
    """Topic settings -> names of this test alone."""
    prefix = f"first{uuid.uuid4().hex[:8]}"
    return {name: f"{prefix}.{name}" for name in TOPIC_SETTINGS}


def _in_thread(fn: Callable[[], Any], within: float) -> BaseException | None:
    """Run `fn` in a daemon thread; the exception it raised (None if it returned).

    Fails the test when `fn` is still running after `within` s: the defects
    fixed here were hangs, and a hung test would never report.
    """
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"still blocked after {within} s"
    return outcome[0]


def _driftline(*args: str, env: dict[str, str], cwd: Path, timeout: float = 30) -> Any:
    """Run the installed `driftline` script (or `python -m driftline.flows.app.cli` without one)."""
    script = Path(sys.executable).parent / "driftline"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "driftline.flows"]
    return subprocess.run(
        [*cmd, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def quick_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a `driftline` subprocess with short Kafka timeouts."""
    return {
        **os.environ,
        "DRIFTLINE_KAFKA__CONNECT_TIMEOUT": "2",
        "DRIFTLINE_KAFKA__FLUSH_TIMEOUT": "2",
        "DRIFTLINE_METRICS__ENABLED": "false",
        "DRIFTLINE_SINKS__DIRECTORY": str(tmp_path / "out"),
        "DRIFTLINE_MODEL__STORE": str(tmp_path / "models"),
    }


@pytest.fixture
def kafka_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Settings with a Kafka source and sink; keyword arguments go to the kafka section."""

    def make(**kafka: Any) -> Settings:
        return make_settings(run={"source": "kafka", "sink": "kafka"}, kafka=kafka)

    return make


# --- the start-up preflight ------------------------------------------------------------


def test_check_kafka_unreachable_names_bootstrap_servers(
    kafka_settings: Callable[..., Settings], capfd: pytest.CaptureFixture[str]
) -> None:
    settings = kafka_settings(bootstrap_servers=NO_BROKER, connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(StartupError, match=r"kafka\.bootstrap_servers") as caught:
        check_kafka(settings)
    assert time.monotonic() - started < 1.0 + 3.0
    assert NO_BROKER in str(caught.value)
    assert "Connection refused" not in capfd.readouterr().err  # librdkafka's retries kept quiet


def test_check_kafka_missing_topics_name_their_settings(
    broker: Broker, kafka_settings: Callable[..., Settings]
) -> None:
    topics = _fresh_topics()
    present = {t: 1 for name, t in topics.items() if name not in ("labels_topic", "alerts_topic")}
    create_topics(broker.bootstrap, present)
    settings = kafka_settings(bootstrap_servers=broker.bootstrap, **topics)
    with pytest.raises(StartupError) as caught:
        check_kafka(settings)
    message = str(caught.value)
    assert "kafka.labels_topic" in message and topics["labels_topic"] in message
    assert "kafka.alerts_topic" in message and topics["alerts_topic"] in message
    assert "kafka.events_topic" not in message
    assert "driftline topics create" in message
    with pytest.raises(StartupError, match=r"kafka\.labels_topic"):  # not auto-created
        check_kafka(settings)


def test_check_kafka_passes_with_every_topic(
    broker: Broker, kafka_settings: Callable[..., Settings]
) -> None:
    topics = _fresh_topics()
    create_topics(broker.bootstrap, {t: 1 for t in topics.values()})
    check_kafka(kafka_settings(bootstrap_servers=broker.bootstrap, **topics))


def test_check_kafka_checks_only_the_kafka_side(
    broker: Broker, make_settings: Callable[..., Settings]
) -> None:
    topics = _fresh_topics()
    create_topics(broker.bootstrap, {topics["events_topic"]: 1, topics["labels_topic"]: 1})
    kafka = {"bootstrap_servers": broker.bootstrap, **topics}
    check_kafka(make_settings(run={"source": "kafka", "sink": "file"}, kafka=kafka))
    with pytest.raises(StartupError, match=r"kafka\.predictions_topic"):
        check_kafka(make_settings(run={"source": "builtin", "sink": "kafka"}, kafka=kafka))
    unreachable = {"bootstrap_servers": NO_BROKER}
    check_kafka(make_settings(run={"source": "builtin", "sink": "file"}, kafka=unreachable))


def test_run_against_unreachable_broker_exits_2(quick_env: dict[str, str], tmp_path: Path) -> None:
    """Needs the runner to call `check_kafka(settings)` before building the flow."""
    started = time.monotonic()
    proc = _driftline(
        "run", "--source", "kafka", "--bootstrap-servers", NO_BROKER, "--no-metrics",
        env=quick_env, cwd=tmp_path, timeout=20,
    )  # fmt: skip
    assert time.monotonic() - started < 20
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "kafka.bootstrap_servers" in proc.stderr
    assert "Connection refused" not in proc.stderr


# --- the Kafka source and sink -------------------------------------------------------


def test_source_lists_partitions_within_connect_timeout() -> None:
    cfg = KafkaConfig(bootstrap_servers=NO_BROKER, connect_timeout=1.0)
    source = kafka_source(cfg, "driftline.events")
    error = _in_thread(source.list_parts, within=1.0 + 4.0)
    assert isinstance(error, StartupError)
    assert "driftline.events" in str(error) and "kafka.bootstrap_servers" in str(error)


def test_source_lists_partitions_of_a_real_topic(broker: Broker) -> None:
    topic = f"first{uuid.uuid4().hex[:8]}.events"
    create_topics(broker.bootstrap, {topic: 3})
    source = kafka_source(KafkaConfig(bootstrap_servers=broker.bootstrap), topic)
    assert source.list_parts() == [f"{i}-{topic}" for i in range(3)]
    missing = kafka_source(KafkaConfig(bootstrap_servers=broker.bootstrap), "bad topic!!")
    with pytest.raises(StartupError, match="bad topic!!"):
        missing.list_parts()


def _full_outputs(timeout: float) -> _OutputsPartition:
    """An output partition whose local queue (one message) is full and cannot drain."""
    conf = {
        "bootstrap.servers": NO_BROKER,
        "queue.buffering.max.messages": 1,
        "log_level": 0,
    }
    part = _OutputsPartition(conf, {"predictions": "driftline.predictions"}, timeout)
    part.write_batch([SinkItem("predictions", b"evt-1/m", b"first")])
    return part


def test_sink_with_full_queue_gives_up_after_flush_timeout() -> None:
    part = _full_outputs(timeout=1.0)
    more = [SinkItem("predictions", b"evt-2/m", b"more")] * 3
    error = _in_thread(lambda: part.write_batch(more), within=5.0)
    assert isinstance(error, RuntimeError)
    assert "kafka.flush_timeout" in str(error)


@pytest.fixture
def stop_after_test() -> Iterator[None]:
    clear_stop()
    yield
    clear_stop()


def test_sink_with_full_queue_gives_up_on_stop_request(stop_after_test: None) -> None:
    part = _full_outputs(timeout=600.0)
    threading.Timer(0.3, request_stop).start()
    more = [SinkItem("predictions", b"evt-2/m", b"more")] * 3
    error = _in_thread(lambda: part.write_batch(more), within=5.0)
    assert isinstance(error, RuntimeError)


# --- driftline produce and topics create -----------------------------------------------


def test_produce_to_unreachable_broker_exits_2(quick_env: dict[str, str], tmp_path: Path) -> None:
    started = time.monotonic()
    proc = _driftline(
        "produce", "--bootstrap-servers", NO_BROKER, "--events", "10", "--quiet",
        env=quick_env, cwd=tmp_path, timeout=20,
    )  # fmt: skip
    assert time.monotonic() - started < 15
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "kafka.bootstrap_servers" in proc.stderr and NO_BROKER in proc.stderr
    assert "produced" not in proc.stderr
    assert "Traceback" not in proc.stderr and "Connection refused" not in proc.stderr


def test_produce_counts_messages_the_broker_rejects(broker: Broker) -> None:
    """The broker rejects an illegal topic name; producing stops at the first rejection."""
    cfg = KafkaConfig(
        bootstrap_servers=broker.bootstrap, events_topic="bad topic!!", flush_timeout=5.0
    )
    slowly = ((time.sleep(0.01), b'{"key": "a"}')[1] for _ in range(500))
    result = produce(cfg, slowly, progress=False)
    events = result.events
    assert events.delivered == 0 and events.failed >= 1
    assert events.sent == events.failed + events.undelivered < 500  # stopped early
    assert not result.ok and result.not_delivered == events.sent
    assert result.first_error is not None and "topic" in result.first_error.lower()


def test_produce_counts_messages_left_when_the_broker_goes(tmp_path: Path) -> None:
    with Broker(log_dir=tmp_path / "tansu") as own:
        cfg = KafkaConfig(bootstrap_servers=own.bootstrap, flush_timeout=2.0)
        create_topics(own.bootstrap, {cfg.events_topic: 1})

        def messages() -> Iterator[bytes]:
            for i in range(20):
                if i == 10:
                    own.stop(grace=0)  # killed mid-way
                yield b'{"key": "%d"}' % i

        started = time.monotonic()
        result = produce(cfg, messages(), progress=False)
    assert time.monotonic() - started < 2.0 + 5.0
    events = result.events
    assert events.sent == 20
    assert events.delivered + events.failed + events.undelivered == 20
    assert events.delivered <= 10 and events.failed + events.undelivered >= 10
    assert not result.ok


def test_produce_exits_1_when_messages_are_not_delivered(
    broker: Broker, quick_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**quick_env, "DRIFTLINE_KAFKA__EVENTS_TOPIC": "bad topic!!"}
    proc = _driftline(
        "produce", "--bootstrap-servers", broker.bootstrap, "--events", "10", "--quiet",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "messages not delivered" in proc.stderr and broker.bootstrap in proc.stderr
    assert "Traceback" not in proc.stderr


def test_topics_create_against_unreachable_broker_exits_2(
    quick_env: dict[str, str], tmp_path: Path
) -> None:
    started = time.monotonic()
    proc = _driftline(
        "topics", "create", "--bootstrap-servers", NO_BROKER, env=quick_env, cwd=tmp_path
    )
    assert time.monotonic() - started < 15
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "kafka.bootstrap_servers" in proc.stderr
    assert "Traceback" not in proc.stderr and "Connection refused" not in proc.stderr


def test_topics_create_against_the_broker(broker: Broker, tmp_path: Path) -> None:
    env = kafka_job_env(broker.bootstrap, tmp_path, KAFKA__CONNECT_TIMEOUT="5")
    proc = _driftline("topics", "create", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count(": created") == 6
