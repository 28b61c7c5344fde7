"""RollingMoments keeps River TimeRolling(stats.Var)'s numbers, at O(1) per event."""

import datetime as dt
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from river import stats, utils

from driftline.flows.features.windows import RollingMoments

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
