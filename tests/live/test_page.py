"""The live page in a real browser (Chromium via Playwright) while `driftline run` runs.

The job runs on the built-in stream with its first concept drift at event 2,500
(a few seconds in); the test reads alerts.jsonl as the job writes it and expects
each concept-drift alert in the page's feed within 2 s, then compares the page's
figures with what /metrics serves once the input ended (live.linger keeps both up).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.live_tools import (
    QUICK_DRIFT,
    ROOT,
    LiveJob,
    metric_values,
    require_browser,
    start_job,
)

EVENTS = 7000


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_browser()


@pytest.fixture
def job(tmp_path: Path, chromium: str) -> Iterator[LiveJob]:
    config = QUICK_DRIFT.format(events=EVENTS, linger="PT40S")
    running = start_job(tmp_path, "--metrics-port", "0", config=config)
    try:
        yield running.wait_started(metrics=True)
    finally:
        running.stop()


def written_alerts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def test_alerts_arrive_live_and_figures_match_metrics(job: LiveJob, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    alerts_file = job.out / "alerts.jsonl"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(job.url)
        page.wait_for_selector("#status[data-state='live'], #status[data-state='finished']")

        # every concept drift the job writes shows in the feed within 2 s of being written
        checked: set[str] = set()
        deadline = time.monotonic() + 120
        while "input ended" not in job.log() and time.monotonic() < deadline:
            for alert in written_alerts(alerts_file):
                if alert["kind"] != "concept_drift" or alert["event_id"] in checked:
                    continue
                seen = time.monotonic()
                page.wait_for_function(
                    "id => [...document.querySelectorAll("
                    "'#alerts li.alert[data-kind=\"concept_drift\"]')]"
                    ".some(li => li.textContent.includes(id))",
                    arg=alert["event_id"],
                    timeout=2000,
                )
                assert time.monotonic() - seen < 2.0
                # and says what moved with it, as the alert does
                top = alert["statistic"]["moved_features"][0]["feature"]
                item = page.locator(
                    "#alerts li.alert[data-kind='concept_drift']", has_text=alert["event_id"]
                )
                assert f"moved most: {top} (KS" in item.first.inner_text()
                checked.add(alert["event_id"])
            time.sleep(0.05)
        assert checked, f"no concept drift alert written:\n{job.log()[-3000:]}"

        # the input ended: the page holds the final figures, /metrics the same ones
        page.wait_for_selector("#status[data-state='finished']", timeout=20_000)
        metrics = metric_values(_get(job.metrics_url))
        scored = metrics['driftline_events_total{outcome="scored"}']
        assert scored == EVENTS  # the whole stream (its one malformed line is a dead letter)
        assert _value(page, "#stat-scored") == scored
        assert page.inner_text("#stat-scored").replace(",", "") == f"{scored:.0f}"
        dead = sum(v for k, v in metrics.items() if k.startswith("driftline_dead_letters_total"))
        assert _value(page, "#stat-dead-letters") == dead
        late = page.get_attribute("#stat-late", "data-late")
        assert late is not None and float(late) == metrics["driftline_late_events_total"]
        raised = sum(v for k, v in metrics.items() if k.startswith("driftline_drift_alerts_total"))
        written = written_alerts(alerts_file)
        assert _value(page, "#stat-alerts") == raised == len(written)
        assert page.locator("#alerts li.alert").count() == len(written)
        version = next(v for k, v in metrics.items() if k.startswith("driftline_model_version{"))
        assert f"v{version:.0f}" in page.inner_text("#versions")

        # the chart drew points; the rolling metric it ends on is the one /metrics has
        points = page.get_attribute("#accuracy-chart", "data-points")
        assert points is not None and int(points) >= 3
        state = job.state()
        last = state["points"][-1]["v"]["logreg"]
        model_metric = next(
            v for k, v in metrics.items()
            if k.startswith("driftline_model_metric{") and 'scorer="model"' in k
        )  # fmt: skip
        assert last[0] == model_metric

        # newest first; filtering by kind keeps that kind only
        first = page.locator("#alerts li.alert").first
        assert first.get_attribute("data-kind") == written[-1]["kind"]
        page.select_option("#filter-kind", "concept_drift")
        kinds = page.eval_on_selector_all("#alerts li.alert", "els => els.map(e => e.dataset.kind)")
        assert kinds and set(kinds) == {"concept_drift"}
        assert len(kinds) == sum(a["kind"] == "concept_drift" for a in written)
        page.select_option("#filter-model", "logreg")
        assert page.locator("#alerts li.alert").count() == len(kinds)

        # the rest of the page is filled in
        assert "hvalue" in page.inner_text("#data-drift")
        assert "fs-" in page.inner_text("#config")
        assert page.locator("#dead-letters .sample").count() >= 1
        if _refresh_screenshot():
            page.select_option("#filter-kind", "")
            page.screenshot(path=str(ROOT / "docs" / "live.png"), full_page=True)
        browser.close()


def _value(page: Any, selector: str) -> float:
    value = page.get_attribute(selector, "data-value")
    assert value is not None, selector
    return float(value)


def _get(url: str | None) -> str:
    import urllib.request

    assert url is not None
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def _refresh_screenshot() -> bool:
    import os

    return os.environ.get("DRIFTLINE_REFRESH_SCREENSHOT") == "1"
