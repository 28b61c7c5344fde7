"""Contracts every catalog model and every drift detector setting must keep.

As River keeps its own estimators honest with `river.checks`, this runs River's
checks over every entry of driftline's model catalog, plus driftline's own
contract (what a shard relies on: a model survives a pickle mid-stream, does not
mutate the feature vector it learns from, is reproducible from its seed, and can
predict before it has learned anything). The drift detectors and monitors get
the same treatment: quiet on a model that never errs, deterministic, and
picklable mid-stream.

Everything is parametrized from `CATALOG` and from the allowed values of
`DriftConfig.concept_detector`, so a new model or detector is covered as soon as
it is added, with its name in the test id.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import pickle
import random
import sys
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from river import checks

from driftline.flows.config import DriftConfig
from driftline.flows.drift import ConceptDriftMonitor, DataDriftMonitor
from driftline.flows.drift.concept import build_detector
from driftline.flows.scoring.catalog import CATALOG, build_model

MODELS = sorted(CATALOG)
DETECTORS = list(typing.get_args(DriftConfig.model_fields["concept_detector"].annotation))


# -- River's own checks ----------------------------------------------------------------


@contextlib.contextmanager
def _sklearn_stub() -> Iterator[None]:
    """Let `river.checks` build its datasets without scikit-learn installed.

    `river.checks._yield_datasets` imports `sklearn.datasets` at its top, but uses
    it only for multi-target regressors (linnerud), which the catalog has none of;
    driftline does not depend on scikit-learn. Every dataset used for the catalog
    (Phishing, ImageSegments, TrumpApproval) ships inside River.
    """
    if importlib.util.find_spec("sklearn") is not None:
        yield
        return
    sk = types.ModuleType("sklearn")
    sk.datasets = types.ModuleType("sklearn.datasets")  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in ("sklearn", "sklearn.datasets")}
    sys.modules["sklearn"], sys.modules["sklearn.datasets"] = sk, sk.datasets  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _river_checks(name: str) -> list[Callable[..., None]]:
    """River's checks for a fresh catalog model (fresh one-shot dataset iterators)."""
    with _sklearn_stub():
        return list(checks.yield_checks(build_model(name, 42)))


def _check_id(check: Callable[..., None]) -> str:
    dataset = getattr(check, "keywords", {}).get("dataset")
    return check.__name__ if dataset is None else f"{check.__name__}[{type(dataset).__name__}]"


def _river_cases() -> list[Any]:
    cases = []
    for name in MODELS:
        model = build_model(name, 42)
        river_skips = model._unit_test_skips()
        for index, check in enumerate(_river_checks(name)):
            marks = []
            if check.__name__ in river_skips:
                # `check_estimator` skips these too: the estimator declares the check
                # does not apply to it (e.g. ARF's random feature subsets depend on
                # feature order, so check_shuffle_features_no_impact cannot hold;
                # Pipeline lists check_learn_many_matches_learn_one).
                marks.append(
                    pytest.mark.skip(
                        reason=f"River marks {check.__name__} not applicable to "
                        f"{type(model).__name__} (_unit_test_skips)"
                    )
                )
            if check.__name__ == "check_bounded_memory_growth":
                marks.append(pytest.mark.slow)  # 10x longer stream (ARF: ~10 s)
            cases.append(
                pytest.param(name, index, marks=marks, id=f"{name}-{index:02d}-{_check_id(check)}")
            )
    return cases


@pytest.mark.parametrize(("name", "index"), _river_cases())
def test_river_check(name: str, index: int) -> None:
    """One of River's `yield_checks` on a clone, as `check_estimator` runs it.

    The checks are rebuilt here (not at collection) because their datasets are
    one-shot iterators.
    """
    model = build_model(name, 42)
    check = _river_checks(name)[index]
    check(model.clone())


# -- driftline's model contract ---------------------------------------------------------


