"""`driftline alerts` on the alerts of a real run: listed, filtered, followed, from a topic.

The alerts come from a real short `driftline run` (built-in stream, a concept
drift at event 3,000 and a covariate shift at 4,500): a critical concept drift,
info challenger alerts and warning data drifts. The command runs as a real
subprocess reading real files (and, marked kafka, the test broker's topic).
"""

from __future__ import annotations

import os
import pty
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import orjson
import pytest

from driftline.flows.app.cli import main
from driftline.flows.records import Alert

EVENTS = 7_000
DRIFT_AT = 3_000
ANSI = re.compile(rb"\x1b\[[0-9;]*m")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env.pop("NO_COLOR", None)
    return {**env, "TERM": "xterm", **extra}


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "driftline.flows", "alerts", *args]


@pytest.fixture(scope="module")
def run_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output directory of a real `driftline run` whose stream drifts early."""
    tmp = tmp_path_factory.mktemp("alerts-run")
    out = tmp / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "driftline.flows", "run", "--events", str(EVENTS),
         "--out", str(out), "--store", str(tmp / "models"), "--no-metrics", "--no-live"],
        env=_env(
            DRIFTLINE_BUILTIN__CONCEPTS="[7, 6]",
            DRIFTLINE_BUILTIN__DRIFT_POINTS=f"[{DRIFT_AT}]",
            DRIFTLINE_BUILTIN__DATA_DRIFT_POINTS="[4500]",
            DRIFTLINE_RUN__PROGRESS_EVERY="3600",
        ),
        capture_output=True,
        timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    kinds = {orjson.loads(line)["kind"] for line in _lines(out / "alerts.jsonl")}
    assert {"concept_drift", "data_drift", "model_promoted"} <= kinds, kinds
    return out


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def _describe(raw: bytes) -> str:
    alert = Alert(**orjson.loads(raw))
    return f"{alert.severity:<8} {alert.describe()}"


def test_lists_every_alert_of_a_run_one_readable_line_each(run_out: Path) -> None:
    raw = _lines(run_out / "alerts.jsonl")
    proc = subprocess.run(_cmd("--out", str(run_out)), env=_env(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not ANSI.search(proc.stdout)  # a pipe gets no colours
    assert proc.stdout.decode().splitlines() == [_describe(line) for line in raw]
    assert proc.stderr == b""
    first = proc.stdout.decode().splitlines()[0]
    assert first.startswith("critical CONCEPT DRIFT [adwin] logreg v1: error rate")


def test_filters_last_n_and_json(run_out: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """In-process `driftline alerts` on the run's file: each filter and their combination."""
    raw = _lines(run_out / "alerts.jsonl")
    alerts = [orjson.loads(line) for line in raw]

    def shown(*flags: str) -> list[str]:
        assert main(["alerts", "--out", str(run_out), *flags]) == 0
        return capsysbinary.readouterr().out.decode().splitlines()

    def expect(keep: Any) -> list[str]:
        return [_describe(line) for line, a in zip(raw, alerts, strict=True) if keep(a)]

    assert shown("--kind", "data_drift") == expect(lambda a: a["kind"] == "data_drift")
    both = expect(lambda a: a["kind"] in ("data_drift", "concept_drift"))
    assert shown("--kind", "data_drift", "--kind", "concept_drift") == both
    assert len(both) >= 2
    warning = expect(lambda a: a["severity"] in ("warning", "critical"))
    assert shown("--severity", "warning") == warning
    assert len(warning) < len(alerts)  # the info alerts are left out
    critical = shown("--severity", "critical")
    assert critical and all(line.startswith("critical CONCEPT DRIFT") for line in critical)
    assert shown("--model", "logreg") == expect(lambda a: True)
    assert shown("--model", "nosuch") == []
    assert shown("--segment", "nosuch") == [] and shown("--slice", "country=BR") == []
    assert shown("-n", "2") == expect(lambda a: True)[-2:]
    assert shown("--severity", "warning", "-n", "1") == warning[-1:]
    assert shown("-n", "0") == []
    assert shown("--json") == [line.decode() for line in raw]
    data_json = shown("--json", "--kind", "data_drift")
    assert [orjson.loads(line)["kind"] for line in data_json] == ["data_drift"] * len(data_json)

    with pytest.raises(SystemExit) as exc:
        main(["alerts", "--help"])
    assert exc.value.code == 0
    helptext = capsysbinary.readouterr().out.decode()
    assert "driftline alerts -f -n 5" in helptext and "info < warning < critical" in helptext


