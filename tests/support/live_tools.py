"""The real programs the live tests drive (Chromium, Prometheus, promtool, Alertmanager).

A test that needs one calls :func:`require_tool`: a missing tool skips the test with
what to install, except under ``DRIFTLINE_REQUIRE_LIVE_TOOLS=1`` (set by ``.ci/run``),
where it fails, so CI cannot pass with those tests skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REQUIRE_ENV = "DRIFTLINE_REQUIRE_LIVE_TOOLS"


def require_tool(path_or_name: str, install_hint: str) -> str:
    """The executable's path; skips (or fails under DRIFTLINE_REQUIRE_LIVE_TOOLS=1) if missing.

    `path_or_name`: an absolute path ("/usr/bin/chromium") or a name looked up on PATH.
    `install_hint`: what to run to get it ("apt-get install prometheus").
    """
    if os.path.isabs(path_or_name):
        found = path_or_name if os.access(path_or_name, os.X_OK) else None
    else:
        found = shutil.which(path_or_name)
    if found:
        return found
    message = f"{path_or_name} not found: {install_hint}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1: the live tools are required)")
    pytest.skip(message)


# ---------------------------------------------------------------- the live page's tests

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_HINT = "apt-get install chromium (Debian's package; never `playwright install`)"
ROOT = Path(__file__).resolve().parents[2]
_URL = re.compile(r'live page url="(http://[^"]+/)"')
_METRICS = re.compile(r"metrics endpoint listening url=\"(http://\S+/metrics)\"")


def require_browser() -> str:
    """Chromium's path, with Playwright importable (skips or fails like :func:`require_tool`)."""
    path = require_tool(CHROMIUM, CHROMIUM_HINT)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        message = "playwright not installed: pip install -e '.[test]' (or pip install playwright)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} ({REQUIRE_ENV}=1: the live tools are required)")
        pytest.skip(message)
    return path


@dataclass
class LiveJob:
    """A `driftline run` subprocess serving its live page (and /metrics when asked)."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    out: Path
    url: str = ""
    metrics_url: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_started(self, timeout: float = 60, metrics: bool = False) -> LiveJob:
        """Until the log names the page's URL (and the metrics endpoint's, with `metrics`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            page, endpoint = _URL.search(text), _METRICS.search(text)
            if page and (endpoint or not metrics):
                self.url = page.group(1)
                self.metrics_url = endpoint.group(1) if endpoint else None
                return self
            assert self.proc.poll() is None, f"the job ended before serving its page:\n{text}"
            time.sleep(0.05)
        raise AssertionError(f"no live page URL logged in {timeout} s:\n{self.log()}")

    def get(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        """`(status, headers, body)` of a request to the page's server."""
        req = urllib.request.Request(self.url.rstrip("/") + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def state(self) -> dict[str, Any]:
        status, _, body = self.get("/api/state")
        assert status == 200
        result: dict[str, Any] = json.loads(body)
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_job(
    tmp: Path, *args: str, env: dict[str, str] | None = None, config: str | None = None
) -> LiveJob:
    """Start `driftline run --live-port 0 --out TMP/out ARGS` (config TOML text in `config`)."""
    out = tmp / "out"
    command = [
        sys.executable,
        "-m",
        "driftline.flows",
        "run",
        "--live-port",
        "0",
        "--out",
        str(out),
    ]
    if config is not None:
        (tmp / "live.toml").write_text(config)
        command += ["-c", str(tmp / "live.toml")]
    log_path = tmp / "job.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*command, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=tmp,
        )
    return LiveJob(proc, log_path, out)


def metric_values(text: str) -> dict[str, float]:
    """`name{labels}` -> value of a Prometheus text exposition (comments left out)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


#: A built-in stream whose first concept drift comes within seconds.
QUICK_DRIFT = """
[builtin]
events = {events}
drift_points = [2500, 5000]
data_drift_points = [3500]

[run]
progress_every = 3600

[live]
linger = "{linger}"
"""


def take_screenshot(path: Path, events: int = 9000) -> Path:
    """Run the job on the built-in stream, open its page in Chromium and save a screenshot."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        job = start_job(
            Path(tmp), "--no-metrics", config=QUICK_DRIFT.format(events=events, linger="PT30S")
        ).wait_started()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(job.url)
                page.wait_for_selector("#status[data-state='finished']", timeout=120_000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(path), full_page=True)
                browser.close()
        finally:
            job.stop()
    return path


if __name__ == "__main__":  # make screenshot
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "live.png")
    print(f"live page screenshot: {take_screenshot(target)}")
