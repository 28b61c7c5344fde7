"""A UTF-16/UTF-32 input says so in every dead letter, and once in the log.

Before, a UTF-16 file gave one `encoding` dead letter (the byte-order mark), then
one "not valid JSON" per line with no word about the encoding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from driftline.flows.config import Settings, ValidationConfig
from driftline.flows.parse.events import DeadLetter, Event, Parser, wide_encoding_hint
from tests.conftest import RunResult

EVENTS = [
    {
        "id": f"e{i}",
        "key": "k",
        "ts": "2026-01-01T00:00:00+00:00",
        "features": {"amount": float(i), "naïve €": i % 3},
        "label": i % 2 == 0,
    }
    for i in range(50)
]
TEXT = "".join(orjson.dumps(e).decode() + "\n" for e in EVENTS)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_gives_dead_letters_that_say_so(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    run_flow: Callable[[Settings], RunResult],
    encoding: str,
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(TEXT.encode(encoding))  # "utf-16" writes a byte-order mark
    result = run_flow(make_settings(run={"source": "file"}, files={"events_path": str(path)}))
    assert result.predictions == []
    dead = result.dead_letters
    assert len(dead) >= len(EVENTS)
    for d in dead:
        assert d["reason"] == "encoding" and d["stage"] == "parse", d
        assert "looks like UTF-16" in d["error"] and "iconv -f UTF-16 -t UTF-8" in d["error"], d


@pytest.mark.parametrize(
    ("encoding", "named", "evidence"),
    [
        ("utf-16", "UTF-16", "byte-order mark"),
        ("utf-16-le", "UTF-16", "NUL bytes"),
        ("utf-16-be", "UTF-16", "NUL bytes"),
        ("utf-32", "UTF-32", "byte-order mark"),
        ("utf-32-le", "UTF-32", "NUL bytes"),
        ("utf-32-be", "UTF-32", "NUL bytes"),
    ],
)
def test_the_hint_names_the_encoding_and_the_evidence(
    encoding: str, named: str, evidence: str
) -> None:
    raw = orjson.dumps(EVENTS[0]).decode().encode(encoding)
    dead = Parser("events", ValidationConfig()).parse_one(raw)
    assert isinstance(dead, DeadLetter) and dead.reason == "encoding"
    assert f"looks like {named} (" in dead.error and evidence in dead.error


def test_one_warning_per_parser_not_per_message(caplog: pytest.LogCaptureFixture) -> None:
    lines = [orjson.dumps(e).decode().encode("utf-16-le") for e in EVENTS]
    parser = Parser("events", ValidationConfig())
    with caplog.at_level(logging.WARNING, logger="driftline.flows.parse.events"):
        parsed = parser.parse_batch(lines)
        parser.parse_batch(lines)
    assert not parsed.good and len(parsed.dead) == len(EVENTS)
    warnings = [r.getMessage() for r in caplog.records if r.name == "driftline.flows.parse.events"]
    assert len(warnings) == 1 and "UTF-16" in warnings[0] and "iconv" in warnings[0]


def test_other_bad_input_keeps_its_reason_and_good_input_parses() -> None:
    parser = Parser("events", ValidationConfig())
    assert isinstance(parser.parse_one(orjson.dumps(EVENTS[0])), Event)
    not_json = parser.parse_one(b"this is not json")
    assert not_json.reason == "json" and "UTF-16" not in not_json.error
    latin1 = parser.parse_one(orjson.dumps(EVENTS[0]).decode().encode("cp1252"))
    assert latin1.reason == "encoding" and "not UTF-8" in latin1.error
    assert wide_encoding_hint(b'{"id": "\xff\xfe", "key": "k"}') is None
