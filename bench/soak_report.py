"""The soak run's report: typed records, written as JSON, a Markdown table and a chart.

Like ``bench.run`` (``bench/results.json`` and the table in bench/README.md),
the JSON holds everything, the Markdown is what a person reads and the SVG
(bench/soak_chart.py) what they look at; all are written from the same
:class:`SoakReport`, so they cannot disagree.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from bench.soak_parts import Check, Interval


@dataclass(frozen=True)
class Calibration:
    """The job's maximum throughput, measured flat out before the soak."""

    events: int
    seconds: float
    events_per_s: float
    startup_seconds: float


@dataclass(frozen=True)
class RssFigures:
    """The job's RSS after warm-up and at the end (medians of a report interval each)."""

    warmup_minutes: float
    after_warmup_mb: float | None
    end_mb: float | None
    growth_pct: float | None
    limit_pct: float


@dataclass(frozen=True)
class Totals:
    """What was sent and what came back over the whole run."""

    events: int
    labels: int
    hostile: int
    not_acknowledged: int | None  # messages the broker rejected or never acknowledged
    predictions: int
    duplicate_predictions: int
    foreign_predictions: int
    dead_letters_events: int
    dead_letters_hostile: int
    dead_letters_labels: int
    unaccounted: int
    unaccounted_ids: list[str]
    alerts: dict[str, int]
    p50_ms_after_warmup: float | None
    p99_ms_after_warmup: float | None
    latencies_after_warmup: int
    unaccounted_at_end_of_production: int  # the job's lag when the producer stopped
    drain_seconds: float  # how long the job then took to catch up (or the soak gave up)


@dataclass
class SoakReport:
    """One soak run: settings, per-interval figures, totals and checks."""

    started: str
    minutes: float
    rate: float
    fraction: float
    calibration: Calibration | None
    totals: Totals
    rss: RssFigures
    fds_after_warmup: tuple[int, int] | None
    unstructured_log_lines: int
    log_errors: list[str]
    job_exit: int | None
    intervals: list[Interval]
    checks: list[Check]
    commit: str = ""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _commit() -> str:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    )
    return proc.stdout.strip()


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "" if value is None else format(value, fmt)


def markdown(report: SoakReport) -> str:
    """The report as a person reads it: a line of settings, the minutes, the checks."""
    t, cal = report.totals, report.calibration
    how = (
        f"{report.fraction:g} x the calibrated max of {cal.events_per_s:,.0f} ev/s "
        f"({cal.events:,} events flat out)"
        if cal is not None
        else "given with --rate"
    )
    lines = [
        f"driftline soak: {report.minutes:g} min at {report.rate:,.0f} events/s ({how}), "
        f"{os.cpu_count()} cores, commit {report.commit}, started {report.started}",
        "",
        "| minute | events/s in | predictions/s out | labels/s in | hostile in | dead letters "
        "| p50 ms | p99 ms | max ms | RSS MB | fds | job CPU % | load 1 min | unaccounted |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for iv in report.intervals:
        lines.append(
            f"| {iv.minute:.2f} | {iv.events_in_per_s:,.0f} | {iv.predictions_out_per_s:,.0f} "
            f"| {iv.labels_in_per_s:,.0f} | {iv.hostile_in:,} | {iv.dead_letters:,} "
            f"| {_num(iv.p50_ms, ',.1f')} | {_num(iv.p99_ms, ',.1f')} | {_num(iv.max_ms)} "
            f"| {iv.rss_mb:,.1f} | {iv.fds} | {iv.cpu_pct:.0f} | {iv.load1:.2f} "
            f"| {iv.unaccounted:,} |"
        )
    alerts = ", ".join(f"{k} {v}" for k, v in sorted(t.alerts.items())) or "none"
    lines += [
        "",
        f"sent {t.events:,} events, {t.labels:,} labels, {t.hostile:,} hostile messages; "
        f"read back {t.predictions:,} predictions ({t.duplicate_predictions:,} duplicates), "
        f"dead letters: {t.dead_letters_events:,} events, {t.dead_letters_hostile:,} hostile, "
        f"{t.dead_letters_labels:,} labels; alerts: {alerts}",
        f"latency after warm-up ({report.rss.warmup_minutes:g} min, "
        f"{t.latencies_after_warmup:,} events): p50 {_num(t.p50_ms_after_warmup, ',.1f')} ms, "
        f"p99 {_num(t.p99_ms_after_warmup, ',.1f')} ms (event produce() -> prediction in "
        "the output topic, Kafka timestamps)",
        f"when production ended {t.unaccounted_at_end_of_production:,} events had no output "
        f"yet; draining took {t.drain_seconds:,.0f} s",
        "",
        "| check | result | detail |",
        "|---|---|---|",
        *(f"| {c.name} | {'ok' if c.ok else 'FAIL'} | {c.detail} |" for c in report.checks),
    ]
    return "\n".join(lines) + "\n"


def write_report(report: SoakReport, out: Path) -> Path:
    """Write `out` (JSON), the Markdown and the chart beside it; return the Markdown's path."""
    from bench.soak_chart import render_svg

    if not report.commit:
        report.commit = _commit()
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {**asdict(report), "ok": report.ok}
    out.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    md = out.with_suffix(".md")
    md.write_text(markdown(report))
    out.with_suffix(".svg").write_text(render_svg(report))
    return md
