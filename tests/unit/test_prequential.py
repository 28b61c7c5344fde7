"""PrequentialMetric gives River's figures (Accuracy, MAE, rolling or not), and state
pickled with River's metrics by the release before resumes with the same figures."""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import pytest
from river import metrics, utils

from driftline.flows.config import DriftConfig, load_settings
from driftline.flows.scoring.definition import Task
from driftline.flows.scoring.instance import ModelInstance
from driftline.flows.scoring.prequential import PrequentialMetric
from driftline.flows.scoring.shard import ModelShard
from driftline.flows.scoring.slices import SliceStats


def _pairs(task: Task, n: int, seed: int = 5) -> list[tuple[Any, Any]]:
    rng = random.Random(seed)
    if task == "classification":
        return [(rng.random() < 0.3, rng.random() < 0.4) for _ in range(n)]
    return [(rng.gauss(10, 4), rng.gauss(10, 4)) for _ in range(n)]


def _river(task: Task, window: int | None) -> Any:
    cls = metrics.Accuracy if task == "classification" else metrics.MAE
    return cls() if window is None else utils.Rolling(cls, window_size=window)


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("window", [None, 1, 10, 1000])
def test_the_figures_are_rivers(task: Task, window: int | None) -> None:
    ours, river = PrequentialMetric(task, window), _river(task, window)
    assert ours.get() == river.get() == 0.0  # before the first label
    for i, (y, y_pred) in enumerate(_pairs(task, 2500)):
        ours.update(y, y_pred)
        river.update(y, y_pred)
        if i % 97 == 0 or i > 2480:
            assert ours.get() == pytest.approx(river.get(), rel=1e-9, abs=1e-12), i
    assert ours.bigger_is_better == river.bigger_is_better
    assert ours.name == type(river.obj if window else river).__name__.lower()
    assert len(ours) == (2500 if window is None else min(window, 2500))


def test_a_rolling_regression_metric_does_not_drift_from_its_window() -> None:
    """Errors of very different sizes: adding and removing them leaves no rounding behind."""
    ours = PrequentialMetric("regression", window=3)
    for err in [1e12, 1.0, 1.0, 1.0, 1e-3, 2e-3, 3e-3]:
        ours.update(err, 0.0)
    assert ours.get() == pytest.approx(2e-3, rel=1e-12)


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("window", [None, 50])
def test_a_river_metric_converts_to_the_same_figure(task: Task, window: int | None) -> None:
    pairs = _pairs(task, 300)
    river = _river(task, window)
    for y, y_pred in pairs[:200]:
        river.update(y, y_pred)
    ours = PrequentialMetric.from_river(pickle.loads(pickle.dumps(river)), task, window)
    assert ours.get() == pytest.approx(river.get(), rel=1e-12)
    for y, y_pred in pairs[200:]:  # and it goes on as River's would have
        ours.update(y, y_pred)
        river.update(y, y_pred)
    assert ours.get() == pytest.approx(river.get(), rel=1e-9)


def test_a_model_instance_pickled_with_rivers_metrics_resumes(tmp_path: Path) -> None:
    settings = load_settings(None, {"model": {"name": "logreg", "store": str(tmp_path)}})
    instance = ModelShard("s0", settings, "fs-test").instance
    pairs = _pairs("classification", 1500)
    state = dict(instance.__dict__)
    for name, window in [("metric", None), ("baseline_metric", None), ("rolling", 1000)]:
        river = _river("classification", window)
        for y, y_pred in pairs:
            river.update(y, y_pred)
        state[name] = river
    state["baseline_rolling"] = _river("classification", 1000)  # no baseline label yet
    old = ModelInstance.__new__(ModelInstance)
    old.__dict__.update(state)
    resumed = pickle.loads(pickle.dumps(old))
    assert isinstance(resumed.rolling, PrequentialMetric)
    assert resumed.metric.get() == state["metric"].get()
    assert resumed.rolling.get() == state["rolling"].get()
    assert len(resumed.rolling) == 1000 and len(resumed.metric) == 1500
    assert resumed.baseline_rolling.get() == 0.0 and len(resumed.baseline_rolling) == 0
    assert resumed.metric_name == "accuracy"


def test_slice_stats_pickled_with_rivers_metrics_resume() -> None:
    stats = SliceStats("regression", 20, DriftConfig())
    pairs = _pairs("regression", 60)
    for name in ("model", "baseline"):
        river = _river("regression", 20)
        for y, y_pred in pairs:
            river.update(y, y_pred)
        setattr(stats, name, river)
    resumed = pickle.loads(pickle.dumps(stats))
    assert isinstance(resumed.model, PrequentialMetric) and resumed.model.window == 20
    assert resumed.model.get() == pytest.approx(stats.model.get(), rel=1e-12)
    assert resumed.lift(bigger_is_better=False) == pytest.approx(0.0)
