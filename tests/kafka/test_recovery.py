"""Crash recovery against a real broker: SIGKILL the job at random points, restart, check."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.conftest import kafka_job_env
from tests.support.broker import consume_all

pytestmark = pytest.mark.kafka

N_EVENTS = 300_000
KILLS = 5
SNAPSHOT_SECONDS = 1.0


def _env(broker, tmp_path: Path) -> dict[str, str]:
    return kafka_job_env(
        broker.bootstrap,
        tmp_path,
        RECOVERY__DIRECTORY=str(tmp_path / "recovery"),
        RECOVERY__SNAPSHOT_INTERVAL=f"PT{SNAPSHOT_SECONDS}S",
        # one stable concept: accuracy must stay high across restarts
        BUILTIN__CONCEPTS="[7]",
        BUILTIN__DRIFT_POINTS="[]",
        BUILTIN__DATA_DRIFT_POINTS="[]",
        BUILTIN__BAD_EVERY="4000",
    )


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "driftline.flows", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sigkill_restart_loses_nothing_and_keeps_the_model(broker, tmp_path: Path) -> None:
    env = _env(broker, tmp_path)
    assert _cli(["topics", "create"], env).returncode == 0
    assert _cli(["produce", "--events", str(N_EVENTS), "--quiet"], env).returncode == 0
    run = [
        sys.executable,
        "-m",
        "driftline.flows",
        "run",
        "--source",
        "kafka",
        "--sink",
        "kafka",
    ]

    rng = random.Random(1)
    kills = 0
    busy = 0.0
    log = tmp_path / "job.log"
    for _ in range(KILLS):
        with open(log, "ab") as out:
            job = subprocess.Popen(run, env=env, stdout=out, stderr=out)
            started = time.monotonic()
            time.sleep(rng.uniform(1.5, 3.0))
            if job.poll() is None:
                job.send_signal(signal.SIGKILL)
                kills += 1
            job.wait(timeout=30)
            busy += time.monotonic() - started
    started = time.monotonic()
    final = _cli(run[3:], env)
    busy += time.monotonic() - started
    assert final.returncode == 0, final.stderr[-3000:]
    assert kills == KILLS, "the job ended before it could be killed: produce more events"

    predictions = [
        orjson.loads(r.value)
        for r in consume_all(
            broker.bootstrap, env["DRIFTLINE_KAFKA__PREDICTIONS_TOPIC"], timeout=60, idle=3
        )
    ]
    dead = consume_all(
        broker.bootstrap, env["DRIFTLINE_KAFKA__DEAD_LETTERS_TOPIC"], timeout=30, idle=3
    )
    ids = Counter(p["id"] for p in predictions)
    expected = {f"evt-{i:09d}" for i in range(N_EVENTS)}
    lost = expected - set(ids)
    duplicates = sum(n - 1 for n in ids.values())
    rate = len(predictions) / busy
    print(
        f"\nkills survived {kills}, events lost {len(lost)}, duplicates {duplicates} "
        f"({duplicates / kills:.0f} per kill), dead letters {len(dead)}, ~{rate:,.0f} ev/s"
    )
    assert not lost
    assert set(ids) == expected
    assert len({orjson.loads(d.value)["raw"] for d in dead}) >= 1
    # at-least-once around a resume: duplicates are bounded by what one snapshot interval
    # (plus the epoch in flight) can process, per kill
    assert duplicates <= kills * max(rate, 20_000) * SNAPSHOT_SECONDS * 2

    # the model resumed trained: no window after warm-up looks like an untrained model
    first = {}
    for p in predictions:  # first delivery of each id, in arrival order
        first.setdefault(p["id"], p)
    outcomes = [p["prediction"] == p["label"] for p in first.values()]
    windows = [outcomes[i : i + 300] for i in range(3000, len(outcomes) - 300, 300)]
    worst = min(sum(w) / len(w) for w in windows)
    assert worst > 0.9, worst
