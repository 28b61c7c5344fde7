"""The soak's stream and job: the built-in stream's settings, the job's settings,
calibration of the job's maximum throughput, and starting and stopping the job.

Reused, not rewritten: the built-in drifting stream with its delayed labels and
hostile messages (``connectors.builtin.drifting_messages``, which takes them
from ``connectors.malformed``), the project's producer
(``connectors.producer.produce``), and the bench's Kafka row for calibration
(``bench.run.bench_proc`` running ``bench.driftline_flow --mode kafka``, with
``bench.run``'s topic names and settings).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import orjson

from bench.soak_parts import EVENT_PREFIX, log
from bench.soak_report import Calibration
from driftline.connectors.builtin import drifting_messages
from driftline.connectors.producer import produce
from driftline.flows.config import BuiltinStreamConfig, KafkaConfig
from driftline.flows.parse.events import LabelBytes

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- the stream and the job


def stream_config(args: argparse.Namespace, rate: float | None) -> BuiltinStreamConfig:
    """The built-in stream for the soak (`rate` events/s) or, without a rate, calibration.

    Agrawal's class balancing is off unless ``--balanced``: it draws rows until
    the class alternates (about 150 random integers per event), which doubles
    the producer's CPU (measured 7.8k vs 17.2k messages/s of CPU), and the
    producer shares the 2 cores with the job; the classes are then about 17/83.
    Calibration keeps the stream's default drift points (concepts change at
    20k and 40k events, a covariate shift at 50k) so it measures the same work;
    the soak gets a concept drift every ``--drift-minutes`` at its rate (a
    chain of Agrawal concepts 7, 6, 9, 7, ...; River's nested
    ConceptDriftStream costs a little more per level, so the chain is as long
    as the run needs and no longer) and covariate shifts half-way into the
    first two concepts (only two: each multiplies `hvalue` by 1.5 for good).
    """
    common: dict[str, Any] = {
        "events": 0,
        "seed": args.seed,
        "labels": "separate",
        "label_delay": timedelta(seconds=args.label_delay),
        "label_missing": args.label_missing,
        "bad_every": args.bad_every,
        "balance_classes": args.balanced,
    }
    if rate is None:
        return BuiltinStreamConfig(**common)
    every = max(1, round(rate * 60 * args.drift_minutes))
    drifts = max(0, min(200, math.ceil(rate * 60 * args.minutes / every) - 1))
    concepts = list(islice(cycle([7, 6, 9]), drifts + 1))
    return BuiltinStreamConfig(
        **common,
        concepts=concepts,
        drift_points=[every * (k + 1) for k in range(drifts)],
        data_drift_points=[round(every * (k + 0.5)) for k in range(min(2, drifts + 1))],
        mean_gap_ms=1000.0 / rate,
    )


#: How long the job waits for a label (event time = wall-clock time here).
LABEL_TTL = "2m"
#: The built-in stream's windows with the 1 h one shortened to 15 min. A window holds
#: every value of its period, so the job's state grows until its longest window is
#: full: with the built-in 1 h window at 600 events/s that is the whole hour (2.16
#: million values, 35 MB as arrays of times and values), and no RSS
#: check after a warm-up could tell that from a leak. With 15 min the state is full
#: by the warm-up (see `warmup_seconds`), and what grows after it is a defect.
SOAK_WINDOWS: list[dict[str, Any]] = [
    {"field": None, "period": "5m", "stats": ["count"]},
    {"field": "loan", "period": "5m", "stats": ["mean", "std"]},
    {"field": "loan", "period": "15m", "stats": ["count", "mean"]},
]
#: Minutes until the soak job's state is full: its longest window and a third (a window
#: keeps up to a third more slots than values before it cuts the expired ones, see
#: flows/features/windows.py `compacted`), and the label TTL.
STATE_FILL_MINUTES = 15 * 4 // 3 + 2


def job_overrides(
    bootstrap: str, prefix: str, tail: bool, workdir: Path, fetch_wait_ms: int | None = None
) -> dict[str, Any]:
    """driftline settings of the job (calibration and soak alike).

    `features.windows`: `SOAK_WINDOWS` (the built-in ones with 15 min for 1 h).

    `labels.ttl` 2 min: the stream never sends ``--label-missing`` of the labels,
    and their predictions wait a TTL of event time (1 h by default) before they
    are let go; with the default the pending set would grow for the whole hour,
    which is the TTL working, not a leak.

    `fetch.wait.max.ms` stays librdkafka's (500 ms) unless `fetch_wait_ms` is
    given. bench/latency.py sets 5 ms because Tansu holds a long-polling fetch
    for its full wait even when data arrives; but Tansu also answers a fetch
    with nothing when finding the data takes longer than the wait, and that
    time grows with the log and the machine's load: measured here on a topic of
    150k events under load 8, a consumer with 5 ms read 0 messages, 20 ms 58k
    in 40 s, 50 ms and more all of them; a first 5-minute soak with 5 ms saw
    the job stop reading at 127k events, for good, with no error anywhere. So
    latency here includes Tansu's wait (a few hundred ms per hop), which a real
    Kafka broker does not add.
    """
    from bench.run import kafka_overrides

    overrides = kafka_overrides(bootstrap, prefix, f"{prefix}.events")
    overrides["kafka"] |= {
        "tail": tail,
        "partitions": 1,
        "consumer_settings": {}
        if fetch_wait_ms is None
        else {"fetch.wait.max.ms": str(fetch_wait_ms)},
    }
    overrides["labels"] = {"ttl": LABEL_TTL}
    overrides["features"] = {"windows": SOAK_WINDOWS}
    overrides["model"] = {"store": str(workdir / f"models-{prefix}")}
    overrides["recovery"] = {"directory": str(workdir / f"recovery-{prefix}")}
    return overrides


def as_env(overrides: dict[str, Any]) -> dict[str, str]:
    """Nested settings as DRIFTLINE_SECTION__KEY variables (JSON for tables and lists)."""
    env = {}
    for section, values in overrides.items():
        for key, value in values.items():
            text = orjson.dumps(value).decode() if isinstance(value, dict | list) else value
            env[f"DRIFTLINE_{section.upper()}__{key.upper()}"] = (
                str(text).lower() if isinstance(value, bool) else str(text)
            )
    return env


def kafka_config(bootstrap: str, prefix: str) -> KafkaConfig:
    return KafkaConfig(
        bootstrap_servers=bootstrap,
        events_topic=f"{prefix}.events",
        labels_topic=f"{prefix}.labels",
        flush_timeout=60.0,
    )


def events_only(messages: Iterator[bytes | None], events: int) -> Iterator[bytes | None]:
    """`messages` until `events` events were passed (labels and hostile ones not counted)."""
    seen = 0
    for raw in messages:  # a label starts like an event: {"id":"evt-...","label":...}
        if (
            isinstance(raw, bytes)
            and not isinstance(raw, LabelBytes)
            and raw.startswith(EVENT_PREFIX)
        ):
            seen += 1
            if seen > events:
                return
        yield raw


def calibrate(args: argparse.Namespace, bootstrap: str, workdir: Path) -> Calibration:
    """The job's maximum throughput on this stream: produced flat out, read to the end."""
    from bench.run import bench_proc, fresh_prefix, output_topics
    from tests.support.broker import create_topics

    prefix = fresh_prefix("soak-cal")
    create_topics(bootstrap, {f"{prefix}.events": 1, **output_topics(prefix)})
    log(f"calibrating: producing {args.calibrate_events:,} events flat out")
    messages = events_only(drifting_messages(stream_config(args, None)), args.calibrate_events)
    result = produce(kafka_config(bootstrap, prefix), messages, progress=False)
    if not result.ok:
        raise SystemExit(f"soak: calibration messages not delivered: {result.first_error}")
    overrides = job_overrides(bootstrap, prefix, False, workdir, args.fetch_wait_ms)
    cmd = [
        "bench.driftline_flow",
        "--mode",
        "kafka",
        "--settings",
        orjson.dumps(overrides).decode(),
    ]
    r = bench_proc(cmd, timeout=1800)
    cal = Calibration(
        events=int(r["events"]),
        seconds=float(r["seconds"]),
        events_per_s=r["events"] / r["seconds"],
        startup_seconds=float(r["startup_seconds"]),
    )
    log(f"calibration: {cal.events:,} events in {cal.seconds:.1f} s = {cal.events_per_s:,.0f} ev/s")
    return cal


