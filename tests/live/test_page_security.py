"""The live page is safe by construction: hostile event content is shown as text, the
server is read-only, sends its Content-Security-Policy and no secret.

The job reads a file whose feature names, keys, ids and malformed lines carry
script, `<img onerror>` and `javascript:` payloads (the hostile feature drifts,
so it is named by an alert, the data-drift table and the dead letters too).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.support.live_tools import LiveJob, require_browser, start_job

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
JS = "javascript:window.__pwned=1"
SECRET = "hunter2-live-page-secret"
EVENTS = 1200
CONFIG = """
[run]
progress_every = 3600

[drift]
data_window = 100

[live]
linger = "PT40S"

[kafka.settings]
"sasl.username" = "live-user"
"sasl.password" = "{secret}-in-settings"
"""


def hostile_events(path: Path) -> Path:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    lines = []
    for i in range(EVENTS):
        shifted = i >= EVENTS // 2
        lines.append(
            orjson.dumps(
                {
                    "id": f"{SCRIPT}{IMG}-{i}",
                    "key": f"{IMG}{JS}-{i % 7}",
                    "ts": (t0 + timedelta(seconds=i)).isoformat(),
                    "features": {
                        "a": float(i % 13),
                        SCRIPT: float(i % 10) + (25.0 if shifted else 0.0),
                        IMG: float(i % 7),
                        JS: float(i % 5),
                    },
                    "label": i % 2,
                }
            ).decode()
        )
        if i % 300 == 0:  # malformed lines: dead letters whose raw text is the payload
            lines.append(f"{SCRIPT} {IMG} {JS} not json {i}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def hostile_job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveJob]:
    require_browser()
    tmp = tmp_path_factory.mktemp("hostile")
    events = hostile_events(tmp / "events.jsonl")
    job = start_job(
        tmp,
        "--events-file", str(events), "--no-metrics",
        config=CONFIG.format(secret=SECRET),
        env={
            "DRIFTLINE_KAFKA__SASL_PASSWORD": SECRET,
        },
    )  # fmt: skip
    try:
        yield job.wait_started()
    finally:
        job.stop()


def test_hostile_content_is_shown_as_text_and_never_runs(hostile_job: LiveJob) -> None:
    from playwright.sync_api import sync_playwright

    job = hostile_job
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_browser(), headless=True)
        page = browser.new_page()
        page.goto(job.url)
        page.wait_for_selector("#status[data-state='finished']", timeout=90_000)
        page.wait_for_function("document.querySelectorAll('#data-drift tbody tr').length >= 3")

        # the payloads are on the page as text, where the job's data is shown
        drift = page.inner_text("#data-drift")
        for payload in (SCRIPT, IMG, JS):
            assert payload in drift
        dead = page.text_content("#dead-letters") or ""
        assert f"{SCRIPT} {IMG} {JS} not json" in dead
        alerts = page.text_content("#alerts") or ""
        assert SCRIPT in alerts, "the hostile feature's data drift is in the feed"
        assert IMG in alerts  # an event id of the alert

        # ... and nothing of them ran or became an element
        assert page.evaluate("typeof window.__pwned") == "undefined"
        scripts = page.eval_on_selector_all("script", "els => els.map(e => e.src)")
        assert scripts == [job.url + "static/app.js"]
        assert page.locator("img").count() == 0
        assert page.locator("[onerror], [onclick], [onload]").count() == 0
        assert page.locator("a[href^='javascript']").count() == 0
        html = page.content()
        assert SCRIPT not in html and "<img" not in html  # escaped in the serialised DOM
        browser.close()


def test_http_read_only_headers_and_no_secret(hostile_job: LiveJob) -> None:
    job = hostile_job
    status, headers, body = job.get("/")
    assert status == 200 and b'<script src="/static/app.js"' in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert "unsafe-inline" not in csp and "object-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    for path in ("/static/app.js", "/static/style.css", "/api/state"):
        status, headers, _ = job.get(path)
        assert status == 200 and "Content-Security-Policy" in headers, path
    assert job.get("/static/app.js")[1]["Content-Type"].startswith("text/javascript")

    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = job.get("/api/state", method=method)
        assert status == 405 and headers["Allow"] == "GET, HEAD", method
    assert job.get("/", method="HEAD")[0] == 200
    assert job.get("/nope")[0] == 404
    assert job.get("/static/nope.js")[0] == 404
    for traversal in (
        "/static/../server.py",
        "/static/../../app/runner.py",
        "/static/%2e%2e/server.py",
        "/static/..%2fserver.py",
        "/static//etc/passwd",
    ):
        status, _, body = job.get(traversal)
        assert status == 404 and b"import" not in body, traversal

    # the run's settings carry a password: no response names it
    for path in ("/", "/api/state", "/static/app.js"):
        body = job.get(path)[2]
        assert SECRET.encode() not in body and b"live-user" not in body, path
        assert b"sasl" not in body.lower(), path
    state = job.state()
    assert set(state["config"]) >= {"models", "feature_version", "source"}
    assert "kafka" not in orjson.dumps(state).decode().lower()
