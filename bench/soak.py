"""Soak run: the Kafka -> Kafka job at half its maximum throughput for an hour.

``python -m bench.soak [--minutes 60] [--rate EVENTS_PER_S] [--out bench/soak_results.json]``
(``make soak SOAK_ARGS="--minutes 5"``).

1. Starts a Tansu broker (tests/support/broker.py) and, unless ``--rate`` is
   given, calibrates: the built-in stream (delayed labels, drifts, hostile
   messages) is produced flat out to fresh topics and the same flow reads it to
   the end in ``bench.driftline_flow --mode kafka``, the bench's Kafka row
   (steady-state events/s, start-up not counted). The soak rate is
   ``--fraction`` (0.5) of that.
2. Starts the job as users do, ``driftline run --source kafka --sink kafka``
   (tailing, JSON logs, metrics and live page on free ports, a recovery store
   snapshotting every 5 s), and produces the built-in stream to it at that rate
   with ``connectors.producer.produce``: labels on their own topic, delayed
   (exponential, mean ``--label-delay`` s) with a share never sent, a concept
   drift every ``--drift-minutes``, two covariate shifts, a hostile message
   from ``connectors.malformed`` every ``--bad-every`` events, 1 % of events
   out of order. Event time runs at wall-clock pace (mean gap 1/rate), so the
   label delay and the job's label TTL are real seconds.
3. Reads the predictions, dead-letters and alerts topics back while it runs;
   every ``--report-every`` s (60) prints and records events/s in and out,
   p50/p99/max latency (event produce() -> prediction in the output topic, by
   Kafka message timestamps), the job's RSS, open fds and CPU.
4. Stops producing at the end, waits up to ``--drain`` s for every event to be
   accounted for, stops the job with SIGTERM and checks: RSS growth after
   warm-up (median of the first interval after it vs the last) within
   ``--rss-limit-pct`` (5); every produced event id has a prediction or a dead
   letter, and every hostile message a dead letter; no error in the job's log;
   the job exited 0. Writes the JSON report (``--out``) and a Markdown table
   beside it (``.md``); exits 1 naming each failed check.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from bench.soak_parts import (
    Check,
    Interval,
    Ledger,
    ProcSample,
    log_problems,
    median_rss,
    percentiles,
    sample_process,
)
from bench.soak_report import Calibration, RssFigures, SoakReport, Totals, write_report
from driftline.connectors.builtin import drifting_messages
from driftline.connectors.producer import ProduceResult, produce
from driftline.flows.config import BuiltinStreamConfig, KafkaConfig

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_EVERY = 5.0  # seconds between looks at the job process (capped at report_every / 4)


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the stream and the job


def stream_config(args: argparse.Namespace, rate: float | None) -> BuiltinStreamConfig:
    """The built-in stream for the soak (`rate` events/s) or, without a rate, calibration.

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


def job_overrides(bootstrap: str, prefix: str, tail: bool, workdir: Path) -> dict[str, Any]:
    """driftline settings of the job (calibration and soak alike).

    `labels.ttl` 2 min: the stream never sends ``--label-missing`` of the labels,
    and their predictions wait a TTL of event time (1 h by default) before they
    are let go; with the default the pending set would grow for the whole hour,
    which is the TTL working, not a leak. `fetch.wait.max.ms` 5: Tansu holds a
    long-polling fetch for its full wait when data arrives (see bench/latency.py);
    a consumer setting (librdkafka warns when a producer is given it).
    """
    from bench.run import kafka_overrides

    overrides = kafka_overrides(bootstrap, prefix, f"{prefix}.events")
    overrides["kafka"] |= {
        "tail": tail,
        "partitions": 1,
        "consumer_settings": {"fetch.wait.max.ms": "5"},
    }
    overrides["labels"] = {"ttl": "2m"}
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
    from bench.soak_parts import EVENT_PREFIX

    seen = 0
    for raw in messages:
        if isinstance(raw, bytes) and raw.startswith(EVENT_PREFIX):
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
    overrides = job_overrides(bootstrap, prefix, tail=False, workdir=workdir)
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


def start_job(bootstrap: str, prefix: str, workdir: Path) -> subprocess.Popen[bytes]:
    """`driftline run --source kafka --sink kafka`, logging JSON to workdir/job.log."""
    env = {**os.environ, **as_env(job_overrides(bootstrap, prefix, tail=True, workdir=workdir))}
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


# ---------------------------------------------------------------- the soak


