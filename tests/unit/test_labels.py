"""Delayed labels: every label case, learning from served features, bounded memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from driftline.flows.config import load_settings
from driftline.flows.features.feature_set import Featured
from driftline.flows.parse.events import Event, Label
from driftline.flows.records import Classified
from driftline.flows.scoring.labels import ArrivedLabel, LabelJoin, Served
from driftline.flows.scoring.shard import ModelShard, ShardStats

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def served(i: int, seconds: float = 0.0) -> Served:
    return Served(f"e{i}", "k", T0 + timedelta(seconds=seconds), {"a": 1.0}, True, True, 1)


def label(i: int, seconds: float = 0.0, y: bool = True) -> Label:
    return Label(id=f"e{i}", label=y, ts=T0 + timedelta(seconds=seconds))


def test_label_after_its_prediction_joins() -> None:
    join = LabelJoin(timedelta(minutes=10), 100)
    assert join.served(served(1)) is None
    assert join.label(label(1, 5)).event_id == "e1"
    assert join.outcomes == {"joined": 1}
    assert len(join) == 0


def test_label_before_its_event_joins_when_the_event_comes() -> None:
    join = LabelJoin(timedelta(minutes=10), 100)
    assert join.label(label(1, 0)) is None
    got = join.served(served(1, 1))
    assert got is not None and got.label is True
    assert join.outcomes == {"early": 1, "joined": 1}


def test_duplicate_label_is_counted_not_learned_twice() -> None:
    join = LabelJoin(timedelta(minutes=10), 100)
    join.served(served(1))
    assert join.label(label(1)) is not None
    assert join.label(label(1)) is None
    assert join.outcomes["duplicate"] == 1


def test_label_for_unknown_id_expires_as_unknown() -> None:
    join = LabelJoin(timedelta(minutes=10), 100)
    assert join.label(label(99, 0)) is None
    join.served(served(1, 3600))  # event time moves an hour on
    assert join.outcomes["unknown"] == 1 and len(join) == 1


def test_label_after_expiry_is_counted_expired() -> None:
    join = LabelJoin(timedelta(minutes=10), 100)
    join.served(served(1, 0))
    join.served(served(2, 3600))  # e1 waited longer than the TTL
    assert join.outcomes["unlabelled"] == 1
    assert join.label(label(1, 3601)) is None
    assert join.outcomes["expired"] == 1


def test_memory_stays_bounded_when_labels_never_come() -> None:
    join = LabelJoin(timedelta(hours=1), max_pending=1000)
    for i in range(50_000):
        join.served(served(i, i * 0.01))  # 500 s of event time, all within the TTL
        assert len(join) <= 1000
    assert join.outcomes["evicted"] == 49_000
    join.served(served(50_000, 10_000))  # beyond the TTL: all the rest expire
    assert len(join.pending) == 1


class RecordingModel:
    """Wraps a River model and records the x it learns from."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.learned: list[dict] = []

    def predict_proba_one(self, x):
        return self.inner.predict_proba_one(x)

    def learn_one(self, x, y):
        self.learned.append(dict(x))
        self.inner.learn_one(x, y)


def shard(**overrides) -> ModelShard:
    s = load_settings(None, {"drift": {"on_concept_drift": "keep"}, **overrides})
    return ModelShard("shard-0", s, "fs-test")


def featured(i: int, x: dict, seconds: float = 0.0) -> Featured:
    event = Event(id=f"e{i}", key="k", ts=T0 + timedelta(seconds=seconds), features={"raw": 1.0})
    return Featured(event, x, False, False, 0.0, seq=i)


def arrived(i: int, y: bool, seconds: float = 0.0) -> ArrivedLabel:
    return ArrivedLabel(label(i, seconds, y), seq=10_000 + i, ingest=0.0)


def test_learning_uses_the_features_as_served() -> None:
    s = shard()
    model = s.instance
    model.model = RecordingModel(model.model)
    # e1 is scored while its entity had 1 event in the window ...
    s.process([featured(1, {"count_5m": 1.0})], ShardStats())
    # ... the entity's window changes before the label comes ...
    s.process([featured(2, {"count_5m": 7.0})], ShardStats())
    s.process([arrived(1, True, 10)], ShardStats())
    # ... and the model learns e1 from what it saw, not from the newer window
    assert model.model.learned == [{"count_5m": 1.0}]


def test_prequential_metrics_match_a_hand_computed_reference() -> None:
    s = shard()
    # predictions of an untrained logistic regression are False (p = 0.5, first key wins)
    batch = [featured(i, {"a": float(i)}) for i in range(4)]
    s.process(batch, ShardStats())
    out = s.process(
        [arrived(2, False), arrived(0, True), arrived(3, False), arrived(1, True)], ShardStats()
    )
    outcomes = [o for o in out if isinstance(o, Classified)]
    assert [o[0] for o in outcomes] == ["e2", "e0", "e3", "e1"]
    # all four were predicted False before any learning: right for e2 and e3 only
    assert [o[1] for o in outcomes] == [True, False, True, False]
    assert s.instance.metric.get() == pytest.approx(2 / 4)
    assert s.join.outcomes["joined"] == 4


def test_flow_with_separate_delayed_labels(make_settings, run_flow) -> None:
    result = run_flow(
        make_settings(
            builtin={
                "events": 20_000,
                "labels": "separate",
                "label_delay": "PT10S",
                "label_missing": 0.1,
                "drift_points": [10_000],
                "concepts": [7, 6],
            }
        )
    )
    m = result.monitor
    assert len(result.predictions) == 20_000
    assert all(p["label"] is None for p in result.predictions)
    assert 0.85 * 20_000 < m.labelled < 0.95 * 20_000  # about 10 % never came
    assert m.correct / m.judged > 0.9
    assert result.alerts_of("concept_drift")
