"""A short learn/predict run of a model definition on inputs shaped like the real ones.

`driftline models check` runs it after the start-up checks, so a team sees its
model learn, predict, pickle and come back before deploying a config: what the
start-up checks cannot see (a parameter River accepts but fails on at the first
``learn_one``, a factory's pipeline that expects a feature the events lack)
shows here, with the row and the call that failed.

Inputs are the feature vectors the model would be served: the source's first
events' features when it can be read ahead (a file, the built-in stream) run
through the configured feature set (windows and the feature function), or random
numbers otherwise. Labels are
synthetic, of ``model.label_type`` (and ``model.classes`` when set).
"""

from __future__ import annotations

import math
import pickle
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from driftline.flows.config import ModelConfig
from driftline.flows.features.feature_set import FeatureSet, vectorize
from driftline.flows.parse.events import Event
from driftline.flows.scoring.challenger import prediction_of
from driftline.flows.scoring.definition import ModelDefinition, ModelDefinitionError

SMOKE_ROWS = 300
RANDOM_FEATURES = 5  # numbers per random input when the source cannot be read ahead


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke test did: rows learned, how many the model predicted, pickle size."""

    rows: int
    predicted: int  # rows the model gave a prediction for (before learning each)
    inputs: int  # input names per row (the widest)
    pickled_bytes: int
    seconds: float


def smoke_inputs(
    feature_set: FeatureSet, samples: Iterable[Mapping[str, object]] | None, rows: int, seed: int
) -> list[dict[str, float]]:
    """`rows` model inputs: the samples' features (repeated when fewer) through the
    feature set, as one entity's events a second apart, or random numbers."""
    rng = random.Random(seed)
    raw: list[dict[str, Any]] = [dict(s) for s in samples or ()]
    if not raw:
        raw = [{f"x{j}": rng.gauss(0.0, 1.0) for j in range(RANDOM_FEATURES)} for _ in range(rows)]
    state = feature_set.new_state()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    inputs = []
    for i in range(rows):
        event = Event(id=f"smoke-{i}", key="smoke", ts=t0 + timedelta(seconds=i),
                      features=raw[i % len(raw)])  # fmt: skip
        try:
            inputs.append(feature_set.featurize(state, event, 0.0).x)
        except Exception:  # a feature function's failure is the feature step's, not the model's
            inputs.append(vectorize(event.features))
    return inputs


def smoke_labels(cfg: ModelConfig, task: str, rows: int, seed: int) -> list[Any]:
    """Synthetic labels the model must accept: of `model.label_type` and `model.classes`."""
    rng = random.Random(seed + 1)
    if task == "regression":
        return [rng.gauss(10.0, 3.0) for _ in range(rows)]
    examples: dict[str, list[Any]] = {"int": [0, 1, 2], "str": ["a", "b", "c"]}
    choices = list(cfg.classes or examples.get(cfg.label_type, [True, False]))
    return [rng.choice(choices) for _ in range(rows)]


def smoke_test(
    definition: ModelDefinition,
    cfg: ModelConfig,
    inputs: list[dict[str, float]],
) -> SmokeResult:
    """Predict then learn each input, pickle and unpickle the trained model, predict again.

    Raises :class:`ModelDefinitionError` naming the definition's key, the call and
    the row that failed.
    """
    started = time.perf_counter()
    where = definition.source
    try:
        model = definition.build(cfg.seed)
    except ModelDefinitionError:
        raise
    except Exception as exc:
        raise ModelDefinitionError(f"{where}: building the model failed: {exc!r}") from exc
    labels = smoke_labels(cfg, definition.task, len(inputs), cfg.seed)
    predicted = 0
    for i, (x, y) in enumerate(zip(inputs, labels, strict=True)):
        for call in ("predict", "learn_one"):
            try:
                if call == "predict":
                    predicted += prediction_of(model, definition.task, x) is not None
                else:
                    model.learn_one(x, y)
            except Exception as exc:
                raise ModelDefinitionError(
                    f"{where}: {definition.name} failed in {call} on smoke-test row {i} "
                    f"(label {y!r}, inputs {sorted(x)[:6]}...): {exc!r}"
                ) from exc
    try:
        blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        restored = pickle.loads(blob)
    except Exception as exc:
        raise ModelDefinitionError(
            f"{where}: {definition.name} cannot be pickled once trained ({exc!r}); model "
            "snapshots and recovery need it"
        ) from exc
    if inputs:
        before = prediction_of(model, definition.task, inputs[-1])
        after = prediction_of(restored, definition.task, inputs[-1])
        if not _same(before, after):
            raise ModelDefinitionError(
                f"{where}: {definition.name} predicts {after!r} after a pickle round trip, "
                f"{before!r} before: snapshots would not restore it"
            )
    return SmokeResult(
        rows=len(inputs),
        predicted=predicted,
        inputs=max((len(x) for x in inputs), default=0),
        pickled_bytes=len(blob),
        seconds=time.perf_counter() - started,
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)
