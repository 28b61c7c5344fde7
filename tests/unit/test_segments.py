"""Segment models (flows/scoring/segments.py): one model instance per value of an event
field, the least recently seen beyond `max_segments` snapshotted and evicted, restored
with its learned state and version when its segment or a label for it comes back, and
a new segment started from a parent model that learned from every segment's labels."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from driftline.flows.config import Settings, load_settings
from driftline.flows.features.feature_set import Featured
from driftline.flows.outputs import telemetry
from driftline.flows.parse.events import Event, Label
from driftline.flows.records import Classified, Prediction, Record
from driftline.flows.scoring.definition import model_definition
from driftline.flows.scoring.labels import ArrivedLabel
from driftline.flows.scoring.shard import ModelShard, ShardStats
from driftline.flows.scoring.spec import NO_SEGMENT, scoring_plan
from driftline.flows.scoring.store import ModelStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def settings(store: Path, **model: Any) -> Settings:
    """A job of one segmented logistic regression (by `shop`), drift alerts only."""
    entry = {"id": "shops", "name": "logreg", "segment_by": "shop", "features_exclude": ["shop"]}
    return load_settings(
        None,
        {
            "model": {"store": str(store)},
            "drift": {"on_concept_drift": "keep"},
            "models": [{**entry, **model}],
        },
    )


def shard_of(job: Settings) -> ModelShard:
    spec = scoring_plan(job).specs[0]
    return ModelShard(spec.keys[0], job, "fs-test", spec)


def featured(i: int, shop: str | None, label: bool | None = None) -> Featured:
    """Event `e{i}` of `shop`: one input, `a`, that tells the label (`a > 0`)."""
    features: dict[str, Any] = {"a": float(i % 5) - 2.0}
    if shop is not None:
        features["shop"] = shop
    event = Event(id=f"e{i}", key="k", ts=T0 + timedelta(seconds=i), features=features)
    event.label = label
    return Featured(event, {"a": features["a"]}, False, False, 0.0, seq=i)


def label_of(i: int, y: bool) -> ArrivedLabel:
    return ArrivedLabel(Label(f"e{i}", y, T0 + timedelta(seconds=i, milliseconds=500)), i, 0.0)


def truth(i: int) -> bool:
    return float(i % 5) - 2.0 > 0


def scored(shard: ModelShard, *items: Featured | ArrivedLabel) -> list[Record]:
    return shard.process(list(items), ShardStats())


def predictions(out: list[Record]) -> list[Prediction]:
    return [r for r in out if isinstance(r, Prediction)]


PROBES = [{"a": a / 2} for a in range(-5, 6)]


def answers(model: Any) -> list[float]:
    """What a model answers to a few inputs: equal answers, equal learned state (for a
    linear model of one input)."""
    return [model.predict_proba_one(x)[True] for x in PROBES]


def segments_total(event: str) -> float:
    labels = {"model": "shops", "event": event}
    return telemetry.REGISTRY.get_sample_value("driftline_segments_total", labels) or 0.0


def test_each_segment_has_its_own_model(tmp_path: Path) -> None:
    shard = shard_of(settings(tmp_path))
    out = scored(shard, *(featured(i, "a", truth(i)) for i in range(20)))
    out += scored(shard, featured(20, "b", truth(20)), featured(21, None, truth(21)))
    assert [p.segment for p in predictions(out)] == ["a"] * 20 + ["b", NO_SEGMENT]
    assert [p.model for p in predictions(out)] == ["shops"] * 22
    assert shard.segments is not None and list(shard.segments.live) == ["a", "b", NO_SEGMENT]
    a, b = (shard.segments.live[s] for s in ("a", "b"))
    assert (a.labelled, b.labelled) == (20, 1) and a.model is not b.model
    # b's first prediction came from an untrained model, not from a's
    fresh = model_definition(shard.spec.config).build(42)
    assert predictions(out)[20].score == fresh.predict_proba_one(featured(20, "b").x)[True]


def test_the_least_recently_seen_segment_is_evicted_to_the_store(tmp_path: Path) -> None:
    shard = shard_of(settings(tmp_path, max_segments=2))
    before = {e: segments_total(e) for e in ("created", "evicted", "restored")}
    scored(shard, featured(0, "a", True), featured(1, "b", False), featured(2, "a", True))
    assert shard.segments is not None and list(shard.segments.live) == ["b", "a"]
    scored(shard, featured(3, "c", True))  # b was seen least recently, not a
    assert list(shard.segments.live) == ["a", "c"]
    (stored,) = ModelStore(tmp_path).list()
    assert (stored.model, stored.segment, stored.reason) == ("shops", "b", "evicted")
    assert (stored.version, stored.labelled, stored.events_seen) == (1, 1, 1)
    assert set(shard.segments.stored) == {"b"}
    after = {e: segments_total(e) - before[e] for e in before}
    assert after == {"created": 3.0, "evicted": 1.0, "restored": 0.0}


def test_an_evicted_segment_comes_back_with_its_model_and_version(tmp_path: Path) -> None:
    """b learns, is replaced by version 7 (as a reset would), is evicted; when b returns
    it serves that model, version 7, from the store."""
    shard = shard_of(settings(tmp_path, max_segments=1))
    scored(shard, *(featured(i, "b", truth(i)) for i in range(30)))
    assert shard.segments is not None
    b = shard.segments.live["b"]
    b.policy.version = b.policy.latest_version = 7
    learned = answers(b.model)
    before = segments_total("restored")
    scored(shard, featured(30, "a", True))  # evicts b
    assert list(shard.segments.live) == ["a"]
    (back,) = predictions(scored(shard, featured(31, "b")))  # evicts a, restores b
    assert segments_total("restored") == before + 1
    assert (back.segment, back.model_version) == ("b", 7)
    assert answers(shard.segments.live["b"].model) == learned  # all it had learned
    assert back.score == shard.segments.live["b"].model.predict_proba_one({"a": -1.0})[True]
    assert learned != answers(model_definition(shard.spec.config).build(42))


def test_a_label_for_an_evicted_segment_restores_it_to_learn(tmp_path: Path) -> None:
    shard = shard_of(settings(tmp_path, max_segments=1))
    scored(shard, featured(0, "a", True), featured(1, "a"))  # e1 waits for its label
    scored(shard, featured(2, "b", False))  # evicts a
    assert shard.segments is not None and list(shard.segments.live) == ["b"]
    before = segments_total("restored")
    out = scored(shard, label_of(1, False))
    assert segments_total("restored") == before + 1
    assert list(shard.segments.live) == ["a"]  # back to learn, b evicted in turn
    a = shard.segments.live["a"]
    assert a.labelled == 1 and [o.event_id for o in out if isinstance(o, Classified)] == ["e1"]
    reference = model_definition(shard.spec.config).build(42)
    reference.learn_one(featured(0, "a").x, True)
    reference.learn_one(featured(1, "a").x, False)
    assert answers(a.model) == answers(reference)  # e0 (before eviction), e1 (restored)


def test_a_new_segment_starts_from_the_parent_that_learned_every_segments_labels(
    tmp_path: Path,
) -> None:
    shard = shard_of(settings(tmp_path, segment_start="parent"))
    reference = model_definition(shard.spec.config).build(42)
    for i in range(24):
        shop = ("a", "b", "c")[i % 3]
        scored(shard, featured(i, shop, truth(i)))
        reference.learn_one(featured(i, shop).x, truth(i))
    (first,) = predictions(scored(shard, featured(24, "d")))
    assert first.segment == "d" and first.model_version == 1
    assert first.score == reference.predict_proba_one(featured(24, "d").x)[True]
    fresh = model_definition(shard.spec.config).build(42)
    assert first.score != fresh.predict_proba_one(featured(24, "d").x)[True]
    assert shard.segments is not None
    d, parent = shard.segments.live["d"], shard.segments.parent
    assert answers(d.model) == answers(parent)
    scored(shard, featured(25, "a", truth(25)))  # the parent learns a's label, d does not
    assert answers(d.model) == answers(reference) != answers(parent)


def test_a_fresh_segment_does_not_start_from_the_others(tmp_path: Path) -> None:
    shard = shard_of(settings(tmp_path))
    scored(shard, *(featured(i, "a", truth(i)) for i in range(24)))
    (first,) = predictions(scored(shard, featured(24, "d")))
    fresh = model_definition(shard.spec.config).build(42)
    assert first.score == fresh.predict_proba_one(featured(24, "d").x)[True]
    assert shard.segments is not None and shard.segments.parent is None


def test_state_resumed_from_recovery_restores_the_segment_as_it_was_then(
    tmp_path: Path,
) -> None:
    """The scoring step's recovery snapshot is the pickled shard. Resuming it and
    replaying the events after it must predict what the first pass predicted, even
    though the first pass evicted the same segment again after the snapshot."""
    shard = shard_of(settings(tmp_path, max_segments=1))
    scored(shard, *(featured(i, "a", truth(i)) for i in range(10)))
    scored(shard, featured(10, "b", True))  # a evicted: snapshot 1
    checkpoint = pickle.dumps(shard)
    after = [featured(11 + i, "a" if i < 10 else "b", truth(11 + i)) for i in range(11)]
    after.append(featured(22, "a"))  # a restored again
    first_pass = [(p.id, p.score) for p in predictions(scored(shard, *after))]
    stored = [info.segment for info in ModelStore(tmp_path).list()]
    assert stored == ["a", "b", "a", "b"]  # a evicted again after the checkpoint

    resumed: ModelShard = pickle.loads(checkpoint)
    again = [(p.id, p.score) for p in predictions(scored(resumed, *after))]
    assert again == first_pass


def test_evicted_segments_leave_prometheus(tmp_path: Path) -> None:
    shard = shard_of(settings(tmp_path, max_segments=1))
    reported = telemetry.ReportedLabels()

    def batch(*items: Featured) -> None:
        stats = ShardStats()
        shard.process(list(items), stats)
        telemetry.report_shard_batch(shard, stats, reported)

    batch(featured(0, "gone", True))
    metric = {
        "model": "shops",
        "segment": "gone",
        "metric": "accuracy",
        "scorer": "model",
        "baseline": "prior",
    }
    assert telemetry.REGISTRY.get_sample_value("driftline_model_metric", metric) is not None
    batch(featured(1, "stays", True))
    assert telemetry.REGISTRY.get_sample_value("driftline_model_metric", metric) is None
    live = {"model": "shops", "shard": shard.shard}
    assert telemetry.REGISTRY.get_sample_value("driftline_live_segments", live) == 1


def test_an_evicted_segments_slices_leave_prometheus(tmp_path: Path) -> None:
    shard = shard_of(settings(tmp_path, max_segments=1, slices=["device"]))
    reported = telemetry.ReportedLabels()
    for i, shop in enumerate(("gone-sliced", "stays-sliced")):
        item = featured(i, shop, True)
        item.event.features["device"] = "ios"
        stats = ShardStats()
        shard.process([item], stats)
        telemetry.report_shard_batch(shard, stats, reported)
    series = {
        "model": "shops",
        "segment": "gone-sliced",
        "slice": "device",
        "value": "ios",
        "metric": "accuracy",
        "scorer": "model",
    }
    assert telemetry.REGISTRY.get_sample_value("driftline_slice_metric", series) is None
