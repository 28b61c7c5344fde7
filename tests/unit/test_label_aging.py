"""Labels whose events never come age out as `unknown`, one TTL later in event time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from driftline.flows.config import load_settings
from driftline.flows.features.feature_set import Featured
from driftline.flows.outputs import telemetry
from driftline.flows.parse.events import Event, Label
from driftline.flows.scoring.labels import ArrivedLabel, LabelJoin, Served
from driftline.flows.scoring.shard import ModelShard, ShardStats
from tests.conftest import write_jsonl

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TTL = timedelta(minutes=10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ghost(i: int, seconds: float = 0.0) -> Label:
    """A label for an event that never comes."""
    return Label(id=f"ghost-{i}", label=True, ts=at(seconds))


def served(i: int, seconds: float) -> Served:
    return Served(f"e{i}", "k", at(seconds), {"a": 1.0}, True, True, 1)


def test_labels_alone_move_the_clock() -> None:
    join = LabelJoin(TTL, max_pending=10_000)
    for i in range(1000):
        assert join.label(ghost(i, i * 0.1)) is None
    assert len(join) == 1000 and join.outcomes["early"] == 1000
    join.label(ghost(1000, 3600))  # labels only: their own times age the rest
    assert join.outcomes["unknown"] == 1000
    assert len(join) == 1


def test_events_scored_with_their_label_inline_age_early_labels() -> None:
    join = LabelJoin(TTL, max_pending=10_000)
    for i in range(1000):
        join.label(ghost(i, i * 0.1))
    join.observe(at(3600))  # such events never wait in the join, but their time passes
    assert join.outcomes["unknown"] == 1000
    assert len(join) == 0


def test_a_joined_label_moves_the_clock_too() -> None:
    join = LabelJoin(TTL, max_pending=100)
    join.label(ghost(0, 0))
    join.served(served(1, 590))
    assert join.label(Label(id="e1", label=True, ts=at(700))) is not None
    assert join.outcomes["unknown"] == 1  # 700 s: the ghost waited longer than the TTL
    assert len(join) == 0


def test_a_label_older_than_the_ttl_that_meets_nothing_is_unknown_at_once() -> None:
    join = LabelJoin(TTL, max_pending=100)
    join.served(served(1, 3600))
    assert join.label(ghost(0, 0)) is None
    assert join.outcomes["unknown"] == 1 and "early" not in join.outcomes
    assert len(join) == 1  # only e1 waits


def test_a_label_within_the_ttl_still_waits_for_its_event() -> None:
    join = LabelJoin(TTL, max_pending=100)
    join.served(served(1, 3600))
    join.label(Label(id="e2", label=False, ts=at(3590)))
    got = join.served(served(2, 3595))
    assert got is not None and got.label is False
    assert join.outcomes == {"early": 1, "joined": 1}


def settings_for(tmp_path: Path, **overrides):
    return load_settings(
        None,
        {
            "labels": {"ttl": "PT10M"},
            "model": {"store": str(tmp_path / "models")},
            "drift": {"on_concept_drift": "keep"},
            **overrides,
        },
    )


def labelled_event(i: int, seconds: float) -> Featured:
    event = Event(id=f"e{i}", key="k", ts=at(seconds), features={"a": 1.0}, label=i % 2 == 0)
    return Featured(event, {"a": float(i % 3)}, False, False, 0.0, seq=i)


def test_shard_ages_out_labels_whose_events_never_come(tmp_path: Path) -> None:
    shard = ModelShard("shard-0", settings_for(tmp_path), "fs-test")
    ghosts = [ArrivedLabel(ghost(i, i * 0.1), i, 0.0) for i in range(1000)]
    shard.process(ghosts, ShardStats())
    assert len(shard.join) == 1000
    events = [labelled_event(i, 200 + i) for i in range(1000)]  # 1,000 s: past the TTL
    shard.process(events, ShardStats())
    assert shard.join.outcomes["unknown"] == 1000
    assert len(shard.join) == 0


def counter(outcome: str) -> float:
    return telemetry.LABELS.labels(outcome, "logreg")._value.get()


def test_flow_counts_labels_for_ids_that_never_come_as_unknown(
    tmp_path: Path, make_settings, run_flow
) -> None:
    events = write_jsonl(
        tmp_path / "events.jsonl",
        (
            orjson.dumps(
                {
                    "id": f"e{i}",
                    "key": f"k{i % 10}",
                    "ts": at(3 * i).isoformat(),  # 3 hours: three times the TTL
                    "features": {"a": float(i % 7)},
                    "label": i % 2 == 0,
                }
            )
            for i in range(3600)
        ),
    )
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        (
            orjson.dumps({"id": f"ghost-{i}", "label": True, "ts": at(i).isoformat()})
            for i in range(1000)
        ),
    )
    unknown, pending = counter("unknown"), telemetry.PENDING_LABELS._value.get()
    result = run_flow(
        make_settings(
            run={"source": "file"},
            files={"events_path": str(events), "labels_path": str(labels)},
            labels={"ttl": "PT1H"},
        )
    )
    assert len(result.predictions) == 3600
    assert counter("unknown") - unknown == 1000
    assert telemetry.PENDING_LABELS._value.get() - pending == 0
