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


# -- min/max and text windows ----------------------------------------------------------------


def spend(i: int, seconds: float, amount: float, merchant: str | int = "shop") -> Event:
    return Event(
        id=f"e{i}",
        key="card",
        ts=T0 + timedelta(seconds=seconds),
        features={"amount": amount, "merchant": merchant},
    )


def category_set() -> FeatureSet:
    return FeatureSet(
        FeaturesConfig(
            windows=[
                WindowSpec(field="amount", period=timedelta(minutes=5), stats=["min", "max"]),
                WindowSpec(
                    field="merchant",
                    period=timedelta(minutes=5),
                    stats=["count", "distinct", "same", "top"],
                    top_k=2,
                ),
            ],
            time_since_last=False,
        )
    )


def test_min_max_and_category_features_describe_the_past() -> None:
    fs = category_set()
    state = fs.new_state()
    served = [
        fs.featurize(state, spend(i, s, a, m), 0.0).x
        for i, (s, a, m) in enumerate(
            [(0, 10.0, "a"), (10, 30.0, "b"), (20, 20.0, "a"), (30, 5.0, "a"), (400, 1.0, "a")]
        )
    ]
    window_names = [k for k in served[0] if "_5m" in k]
    assert window_names == [
        "amount_min_5m",
        "amount_max_5m",
        "merchant_count_5m",
        "merchant_distinct_5m",
        "merchant_same_count_5m",
        "merchant_top1_count_5m",
        "merchant_top2_count_5m",
    ]
    assert {k: served[0][k] for k in window_names} == dict.fromkeys(window_names, 0.0)
    fourth = served[3]  # the window holds a@0 (10), b@10 (30), a@20 (20)
    assert (fourth["amount_min_5m"], fourth["amount_max_5m"]) == (10.0, 30.0)
    assert fourth["merchant_count_5m"] == 3 and fourth["merchant_distinct_5m"] == 2
    assert fourth["merchant_same_count_5m"] == 2  # its own merchant "a", itself not counted
    assert (fourth["merchant_top1_count_5m"], fourth["merchant_top2_count_5m"]) == (2, 1)
    last = served[4]  # 400 s: everything before 100 s has left
    assert last["merchant_count_5m"] == 0 and last["amount_max_5m"] == 0.0
    assert last["merchant=a"] == 1.0  # the raw text is still one-hot, as before


def test_a_text_window_takes_only_text_and_a_number_window_only_numbers() -> None:
    fs = category_set()
    state = fs.new_state()
    fs.featurize(state, spend(1, 0, 10.0, merchant=7), 0.0)  # a number where text is counted
    x = fs.featurize(state, spend(2, 1, 10.0, merchant="a"), 0.0).x
    assert x["merchant_count_5m"] == 0 and x["amount_max_5m"] == 10.0


def test_late_events_are_read_for_their_own_category_but_never_added() -> None:
    fs = category_set()
    state = fs.new_state()
    fs.featurize(state, spend(1, 1000, 10.0, "a"), 0.0)
    late = fs.featurize(state, spend(2, 900, 99.0, "a"), 0.0)
    assert late.late and late.x["merchant_same_count_5m"] == 1
    after = fs.featurize(state, spend(3, 1001, 0.0, "a"), 0.0).x
    assert after["merchant_count_5m"] == 1 and after["amount_max_5m"] == 10.0


def test_new_windows_survive_a_pickle_mid_stream() -> None:
    import pickle

    fs = category_set()
    state = fs.new_state()
    events = [spend(i, i * 7 % 50 + i * 10, float(i % 9), "abc"[i % 3]) for i in range(60)]
    for e in events[:30]:
        fs.featurize(state, e, 0.0)
    copy = pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
    for e in events[30:]:
        assert fs.featurize(copy, e, 0.0).x == fs.featurize(state, e, 0.0).x


