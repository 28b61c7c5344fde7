"""The page's port: a taken port leaves the job running without the page, and says why."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def test_a_taken_port_warns_and_the_job_runs_on(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "driftline.flows", "run", "--events", "300", "--no-metrics",
             "--live-port", str(port), "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=180,
            env={**os.environ, "DRIFTLINE_RUN__PROGRESS_EVERY": "3600"},
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"live page not served: cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "--live-port" in proc.stderr and "--no-live" in proc.stderr
    assert 'live page url="' not in proc.stderr
    assert (tmp_path / "out" / "predictions.jsonl").read_text().count("\n") == 300
