"""The synthetic streams with known drift points the detectors are scored on.

Concept drift: labelled River generators chained into abrupt or gradual drifts
(:func:`driftline.connectors.builtin.chain_concepts`, as the ``builtin`` source
does), incremental drifts switched on for a span, and stable streams; the
stream's catalog model learns online on each (predict, then learn) and
:func:`error_stream` is its errors, which every concept setting replays. The
*error-level* streams (:func:`level_streams`) are long stable streams whose
model settles at a chosen error rate (a linear concept with label noise), plus
a multi-class and a regression one, each learned by a linear model, for false
alarms per 100k events at each error level; two of the linear ones also get
abrupt drifts. The same multi-class and regression streams learned by Hoeffding
adaptive trees are reported beside them (``tree`` levels): a tree's error has
bursts of its own (a split's new leaves), real rises of that model's error that
no gate on the error stream can tell from drift. Data
drift: a covariate shift (one feature shifted or scaled from index k) is added
to a stable generator's features (:func:`feature_rows`, :func:`shifted`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from river.datasets import synth

from driftline.connectors.builtin import chain_concepts
from driftline.flows.config import ModelConfig
from driftline.flows.scoring.catalog import CATALOG
from driftline.flows.scoring.definition import Model, ModelDefinition, model_definition

XY = tuple[dict[Any, Any], Any]

#: The models the streams name: the catalog's, and a multi-class linear model
#: defined as a user's `model.pipeline` would define it.
MODELS: dict[str, ModelDefinition] = {
    **CATALOG,
    "softmax": model_definition(
        ModelConfig(
            pipeline=[
                {"estimator": "river.preprocessing.StandardScaler"},
                {"estimator": "river.linear_model.SoftmaxRegression"},
            ],
            label_type="int",
        )
    ),
}


def build_model(name: str, seed: int) -> Model:
    """A fresh model of the stream's kind (:data:`MODELS`)."""
    return MODELS[name].build(seed)


def is_classifier(name: str) -> bool:
    return MODELS[name].task == "classification"


#: Level names of the tree-model streams: reported, not part of the targets.
TREE_LEVELS = ("multi-class (tree)", "regression (tree)")


# --------------------------------------------------------------------------- concept drift


@dataclass(frozen=True)
class ConceptStream:
    """A labelled stream with known drift points (empty for a stable stream)."""

    name: str
    kind: str  # abrupt | gradual | incremental | stable
    model: str  # catalog model learning on it
    drifts: tuple[int, ...]
    width: int  # events the change is spread over (window starts width/2 early)
    make: Callable[[int, int], Iterator[XY]]  # (seed, n) -> rows
    events: int  # the stream's length
    level: str | None = None  # the error level it stands for (error-level stable streams)


def _take(dataset: Any, n: int) -> Iterator[XY]:
    yield from dataset.take(n)


def _switch(gen: Any, attr: str, value: float, start: int, stop: int, n: int) -> Iterator[XY]:
    """Rows of `gen` with `attr` set to `value` during [start, stop): incremental drift."""
    for i, row in enumerate(iter(gen)):
        if i >= n:
            return
        if i == start:
            setattr(gen, attr, value)
        elif i == stop:
            setattr(gen, attr, 0.0)
        yield row


def _onehot(rows: Iterator[XY]) -> Iterator[XY]:
    """STAGGER's categorical codes as one-hot features (as the product encodes strings)."""
    for x, y in rows:
        yield {f"{k}={v}": 1.0 for k, v in x.items()}, y


def _sea(fs: Sequence[int], pts: Sequence[int], width: int) -> Callable[[int, int], Iterator[XY]]:
    def make(seed: int, n: int) -> Iterator[XY]:
        concepts = [synth.SEA(variant=v, noise=0.05, seed=seed + i) for i, v in enumerate(fs)]
        return _take(chain_concepts(concepts, pts, width, seed), n)

    return make


def _agrawal(
    fs: Sequence[int], pts: Sequence[int], width: int
) -> Callable[[int, int], Iterator[XY]]:
    def make(seed: int, n: int) -> Iterator[XY]:
        concepts = [
            synth.Agrawal(classification_function=f, seed=seed + i) for i, f in enumerate(fs)
        ]
        return _take(chain_concepts(concepts, pts, width, seed), n)

    return make


def _stagger(fs: Sequence[int], pts: Sequence[int]) -> Callable[[int, int], Iterator[XY]]:
    def make(seed: int, n: int) -> Iterator[XY]:
        concepts = [
            synth.STAGGER(classification_function=f, seed=seed + i) for i, f in enumerate(fs)
        ]
        return _onehot(_take(chain_concepts(concepts, pts, 1, seed), n))

    return make


def _hyperplane(start: int | None, span: int) -> Callable[[int, int], Iterator[XY]]:
    def make(seed: int, n: int) -> Iterator[XY]:
        gen = synth.Hyperplane(
            seed=seed, n_features=10, n_drift_features=5, mag_change=0.0, sigma=0.0,
            noise_percentage=0.05,
        )  # fmt: skip
        on = start if start is not None else n + 1
        return _switch(gen, "mag_change", 0.001, on, on + span, n)

    return make