@dataclass
class Run:
    """The soak's state while it runs (one reader thread: the main one)."""

    args: argparse.Namespace
    rate: float
    ledger: Ledger
    job: subprocess.Popen[bytes]
    t0: float = 0.0  # monotonic, production start
    t0_wall: float = 0.0  # the same moment, wall clock (for the ledger's send times)
    produced: ProduceResult | None = None  # the producer's counts once it ended
    samples: list[ProcSample] = field(default_factory=list)
    intervals: list[Interval] = field(default_factory=list)
    alerts: Counter[str] = field(default_factory=Counter)
    _last: tuple[float, int, int, int, int, float] = (0.0, 0, 0, 0, 0, 0.0)
    _dead: int = 0

    def sample(self) -> ProcSample | None:
        s = sample_process(self.job.pid, time.monotonic() - self.t0)
        if s is not None:
            self.samples.append(s)
        return s

    def close_interval(self) -> Interval | None:
        """Figures since the last call; printed as a progress line."""
        s = self.sample()
        if s is None:
            return None
        led = self.ledger
        t_prev, ev, lab, hos, pred, cpu = self._last
        secs = max(s.t - t_prev, 1e-9)
        p50, p99, mx = percentiles(led.take_latencies())
        dead = led.dead_events + led.dead_hostile + led.dead_labels
        iv = Interval(
            minute=round(s.t / 60, 2),
            seconds=round(secs, 1),
            events_in_per_s=round((led.events_sent - ev) / secs, 1),
            predictions_out_per_s=round((led.predictions - pred) / secs, 1),
            labels_in_per_s=round((led.labels_sent - lab) / secs, 1),
            hostile_in=led.hostile_sent - hos,
            dead_letters=dead - self._dead,
            p50_ms=None if p50 is None else round(p50, 1),
            p99_ms=None if p99 is None else round(p99, 1),
            max_ms=None if mx is None else round(mx, 1),
            rss_mb=round(s.rss_bytes / 2**20, 1),
            fds=s.fds,
            cpu_pct=round(100 * (s.cpu_seconds - cpu) / secs, 1),
            load1=round(os.getloadavg()[0], 2),
            unaccounted=led.unaccounted(),
        )
        self._last = (
            s.t,
            led.events_sent,
            led.labels_sent,
            led.hostile_sent,
            led.predictions,
            s.cpu_seconds,
        )
        self._dead = dead
        self.intervals.append(iv)
        p99_text = "-" if iv.p99_ms is None else f"{iv.p99_ms:,.0f} ms"
        log(
            f"{iv.minute:6.2f}/{self.args.minutes:g} min  in {iv.events_in_per_s:>7,.0f} ev/s  "
            f"out {iv.predictions_out_per_s:>7,.0f} ev/s  p99 {p99_text}  "
            f"RSS {iv.rss_mb:,.1f} MB  fds {iv.fds}  cpu {iv.cpu_pct:.0f} %  "
            f"dead letters {iv.dead_letters}  unaccounted {iv.unaccounted:,}"
        )
        return iv


def read_outputs(consumer: Consumer, run: Run, topics: dict[str, str], wait: float) -> None:
    """One consume() of the output topics into the ledger."""
    for msg in consumer.consume(1000, wait):
        value = msg.value()
        if msg.error() is not None or value is None:
            continue
        topic = msg.topic()
        if topic == topics["predictions"]:
            run.ledger.on_prediction(value, msg.timestamp()[1])
        elif topic == topics["dead_letters"]:
            run.ledger.on_dead_letter(value)
        else:
            run.alerts[str(orjson.loads(value).get("kind"))] += 1


