"""The same flow on a two-process bytewax cluster reading a two-partition topic."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.conftest import kafka_job_env
from tests.support.broker import consume_all, free_port

pytestmark = pytest.mark.kafka

N_EVENTS = 20_000


CLI = [sys.executable, "-m", "driftline.flows"]


def _topics_with_events(broker, tmp_path: Path) -> tuple[dict[str, str], str]:
    """A fresh set of topics (2 partitions) holding the same N_EVENTS built-in events."""
    env = kafka_job_env(broker.bootstrap, tmp_path, KAFKA__PARTITIONS="2", MODEL__SHARDS="2")
    prefix = env["DRIFTLINE_KAFKA__PREDICTIONS_TOPIC"].rsplit(".", 1)[0]
    subprocess.run([*CLI, "topics", "create"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*CLI, "produce", "--events", str(N_EVENTS), "--quiet"],
        env=env,
        check=True,
        capture_output=True,
    )
    return env, prefix


def _accuracy(predictions: list[dict]) -> float:
    judged = [p for p in predictions if p["label"] is not None and p["prediction"] is not None]
    return sum(p["prediction"] == p["label"] for p in judged) / len(judged)


def test_two_processes_score_every_event_once(broker, tmp_path: Path) -> None:
    env, prefix = _topics_with_events(broker, tmp_path / "cluster")
    cli = CLI
    addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
    procs = [
        subprocess.Popen(
            [*cli, "run", "--source", "kafka", "--sink", "kafka", "-i", str(i), "-a", addresses],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]

    predictions = [
        orjson.loads(r.value)
        for r in consume_all(broker.bootstrap, f"{prefix}.predictions", N_EVENTS, timeout=60)
    ]
    ids = Counter(p["id"] for p in predictions)
    assert len(ids) == N_EVENTS and max(ids.values()) == 1
    assert {p["shard"] for p in predictions} == {"shard-0", "shard-1"}
    # every event is scored by exactly one process; the two model shards live on
    # different processes, so both score (flows/sharding.py)
    scored = [int(out.split("events scored")[1].split()[0].replace(",", "")) for out, _ in outputs]
    assert sum(scored) == N_EVENTS and min(scored) > 0

    # the same results as one process: same events, same shards (by event id),
    # each shard's events in an order that only differs across partitions
    env1, prefix1 = _topics_with_events(broker, tmp_path / "single")
    one = subprocess.run(
        [*CLI, "run", "--source", "kafka", "--sink", "kafka"],
        env=env1, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    single = [
        orjson.loads(r.value)
        for r in consume_all(broker.bootstrap, f"{prefix1}.predictions", N_EVENTS, timeout=60)
    ]
    assert {p["id"] for p in single} == set(ids)
    by_id = {p["id"]: p for p in single}
    assert all(p["shard"] == by_id[p["id"]]["shard"] for p in predictions)
    assert abs(_accuracy(predictions) - _accuracy(single)) < 0.01
    assert _accuracy(single) > 0.9
