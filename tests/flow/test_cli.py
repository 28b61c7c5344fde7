import subprocess
import sys

import pytest

from driftline.flows.app.cli import main


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "driftline" in capsys.readouterr().out


def test_bad_config_exits_2_before_running() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "driftline.flows", "run", "--model", "nope", "--no-metrics"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown model 'nope'" in proc.stderr


def test_sigterm_drains_flushes_and_summarises(tmp_path) -> None:
    import os
    import re
    import signal
    import time

    job = subprocess.Popen(
        [sys.executable, "-m", "driftline.flows", "run", "--events", "0", "--no-metrics",
         "--out", str(tmp_path / "out"), "--store", str(tmp_path / "models")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "DRIFTLINE_RUN__PROGRESS_EVERY": "0.5"},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    out = tmp_path / "out" / "predictions.jsonl"
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 100_000):
        time.sleep(0.2)
    job.send_signal(signal.SIGTERM)
    stdout, stderr = job.communicate(timeout=60)
    assert job.returncode == 0, stderr[-2000:]
    assert "stop requested" in stderr
    scored = int(re.search(r"events scored\s+([\d,]+)", stdout).group(1).replace(",", ""))
    lines = out.read_bytes().count(b"\n")
    assert scored > 0 and lines == scored  # every prediction made was flushed


def test_busy_metrics_port_is_a_clear_start_up_error(tmp_path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "driftline.flows", "run", "--events", "100",
             "--metrics-port", str(port), "--out", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 2
    assert "cannot serve metrics" in proc.stderr