def soak(args: argparse.Namespace, bootstrap: str, rate: float, workdir: Path) -> Run:
    """Produce at `rate` events/s for ``--minutes`` while reading the outputs back."""
    from bench.run import fresh_prefix, output_topics
    from tests.support.broker import FAST_CLIENT_CONFIG, create_topics

    prefix = fresh_prefix("soak")
    create_topics(bootstrap, {f"{prefix}.events": 1, **output_topics(prefix)})
    duration = args.minutes * 60
    # events of the run, a margin for the producer's pacing; the ledger stops there
    ledger = Ledger(capacity=int(rate * duration * 1.05) + 10_000)
    job = start_job(bootstrap, prefix, workdir)
    run = Run(args=args, rate=rate, ledger=ledger, job=job)
    wait_started(job, workdir / "job.log")
    topics = {n: f"{prefix}.{n}" for n in ("predictions", "dead_letters", "alerts")}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{prefix}-reader",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,
            **FAST_CLIENT_CONFIG,
        }
    )
    consumer.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in topics.values()])
    cfg = stream_config(args, rate)
    outcome: list[ProduceResult] = []
    run.t0, run.t0_wall = time.monotonic(), time.time()
    messages = ledger.messages(drifting_messages(cfg), rate, run.t0, until=run.t0 + duration)

    def producing() -> None:  # paced by the ledger, by events
        outcome.append(produce(kafka_config(bootstrap, prefix), messages, progress=False))

    producer = threading.Thread(target=producing, name="soak-producer", daemon=True)
    producer.start()
    log(f"producing {rate:,.0f} events/s for {args.minutes:g} min (topics {prefix}.*)")
    every = args.report_every
    sample_every = min(SAMPLE_EVERY, every / 4)
    next_sample, next_report = sample_every, every
    try:
        while producer.is_alive():
            read_outputs(consumer, run, topics, 0.1)
            now = time.monotonic() - run.t0
            if job.poll() is not None:
                ledger.stop.set()
                raise SystemExit(f"soak: the job exited ({job.returncode}) during the run")
            if now >= next_report:
                run.close_interval()
                next_report += every
                next_sample = now + sample_every
            elif now >= next_sample:
                run.sample()
                next_sample += sample_every
        producer.join()
        if run.intervals and run.samples[-1].t - run.intervals[-1].minute * 60 > 1:
            run.close_interval()  # the last, partial interval
        if not outcome or not outcome[0].ok:
            first = outcome[0].first_error if outcome else "the producer thread failed"
            log(f"not every message was acknowledged by the broker: {first}")
        run.produced = outcome[0] if outcome else None
        log(f"production ended; draining (up to {args.drain:g} s)")
        deadline = time.monotonic() + args.drain
        while ledger.unaccounted() and time.monotonic() < deadline and job.poll() is None:
            read_outputs(consumer, run, topics, 0.2)
        for _ in range(10):  # what is already in the topics (alerts, dead letters)
            read_outputs(consumer, run, topics, 0.1)
    finally:
        ledger.stop.set()
        stop_job(job)
        consumer.close()
    return run