def start_job(
    bootstrap: str, prefix: str, workdir: Path, fetch_wait_ms: int | None = None
) -> subprocess.Popen[bytes]:
    """`driftline run --source kafka --sink kafka`, logging JSON to workdir/job.log."""
    overrides = job_overrides(bootstrap, prefix, True, workdir, fetch_wait_ms)
    env = {**os.environ, **as_env(overrides)}
    cmd = [sys.executable, "-m", "driftline.flows", "run", "--source", "kafka", "--sink", "kafka"]
    cmd += ["--log-format", "json", "--metrics-port", "0", "--live-port", "0"]
    with open(workdir / "job.log", "wb") as err, open(workdir / "job.out", "wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)


def wait_started(job: subprocess.Popen[bytes], log_path: Path, timeout: float = 120.0) -> None:
    """Until the job logged "starting" (its flow is built and about to run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if job.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise SystemExit(f"soak: the job exited ({job.returncode}) at start-up:\n{tail}")
        if b'"msg":"starting"' in log_path.read_bytes():
            return
        time.sleep(0.2)
    raise SystemExit(f"soak: the job did not start within {timeout:.0f} s; log {log_path}")


def stop_job(job: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """SIGTERM (the job drains and exits), SIGKILL after `timeout` s."""
    if job.poll() is None:
        job.send_signal(signal.SIGTERM)
        try:
            job.wait(timeout)
        except subprocess.TimeoutExpired:
            job.kill()
            job.wait(10)
