"""The broker restarting under the job: the job waits and continues without losing events.

The job runs as a subprocess against its own Tansu broker (not the session one),
tailing the events topic. After a first batch is scored, the broker is restarted
(gracefully, or killed). Tansu keeps everything in memory, so a restart loses the
topics and the log; a real Kafka broker keeps both. To test what a real restart
looks like to the job, the test recreates the topics and restores the events log
as a durable broker would have kept it (the first batch at the same offsets);
then a second batch is produced and must be scored exactly once while the job
keeps running, and SIGTERM must end it cleanly with its summary.

Two settings make the memory-only broker behave like a durable one for clients:

- ``enable.idempotence=false`` for the job's producer: Tansu forgets producer ids
  on restart and answers every retry with UNKNOWN_PRODUCER_ID; librdkafka then
  bumps the epoch forever and ``flush()`` in the Kafka sink never returns (the job
  hangs and ignores SIGTERM). A durable Kafka keeps producer state across restarts.
- none for the consumer: it keeps its position (offset N) and Tansu answers a
  fetch beyond the end of the (restored) log with an empty result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from driftline.connectors.builtin import drifting_events
from driftline.flows.config import BuiltinStreamConfig
from tests.support.broker import Broker, consume_all, create_topics, produce

pytestmark = pytest.mark.kafka

N_FIRST = 300
N_SECOND = 200
OUTPUTS = ("events", "labels", "predictions", "alerts", "dead_letters", "drift_reports")


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test alone: restarting it disturbs no other test."""
    with Broker(log_dir=tmp_path / "tansu") as broker:
        yield broker


def _events(n: int) -> list[bytes]:
    cfg = BuiltinStreamConfig(events=n, bad_every=0, drift_points=[], concepts=[7])
    return [orjson.dumps(e) for e in drifting_events(cfg)]


def _ids(raws: list[bytes]) -> list[str]:
    return [orjson.loads(r)["id"] for r in raws]


def _fresh_topics(broker: Broker, tag: str) -> tuple[dict[str, str], dict[str, int]]:
    """New topics for every output (output name -> topic), created with 1 partition each."""
    prefix = f"{tag}{uuid.uuid4().hex[:8]}"
    topics = {name: f"{prefix}.{name}" for name in OUTPUTS}
    partitions = {topic: 1 for topic in topics.values()}
    create_topics(broker.bootstrap, partitions)
    return topics, partitions


def _job_env(broker: Broker, topics: dict[str, str], idempotent: bool) -> dict[str, str]:
    env = {
        **os.environ,
        "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "DRIFTLINE_KAFKA__TAIL": "true",
        "DRIFTLINE_KAFKA__PARTITIONS": "1",
        "DRIFTLINE_KAFKA__SETTINGS": json.dumps(
            {
                "enable.idempotence": str(idempotent).lower(),  # see the module docstring
                "reconnect.backoff.ms": "50",
                "reconnect.backoff.max.ms": "500",
            }
        ),
        "DRIFTLINE_METRICS__ENABLED": "false",
        "DRIFTLINE_RUN__PROGRESS_EVERY": "3600",
        "PYTHONFAULTHANDLER": "1",
    }
    for name, topic in topics.items():
        env[f"DRIFTLINE_KAFKA__{name.upper()}_TOPIC"] = topic
    return env


def _predicted_ids(broker: Broker, topic: str, expect: int, timeout: float) -> list[str]:
    return [
        orjson.loads(r.value)["id"]
        for r in consume_all(broker.bootstrap, topic, expect=expect, timeout=timeout)
        if r.value is not None
    ]


@pytest.mark.parametrize("crash", [False, True], ids=["graceful", "killed"])
def test_job_survives_a_broker_restart(own_broker: Broker, tmp_path: Path, crash: bool) -> None:
    """Scored before the restart, scored after it, nothing lost or doubled; clean SIGTERM exit."""
    broker = own_broker
    topics, partitions = _fresh_topics(broker, "r")
    events = _events(N_FIRST + N_SECOND)
    first, second = events[:N_FIRST], events[N_FIRST:]

    log_path = tmp_path / "job.log"
    with open(log_path, "wb") as log:
        job = subprocess.Popen(
            [sys.executable, "-m", "driftline.flows", "run", "--source", "kafka", "--sink", "kafka",
             "--no-metrics"],
            env=_job_env(broker, topics, idempotent=False),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        produce(broker.bootstrap, topics["events"], [(None, e) for e in first])
        before = _predicted_ids(broker, topics["predictions"], N_FIRST, timeout=30)
        assert Counter(before) == Counter(_ids(first)), "first batch not scored before restart"

        broker.restart(grace=0 if crash else None)
        assert job.poll() is None, log_path.read_text(errors="replace")[-3000:]
        create_topics(broker.bootstrap, partitions)
        # a durable broker would still hold the first batch at offsets 0..N_FIRST-1
        produce(broker.bootstrap, topics["events"], [(None, e) for e in first])
        produce(broker.bootstrap, topics["events"], [(None, e) for e in second])

        after = _predicted_ids(broker, topics["predictions"], N_SECOND, timeout=30)
        assert job.poll() is None, "the job stopped after the broker restart"
        missing = set(_ids(second)) - set(after)
        assert not missing, f"{len(missing)} second-batch events not scored after the restart"
        # the job went on from its own offset: nothing doubled, the first batch not re-read
        time.sleep(1.0)
        after = _predicted_ids(broker, topics["predictions"], N_SECOND + 1, timeout=2)
        assert Counter(after) == Counter(_ids(second))

        job.send_signal(signal.SIGTERM)
        code = job.wait(timeout=30)
    finally:
        if job.poll() is None:
            job.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: the log shows where it hung
            job.wait(timeout=10)
    output = log_path.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "driftline run summary" in output
    assert f"events scored    {N_FIRST + N_SECOND:,}" in output, output[-1500:]


def test_outputs_the_broker_cannot_take_stop_the_job_loudly(
    own_broker: Broker, tmp_path: Path
) -> None:
    """An idempotent producer the memory-only broker forgot can never deliver again.

    The sink must neither hang (it once did, ignoring SIGTERM) nor drop outputs
    quietly: it gives up after `kafka.flush_timeout` and the job exits with an
    error, so a supervisor restarts it and the recovery store replays the outputs.
    """
    broker = own_broker
    topics, partitions = _fresh_topics(broker, "w")
    events = _events(N_FIRST + N_SECOND)
    env = {**_job_env(broker, topics, idempotent=True), "DRIFTLINE_KAFKA__FLUSH_TIMEOUT": "5"}
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driftline.flows",
            "run",
            "--source",
            "kafka",
            "--sink",
            "kafka",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        produce(broker.bootstrap, topics["events"], [(None, e) for e in events[:N_FIRST]])
        assert len(_predicted_ids(broker, topics["predictions"], N_FIRST, timeout=30)) == N_FIRST
        broker.restart()
        create_topics(broker.bootstrap, partitions)
        produce(broker.bootstrap, topics["events"], [(None, e) for e in events])
        output, _ = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    assert "not acknowledged by Kafka" in output or "rejected" in output, output[-3000:]
