"""Kafka outputs carry message keys, read back from a real broker (Tansu).

A consumer de-duplicates by key, or a compacted topic keeps one record per key,
only if the key of a record names exactly what the record is about: a
prediction's is ``<event id>/<model>``, a dead letter's the id of the event it
holds. Two models score every event here, so a key without the model would
collide.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.conftest import kafka_job_env
from tests.support.broker import consume_all, produce

pytestmark = pytest.mark.kafka

N_EVENTS = 3_000
MODELS = ("approve", "approve_tree")
CONFIG = """
[[models]]
id = "approve"
name = "logreg"

[[models]]
id = "approve_tree"
name = "hat"
"""


def _driftline(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "driftline.flows", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_outputs_are_keyed_by_what_they_are_about(broker, tmp_path: Path) -> None:
    config = tmp_path / "job.toml"
    config.write_text(CONFIG)
    # three partitions per topic: Kafka's partitioner places records by their keys
    env = kafka_job_env(broker.bootstrap, tmp_path, KAFKA__PARTITIONS="3")
    _driftline(["topics", "create"], env)
    _driftline(["produce", "--events", str(N_EVENTS), "--quiet"], env)
    bad = [
        b'{"id": "evt-bad-1", "key": "user-1"}',  # an event without ts or features
        b"this is not json",  # no id to key it by
    ]
    produce(broker.bootstrap, env["DRIFTLINE_KAFKA__EVENTS_TOPIC"], [(None, b) for b in bad])

    _driftline(
        ["run", "-c", str(config), "--source", "kafka", "--sink", "kafka", "--no-metrics"], env
    )

    topic = env["DRIFTLINE_KAFKA__PREDICTIONS_TOPIC"]
    predictions = consume_all(broker.bootstrap, topic, len(MODELS) * N_EVENTS, timeout=60)
    assert len(predictions) == len(MODELS) * N_EVENTS
    assert {r.partition for r in predictions} == {0, 1, 2}  # keys spread over partitions
    keys = Counter(r.key for r in predictions)
    assert max(keys.values()) == 1  # one record per (event, model) in a clean run
    for record in predictions:
        value = orjson.loads(record.value or b"")
        assert record.key == f"{value['id']}/{value['model']}".encode()
    assert {p.key for p in predictions} == {
        f"evt-{i:09d}/{m}".encode() for i in range(N_EVENTS) for m in MODELS
    }

    dead = consume_all(broker.bootstrap, env["DRIFTLINE_KAFKA__DEAD_LETTERS_TOPIC"], 2)
    by_raw = {orjson.loads(r.value or b"")["raw"]: r.key for r in dead}
    assert by_raw == {bad[0].decode(): b"evt-bad-1", bad[1].decode(): None}