def _stream(name: str, n: int, seed: int = 7) -> list[tuple[dict[str, float], Any]]:
    """A fixed stream shaped like a shard's input: windowed counts, means, one-hots."""
    rng = random.Random(seed)
    task = CATALOG[name].task
    rows = []
    for i in range(n):
        x = {
            "loan": rng.uniform(0, 500_000),
            "salary": rng.gauss(60_000, 20_000),
            "age": float(rng.randint(20, 80)),
            "events_count_5m": float(rng.randint(0, 9)),
            "loan_mean_5m": rng.uniform(0, 500_000),
            "secs_since_last": -1.0 if i % 17 == 0 else rng.expovariate(0.1),
            f"car=c{rng.randint(0, 3)}": 1.0,
        }
        if task == "regression":
            y: Any = 0.00002 * x["salary"] + 0.1 * x["age"] + rng.gauss(0, 1)
        else:
            y = (x["salary"] > 60_000) != (x["age"] > 60) if rng.random() > 0.1 else i % 2 == 0
        rows.append((x, y))
    return rows


def _predict(model: Any, name: str, x: dict[str, float]) -> Any:
    """What a shard reads from a model: class probabilities or the value."""
    if CATALOG[name].task == "classification":
        return model.predict_proba_one(x)
    return model.predict_one(x)


def _prequential(model: Any, name: str, rows: list[tuple[dict[str, float], Any]]) -> list[Any]:
    out = []
    for x, y in rows:
        out.append(_predict(model, name, x))
        model.learn_one(x, y)
    return out


@pytest.mark.parametrize("name", MODELS)
def test_model_pickled_mid_stream_predicts_identically(name: str) -> None:
    rows = _stream(name, 600)
    model = build_model(name, 42)
    _prequential(model, name, rows[:300])
    copy_ = pickle.loads(pickle.dumps(model))
    assert _prequential(copy_, name, rows[300:]) == _prequential(model, name, rows[300:])


@pytest.mark.parametrize("name", MODELS)
def test_learn_one_does_not_mutate_its_input(name: str) -> None:
    model = build_model(name, 42)
    for x, y in _stream(name, 300):
        before = copy.deepcopy(x)
        _predict(model, name, x)
        model.learn_one(x, y)
        assert x == before
        assert list(x) == list(before)  # not even reordered


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_gives_the_same_predictions(name: str) -> None:
    rows = _stream(name, 400)
    first = _prequential(build_model(name, 42), name, rows)
    second = _prequential(build_model(name, 42), name, rows)
    assert first == second


@pytest.mark.parametrize("name", MODELS)
def test_predict_before_any_learning_does_not_raise(name: str) -> None:
    model = build_model(name, 42)
    x, _ = _stream(name, 1)[0]
    model.predict_one(x)
    model.predict_one({})
    if CATALOG[name].task == "classification":
        proba = model.predict_proba_one(x)
        assert isinstance(proba, dict)


# -- drift detectors and monitors -------------------------------------------------------


def _quick(detector: str) -> DriftConfig:
    """Gates small enough that a detection could become a signal within a short test."""
    return DriftConfig(
        concept_detector=detector, warmup=0, cooldown=50, min_reference=20, concept_alpha=0.01
    )