def _rbf(start: int | None, span: int) -> Callable[[int, int], Iterator[XY]]:
    def make(seed: int, n: int) -> Iterator[XY]:
        gen = synth.RandomRBFDrift(
            seed_model=seed, seed_sample=seed, n_centroids=50, change_speed=0.0,
            n_drift_centroids=50,
        )  # fmt: skip
        on = start if start is not None else n + 1
        return _switch(gen, "change_speed", 0.001, on, on + span, n)

    return make


def _friedman(pts: Sequence[int] | None) -> Callable[[int, int], Iterator[XY]]:
    def make(seed: int, n: int) -> Iterator[XY]:
        if pts is None:
            return _take(synth.Friedman(seed=seed), n)
        return _take(synth.FriedmanDrift(drift_type="gra", position=tuple(pts), seed=seed), n)

    return make


# ------------------------------------------------------------- error-level streams

LEVELS = (0.005, 0.02, 0.10, 0.30)  # label-flip rates of the linear error-level streams
LOW_LEVELS = (0.005, 0.02)  # the levels that also get a stream with abrupt drifts
LEVEL_EVENTS = 100_000  # per error-level stream and seed
LINEAR_FEATURES = 5
MARGIN = 0.1  # no point closer than this to the boundary: the model's own error is ~0
ROTATION = math.radians(25)  # an abrupt drift turns the boundary by this angle
BLOB_CLASSES, BLOB_SPREAD, BLOB_FLIP = 4, 0.12, 0.05


def _pct(rate: float) -> str:
    return f"{100 * rate:g}%"


def _unit(v: np.ndarray) -> np.ndarray:
    return np.asarray(v / np.linalg.norm(v))


def _linear(flip: float, pts: Sequence[int] = ()) -> Callable[[int, int], Iterator[XY]]:
    """A fixed linear boundary through the centre of [-1, 1]^5, labels flipped at rate
    `flip`; at each point of `pts` the boundary turns by :data:`ROTATION`.

    Points nearer the boundary than :data:`MARGIN` are not drawn, so the online
    logistic regression learns the boundary almost exactly and its error settles
    at the flip rate: measured 0.52 %, 1.99 %, 10.0 % and 31.0 % after the
    warm-up for flips of 0.5, 2, 10 and 30 % (100k events, seed 1). A 25° turn
    makes about 10 % of the points change label (measured in the table's rise).
    """

    def make(seed: int, n: int) -> Iterator[XY]:
        rng = np.random.default_rng(seed)
        w = _unit(rng.normal(size=LINEAR_FEATURES))
        concepts = [w]
        for _ in pts:
            u = _unit(rng.normal(size=LINEAR_FEATURES))
            u = _unit(u - (u @ w) * w)  # a direction at right angles to the boundary's
            w = math.cos(ROTATION) * w + math.sin(ROTATION) * u
            concepts.append(w)
        names = [f"x{i}" for i in range(LINEAR_FEATURES)]
        i = 0
        while i < n:
            w = concepts[bisect.bisect_right(pts, i)]
            x = rng.uniform(-1.0, 1.0, size=LINEAR_FEATURES)
            side = float(x @ w)
            if abs(side) < MARGIN:
                continue
            yield dict(zip(names, x.tolist(), strict=True)), (side > 0) != (rng.random() < flip)
            i += 1

    return make