def test_malformed_lines_are_reported_once_and_skipped(run_out: Path, tmp_path: Path) -> None:
    raw = _lines(run_out / "alerts.jsonl")
    bad = [
        b"not json at all",
        b"[1, 2]",
        b'{"kind": "concept_drift"}',
        raw[0].replace(b'"severity":"critical"', b'"severity":"urgent"'),
        raw[0].replace(b'"model_version":1', b'"model_version":"one"'),
        b"\xff\xfe\x00",
    ]
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(b"\n".join([raw[0], *bad, raw[1], b""]))
    proc = subprocess.run(_cmd("--file", str(path)), env=_env(), capture_output=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stdout.decode().splitlines() == [_describe(raw[0]), _describe(raw[1])]
    err = proc.stderr.decode().splitlines()
    reported = [line for line in err if "is not an alert" in line]
    numbers = [line.split(" line ")[1].split()[0] for line in reported]
    assert numbers == ["2", "3", "4", "5", "6"]  # each once; the 7th only counted
    assert "severity 'urgent' is not one of info, warning, critical" in reported[3]
    assert "driftline alerts: further lines that are not alerts are skipped and counted" in err
    assert err[-1] == "driftline alerts: 6 lines were not alerts"


def test_colours_only_on_a_terminal(run_out: Path) -> None:
    """Severity is coloured when stdout is a terminal (a real pseudo-terminal here)."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        _cmd("--out", str(run_out), "--severity", "critical"),
        env=_env(),
        stdout=secondary,
        stderr=subprocess.PIPE,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert proc.wait(timeout=120) == 0
    shown = b"".join(chunks)
    assert b"\x1b[1;31mcritical\x1b[0m CONCEPT DRIFT [adwin]" in shown


def _ctrl_c_default() -> None:
    """SIGINT as a terminal's foreground process has it. A shell without job control
    starts background commands with SIGINT ignored, and the tests inherit that when
    run so (`make test &`): Python then keeps it ignored and Ctrl-C cannot be tested."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Follower:
    """A `driftline alerts --follow` subprocess whose stdout and stderr lines are queued."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            _cmd(*args),
            env=env or _env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=_ctrl_c_default,
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []
        for stream, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, q), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str] | None, q: queue.Queue[str]) -> None:
        assert stream is not None
        for line in stream:
            q.put(line.rstrip("\n"))

    def line(self, timeout: float) -> str:
        try:
            return self.out.get(timeout=timeout)
        except queue.Empty:
            pass
        raise AssertionError(f"no output line within {timeout} s; stderr: {self.errors}")

    def no_line(self, wait: float) -> None:
        time.sleep(wait)
        assert self.out.empty(), self.out.get()

    def note(self, contains: str, timeout: float) -> str:
        """The next stderr line containing `contains`, within `timeout` s."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.err.get(timeout=left)
            except queue.Empty:
                break
            self.errors.append(line)
            if contains in line:
                return line
        raise AssertionError(f"no {contains!r} on stderr within {timeout} s: {self.errors}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _append(path: Path, line: bytes) -> None:
    with path.open("ab") as f:
        f.write(line + b"\n")


def _with_id(raw: bytes, event_id: str) -> bytes:
    data = orjson.loads(raw)
    data["event_id"] = event_id
    return orjson.dumps(data)


def test_follow_prints_an_appended_alert_within_2_s_and_exits_0_on_sigterm(
    run_out: Path, tmp_path: Path
) -> None:
    raw = _lines(run_out / "alerts.jsonl")
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(b"\n".join(raw) + b"\n")
    follower = Follower("--file", str(path), "--follow", "-n", "1", "--severity", "warning")
    try:
        warnings = [line for line in raw if orjson.loads(line)["severity"] != "info"]
        assert follower.line(timeout=60) == _describe(warnings[-1])  # the last one at start
        follower.note("following", timeout=10)
        new = _with_id(raw[0], "evt-appended")
        start = time.monotonic()
        _append(path, new)
        assert follower.line(timeout=2) == _describe(new)
        assert time.monotonic() - start < 2
        _append(path, b'{"half": "an alert"}')  # not an alert: reported, not fatal
        follower.note("line", timeout=2)
        _append(path, next(line for line in raw if b'"severity":"info"' in line))  # filtered
        last = _with_id(raw[0], "evt-after-bad")
        with path.open("ab") as f:  # a line written in two parts shows once whole
            f.write(last[:40])
            f.flush()
            time.sleep(0.5)
            f.write(last[40:] + b"\n")
        assert follower.line(timeout=2) == _describe(last)
        follower.no_line(0.5)
        assert follower.stop(signal.SIGTERM) == 0
    finally:
        follower.close()


def test_follow_waits_for_the_file_and_reads_it_again_when_truncated_or_replaced(
    run_out: Path, tmp_path: Path
) -> None:
    raw = _lines(run_out / "alerts.jsonl")
    path = tmp_path / "out" / "alerts.jsonl"
    follower = Follower("--out", str(path.parent), "-f")
    try:
        follower.note(f"waiting for {path} to appear", timeout=60)
        path.parent.mkdir()
        path.write_bytes(raw[0] + b"\n")
        assert follower.line(timeout=2) == _describe(raw[0])
        _append(path, raw[1])
        assert follower.line(timeout=2) == _describe(raw[1])

        # a new run in the same directory truncates the file and writes from the start
        first = _with_id(raw[2], "evt-new-run")
        with path.open("r+b") as f:
            f.truncate(0)
        time.sleep(0.5)
        _append(path, first)
        assert follower.line(timeout=2) == _describe(first)
        follower.note("was truncated: reading it from the start", timeout=2)

        # truncated and refilled past the old length between two looks: the start changed
        refill = b"\n".join(_with_id(raw[0], f"evt-refill-{i}") for i in range(5)) + b"\n"
        path.write_bytes(refill)
        assert [follower.line(timeout=2) for _ in range(5)] == [
            _describe(line) for line in refill.splitlines()
        ]

        # replaced by another file (a rename over it)
        other = tmp_path / "out" / "alerts.jsonl.new"
        replaced = _with_id(raw[3], "evt-replaced")
        other.write_bytes(replaced + b"\n")
        other.replace(path)
        assert follower.line(timeout=2) == _describe(replaced)
        follower.note("was replaced", timeout=2)
        follower.no_line(0.5)
        assert follower.stop(signal.SIGINT) == 0  # Ctrl-C
    finally:
        follower.close()


@pytest.mark.kafka
def test_follows_the_alerts_topic(run_out: Path, broker: Any, tmp_path: Path) -> None:
    from tests.conftest import kafka_job_env
    from tests.support.broker import create_topics, produce

    env = kafka_job_env(broker.bootstrap, tmp_path)
    topic = env["DRIFTLINE_KAFKA__ALERTS_TOPIC"]
    create_topics(broker.bootstrap, {topic: 2})
    raw = _lines(run_out / "alerts.jsonl")
    produce(broker.bootstrap, topic, [(None, line) for line in raw] + [(None, b"oops")])
    env = {k: v for k, v in env.items() if k != "NO_COLOR"}

    listed = subprocess.run(_cmd("--source", "kafka"), env=env, capture_output=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.decode().splitlines()) == sorted(_describe(r) for r in raw)
    assert re.search(rf"{re.escape(topic)}\[\d\]@\d+ is not an alert", listed.stderr.decode())

    follower = Follower("--source", "kafka", "-f", "--kind", "concept_drift", env=env)
    try:
        concept = [r for r in raw if orjson.loads(r)["kind"] == "concept_drift"]
        assert [follower.line(timeout=60) for _ in concept] == [_describe(r) for r in concept]
        follower.note(f"following topic {topic!r}", timeout=10)
        new = _with_id(concept[0], "evt-on-topic")
        start = time.monotonic()
        produce(broker.bootstrap, topic, [(None, raw[-1]), (None, new)])
        assert follower.line(timeout=3) == _describe(new)
        assert time.monotonic() - start < 3
        follower.no_line(0.5)  # the data drift just produced is filtered out
        assert follower.stop(signal.SIGTERM) == 0
    finally:
        follower.close()
