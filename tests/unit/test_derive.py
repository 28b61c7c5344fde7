"""The feature function (features.derive): what it is given, what it may return, its checks."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from driftline.flows.config import FeaturesConfig, StartupError, WindowSpec, load_settings
from driftline.flows.features.derive import DeriveError, FeatureFunction
from driftline.flows.features.feature_set import FeatureSet
from driftline.flows.features.startup import check_feature_function
from driftline.flows.parse.events import Event

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOWS = [WindowSpec(field="amount", period=timedelta(minutes=5), stats=["count", "mean"])]


def ev(i: int, seconds: float, amount: Any = 10.0) -> Event:
    return Event(
        id=f"e{i}", key="k", ts=T0 + timedelta(seconds=seconds), features={"amount": amount}
    )


def with_function(fn: Any) -> FeatureSet:
    config = FeaturesConfig(windows=WINDOWS, derive="tests:fn", derive_version="1")
    return FeatureSet(config, FeatureFunction(fn, "tests:fn", "1"))


def test_it_gets_the_event_and_the_served_windows_and_its_result_is_served() -> None:
    seen: list[tuple[str, dict[str, float]]] = []

    def derive(event: Event, windows: Mapping[str, float]) -> dict[str, Any]:
        seen.append((event.id, dict(windows)))
        mean = windows["amount_mean_5m"]
        return {"vs_mean": event.features["amount"] / mean if mean else 0.0, "big": mean > 15}

    fs = with_function(derive)
    state = fs.new_state()
    fs.featurize(state, ev(1, 0, 10.0), 0.0)
    x = fs.featurize(state, ev(2, 60, 30.0), 0.0).x
    assert seen[1] == (
        "e2",
        {"secs_since_last": 60.0, "amount_count_5m": 1.0, "amount_mean_5m": 10.0},
    )
    assert x["vs_mean"] == 3.0 and x["big"] == 0.0  # the window before e2: only e1
    assert list(x) == ["amount", "secs_since_last", "amount_count_5m", "amount_mean_5m",
                       "vs_mean", "big"]  # fmt: skip
    x3 = fs.featurize(state, ev(3, 61, 0.0), 0.0).x
    assert x3["big"] == 1.0 and x3["vs_mean"] == 0.0  # bools are 0/1


def test_the_windows_it_gets_cannot_change_what_is_served() -> None:
    def meddle(event: Event, windows: Any) -> dict[str, float]:
        windows["amount_count_5m"] = 99.0
        return {}

    fs = with_function(meddle)
    with pytest.raises(DeriveError, match="raised TypeError"):
        fs.featurize(fs.new_state(), ev(1, 0), 0.0)


def test_numpy_numbers_are_numbers() -> None:
    fs = with_function(lambda e, w: {"a": np.float32(1.5), "b": np.int64(2), "c": np.float64(3)})
    x = fs.featurize(fs.new_state(), ev(1, 0), 0.0).x
    assert (x["a"], x["b"], x["c"]) == (1.5, 2.0, 3.0)
    assert all(type(x[k]) is float for k in "abc")


@pytest.mark.parametrize(
    ("result", "error"),
    [
        ({"r": math.nan}, r"returned 'r' = nan: not a finite number"),
        ({"r": math.inf}, r"returned 'r' = inf: not a finite number"),
        ({"r": np.float64("nan")}, r"returned 'r' = .*nan.*: not a finite number"),
        ({"r": "high"}, r"returned 'r' = 'high': not a finite number"),
        ({"r": None}, r"returned 'r' = None: not a finite number"),
        ({"r": 10**400}, r"not a finite number"),
        ({1: 1.0}, r"returned the name 1: not a text"),
        ({"": 1.0}, r"returned the name '': not a text"),
        ([("r", 1.0)], r"returned list, not a mapping"),
        (None, r"returned NoneType, not a mapping"),
        ({"amount": 1.0}, r"returned 'amount', which the event already has"),
        ({"amount_mean_5m": 1.0}, r"returned 'amount_mean_5m', which the event already has"),
        ({"secs_since_last": 1.0}, r"returned 'secs_since_last', which the event already has"),
    ],
)
def test_what_it_must_not_return(result: Any, error: str) -> None:
    fs = with_function(lambda e, w: result)
    with pytest.raises(DeriveError, match=error) as caught:
        fs.featurize(fs.new_state(), ev(1, 0), 0.0)
    assert str(caught.value).startswith("features.derive 'tests:fn' ")


def test_its_exception_is_named_with_its_text() -> None:
    def broken(event: Event, windows: Mapping[str, float]) -> dict[str, float]:
        return {"r": 1 / windows["amount_count_5m"]}

    fs = with_function(broken)
    with pytest.raises(
        DeriveError, match=r"'tests:fn' raised ZeroDivisionError: float division by zero"
    ):
        fs.featurize(fs.new_state(), ev(1, 0), 0.0)


def test_a_failed_event_still_enters_its_windows() -> None:
    """It happened: only its features cannot be served."""
    fs = with_function(lambda e, w: {"r": math.nan} if e.id == "e1" else {})
    state = fs.new_state()
    with pytest.raises(DeriveError):
        fs.featurize(state, ev(1, 0, 10.0), 0.0)
    assert fs.featurize(state, ev(2, 1), 0.0).x["amount_count_5m"] == 1.0


# -- the feature step: dead letters, counted; the rest served ---------------------------------


def test_the_feature_step_dead_letters_failures_and_serves_the_rest() -> None:
    from driftline.flows.features.step import FeatureLogic, is_featured
    from driftline.flows.outputs import telemetry
    from driftline.flows.records import DeadLetter

    def derive(event: Event, windows: Mapping[str, float]) -> dict[str, float]:
        if event.id == "e1":
            raise KeyError("merchant")
        return {"r": math.nan if event.id == "e3" else 1.0}

    counter = telemetry.DEAD_LETTERS.labels("features", "derive")
    before = counter._value.get()
    logic = FeatureLogic(with_function(derive), None, recovering=False)
    out, _ = logic.on_batch([[(i, 0.0, ev(i, i)) for i in range(5)]])
    served = [o for o in out if o.__class__ is not DeadLetter]
    dead = [o for o in out if isinstance(o, DeadLetter)]
    assert sorted(f.event.id for f in served) == ["e0", "e2", "e4"]
    assert [(d.stage, d.reason, d.source) for d in dead] == [("features", "derive", "events")] * 2
    assert "raised KeyError: 'merchant'" in dead[0].error and '"id":"e1"' in dead[0].raw
    assert "'r' = nan" in dead[1].error and '"id":"e3"' in dead[1].raw
    assert counter._value.get() == before + 2
    assert [is_featured(("p", o)) for o in out] == [True, True, True, False, False]


# -- settings and start-up ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("features", "key"),
    [
        ({"derive": "team:derive"}, "features.derive_version"),
        ({"derive_version": "1"}, "features.derive_version is set without features.derive"),
        ({"windows": [{"period": "5m", "stats": ["distinct"]}]}, "features.windows[0].stats"),
        ({"windows": [{"period": "5m", "stats": ["max"]}]}, "features.windows[0].stats"),
        (
            {
                "windows": [
                    {"period": "1h"},
                    {"field": "m", "period": "5m", "stats": ["mean", "same"]},
                ]
            },
            "features.windows[1].stats",
        ),
        ({"windows": [{"field": "m", "period": "5m", "top_k": 3}]}, "features.windows[0].top_k"),
        ({"windows": [{"field": "m", "period": "5m", "stats": ["top"], "top_k": 11}]}, "top_k"),
        ({"windows": [{"field": "m", "period": "5m", "stats": ["median"]}]}, "stats"),
    ],
)
def test_bad_feature_settings_name_the_key(features: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_settings(None, {"features": features})
    assert key in str(caught.value)


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    (tmp_path / "unit_features.py").write_text(
        "def ratio(event, windows):\n"
        "    return {'ratio': event.features['a'] / event.features['b']}\n"
        "def clash(event, windows):\n"
        "    return {'events_count_5m': 1.0}\n"
        "NOT_CALLABLE = 3\n"
    )
    yield tmp_path
    sys.modules.pop("unit_features", None)


def config(path: str) -> FeaturesConfig:
    return FeaturesConfig(derive=path, derive_version="1")


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("unit_features:nope", "features.derive: module 'unit_features' has no attribute 'nope'"),
        ("unit_features:NOT_CALLABLE", "features.derive: 'unit_features:NOT_CALLABLE' is a int"),
        ("no_such_module_here:derive", "features.derive: cannot import module"),
    ],
)
def test_a_path_that_names_no_function_is_a_start_up_error(
    plugin_dir: Path, path: str, error: str
) -> None:
    with pytest.raises(StartupError, match=error):
        check_feature_function(config(path), lambda: None)


def sampled(*features: dict[str, Any]) -> list[Event]:
    return [Event(id=f"s{i}", key="k", ts=T0 + timedelta(seconds=i), features=f)
            for i, f in enumerate(features)]  # fmt: skip


def test_failing_on_every_sampled_event_is_a_start_up_error(plugin_dir: Path) -> None:
    with pytest.raises(StartupError, match=r"failed on every one of the first 2 events.*"
                       r"returned 'events_count_5m', which the event already has"):  # fmt: skip
        check_feature_function(config("unit_features:clash"), lambda: sampled({"a": 1}, {"a": 2}))


def test_failing_on_some_sampled_events_warns(
    plugin_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    samples = sampled({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 0.0}, {"a": 3.0, "b": 1.0})
    with caplog.at_level(logging.WARNING, logger="driftline"):
        check_feature_function(config("unit_features:ratio"), lambda: samples)
    [record] = caplog.records
    assert record.setting == "features.derive" and (record.failed, record.events) == (1, 3)
    assert "ZeroDivisionError" in record.first_error
    check_feature_function(config("unit_features:ratio"), lambda: None)  # cannot read ahead


def test_samples_are_read_only_when_there_is_a_function() -> None:
    def never() -> list[Event]:
        raise AssertionError("sampled without a feature function")

    check_feature_function(FeaturesConfig(), never)
