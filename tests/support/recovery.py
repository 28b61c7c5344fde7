"""A job run whole, and the same job killed -9 mid-stream and resumed from its recovery store."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

#: `command(out_dir_name, *extra_flags)`: the `driftline run` command line of the job.
Command = Callable[..., list[str]]


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def run_whole_then_killed_and_resumed(
    command: Command, tmp_path: Path, events: int
) -> tuple[Path, Path]:
    """Run `command("whole")`; then `command("killed", *recovery)`, SIGKILL it once a
    quarter of the predictions are written, and run it again to resume.

    Returns the two predictions files (whole run; killed-then-resumed run).
    """
    env = {**os.environ, "DRIFTLINE_RUN__PROGRESS_EVERY": "3600"}
    whole = subprocess.run(command("whole"), capture_output=True, text=True, timeout=600, env=env)
    assert whole.returncode == 0, whole.stderr[-3000:]

    recovery = recovery_flags(tmp_path)
    written = tmp_path / "killed" / "predictions.jsonl"
    with open(tmp_path / "job.log", "wb") as log:
        job = subprocess.Popen(command("killed", *recovery), stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + 300
        while lines(written) < events // 4 and job.poll() is None:
            assert time.monotonic() < deadline, "the job wrote no predictions"
            time.sleep(0.1)
        assert job.poll() is None, "the job ended before it could be killed: more events"
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=30)
    assert 0 < lines(written) < events
    resumed = subprocess.run(
        command("killed", *recovery), capture_output=True, text=True, timeout=600, env=env
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from recovery store" in resumed.stderr
    return tmp_path / "whole" / "predictions.jsonl", written


def recovery_flags(tmp_path: Path) -> tuple[str, ...]:
    return ("--recovery-dir", str(tmp_path / "recovery"), "--snapshot-interval", "0.5")


def resume(command: Command, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Resume the killed job's store again (after its config changed, say)."""
    env = {**os.environ, "DRIFTLINE_RUN__PROGRESS_EVERY": "3600"}
    return subprocess.run(
        command("killed", *recovery_flags(tmp_path)),
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
