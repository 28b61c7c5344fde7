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
   warm-up (by default until the job's state is full: its longest feature
   window, 15 min in the soak instead of the built-in 1 h, and its label TTL;
   median of the first interval after it vs the last) within
   ``--rss-limit-pct`` (5); every produced event id has a prediction or a dead
   letter, and every hostile message a dead letter; no error in the job's log;
   the job exited 0. Writes the JSON report (``--out``), a Markdown table
   (``.md``) and a chart (``.svg``: throughput, p99, RSS with the band the check
   allows, CPU per interval) beside it; exits 1 naming each failed check.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from bench.soak_job import (
    STATE_FILL_MINUTES,
    calibrate,
    kafka_config,
    start_job,
    stop_job,
    stream_config,
    wait_started,
)
from bench.soak_parts import (
    Check,
    Interval,
    Ledger,
    ProcSample,
    log,
    log_problems,
    median_rss,
    percentiles,
    sample_process,
)
from bench.soak_report import RssFigures, SoakReport, Totals, write_report
from driftline.connectors.builtin import drifting_messages
from driftline.connectors.producer import ProduceResult, produce

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_EVERY = 5.0  # seconds between looks at the job process (capped at report_every / 4)


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
    lag_at_end: int = 0  # events without an output yet when production ended
    drain_seconds: float = 0.0  # then taken to account for them (or to give up)
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
    job = start_job(bootstrap, prefix, workdir, args.fetch_wait_ms)
    run = Run(args=args, rate=rate, ledger=ledger, job=job)
    wait_started(job, workdir / "job.log")
    topics = {n: f"{prefix}.{n}" for n in ("predictions", "dead_letters", "alerts")}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{prefix}-reader",
            "enable.auto.commit": False,
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
        run.lag_at_end = ledger.unaccounted()
        log(f"production ended, {run.lag_at_end:,} events without an output yet; draining")
        run.drain_seconds = drain(consumer, run, topics, args.drain)
        if ledger.unaccounted():
            log(f"gave up draining after {run.drain_seconds:.0f} s: no output for {args.drain:g} s")
        for _ in range(10):  # what is already in the topics (alerts, dead letters)
            read_outputs(consumer, run, topics, 0.1)
    finally:
        ledger.stop.set()
        stop_job(job)
        consumer.close()
    return run


def drain(consumer: Consumer, run: Run, topics: dict[str, str], idle: float) -> float:
    """Read outputs until every event is accounted for or none came for `idle` s.

    A job that lags (the machine is shared) still catches up: only silence
    means it stopped. Returns the seconds it took.
    """
    started = time.monotonic()
    led = run.ledger
    seen, quiet_since = -1, started
    while led.unaccounted() and run.job.poll() is None:
        now = time.monotonic()
        count = led.predictions + led.dead_events
        if count != seen:
            seen, quiet_since = count, now
        elif now - quiet_since > idle:
            break
        read_outputs(consumer, run, topics, 0.2)
    return time.monotonic() - started


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
        unaccounted_at_end_of_production=run.lag_at_end,
        drain_seconds=round(run.drain_seconds, 1),
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
        started=datetime.fromtimestamp(run.t0_wall, UTC).isoformat(timespec="seconds"),
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
        "and open fds every minute; exits 1 if RSS grows more than 5 % after warm-up, an "
        "event is lost, or the job logs an error.",
    )
    ap.add_argument("--minutes", type=float, default=60.0, help="Soak duration (default 60).")
    ap.add_argument("--rate", type=float, help="Events/s to produce; skips calibration.")
    ap.add_argument("--fraction", type=float, default=0.5, help="Of the calibrated max (0.5).")
    ap.add_argument(
        "--calibrate-events", type=int, default=100_000, help="Events of the calibration run."
    )
    ap.add_argument("--report-every", type=float, default=60.0, help="Seconds per report line.")
    ap.add_argument(
        "--warmup-minutes",
        type=float,
        help="Not counted in the RSS check (default: until the job's state is full, "
        f"{STATE_FILL_MINUTES} min: its longest feature window and a third, and the label "
        "TTL; at most half the run).",
    )
    ap.add_argument("--rss-limit-pct", type=float, default=5.0, help="RSS growth allowed (5).")
    ap.add_argument(
        "--drain",
        type=float,
        default=60.0,
        help="After production: stop waiting for the last outputs once none came for this "
        "many seconds (60).",
    )
    ap.add_argument("--drift-minutes", type=float, default=3.0, help="Minutes between drifts.")
    ap.add_argument("--label-delay", type=float, default=30.0, help="Mean label delay, s.")
    ap.add_argument("--label-missing", type=float, default=0.02, help="Share of labels never sent.")
    ap.add_argument("--bad-every", type=int, default=1000, help="A hostile message every N events.")
    ap.add_argument(
        "--balanced",
        action="store_true",
        help="Agrawal's balance_classes (the built-in default): about 2 x the producer's CPU.",
    )
    ap.add_argument(
        "--fetch-wait-ms",
        type=int,
        help="The job's fetch.wait.max.ms (default librdkafka's 500; Tansu returns nothing "
        "when a fetch takes longer than this, see bench/soak_job.py).",
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--out",
        type=Path,
        default=ROOT / "bench" / "soak_results.json",
        help="JSON report; the Markdown table (.md) and chart (.svg) go beside it.",
    )
    ap.add_argument("--keep", action="store_true", help="Keep the work directory (job log).")
    args = ap.parse_args(argv)
    if args.minutes <= 0 or (args.rate is not None and args.rate <= 0):
        ap.error("--minutes and --rate must be positive")
    return args


def warmup_seconds(args: argparse.Namespace) -> float:
    """`--warmup-minutes`, else until the job's state is full (`STATE_FILL_MINUTES`),
    at most half the run (a short run checks what it can)."""
    if args.warmup_minutes is not None:
        return float(args.warmup_minutes) * 60
    return float(min(STATE_FILL_MINUTES, args.minutes / 2) * 60)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: the job is stopped and the broker closed on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
