"""Slices (flows/scoring/slices.py): per-value figures of one model without a model per
value, bounded twice: `slice_values` values watched per field (later ones are "other"),
and `slice_top` values per field exported to Prometheus (the rest averaged as "other")."""

from __future__ import annotations

import pytest

from driftline.flows.config import DriftConfig
from driftline.flows.scoring.slices import OTHER, SliceMonitor


def monitor(
    fields: tuple[str, ...] = ("country",),
    max_values: int = 1000,
    top: int = 10,
    window: int = 100,
    task: str = "classification",
) -> SliceMonitor:
    return SliceMonitor(list(fields), task, window, DriftConfig(), max_values, top)  # type: ignore[arg-type]


def test_values_beyond_the_bound_share_the_other_slice() -> None:
    m = monitor(max_values=3)
    seen = [m.values_of({"country": c}) for c in ("BR", "DE", "FR", "NL", "US", "BR", "FR")]
    assert seen == [("BR",), ("DE",), ("FR",), (OTHER,), (OTHER,), ("BR",), ("FR",)]
    assert set(m.stats["country"]) == {"BR", "DE", "FR", OTHER}  # the bound, plus "other"
    assert {v: s.events for v, s in m.stats["country"].items()} == {
        "BR": 2,
        "DE": 1,
        "FR": 2,
        OTHER: 2,
    }
    for c in ("JP", "MX", "ZA"):  # however many more come
        assert m.values_of({"country": c}) == (OTHER,)
    assert len(m.stats["country"]) == 4 and m.stats["country"][OTHER].events == 5


def test_each_field_is_bounded_on_its_own() -> None:
    m = monitor(fields=("country", "device"), max_values=1)
    assert m.values_of({"country": "BR", "device": "ios"}) == ("BR", "ios")
    assert m.values_of({"country": "DE", "device": "ios"}) == (OTHER, "ios")
    assert m.values_of({"country": "BR", "device": "web"}) == ("BR", OTHER)
    assert m.values_of({"device": True}) == (OTHER, OTHER)  # a missing field is a value too


def test_field_values_are_named_as_text() -> None:
    m = monitor(fields=("flag", "tier", "country"))
    assert m.values_of({"flag": True, "tier": 3, "country": None}) == ("true", "3", "(none)")
    assert set(m.report()) == {"flag=true", "tier=3", "country=(none)"}


def test_the_report_holds_each_values_rolling_figures() -> None:
    m = monitor(window=3)
    # (value, label, model's prediction, baseline's prediction)
    stream = [
        ("BR", True, True, False),
        ("BR", True, False, False),
        ("BR", False, False, False),
        ("BR", True, True, True),  # the window of 3 drops BR's first
        ("DE", True, True, True),
    ]
    for value, y, y_pred, b_pred in stream:
        m.learn(m.values_of({"country": value}), y, y_pred, b_pred)
    m.values_of({"country": "FR"})  # scored, never labelled
    report = m.report()
    assert report["country=BR"] == {
        "events": 4,
        "labelled": 4,
        "model": round(2 / 3, 4),  # right on BR's last three: no, yes, yes
        "baseline": round(2 / 3, 4),  # no, yes, yes
        "lift": 0.0,
        "recent_error": 0.25,  # the error monitor's window is longer: 1 wrong of 4
    }
    assert report["country=DE"]["model"] == 1.0 and report["country=DE"]["lift"] == 0.0
    assert report["country=FR"] == {
        "events": 1,
        "labelled": 0,
        "model": None,
        "baseline": None,
        "lift": None,
        "recent_error": None,
    }


def test_a_regressors_slices_report_mean_absolute_error_and_lift_as_the_lower() -> None:
    m = monitor(task="regression")
    for y, y_pred, b_pred in ((10.0, 12.0, 15.0), (20.0, 19.0, 10.0)):
        m.learn(m.values_of({"country": "BR"}), y, y_pred, b_pred)
    figures = m.report()["country=BR"]
    assert (figures["model"], figures["baseline"]) == (1.5, 7.5)
    assert figures["lift"] == 6.0  # the model's error is 6 below the baseline's


def test_a_label_for_a_value_no_longer_watched_changes_nothing() -> None:
    """A prediction served before a segment's restore carries slice values its new
    monitor never saw: the label is counted nowhere rather than failing."""
    m = monitor()
    assert m.learn(("BR",), True, True, True) == []
    assert m.report() == {}


def test_prometheus_gets_the_top_values_by_traffic_and_the_rest_as_other() -> None:
    m = monitor(top=2, window=4)
    rights = {"BR": [True] * 6, "DE": [True, False] * 2, "FR": [False, True, True], "NL": [False]}
    for value, outcomes in rights.items():
        for right in outcomes:
            m.learn(m.values_of({"country": value}), True, right, False)
    m.values_of({"country": "US"})  # the most events, but no label: nothing to export
    for _ in range(10):
        m.values_of({"country": "US"})
    rows = {(field, value): (model, base) for field, value, model, base in m.exported()}
    assert set(rows) == {("country", "BR"), ("country", "DE"), ("country", OTHER)}
    assert rows["country", "BR"] == (1.0, 0.0)
    assert rows["country", "DE"] == (0.5, 0.0)
    # FR (3 labels, 2 right) and NL (1 label, wrong), weighted by their window's labels
    model, base = rows["country", OTHER]
    assert model == pytest.approx((2 + 0) / (3 + 1)) and base == 0.0


def test_the_bound_of_values_is_folded_into_the_exported_other() -> None:
    m = monitor(max_values=1, top=5)
    for value, right in (("BR", True), ("DE", False), ("FR", True), ("FR", True)):
        m.learn(m.values_of({"country": value}), True, right, True)
    rows = {value: model for _, value, model, _ in m.exported()}
    assert rows == {"BR": 1.0, OTHER: pytest.approx(2 / 3)}  # DE and FR: "other" already


def test_the_windows_bound_the_weights_of_other() -> None:
    """A value's weight in "other" is the labels its rolling window holds, at most the window."""
    m = monitor(top=1, window=2)
    for _ in range(5):
        m.learn(m.values_of({"country": "BR"}), True, True, True)
    for right in (True, True, True, False, False):  # window: the last two, both wrong
        m.learn(m.values_of({"country": "DE"}), True, right, True)
    m.learn(m.values_of({"country": "FR"}), True, True, True)
    for _ in range(9):
        m.values_of({"country": "BR"})  # BR leads the traffic
    rows = {value: model for _, value, model, _ in m.exported()}
    assert rows["BR"] == 1.0
    assert rows[OTHER] == pytest.approx((0 * 2 + 1 * 1) / (2 + 1))
