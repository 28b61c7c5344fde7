from datetime import UTC, datetime, timedelta

from driftline.flows.config import FeaturesConfig, WindowSpec
from driftline.flows.features.feature_set import FeatureSet, feature_set_version, vectorize
from driftline.flows.parse.events import Event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(i: int, seconds: float, amount: float) -> Event:
    return Event(
        id=f"e{i}", key="k", ts=T0 + timedelta(seconds=seconds), features={"amount": amount}
    )


def feature_set() -> FeatureSet:
    return FeatureSet(
        FeaturesConfig(
            windows=[
                WindowSpec(field="amount", period=timedelta(minutes=5), stats=["count", "mean"]),
                WindowSpec(field=None, period=timedelta(hours=1), stats=["count"]),
            ],
            allowed_lateness=timedelta(seconds=30),
        )
    )


def test_features_only_describe_the_past() -> None:
    fs = feature_set()
    state = fs.new_state()
    first = fs.featurize(state, ev(1, 0, 10.0), 0.0).x
    assert first["amount_count_5m"] == 0 and first["amount_mean_5m"] == 0.0
    assert first["secs_since_last"] == -1.0
    second = fs.featurize(state, ev(2, 60, 20.0), 0.0).x
    assert second["amount_count_5m"] == 1 and second["amount_mean_5m"] == 10.0  # not 15
    assert second["secs_since_last"] == 60.0
    third = fs.featurize(state, ev(3, 120, 0.0), 0.0).x
    assert third["amount_mean_5m"] == 15.0 and third["events_count_1h"] == 2


def test_window_forgets_old_events() -> None:
    fs = feature_set()
    state = fs.new_state()
    fs.featurize(state, ev(1, 0, 10.0), 0.0)
    later = fs.featurize(state, ev(2, 600, 20.0), 0.0).x
    assert later["amount_count_5m"] == 0  # the first one is 10 min old
    assert later["events_count_1h"] == 1


def test_late_event_is_scored_but_never_enters_a_window() -> None:
    fs = feature_set()
    state = fs.new_state()
    fs.featurize(state, ev(1, 1000, 10.0), 0.0)
    late = fs.featurize(state, ev(2, 900, 1000.0), 0.0)
    assert late.late and not late.out_of_order
    after = fs.featurize(state, ev(3, 1001, 0.0), 0.0).x
    assert after["amount_count_5m"] == 1 and after["amount_mean_5m"] == 10.0


def test_out_of_order_within_lateness_is_counted_and_kept() -> None:
    fs = feature_set()
    state = fs.new_state()
    fs.featurize(state, ev(1, 1000, 10.0), 0.0)
    ooo = fs.featurize(state, ev(2, 990, 20.0), 0.0)
    assert ooo.out_of_order and not ooo.late
    after = fs.featurize(state, ev(3, 1001, 0.0), 0.0).x
    assert after["amount_count_5m"] == 2 and after["amount_mean_5m"] == 15.0


def test_vectorize_one_hot_and_bools() -> None:
    assert vectorize({"a": 1.5, "b": True, "c": "fr", "d": 2}) == {
        "a": 1.5,
        "b": 1.0,
        "c=fr": 1.0,
        "d": 2,
    }


def test_feature_version_follows_the_definitions() -> None:
    a = FeaturesConfig()
    b = FeaturesConfig(allowed_lateness=timedelta(seconds=10))
    assert feature_set_version(a) == feature_set_version(FeaturesConfig())
    assert feature_set_version(a) != feature_set_version(b)
    assert feature_set_version(a).startswith("fs-")


def test_idle_entities_are_swept_and_active_ones_kept(monkeypatch) -> None:
    from driftline.flows.features import step as steps

    clock = [1000.0]
    monkeypatch.setattr(steps.time, "time", lambda: clock[0])
    fs = FeatureSet(FeaturesConfig(idle_ttl=timedelta(seconds=10)))
    logic = steps.FeatureLogic(fs, None, recovering=True)
    e1 = Event(id="a1", key="a", ts=T0, features={"loan": 1.0})
    e2 = Event(id="b1", key="b", ts=T0, features={"loan": 2.0})
    out, _ = logic.on_batch([[(0, 0.0, e1), (1, 0.0, e2)]])
    assert [f.seq for f in out] == [0, 1] and set(logic.entities) == {"a", "b"}
    clock[0] += 8
    logic.on_batch([[(2, 0.0, Event(id="a2", key="a", ts=T0, features={"loan": 3.0}))]])
    clock[0] += 4  # "b" idle for 12 s, "a" for 4 s
    _, keep = logic.on_notify()
    assert set(logic.entities) == {"a"} and keep == logic.RETAIN
    resumed = steps.FeatureLogic(fs, logic.snapshot(), recovering=True)
    nxt = Event(id="a3", key="a", ts=T0 + timedelta(seconds=1), features={"loan": 5.0})
    assert resumed.on_batch([[(3, 0.0, nxt)]])[0][0].x == logic.on_batch([[(3, 0.0, nxt)]])[0][0].x
    clock[0] += 20
    _, keep = resumed.on_notify()
    assert resumed.entities == {} and keep == resumed.DISCARD
