"""JSONL outputs are exactly-once across kill -9: the real job, killed at random points.

The file sink's snapshot is each file's length, taken with the state and source
offsets of the same epoch; a resume cuts each file back to it before writing again
(connectors/files.py). So however often the job is killed, and wherever (between
snapshots, in the middle of a write), the files end with every record once and no
torn line. The test proves it could see the opposite: at some kill the predictions
file held lines beyond the snapshot the resume loads, which a resume without the
cut would have written twice (with the cut removed it fails on duplicates).

``DRIFTLINE_KILLS`` sets how many kills (default 3, 45-65 s on a two-core machine
at load 6-11); ``DRIFTLINE_KILL_SEED`` replays a run's kill points.
"""

from __future__ import annotations

import os
import pickle
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

N_EVENTS = 6_000
KILLS = int(os.environ.get("DRIFTLINE_KILLS") or 3)
SEED = int(os.environ.get("DRIFTLINE_KILL_SEED") or random.SystemRandom().randrange(2**32))
SNAPSHOT_SECONDS = 0.2
# concept drifts early in the stream, so alerts are written (and replayed) too
ENV = {
    **os.environ,
    "DRIFTLINE_RUN__PROGRESS_EVERY": "3600",
    "DRIFTLINE_BUILTIN__DRIFT_POINTS": "[2000, 4000]",
}


def _command(tmp_path: Path) -> list[str]:
    return [
        sys.executable, "-m", "driftline.flows", "run",
        "--events", str(N_EVENTS), "--out", str(tmp_path / "out"),
        "--store", str(tmp_path / "models"), "--no-metrics", "--no-live",
        "--recovery-dir", str(tmp_path / "recovery"),
        "--snapshot-interval", str(SNAPSHOT_SECONDS),
    ]  # fmt: skip


def _store(tmp_path: Path) -> sqlite3.Connection | None:
    path = tmp_path / "recovery" / "part-0.sqlite3"
    if not path.exists():
        return None
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


def _committed_epoch(tmp_path: Path) -> int:
    """The newest epoch the recovery store committed (-1 before the first commit)."""
    db = _store(tmp_path)
    if db is None:
        return -1
    try:
        row = db.execute("SELECT max(commit_epoch) FROM commits").fetchone()
    except sqlite3.OperationalError:  # the job is still creating its tables
        return -1
    finally:
        db.close()
    return -1 if row is None or row[0] is None else int(row[0])


def _resume_position(tmp_path: Path) -> int | None:
    """The predictions file's length in the newest snapshot a resume can load: the
    newest at or before the store's committed epoch (no resume goes further). None
    before there is one."""
    db = _store(tmp_path)
    if db is None:
        return None
    try:
        row = db.execute(
            "SELECT ser_change FROM snaps WHERE step_id LIKE '%outputs%' "
            "AND state_key = 'predictions' "
            "AND snap_epoch <= (SELECT max(commit_epoch) FROM commits) "
            "ORDER BY snap_epoch DESC LIMIT 1"
        ).fetchone()
    except sqlite3.OperationalError:  # busy past the timeout: ask again
        return None
    finally:
        db.close()
    if row is None:
        return None
    position: int = pickle.loads(row[0])
    return position


def _wait_for_lines_past_the_snapshot(
    tmp_path: Path, job: subprocess.Popen[bytes], within: float
) -> None:
    """Return once the predictions file is longer than its committed snapshot (or the
    job ended, or `within` s passed: then the kill finds what it finds)."""
    predictions = tmp_path / "out" / "predictions.jsonl"
    deadline = time.monotonic() + within
    while job.poll() is None and time.monotonic() < deadline:
        position = _resume_position(tmp_path)
        if position is not None and predictions.stat().st_size > position:
            return
        time.sleep(0.005)


