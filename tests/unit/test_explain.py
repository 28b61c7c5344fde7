"""What a concept-drift alert names as having moved with it: features and slices."""

from __future__ import annotations

import random

from driftline.flows.config import DriftConfig
from driftline.flows.drift import DataDriftMonitor
from driftline.flows.scoring.slices import SliceMonitor


def test_the_feature_that_moved_in_the_unfinished_window_comes_first() -> None:
    rng = random.Random(1)
    data = DataDriftMonitor(DriftConfig(data_window=500))
    for _ in range(500):  # the reference window
        data.update({"a": rng.random(), "b": rng.random(), "c": rng.random()})
    assert data.moved(3) == []  # a partial window too short, no closed window yet
    for _ in range(300):  # part of the next window: b moved
        data.update({"a": rng.random(), "b": rng.random() + 0.5, "c": rng.random()})
    moved = data.moved(2)
    assert moved[0].feature == "b" and len(moved) == 2
    assert moved[0].ks > 0.4 and moved[0].p_value < 1e-20 and moved[0].window == 300
    assert moved[1].ks < 0.15
    # asking changes nothing: the window still closes on its 500th event
    assert data.filled == 300 and len(data.reference["b"]) == 500


def test_the_last_closed_window_stands_while_the_next_is_short() -> None:
    rng = random.Random(2)
    data = DataDriftMonitor(DriftConfig(data_window=200))
    for i in range(400 + 20):
        data.update({"a": rng.random() + (1.0 if i >= 200 else 0.0)})
    (moved,) = data.moved(3)
    assert moved.feature == "a" and moved.window == 200 and moved.ks == 1.0


def test_the_slices_whose_error_rose_most_come_first() -> None:
    cfg = DriftConfig(warmup=0, min_reference=50)
    slices = SliceMonitor(["country"], "classification", 100, cfg, 100, 10)
    rng = random.Random(3)
    rates = {"BR": (0.1, 0.6), "DE": (0.1, 0.2), "FR": (0.1, 0.1)}
    for phase, labels in ((0, 600), (1, 200)):  # the rise fills the recent window (200)
        for _ in range(labels):
            for country, rate in rates.items():
                (value,) = slices.values_of({"country": country})
                wrong = rng.random() < rate[phase]
                slices.learn((value,), True, not wrong, True)
    rising = slices.rising(3)
    assert [r.slice for r in rising][:2] == ["country=BR", "country=DE"]
    assert rising[0].recent_error > 0.4 and rising[0].p_value < 1e-6
    assert all(r.recent_error > r.reference_error for r in rising)


def test_the_console_line_names_what_moved() -> None:
    from driftline.flows.records import Alert

    statistic = {
        "reference_error": 0.02,
        "recent_error": 0.09,
        "moved_features": [{"feature": "salary", "ks": 0.41, "p_value": 1e-90}],
        "rising_slices": [
            {"slice": "zipcode=3", "reference_error": 0.02, "recent_error": 0.2, "p_value": 1e-9}
        ],
    }
    alert = Alert("concept_drift", "adwin", "m", 1, "e1", "ts", "shard-0", statistic=statistic)
    line = alert.describe()
    assert "input moved most: salary (KS 0.410 p=1.0e-90)" in line
    assert "error rose most for zipcode=3 (0.020 -> 0.200)" in line
