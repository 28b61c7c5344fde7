"""The --plot SVG escapes what comes from events and alerts, and always parses as XML.

Before, a feature named ``<script>alert(1)</script>`` landed in the file as
markup and ``R&D spend`` made it invalid XML.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from driftline.evaluation.plot import render_svg, write_svg
from driftline.flows.app.monitor import RunMonitor
from driftline.flows.records import Alert

HOSTILE = [
    "<script>alert(1)</script>",
    "R&D spend",
    'it\'s "quoted" & <b>bold</b>',
    "]]><svg onload=alert(1)>",
    "naïve € 日本",
]


def monitor_with_alerts(names: list[str]) -> RunMonitor:
    monitor = RunMonitor(console_alerts=False, out=io.StringIO())
    monitor.outcomes = bytearray(b"\x02\x02\x01" * 700)  # right, right, wrong: a series to draw
    for n, name in enumerate(names):
        monitor.alerts.append(
            Alert(
                kind="data_drift",
                detector="window-ks",
                model=f"model {name}",
                model_version=1,
                event_id=f"evt-{100 * (n + 1):09d}",
                event_ts="2026-01-01T00:00:00+00:00",
                shard=f'shard "{name}"',
                feature=name,
                statistic={"ks": 0.5, "p_value": 1e-9, "reference_mean": 0, "current_mean": 1},
            )
        )
    return monitor


def titles(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}title")]


def test_hostile_names_are_text_not_markup() -> None:
    monitor = monitor_with_alerts(HOSTILE)
    root = ET.fromstring(render_svg(monitor, drift_points=[1000]))
    tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    assert "script" not in tags and "b" not in tags
    assert tags <= {"svg", "rect", "text", "line", "title", "polyline"}
    assert not any(key.startswith("on") for el in root.iter() for key in el.attrib)
    assert titles(root) == [alert.describe() for alert in monitor.alerts]


def test_characters_xml_cannot_carry_are_replaced() -> None:
    monitor = monitor_with_alerts(["bell\x07 nul\x00 esc\x1b", "tab\tok"])
    root = ET.fromstring(render_svg(monitor))
    first, second = titles(root)
    assert "bell\ufffd nul\ufffd esc\ufffd" in first
    assert "tab\tok" in second


@pytest.mark.parametrize("name", HOSTILE)
def test_the_written_file_parses_as_utf8(tmp_path: Path, name: str) -> None:
    monitor = monitor_with_alerts([name])
    path = write_svg(tmp_path / "plot" / "run.svg", monitor)
    root = ET.fromstring(path.read_bytes())  # XML without a declaration is UTF-8
    assert titles(root) == [monitor.alerts[0].describe()]
