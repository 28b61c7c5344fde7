"""RollingCategories against a brute-force window: counts, distinct, same and top-k."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.flows.features.categories import RollingCategories

# (seconds after the previous newest time, may be negative = out of order; category)
# few categories and short periods, so counts tie and expire often
steps = st.lists(
    st.tuples(
        st.floats(min_value=-20, max_value=40, allow_nan=False),
        st.sampled_from("abcd"),
    ),
    min_size=1,
    max_size=300,
)


def brute(kept: list[tuple[float, str]], newest: float, period: float) -> Counter[str]:
    """The categories in (newest - period, newest], in exact whole microseconds."""
    end, length = round(newest * 1e6), round(period * 1e6)
    return Counter(c for t, c in kept if end - length < round(t * 1e6) <= end)


def top(counts: Counter[str], k: int) -> list[int]:
    return (sorted(counts.values(), reverse=True) + [0] * k)[:k]


@settings(max_examples=300, deadline=None)
@given(steps=steps, period=st.sampled_from([30.0, 60.0, 120.0]), k=st.integers(1, 4))
def test_same_counts_as_a_brute_force_window(
    steps: list[tuple[float, str]], period: float, k: int
) -> None:
    """Out-of-order texts (up to 20 s back, within every period) and expiry included."""
    w = RollingCategories(period, track_top=True)
    kept: list[tuple[float, str]] = []
    newest = 0.0
    for gap, cat in steps:
        t = round(max(newest + gap, 0.0), 6)
        newest = max(newest, t)
        w.expire(t)
        want = brute(kept, newest, period)  # read before the add, as served
        assert w.n == sum(want.values())
        assert w.distinct() == len(want)
        assert w.same(cat) == want[cat]
        assert w.top(k) == top(want, k)
        assert w.counts == {c: n for c, n in want.items() if n}
        w.add(t, cat)
        kept.append((t, cat))
    # the levels are exactly the counts present, linked in order
    levels = sorted(set(w.counts.values()))
    assert sorted(w._size) == levels
    assert all(w._size[n] == list(w.counts.values()).count(n) for n in levels)


def test_same_is_zero_for_anything_but_a_text_in_the_window() -> None:
    w = RollingCategories(60.0)
    w.expire(0.0)
    w.add(0.0, "fr")
    assert (w.same("fr"), w.same("de"), w.same(None), w.same(3)) == (1, 0, 0, 0)


def test_expiry_forgets_categories_and_their_levels() -> None:
    w = RollingCategories(60.0, track_top=True)
    for t, cat in ((0.0, "a"), (1.0, "a"), (2.0, "b"), (30.0, "b"), (31.0, "c")):
        w.expire(t)
        w.add(t, cat)
    assert w.top(3) == [2, 2, 1] and w.distinct() == 3
    w.expire(61.5)  # drops t=0 and t=1: "a" is gone
    assert w.counts == {"b": 2, "c": 1} and w.top(3) == [2, 1, 0]
    w.expire(500.0)
    assert w.n == 0 and w.counts == {} and w.top(2) == [0, 0] and w._size == {}


def test_a_count_that_falls_below_a_tie_leaves_the_top() -> None:
    w = RollingCategories(60.0, track_top=True)
    for t, cat in ((0.0, "a"), (1.0, "a"), (2.0, "b"), (3.0, "b")):
        w.expire(t)
        w.add(t, cat)
    w.expire(60.5)  # one "a" leaves: a=1, b=2
    assert w.top(2) == [2, 1]


def test_long_runs_compact_and_stay_exact() -> None:
    w = RollingCategories(10.0, track_top=True)
    for i in range(10_000):
        w.expire(float(i))
        w.add(float(i), "abc"[i % 3])
    assert w.n == 10 and w.top(1) == [4] and w.distinct() == 3  # (9989, 9999]
    assert len(w._times) < 200