def _errors(n: int = 1200, seed: int = 3) -> list[float]:
    """0/1 errors: 10% for the first half, 60% after (a concept change every detector sees)."""
    rng = random.Random(seed)
    return [float(rng.random() < (0.1 if i < n // 2 else 0.6)) for i in range(n)]


def _detections(detector: Any, errors: list[float]) -> list[int]:
    found = []
    for i, e in enumerate(errors):
        detector.update(e)
        if detector.drift_detected:
            found.append(i)
    return found


def _signals(monitor: ConceptDriftMonitor, errors: list[float]) -> list[tuple]:
    out = []
    for i, e in enumerate(errors):
        s = monitor.update(e)
        if s is not None:
            out.append((i, s.reference_error, s.recent_error, s.observed))
    return out


@pytest.mark.parametrize("detector", DETECTORS)
def test_detector_never_fires_on_a_model_that_never_errs(detector: str) -> None:
    assert _detections(build_detector(_quick(detector)), [0.0] * 2000) == []


@pytest.mark.parametrize("detector", DETECTORS)
def test_detector_is_deterministic(detector: str) -> None:
    errors = _errors()
    first = _detections(build_detector(_quick(detector)), errors)
    assert first
    assert first == _detections(build_detector(_quick(detector)), errors)


@pytest.mark.parametrize("detector", DETECTORS)
def test_detector_pickled_mid_stream_detects_identically(detector: str) -> None:
    errors = _errors()
    det = build_detector(_quick(detector))
    _detections(det, errors[:400])  # before the change
    copy_ = pickle.loads(pickle.dumps(det))
    after = _detections(det, errors[400:])
    assert after  # every detector sees the change: the comparison means something
    assert _detections(copy_, errors[400:]) == after


@pytest.mark.parametrize("detector", DETECTORS)
def test_concept_monitor_quiet_on_a_model_that_never_errs(detector: str) -> None:
    for config in (_quick(detector), DriftConfig(concept_detector=detector)):
        assert _signals(ConceptDriftMonitor(config), [0.0] * 2000) == []


@pytest.mark.parametrize("detector", DETECTORS)
def test_concept_monitor_is_deterministic(detector: str) -> None:
    errors = _errors()
    first = _signals(ConceptDriftMonitor(_quick(detector)), errors)
    assert first
    assert first == _signals(ConceptDriftMonitor(_quick(detector)), errors)


@pytest.mark.parametrize("detector", DETECTORS)
def test_concept_monitor_pickled_mid_stream_signals_identically(detector: str) -> None:
    errors = _errors()
    monitor = ConceptDriftMonitor(_quick(detector))
    _signals(monitor, errors[:400])  # before the change
    copy_ = pickle.loads(pickle.dumps(monitor))
    after = _signals(monitor, errors[400:])
    assert after
    assert _signals(copy_, errors[400:]) == after


def _data_config() -> DriftConfig:
    return DriftConfig(data_window=100, data_max_features=3)


def _rows(n: int = 2000, seed: int = 5) -> list[dict[str, object]]:
    """Raw features; `loan` shifts at the middle, `city` is text, `z`/`w` exceed the cap."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        shift = 3.0 if i >= n // 2 else 0.0
        rows.append(
            {
                "loan": rng.gauss(shift, 1.0),
                "age": rng.randint(20, 80),
                "city": rng.choice(["a", "b"]),
                "flag": rng.random() < 0.5,
                "salary": rng.gauss(0, 1),
                "z": rng.random(),
                "w": rng.random(),
            }
        )
    return rows


def _data_signals(monitor: DataDriftMonitor, rows: list[dict[str, object]]) -> list[tuple]:
    out = []
    for i, row in enumerate(rows):
        for s in monitor.update(row):
            out.append((i, s.feature, s.ks, s.p_value, s.reference_mean, s.current_mean, s.window))
        if monitor.filled == 0:
            out.append((i, "report", repr(monitor.report), monitor.untracked))
    return out


def test_data_monitor_quiet_on_a_constant_stream() -> None:
    monitor = DataDriftMonitor(_data_config())
    rows = [{"loan": 1.0, "age": 40, "city": "a"}] * 2000
    assert [s for s in _data_signals(monitor, rows) if s[1] != "report"] == []


def test_data_monitor_is_deterministic() -> None:
    rows = _rows()
    first = _data_signals(DataDriftMonitor(_data_config()), rows)
    assert any(s[1] == "loan" for s in first)  # the shift is seen: the comparison means something
    assert first == _data_signals(DataDriftMonitor(_data_config()), rows)


def test_data_monitor_pickled_mid_stream_signals_identically() -> None:
    rows = _rows()
    monitor = DataDriftMonitor(_data_config())
    _data_signals(monitor, rows[:950])  # mid-window, just before the shift
    copy_ = pickle.loads(pickle.dumps(monitor))
    after = _data_signals(monitor, rows[950:])
    assert any(s[1] == "loan" for s in after)
    assert _data_signals(copy_, rows[950:]) == after
