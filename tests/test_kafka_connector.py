"""The Kafka connector's own logic: errors become dead letters, secrets stay secret."""

from __future__ import annotations

import subprocess
import sys

from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from confluent_kafka import KafkaError as ConfluentError

from connectors.kafka import _to_raw, client_config, redacted
from flows.config import KafkaConfig, load_settings
from flows.events import DeadLetter, LabelBytes


def _message(value: bytes | None) -> KafkaSourceMessage:
    return KafkaSourceMessage(key=None, value=value, topic="t", partition=2, offset=41)


def test_kafka_error_becomes_a_dead_letter_with_the_reason() -> None:
    err = KafkaError(ConfluentError(ConfluentError._MSG_TIMED_OUT), _message(b"\xff partial"))
    dead = _to_raw(err, "t", labels=False)
    assert isinstance(dead, DeadLetter)
    assert dead.stage == "kafka" and dead.reason == "kafka"
    assert "t[2]@41" in dead.error and dead.raw.startswith("\\xff")


def test_values_pass_through_and_labels_are_marked() -> None:
    assert _to_raw(_message(b"{}"), "t", labels=False) == b"{}"
    assert isinstance(_to_raw(_message(b"{}"), "t", labels=True), LabelBytes)
    assert _to_raw(_message(None), "t", labels=False) is None  # a tombstone: parse says why


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


def test_no_secret_in_logs(tmp_path) -> None:
    env = {
        "DRIFTLINE_KAFKA__SASL_PASSWORD": "s3cret-value",
        "DRIFTLINE_METRICS__ENABLED": "false",
        "DRIFTLINE_MODEL__STORE": str(tmp_path / "models"),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--events", "2000", "--out", str(tmp_path),
         "--log-level", "DEBUG", "--log-format", "json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "s3cret-value" not in proc.stdout + proc.stderr


def test_default_kafka_topics() -> None:
    cfg = KafkaConfig()
    assert cfg.events_topic == "driftline.events" and cfg.dead_letters_topic.endswith("letters")
