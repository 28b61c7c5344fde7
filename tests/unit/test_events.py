from datetime import UTC, datetime

import orjson
import pytest

from driftline.connectors.malformed import MALFORMED
from driftline.flows.config import ValidationConfig
from driftline.flows.parse.events import DeadLetter, Event, Label, Parser

GOOD = {
    "id": "e1",
    "key": "user-1",
    "ts": "2026-01-01T00:00:00Z",
    "features": {"amount": 12.5, "n": 3, "flag": True, "country": "fr"},
    "label": True,
}


@pytest.fixture
def parser() -> Parser:
    return Parser("events", ValidationConfig())


def test_good_event_parses_from_bytes(parser: Parser) -> None:
    event = parser.parse_one(orjson.dumps(GOOD))
    assert isinstance(event, Event)
    assert event.ts == datetime(2026, 1, 1, tzinfo=UTC)
    assert event.features == {"amount": 12.5, "n": 3, "flag": True, "country": "fr"}
    assert event.label is True


@pytest.mark.parametrize(
    "ts",
    [1767225600, 1767225600.0, 1767225600000, "2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00Z"],
)
def test_timestamp_formats_are_all_utc(parser: Parser, ts: object) -> None:
    event = parser.parse_one(orjson.dumps({**GOOD, "ts": ts}))
    assert isinstance(event, Event), event
    assert event.ts == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "raw"), MALFORMED, ids=[k for k, _ in MALFORMED])
def test_every_malformed_kind_is_a_dead_letter_with_reason(
    parser: Parser, kind: str, raw: bytes | None
) -> None:
    result = parser.parse_one(raw)
    assert isinstance(result, DeadLetter), f"{kind} was accepted: {result!r}"
    assert result.error and result.reason and result.stage == "parse"
    row = orjson.loads(result.to_json())
    assert set(row) >= {"raw", "error", "stage", "ts"}


def test_catalogue_has_at_least_20_kinds() -> None:
    assert len({k for k, _ in MALFORMED}) >= 20


def test_parse_batch_never_raises_and_keeps_order(parser: Parser) -> None:
    raws = [orjson.dumps({**GOOD, "id": f"e{i}"}) for i in range(3)] + [b"{bad", None]
    parsed = parser.parse_batch(raws)
    assert [e.id for e in parsed.good] == ["e0", "e1", "e2"]
    assert [d.reason for d in parsed.dead] == ["json", "empty"]


def test_reasons_are_readable(parser: Parser) -> None:
    dead = parser.parse_one(orjson.dumps({**GOOD, "ts": "last tuesday"}))
    assert "unknown timestamp format" in dead.error
    dead = parser.parse_one(orjson.dumps({k: v for k, v in GOOD.items() if k != "id"}))
    assert "id" in dead.error and "required" in dead.error.lower()


def test_label_parses() -> None:
    label = Parser("labels", ValidationConfig()).parse_one(
        b'{"id": "e1", "label": false, "ts": "2026-01-01T00:00:00Z"}'
    )
    assert isinstance(label, Label) and label.label is False


def test_label_names_its_target() -> None:
    parser = Parser("labels", ValidationConfig())
    label = parser.parse_one(b'{"id": "e1", "target": "churn", "label": 1, "ts": 1767225600}')
    assert isinstance(label, Label) and (label.target, label.label) == ("churn", 1)
    label = parser.parse_one(b'{"id": "e1", "label": true, "ts": 1767225600}')
    assert isinstance(label, Label) and label.target is None  # the default target


def test_inline_labels_by_target(parser: Parser) -> None:
    event = parser.parse_one(orjson.dumps({**GOOD, "labels": {"churn": 0, "tier": "gold"}}))
    assert isinstance(event, Event), event
    assert event.label is True and event.labels == {"churn": 0, "tier": "gold"}
    assert parser.parse_one(orjson.dumps(GOOD)).labels is None
    dead = parser.parse_one(orjson.dumps({**GOOD, "labels": {"default": False}}))
    assert isinstance(dead, DeadLetter) and dead.reason == "schema"
    assert "given twice" in dead.error
