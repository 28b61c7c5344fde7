"""`make soak` (bench/soak.py), run for half a minute against the real broker and job.

One short run (about 40 s: the job's start-up, 30 s of events, the drain and a
SIGTERM) with a tiny RSS threshold: the job's RSS rises in its first half
minute (predictions wait 30 s for their delayed labels, the model and feature
windows fill), so the RSS check fails, the command exits 1 naming it, and the
report shows every other check passing on real figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import orjson
import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _soak(
    *args: str, tmp: Path | None = None, timeout: float = 150
) -> subprocess.CompletedProcess[str]:
    """Run the soak; its work directory (kept when it fails, as here) goes under `tmp`."""
    env = {**os.environ, **({"TMPDIR": str(tmp)} if tmp is not None else {})}
    return subprocess.run(
        [sys.executable, "-m", "bench.soak", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_names_the_options() -> None:
    proc = _soak("--help", timeout=60)
    assert proc.returncode == 0
    for option in ("--minutes", "--rate", "--report-every", "--rss-limit-pct", "--out"):
        assert option in proc.stdout


def test_short_soak_reports_every_figure_and_fails_on_rss(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    proc = _soak(
        "--minutes", "0.5", "--rate", "300", "--report-every", "10",
        "--warmup-minutes", "0.1", "--rss-limit-pct", "0.01", "--out", str(out),
        tmp=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "FAIL rss" in proc.stderr
    assert "soak FAILED" in proc.stderr

    report = orjson.loads(out.read_bytes())
    assert report["ok"] is False
    chart = ElementTree.parse(out.with_suffix(".svg")).getroot()  # the picture beside it
    lines = chart.findall(".//{http://www.w3.org/2000/svg}polyline")
    assert [line[0].text for line in lines] == ["events in", "predictions out", "p99", "RSS", "CPU"]
    assert "FAILED" in "".join(chart.itertext())
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == {
        "rss",
        "every event accounted for",
        "every hostile message dead-lettered",
        "no error logged",
        "job exited cleanly",
    }
    assert not checks["rss"]["ok"] and "limit 0.01 %" in checks["rss"]["detail"]
    assert all(c["ok"] for name, c in checks.items() if name != "rss"), checks

    rss = report["rss"]
    assert rss["growth_pct"] > rss["limit_pct"] == 0.01
    assert 50 < rss["after_warmup_mb"] < rss["end_mb"] < 2000

    totals = report["totals"]
    assert 0.9 * 9_000 <= totals["events"] <= 1.02 * 9_000  # 300 ev/s for 30 s
    assert totals["unaccounted"] == 0 and totals["unaccounted_ids"] == []
    assert totals["predictions"] + totals["dead_letters_events"] >= totals["events"]
    assert totals["hostile"] >= 8  # one per 1,000 events
    assert totals["dead_letters_hostile"] >= totals["hostile"]
    assert totals["labels"] > 0  # delayed labels were sent on their own topic
    assert 0 < totals["p50_ms_after_warmup"] <= totals["p99_ms_after_warmup"] < 30_000
    assert report["job_exit"] == 0 and report["log_errors"] == []

    intervals = report["intervals"]
    assert len(intervals) == 3  # every 10 s of 30
    for iv in intervals:
        assert 200 < iv["events_in_per_s"] < 400
        assert iv["predictions_out_per_s"] > 0
        assert iv["p99_ms"] is not None and iv["p99_ms"] >= iv["p50_ms"] > 0
        assert iv["rss_mb"] > 50 and iv["fds"] > 3 and iv["cpu_pct"] >= 0

    md = out.with_suffix(".md").read_text()
    assert "| minute | events/s in | predictions/s out |" in md
    assert "| rss | FAIL |" in md and "| every event accounted for | ok |" in md
