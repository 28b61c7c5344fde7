"""RollingMoments keeps River TimeRolling(stats.Var)'s numbers, at O(1) per event."""

import datetime as dt
import math
import pickle
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st
from river import stats, utils

from driftline.flows.features.windows import RollingExtreme, RollingMoments, RollingNumbers

T0 = dt.datetime(2026, 1, 1)

# (seconds after the previous newest time, may be negative = out of order; value)
steps = st.lists(
    st.tuples(
        st.floats(min_value=-20, max_value=90, allow_nan=False),
        st.floats(min_value=-1e3, max_value=1e3, allow_nan=False),
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(steps=steps, period=st.sampled_from([30.0, 60.0, 300.0]))
def test_same_moments_as_river_time_rolling(
    steps: list[tuple[float, float]], period: float
) -> None:
    river = utils.TimeRolling(stats.Var, period=dt.timedelta(seconds=period))
    ours = RollingMoments(period)
    newest = 0.0
    for gap, x in steps:
        t = round(max(newest + gap, 0.0), 6)  # microseconds, like datetimes
        newest = max(newest, t)
        river.update(x, t=T0 + dt.timedelta(seconds=t))
        ours.expire(t)
        ours.add(t, x)
        assert ours.n == river.obj.mean.n
        assert math.isclose(ours.mean, river.obj.mean.get(), rel_tol=1e-9, abs_tol=1e-6)
        assert math.isclose(ours.var(), river.obj.get(), rel_tol=1e-6, abs_tol=1e-4)


def test_values_at_the_cutoff_leave_the_window() -> None:
    w = RollingMoments(60.0)
    w.expire(0.0)
    w.add(0.0, 1.0)
    w.expire(60.0)  # (0, 60]: the value at 0 is out
    assert w.n == 0 and w.mean == 0.0 and w.var() == 0.0


def test_out_of_order_value_is_kept_until_its_own_time_expires() -> None:
    w = RollingMoments(60.0)
    for t, x in ((10.0, 1.0), (40.0, 2.0)):
        w.expire(t)
        w.add(t, x)
    w.expire(20.0)  # older than the newest: nothing moves
    w.add(20.0, 3.0)
    w.expire(75.0)  # drops t=10 only
    assert w.n == 2 and w.mean == 2.5
    w.expire(85.0)  # drops t=20 (inserted in time order), keeps t=40
    assert w.n == 1 and w.mean == 2.0


def test_long_runs_compact_and_stay_exact() -> None:
    w = RollingMoments(10.0)
    for i in range(10_000):
        w.expire(float(i))
        w.add(float(i), float(i % 7))
    assert w.n == 10  # (9989, 9999]
    assert len(w._times) < 200  # expired slots are dropped
    assert math.isclose(w.mean, sum(i % 7 for i in range(9990, 10_000)) / 10)


# -- min and max: monotonic deques --------------------------------------------------------


def _us(seconds: float) -> int:
    return round(seconds * 1e6)


def _in_window(kept: list[tuple[float, float]], newest: float, period: float) -> list[float]:
    """The values in (newest - period, newest], in exact whole microseconds."""
    return [x for t, x in kept if _us(newest) - _us(period) < _us(t) <= _us(newest)]


@settings(max_examples=300, deadline=None)
@given(steps=steps, period=st.sampled_from([30.0, 60.0, 300.0]))
def test_min_and_max_match_a_brute_force_window(
    steps: list[tuple[float, float]], period: float
) -> None:
    """Out-of-order values (up to 20 s back, within every period) and expiry included."""
    high, low = RollingExtreme(period), RollingExtreme(period, largest=False)
    kept: list[tuple[float, float]] = []
    newest = 0.0
    for gap, x in steps:
        t = round(max(newest + gap, 0.0), 6)
        newest = max(newest, t)
        for w in (high, low):
            w.expire(t)
        inside = _in_window(kept, newest, period)
        assert high.value == (max(inside) if inside else 0.0)  # read before the add, as served
        assert low.value == (min(inside) if inside else 0.0)
        assert len(high) <= len(inside) and len(low) <= len(inside)
        high.add(t, x)
        low.add(t, x)
        kept.append((t, x))
        inside = _in_window(kept, newest, period)
        assert high.value == max(inside) and low.value == min(inside)


def test_an_out_of_order_max_outlives_the_earlier_smaller_values() -> None:
    w = RollingExtreme(60.0)
    for t, x in ((0.0, 5.0), (10.0, 3.0), (30.0, 1.0)):
        w.expire(t)
        w.add(t, x)
    w.expire(20.0)  # older than the newest: the window does not move
    w.add(20.0, 4.0)  # beats 3 (t=10) for good, not 5 (t=0) while it lasts
    assert w.value == 5.0 and len(w) == 3  # 5@0, 4@20, 1@30
    w.expire(61.0)  # drops t=0 (and t=10, already beaten)
    assert w.value == 4.0
    w.expire(81.0)  # drops t=20
    assert w.value == 1.0
    w.expire(91.0)
    assert w.value == 0.0 and len(w) == 0


def test_a_dominated_out_of_order_value_is_not_kept() -> None:
    w = RollingExtreme(60.0)
    for t, x in ((0.0, 1.0), (30.0, 9.0)):
        w.expire(t)
        w.add(t, x)
    assert len(w) == 1  # 9 beat 1
    w.add(10.0, 2.0)  # 9 at t=30 outlives it and is larger
    assert len(w) == 1 and w.value == 9.0


def test_long_runs_of_extremes_compact_and_stay_exact() -> None:
    w = RollingExtreme(10.0, largest=False)
    for i in range(10_000):
        w.expire(float(i))
        w.add(float(i), float(i))  # rising values: the min is always the oldest in the window
    assert w.value == 9990.0
    assert len(w._times) < 200


def test_numbers_keep_only_what_their_stats_read() -> None:
    only_max = RollingNumbers(60.0, moments=False, low=False, high=True)
    assert only_max.moments is None and only_max.low is None
    both = RollingNumbers(60.0, moments=True, low=True, high=True)
    for t, x in ((0.0, 2.0), (1.0, -1.0), (2.0, 5.0)):
        both.expire(t)
        both.add(t, x)
    assert both.moments is not None and both.low is not None and both.high is not None
    assert (both.moments.n, both.low.value, both.high.value) == (3, -1.0, 5.0)


def test_a_value_exactly_one_period_older_leaves_despite_float_seconds() -> None:
    """31.542969 - 30 is 1.5429689999999994 in floats: the value at 1.542969 must still leave
    (found by hypothesis against River, which subtracts datetimes)."""
    for w in (RollingMoments(30.0), RollingExtreme(30.0)):
        w.expire(1.542969)
        w.add(1.542969, 7.0)
        w.expire(31.542969)
        assert (w.n if isinstance(w, RollingMoments) else len(w)) == 0


def test_windows_keep_their_values_as_arrays_and_resume_from_lists() -> None:
    """A window holds every value of its period and is pickled at every snapshot: as
    arrays a value costs 8 bytes, not a float object and its slot (32); a snapshot
    of the release before (lists) resumes into arrays with the same numbers."""
    w = RollingMoments(10.0)
    for i in range(100):
        w.expire(float(i))
        w.add(float(i), float(i % 7))
    resumed = pickle.loads(pickle.dumps(w))
    assert isinstance(resumed._values, array) and isinstance(resumed._times, array)
    assert (resumed.n, resumed.mean, resumed.m2) == (w.n, w.mean, w.m2)

    _, slots = w.__reduce_ex__(2)[2]  # (None, slots): how a slotted window pickles
    old = {k: list(v) if isinstance(v, array) else v for k, v in slots.items()}
    before = RollingMoments.__new__(RollingMoments)
    before.__setstate__((None, old))
    assert isinstance(before._values, array)
    for target in (before, w):
        target.expire(150.0)
        target.add(150.0, 1.0)
    assert (before.n, before.mean) == (w.n, w.mean) == (1, 1.0)
    extreme = RollingExtreme(10.0)
    extreme.add(1.0, 3.0)
    assert pickle.loads(pickle.dumps(extreme)).value == 3.0


def test_a_window_keeps_and_pickles_few_expired_slots() -> None:
    """Expired slots are cut once a quarter of the sequence (and at least COMPACT_AT)
    has expired, so a full window holds at most a third more slots than values; a
    snapshot carries the values still in the window only, and resumes the same."""
    from driftline.flows.features.categories import RollingCategories
    from driftline.flows.features.windows import COMPACT_AT

    moments, extreme = RollingMoments(1000.0), RollingExtreme(1000.0)
    cats = RollingCategories(1000.0)
    for i in range(20_000):
        t = float(i)
        for w in (moments, extreme, cats):
            w.expire(t)
        moments.add(t, float(i % 7))
        extreme.add(t, float(-i))  # falling: every value is kept as a possible max
        cats.add(t, f"c{i % 5}")
        if i > 1000:
            assert len(moments._times) <= max(moments.n * 4 / 3, moments.n + COMPACT_AT) + 1
            assert len(cats._times) <= max(cats.n * 4 / 3, cats.n + COMPACT_AT) + 1
    for w, live in ((moments, moments.n), (extreme, len(extreme)), (cats, cats.n)):
        assert w._head > 0  # some expired slots are still there...
        _, slots = w.__getstate__()
        assert slots["_head"] == 0 and len(slots["_times"]) == live  # ...but not pickled
        resumed = pickle.loads(pickle.dumps(w))
        for target in (w, resumed):
            target.expire(20_500.0)
        assert len(resumed._times) - resumed._head == len(w._times) - w._head
    assert pickle.loads(pickle.dumps(moments)).mean == moments.mean
    assert pickle.loads(pickle.dumps(cats)).counts == cats.counts
    assert pickle.loads(pickle.dumps(extreme)).value == extreme.value
