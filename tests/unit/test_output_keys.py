"""Message keys made by the encode step: one per record, naming what it is about.

The keys are what a Kafka consumer de-duplicates on (or a compacted topic keeps one
record of), so the same record must get the same key, and different records
different keys. Dead letters here come from the real parser.
"""

from __future__ import annotations

import orjson

from driftline.flows.config import ValidationConfig
from driftline.flows.outputs.encode import EncodeOutputs, SinkItem
from driftline.flows.parse.events import Parser
from driftline.flows.records import Alert, DeadLetter, DriftReport, Prediction


def prediction(event_id: str, model: str) -> Prediction:
    return Prediction(
        event_id, "user-1", "2026-01-01T00:00:00+00:00", True, 0.9, False, "prior",
        None, model, 1, "md-1", "fs-1", "shard-0", 0.1,
    )  # fmt: skip


def alert(**fields: object) -> Alert:
    base: dict[str, object] = {
        "kind": "data_drift", "detector": "ks", "model": "approve", "model_version": 2,
        "event_id": "evt-9", "event_ts": "2026-01-01T00:00:00+00:00", "shard": "shard-1",
    }  # fmt: skip
    return Alert(**{**base, **fields})  # type: ignore[arg-type]


def report(segment: str | None = None) -> DriftReport:
    return DriftReport(
        shard="shard-1", model="approve", segment=segment, model_version=1,
        feature_version="fs-1", window_end_event_id="evt-500", window_end_ts="t", events=500,
        events_seen=500, recent_error=0.1, rolling_metric={}, features={},
        tracked_features=3, untracked_features=0, drifted=[],
    )  # fmt: skip


def test_each_record_gets_the_key_of_what_it_is_about() -> None:
    records = [
        prediction("evt-1", "approve"),
        prediction("evt-1", "churn"),
        alert(feature="salary"),
        alert(feature="age"),
        alert(kind="concept_drift", detector="adwin", slice="zipcode=3"),
        alert(kind="concept_drift", detector="adwin", segment="2"),
        report(),
        report(segment="2"),
    ]
    items = EncodeOutputs()([("shard-1", r) for r in records])
    assert [route for route, _ in items] == [i.output for _, i in items]  # a file per output
    assert [(i.output, i.key) for _, i in items] == [
        ("predictions", b"evt-1/approve"),
        ("predictions", b"evt-1/churn"),
        ("alerts", b"approve/data_drift/ks/evt-9/salary"),
        ("alerts", b"approve/data_drift/ks/evt-9/age"),
        ("alerts", b"approve/concept_drift/adwin/evt-9/zipcode=3"),
        ("alerts", b"approve[2]/concept_drift/adwin/evt-9"),
        ("drift_reports", b"approve/shard-1/evt-500"),
        ("drift_reports", b"approve[2]/shard-1/evt-500"),
    ]
    # the payload is the record's JSON as before: keys add nothing to it
    assert [orjson.loads(i.payload) for _, i in items] == [
        orjson.loads(orjson.dumps(r)) for r in records
    ]
    # the same records encoded again (a resume) get the same keys
    assert EncodeOutputs()([("shard-1", r) for r in records]) == items


def test_dead_letters_are_keyed_by_the_event_id_they_hold_when_there_is_one() -> None:
    messages = [
        b'{"id": "evt-3", "key": "user-1"}',  # no ts, no features: invalid, with an id
        b'  {"id": "evt-4", "ts": "yesterday", "key": "u", "features": {}}',
        b'{"id": 5, "key": "u"}',  # an id that is no event id
        b"not json",
        b"[1, 2]",
        None,  # a tombstone
    ]
    dead = Parser("events", ValidationConfig()).parse_batch(list(messages)).dead
    assert len(dead) == len(messages)
    label = DeadLetter('{"id":"evt-6","label":"yes"}', "bad", "score", "t", "label", "labels")
    items = EncodeOutputs(routes={"shard-0": "1"})([*dead, ("shard-0", label)])
    assert [i for i, _ in items] == ["1"] * 7  # addressed to the worker of the batch
    assert [(i.output, i.key) for _, i in items] == [
        ("dead_letters", b"evt-3"),
        ("dead_letters", b"evt-4"),
        ("dead_letters", None),
        ("dead_letters", None),
        ("dead_letters", None),
        ("dead_letters", None),
        ("dead_letters", b"evt-6"),  # a label's: the id of the event it labels
    ]
    assert all(isinstance(i, SinkItem) for _, i in items)