def _blobs(seed: int, n: int) -> Iterator[XY]:
    """4 classes: Gaussian blobs around centres drawn in [0, 1]^5, 5 % of labels
    replaced by another class (the catalog's Hoeffding adaptive tree settles at
    6-8 %, measured per seed in the table)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.0, 1.0, size=(BLOB_CLASSES, LINEAR_FEATURES))
    names = [f"x{i}" for i in range(LINEAR_FEATURES)]
    for _ in range(n):
        c = int(rng.integers(BLOB_CLASSES))
        x = centres[c] + rng.normal(0.0, BLOB_SPREAD, size=LINEAR_FEATURES)
        if rng.random() < BLOB_FLIP:
            c = (c + int(rng.integers(1, BLOB_CLASSES))) % BLOB_CLASSES
        yield dict(zip(names, x.tolist(), strict=True)), c


def level_streams(n: int) -> list[ConceptStream]:
    """Stable streams of `n` events at each error level: linear (logreg), multi-class
    blobs (StandardScaler | SoftmaxRegression) and Friedman regression (`linreg`,
    absolute error); then the blobs and Friedman streams learned by the catalog's
    trees (`hat`, `hatr`: :data:`TREE_LEVELS`) over n/2 events."""
    linear = [
        ConceptStream(f"linear-{_pct(f)}", "stable", "logreg", (), 0, _linear(f), n, _pct(f))
        for f in LEVELS
    ]
    m = n // 2  # the tree models cost 250-400 µs an event, ten times logreg
    multi, regression = TREE_LEVELS
    return [
        *linear,
        ConceptStream("blobs-4class", "stable", "softmax", (), 0, _blobs, n, "multi-class"),
        ConceptStream("friedman-long", "stable", "linreg", (), 0, _friedman(None), n, "regression"),
        ConceptStream("blobs-4class-hat", "stable", "hat", (), 0, _blobs, m, multi),
        ConceptStream(
            "friedman-long-hatr", "stable", "hatr", (), 0, _friedman(None), m, regression
        ),
    ]


def concept_streams(n: int, level_n: int = LEVEL_EVENTS) -> list[ConceptStream]:
    """The concept-drift streams: the suite of length `n` (drifts at n/3 and 2n/3, or
    one at n/3), then the error-level streams of length `level_n`."""
    a, b = n // 3, 2 * n // 3
    pts = (a, b)
    span = 2_000  # incremental drifts change over this many events

    def s(
        name: str, kind: str, model: str, drifts: tuple[int, ...], width: int,
        make: Callable[[int, int], Iterator[XY]],
    ) -> ConceptStream:  # fmt: skip
        return ConceptStream(name, kind, model, drifts, width, make, n)

    return [
        s("sea-abrupt", "abrupt", "logreg", pts, 1, _sea((0, 3, 2), pts, 1)),
        s("sea-gradual", "gradual", "logreg", pts, 1000, _sea((0, 3, 2), pts, 1000)),
        s("agrawal-abrupt", "abrupt", "logreg", pts, 1, _agrawal((7, 6, 9), pts, 1)),
        s("agrawal-gradual", "gradual", "logreg", pts, 1000, _agrawal((7, 6, 9), pts, 1000)),
        s("stagger-abrupt", "abrupt", "logreg", pts, 1, _stagger((0, 1, 2), pts)),
        s("hyperplane-incr", "incremental", "logreg", (a,), 0, _hyperplane(a, span)),
        s("rbf-incr", "incremental", "logreg", (a,), 0, _rbf(a, span)),
        s("friedman-abrupt", "abrupt", "hatr", pts, 1, _friedman(pts)),
        *(
            s(f"linear-{_pct(flip)}-abrupt", "abrupt", "logreg", pts, 1, _linear(flip, pts))
            for flip in LOW_LEVELS
        ),
        s("sea-stable", "stable", "logreg", (), 0, _sea((0,), (), 1)),
        s("agrawal-stable", "stable", "logreg", (), 0, _agrawal((7,), (), 1)),
        s("stagger-stable", "stable", "logreg", (), 0, _stagger((0,), ())),
        s("hyperplane-stable", "stable", "logreg", (), 0, _hyperplane(None, 0)),
        s("rbf-stable", "stable", "logreg", (), 0, _rbf(None, 0)),
        s("friedman-stable", "stable", "hatr", (), 0, _friedman(None)),
        *level_streams(level_n),
    ]


def error_stream(stream: ConceptStream, seed: int, n: int) -> list[float]:
    """Predict-then-learn errors of the stream's catalog model: 0/1 or absolute error."""
    model = build_model(stream.model, seed)
    classify = is_classifier(stream.model)
    errors: list[float] = []
    for x, y in stream.make(seed, n):
        pred = model.predict_one(x)
        if classify:
            errors.append(0.0 if pred == y else 1.0)
        else:
            errors.append(abs(y - (pred or 0.0)))
        model.learn_one(x, y)
    return errors


# --------------------------------------------------------------------------- data drift


@dataclass(frozen=True)
class Shift:
    """A covariate shift of one feature from index `at`: x -> x*scale + delta*std."""

    name: str
    delta: float = 0.0
    scale: float = 1.0


SHIFTS = (
    Shift("stable"),
    Shift("mean +0.1 sd", delta=0.1),
    Shift("mean +0.25 sd", delta=0.25),
    Shift("mean +0.5 sd", delta=0.5),
    Shift("scale x1.1", scale=1.1),
    Shift("scale x1.5", scale=1.5),
)
DATA_GENERATORS = {"agrawal": "salary", "friedman": "x3"}  # generator -> shifted feature


def feature_rows(generator: str, seed: int, n: int) -> list[dict[str, float]]:
    """Raw features of a stable generator (labels dropped), names as strings."""
    if generator == "agrawal":
        gen: Any = synth.Agrawal(classification_function=0, seed=seed)
    else:
        gen = synth.Friedman(seed=seed)
    return [
        {(k if isinstance(k, str) else f"x{k}"): v for k, v in x.items()} for x, _ in gen.take(n)
    ]


def shifted(
    rows: list[dict[str, float]], feature: str, shift: Shift, at: int
) -> list[dict[str, float]]:
    """A copy of `rows` with the shift applied to `feature` from index `at`."""
    if shift.name == "stable":
        return rows
    std = float(np.std([r[feature] for r in rows[:at]]))
    out = rows[:at]
    for r in rows[at:]:
        r = dict(r)
        r[feature] = r[feature] * shift.scale + shift.delta * std
        out.append(r)
    return out


def data_shift_point(n: int) -> int:
    """Not aligned with any window, so delays include the partial window."""
    return n // 2 + 300