def _kill_after_a_snapshot(tmp_path: Path, rng: random.Random, run: int) -> int | None:
    """Start the job, SIGKILL it at a random time after it committed a snapshot of its
    own; return the predictions file's size once it died (None: it ended first)."""
    predictions = tmp_path / "out" / "predictions.jsonl"
    before = _committed_epoch(tmp_path)
    with open(tmp_path / f"run-{run}.log", "wb") as log:
        job = subprocess.Popen(_command(tmp_path), stdout=log, stderr=log, env=ENV)
        try:
            deadline = time.monotonic() + 120
            while _committed_epoch(tmp_path) <= before and job.poll() is None:
                assert time.monotonic() < deadline, f"no snapshot committed (seed {SEED})"
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.0))
            # then on the next lines past the committed snapshot: bytewax writes an
            # epoch's outputs when it closes, just before snapshotting them, so a kill
            # at a random time mostly finds the file at its snapshot (measured: past
            # it 6 % of the time), where a resume cuts nothing
            _wait_for_lines_past_the_snapshot(tmp_path, job, within=5.0)
            if job.poll() is not None:
                return None
            job.send_signal(signal.SIGKILL)
            job.wait(timeout=30)
        finally:
            if job.poll() is None:
                job.kill()
                job.wait(timeout=30)
    assert job.returncode == -signal.SIGKILL, (run, job.returncode, SEED)
    return predictions.stat().st_size


def _records(path: Path) -> list[dict[str, object]]:
    """Every line of a JSONL output, each a whole JSON object (a torn line fails here).

    A file is made when its output is first written: none means no record."""
    data = path.read_bytes() if path.exists() else b""
    assert not data or data.endswith(b"\n"), f"{path.name} ends in a torn line (seed {SEED})"
    return [orjson.loads(line) for line in data.splitlines()]


def test_jsonl_outputs_are_exactly_once_across_kill_9(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    beyond_snapshot = 0  # bytes written after the newest snapshot, summed over the kills
    kills = 0
    for run in range(KILLS):
        size = _kill_after_a_snapshot(tmp_path, rng, run)
        if size is None:  # the job finished before its kill: nothing left to resume
            break
        kills += 1
        position = _resume_position(tmp_path)
        assert position is not None, f"no committed snapshot of the predictions (seed {SEED})"
        beyond_snapshot += max(0, size - position)

    resumed = subprocess.run(_command(tmp_path), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert kills >= 1, f"the job ended before the first kill: more events (seed {SEED})"
    if kills:
        assert "resuming from recovery store" in resumed.stderr

    out = tmp_path / "out"
    predictions = _records(out / "predictions.jsonl")
    per_event = Counter((p["id"], p["model"]) for p in predictions)
    assert set(per_event.values()) == {1}, (
        f"duplicates after {kills} kills (seed {SEED}): "
        f"{[k for k, n in per_event.items() if n > 1][:5]}"
    )
    assert {i for i, _ in per_event} == {f"evt-{i:09d}" for i in range(N_EVENTS)}  # none lost
    alerts = _records(out / "alerts.jsonl")
    alert_ids = Counter(
        (a["model"], a["kind"], a["detector"], a["event_id"], a["feature"], a["slice"])
        for a in alerts
    )
    assert alerts and set(alert_ids.values()) == {1}, (alert_ids, SEED)
    reports = _records(out / "drift_reports.jsonl")
    report_ids = Counter((r["model"], r["shard"], r["window_end_event_id"]) for r in reports)
    assert reports and set(report_ids.values()) == {1}, (report_ids, SEED)
    _records(out / "dead_letters.jsonl")  # whole lines there too
    print(
        f"seed {SEED}: {kills} kills, {beyond_snapshot} bytes past snapshots, "
        f"{len(predictions)} predictions, {len(alerts)} alerts, {len(reports)} reports"
    )
    # the kills left lines past the newest snapshot: without the cut they were duplicates
    assert beyond_snapshot > 0, f"no kill left a line after its snapshot (seed {SEED})"
