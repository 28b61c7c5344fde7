"""The Kafka connector's own logic: errors become dead letters, secrets stay secret."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from types import SimpleNamespace

import orjson
import pytest
from confluent_kafka import KafkaError as ConfluentError

from driftline.connectors.kafka import client_config, redacted
from driftline.connectors.kafka.source import _RawPartition
from driftline.flows.config import load_settings
from driftline.flows.parse.events import DeadLetter, LabelBytes
from tests.conftest import kafka_job_env


@dataclass
class _Msg:
    """The accessors of a confluent-kafka message the reader uses."""

    _value: bytes | None
    _offset: int
    _error: ConfluentError | None = None

    def value(self) -> bytes | None:
        return self._value

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return 2

    def error(self) -> ConfluentError | None:
        return self._error


def _part(*batches: list[_Msg]) -> SimpleNamespace:
    """A bytewax Kafka partition's state, with a consumer returning `batches` in turn."""
    queue = list(batches)
    consumer = SimpleNamespace(consume=lambda n, timeout: queue.pop(0) if queue else [])
    return SimpleNamespace(_consumer=consumer, _batch_size=100, _eof=False, _offset=0)


def test_kafka_error_becomes_a_dead_letter_with_the_reason() -> None:
    err = ConfluentError(ConfluentError._MSG_TIMED_OUT)
    part = _part([_Msg(b"\xff partial", 41, err), _Msg(b"{}", 42)])
    dead, ok = _RawPartition(part, "t", labels=False, wait=0.0)._read()
    assert isinstance(dead, DeadLetter)
    assert dead.stage == "kafka" and dead.reason == "kafka"
    assert "t[2]@41" in dead.error and dead.raw.startswith("\\xff")
    assert ok == b"{}" and part._offset == 43


def test_values_pass_through_labels_are_marked_and_the_end_stops_the_partition() -> None:
    eof = ConfluentError(ConfluentError._PARTITION_EOF)
    part = _part([_Msg(b"{}", 0), _Msg(None, 1)], [_Msg(b"{}", 2), _Msg(None, 3, eof)])
    read = _RawPartition(part, "t", labels=False, wait=0.0)._read
    assert read() == [b"{}", None]  # a tombstone stays None: parsing says why
    assert read() == [b"{}"] and part._offset == 3  # the end is not a message
    with pytest.raises(StopIteration):
        read()
    labels = _RawPartition(_part([_Msg(b"{}", 0)]), "t", labels=True, wait=0.0)._read()
    assert isinstance(labels[0], LabelBytes)


def test_sasl_settings_pass_through_and_secret_comes_from_env(monkeypatch) -> None:
    monkeypatch.setenv("DRIFTLINE_KAFKA__SASL_PASSWORD", "s3cret-value")
    monkeypatch.setenv(
        "DRIFTLINE_KAFKA__SETTINGS",
        '{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "u"}',
    )
    conf = client_config(load_settings().kafka)
    assert conf["sasl.password"] == "s3cret-value"
    assert conf["security.protocol"] == "SASL_SSL"
    assert redacted(conf)["sasl.password"] == "***"
    assert "s3cret-value" not in repr(load_settings().kafka)
    assert "s3cret-value" not in load_settings().model_dump_json()


def test_no_secret_in_logs(broker, tmp_path) -> None:
    """A Kafka job logs its client settings at start-up, with the SASL password hidden."""
    env = kafka_job_env(broker.bootstrap, tmp_path, KAFKA__SASL_PASSWORD="s3cret-value")
    logged = ""
    for args in (
        ["topics", "create"],
        ["produce", "--events", "200", "--quiet"],
        ["run", "--source", "kafka", "--sink", "kafka", "--no-metrics"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "driftline.flows", *args, "--log-level", "DEBUG",
             "--log-format", "json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        logged += proc.stdout + proc.stderr
    [starting] = [orjson.loads(line) for line in logged.splitlines() if '"msg":"starting"' in line]
    assert starting["kafka"]["sasl.password"] == "***"  # the settings were logged, redacted
    assert "s3cret-value" not in logged