def stop_job(job: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """SIGTERM (the job drains and exits), SIGKILL after `timeout` s."""
    if job.poll() is None:
        job.send_signal(signal.SIGTERM)
        try:
            job.wait(timeout)
        except subprocess.TimeoutExpired:
            job.kill()
            job.wait(10)


# ---------------------------------------------------------------- checks


def evaluate(run: Run, warmup_s: float, rss_limit_pct: float, workdir: Path) -> SoakReport:
    """The report of a finished soak, with its checks."""
    args, led = run.args, run.ledger
    end = args.minutes * 60
    base = median_rss(run.samples, warmup_s, warmup_s + args.report_every)
    last = median_rss(run.samples, end - args.report_every, end + 1)
    growth = None if base is None or last is None else 100 * (last / base - 1)
    rss = RssFigures(
        warmup_minutes=round(warmup_s / 60, 2),
        after_warmup_mb=None if base is None else round(base / 2**20, 1),
        end_mb=None if last is None else round(last / 2**20, 1),
        growth_pct=None if growth is None else round(growth, 2),
        limit_pct=rss_limit_pct,
    )
    errors, unstructured = log_problems(workdir / "job.log")
    missing = led.unaccounted()
    p50, p99, counted = led.latency_after(run.t0_wall + warmup_s)
    produced = run.produced
    totals = Totals(
        events=led.events_sent,
        labels=led.labels_sent,
        hostile=led.hostile_sent,
        not_acknowledged=None if produced is None else produced.not_delivered,
        predictions=led.predictions,
        duplicate_predictions=led.duplicates,
        foreign_predictions=led.foreign,
        dead_letters_events=led.dead_events,
        dead_letters_hostile=led.dead_hostile,
        dead_letters_labels=led.dead_labels,
        unaccounted=missing,
        unaccounted_ids=led.unaccounted_ids(),
        alerts=dict(run.alerts),
        p50_ms_after_warmup=None if p50 is None else round(p50, 1),
        p99_ms_after_warmup=None if p99 is None else round(p99, 1),
        latencies_after_warmup=counted,
    )
    fds = [s.fds for s in run.samples if s.t >= warmup_s]
    checks = [
        Check(
            "rss",
            growth is not None and growth <= rss_limit_pct,
            "no samples after warm-up"
            if growth is None
            else f"RSS {rss.after_warmup_mb} MB after warm-up ({rss.warmup_minutes} min) -> "
            f"{rss.end_mb} MB at the end: {growth:+.2f} % (limit {rss_limit_pct:g} %)",
        ),
        Check(
            "every event accounted for",
            missing == 0 and led.events_sent > 0,
            f"{led.events_sent:,} events sent: {led.predictions:,} predicted, "
            f"{led.dead_events:,} dead-lettered, {missing:,} with neither"
            + (f" (first: {', '.join(totals.unaccounted_ids[:5])})" if missing else ""),
        ),
        Check(
            "every hostile message dead-lettered",
            led.dead_hostile >= led.hostile_sent,
            f"{led.hostile_sent:,} hostile messages sent, {led.dead_hostile:,} dead letters",
        ),
        Check(
            "no error logged",
            not errors,
            f"{len(errors)} error lines, first: {errors[0]}" if errors else "none",
        ),
        Check(
            "job exited cleanly",
            run.job.returncode == 0,
            f"exit code {run.job.returncode} after SIGTERM",
        ),
    ]
    return SoakReport(
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        minutes=args.minutes,
        rate=round(run.rate, 1),
        fraction=args.fraction,
        calibration=None,
        totals=totals,
        rss=rss,
        fds_after_warmup=(min(fds), max(fds)) if fds else None,
        unstructured_log_lines=unstructured,
        log_errors=errors[:20],
        job_exit=run.job.returncode,
        intervals=run.intervals,
        checks=checks,
    )


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Soak run: driftline Kafka -> Kafka at half its maximum throughput, with "
        "delayed labels, drifts and hostile messages; reports throughput, p99 latency, RSS "
        "and open fds every minute; exits 1 if RSS grows more than 5 %% after warm-up, an "
        "event is lost, or the job logs an error.",
    )
    ap.add_argument("--minutes", type=float, default=60.0, help="Soak duration (default 60).")
    ap.add_argument("--rate", type=float, help="Events/s to produce; skips calibration.")
    ap.add_argument("--fraction", type=float, default=0.5, help="Of the calibrated max (0.5).")
    ap.add_argument(
        "--calibrate-events", type=int, default=150_000, help="Events of the calibration run."
    )
    ap.add_argument("--report-every", type=float, default=60.0, help="Seconds per report line.")
    ap.add_argument(
        "--warmup-minutes",
        type=float,
        help="Not counted in the RSS check (default 10 %% of the run, at least 2 min, "
        "at most half the run).",
    )
    ap.add_argument("--rss-limit-pct", type=float, default=5.0, help="RSS growth allowed (5).")
    ap.add_argument(
        "--drain", type=float, default=60.0, help="Seconds to wait for the last outputs."
    )
    ap.add_argument("--drift-minutes", type=float, default=3.0, help="Minutes between drifts.")
    ap.add_argument("--label-delay", type=float, default=30.0, help="Mean label delay, s.")
    ap.add_argument("--label-missing", type=float, default=0.02, help="Share of labels never sent.")
    ap.add_argument("--bad-every", type=int, default=1000, help="A hostile message every N events.")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "soak_results.json",
                    help="JSON report; the Markdown table goes beside it (.md).")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="Keep the work directory (job log).")
    args = ap.parse_args(argv)
    if args.minutes <= 0 or (args.rate is not None and args.rate <= 0):
        ap.error("--minutes and --rate must be positive")
    return args


def warmup_seconds(args: argparse.Namespace) -> float:
    if args.warmup_minutes is not None:
        return float(args.warmup_minutes) * 60
    return float(min(max(0.1 * args.minutes, 2.0), args.minutes / 2) * 60)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tests.support.broker import Broker

    workdir = Path(tempfile.mkdtemp(prefix="driftline-soak-"))
    ok = False
    try:
        with Broker(log_dir=workdir) as broker:
            log(f"broker {broker.bootstrap}; work directory {workdir}")
            cal = None
            if args.rate is None:
                cal = calibrate(args, broker.bootstrap, workdir)
                rate = cal.events_per_s * args.fraction
            else:
                rate = args.rate
            run = soak(args, broker.bootstrap, rate, workdir)
        report = evaluate(run, warmup_seconds(args), args.rss_limit_pct, workdir)
        report.calibration = cal
        md = write_report(report, args.out)
        print(md.read_text())
        ok = report.ok
        for check in report.checks:
            log(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        log(f"report: {args.out} and {md}")
        if not ok:
            log(f"soak FAILED; job log kept in {workdir}")
        return 0 if ok else 1
    finally:
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