#: `{"k": EntityWindows}` pickled by the feature step before min/max and text windows
#: (windows: features.builtin_windows(); events at 0, 30, 20 (out of order), 400 s).
OLD_SNAPSHOT = (
    "gAWVxwMAAAAAAAB9lIwBa5SMJGRyaWZ0bGluZS5mbG93cy5mZWF0dXJlcy5mZWF0dXJlX3NldJSMDUVudGl0eVdpbmRvd3OU"
    "k5QpgZROfZQojAhfcm9sbGluZ5RdlCiMIGRyaWZ0bGluZS5mbG93cy5mZWF0dXJlcy53aW5kb3dzlIwOUm9sbGluZ01vbWVu"
    "dHOUk5QpgZROfZQojAVfaGVhZJRLA4wGX3RpbWVzlF2UKEdB2lVuQAAAAEdB2lVuRQAAAEdB2lVuR4AAAEdB2lVupAAAAGWM"
    "B192YWx1ZXOUXZQoRwAAAAAAAAAARwAAAAAAAAAARwAAAAAAAAAARwAAAAAAAAAAZYwCbTKURwAAAAAAAAAAjARtZWFulEcA"
    "AAAAAAAAAIwBbpRLAYwGbmV3ZXN0lEdB2lVupAAAAIwGcGVyaW9klEdAcsAAAAAAAHWGlGJoCymBlE59lChoDksDaA9dlChH"
    "QdpVbkAAAABHQdpVbkUAAABHQdpVbkeAAABHQdpVbqQAAABlaBFdlChHQCQAAAAAAABHQBQAAAAAAABHQDQAAAAAAABHQBwA"
    "AAAAAABlaBNHAAAAAAAAAABoFEdAHAAAAAAAAGgVSwFoFkdB2lVupAAAAGgXR0BywAAAAAAAdYaUYmgLKYGUTn2UKGgOSwBo"
    "D12UKEdB2lVuQAAAAEdB2lVuRQAAAEdB2lVuR4AAAEdB2lVupAAAAGVoEV2UKEdAJAAAAAAAAEdAFAAAAAAAAEdANAAAAAAA"
    "AEdAHAAAAAAAAGVoE0dAYKAAAAAAAGgUR0AlAAAAAAAAaBVLBGgWR0HaVW6kAAAAaBdHQKwgAAAAAAB1hpRiZYwIX3dpbmRv"
    "d3OUaAKMB19XaW5kb3eUk5QpgZRdlChOjAhkYXRldGltZZSMCXRpbWVkZWx0YZSTlEsATSwBSwCHlFKUjAVjb3VudJSMD2V2"
    "ZW50c19jb3VudF81bZSGlIWUZWJoJSmBlF2UKIwEbG9hbpRoKksATSwBSwCHlFKUaBSMDGxvYW5fbWVhbl81bZSGlIwDc3Rk"
    "lIwLbG9hbl9zdGRfNW2UhpSGlGViaCUpgZRdlChoM2gqSwBNEA5LAIeUUpRoLYwNbG9hbl9jb3VudF8xaJSGlGgUjAxsb2Fu"
    "X21lYW5fMWiUhpSGlGVih5SMCW5ld2VzdF90c5RoKIwIZGF0ZXRpbWWUk5RDCgfqAQEABigAAACUaCiMCHRpbWV6b25llJOU"
    "aCpLAEsASwCHlFKUhZRSlIaUUpSMBHNlZW6URwAAAAAAAAAAdYaUYnMu"
)


def test_a_snapshot_from_before_the_new_windows_resumes() -> None:
    """Configs that use no new setting keep their version, so their old snapshots resume."""
    import base64
    import pickle

    from driftline.flows.config import builtin_windows

    fs = FeatureSet(FeaturesConfig(windows=builtin_windows()))
    old = pickle.loads(base64.b64decode(OLD_SNAPSHOT))["k"]
    fresh = fs.new_state()
    for i, (sec, loan) in enumerate([(0, 10.0), (30, 20.0), (20, 5.0), (400, 7.0)]):
        fs.featurize(fresh, Event(id=f"e{i}", key="k", ts=T0 + timedelta(seconds=sec),
                                  features={"loan": loan}), 0.0)  # fmt: skip
    for sec in (410, 700, 3000):
        e = Event(id=f"n{sec}", key="k", ts=T0 + timedelta(seconds=sec), features={"loan": 1.0})
        assert fs.featurize(old, e, 0.0).x == fs.featurize(fresh, e, 0.0).x


def test_versions_of_configs_without_the_new_settings_are_unchanged() -> None:
    """Pinned: the versions these configs had before derive, top_k and the new stats."""
    from driftline.flows.config import builtin_windows

    assert feature_set_version(FeaturesConfig()) == "fs-4738fe7f04"
    assert feature_set_version(FeaturesConfig(windows=builtin_windows())) == "fs-77308f2d43"


def test_the_feature_function_is_part_of_the_version() -> None:
    base = FeaturesConfig()
    with_fn = FeaturesConfig(derive="team:derive", derive_version="1")
    versions = {
        feature_set_version(base),
        feature_set_version(with_fn),
        feature_set_version(FeaturesConfig(derive="team:derive", derive_version="2")),
        feature_set_version(FeaturesConfig(derive="team:other", derive_version="1")),
    }
    assert len(versions) == 4
    assert FeatureSet(with_fn).version == feature_set_version(with_fn)


def test_the_field_check_wants_text_for_text_windows() -> None:
    fs = category_set()
    check = fs.field_check
    check.events = 2
    missing = check.observe([{"amount": "x", "merchant": 3}, {"amount": "y", "merchant": 4}])
    assert sorted(missing) == [("amount", False), ("merchant", True)]
    fs = category_set()
    fs.field_check.events = 1
    assert fs.field_check.observe([{"amount": 1.0, "merchant": "a"}]) == []
