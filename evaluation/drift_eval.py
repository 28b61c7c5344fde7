"""`driftline drift-eval`: measured detection delay, missed drifts and false alarms.

Everything runs offline on River's synthetic generators with known drift points
and fixed seeds, so the same command prints the same table (timings aside).

Concept drift: an online catalog model (predict, then learn) runs once over each
stream; its error stream (0/1, or absolute error for regression) is replayed
through :class:`driftline.flows.drift.ConceptDriftMonitor` for every detector setting, so
all settings see exactly the same errors. The model is *not* replaced on an
alert here (the product's ``on_concept_drift = "reset"`` would change the error
stream per setting); the monitor's own gates (warm-up, cooldown, reference
reset) behave as in the product.

Data drift: a covariate shift (one feature shifted or scaled from index k) is
added to a stable generator's features, and each method watches all numeric
features: the product's window KS (:class:`driftline.flows.drift.DataDriftMonitor`),
PSI and chi-square over quantile bins of a reference window, and River KSWIN fed
a sample of the events.

A detection counts for a drift when it falls in
``[point - width/2, point + max_delay]``; the first one there is the detection,
later ones there are repeats, and alarms anywhere else are false alarms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from river import drift
from river.datasets import synth
from scipy.stats import chi2 as chi2_dist

from driftline.connectors.builtin import chain_concepts
from driftline.flows.config import DriftConfig
from driftline.flows.drift import ConceptDriftMonitor, DataDriftMonitor
from driftline.flows.scoring.catalog import CATALOG, build_model

MAX_DELAY = 2_000  # concept drift: events after the drift point a detection may take
DATA_MAX_DELAY = 5_000  # data drift: a 5,000-event window still fits
RANDOM_RATE = 1 / 5_000  # the random baseline fires on average once per 5,000 events
DEFAULT_SEEDS = (1, 2, 3)
CALIBRATION_SEEDS = (901, 902, 903)  # stable runs that set calibrated thresholds
XY = tuple[dict[Any, Any], Any]


# --------------------------------------------------------------------------- streams


@dataclass(frozen=True)
class ConceptStream:
    """A labelled stream with known drift points (empty for a stable stream)."""

    name: str
    kind: str  # abrupt | gradual | incremental | stable
    model: str  # catalog model learning on it
    drifts: tuple[int, ...]
    width: int  # events the change is spread over (window starts width/2 early)
    make: Callable[[int, int], Iterator[XY]]  # (seed, n) -> rows


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


def concept_streams(n: int) -> list[ConceptStream]:
    """The concept-drift streams of length `n`: drifts at n/3 and 2n/3, or one at n/3."""
    a, b = n // 3, 2 * n // 3
    pts = (a, b)
    span = 2_000  # incremental drifts change over this many events
    return [
        ConceptStream("sea-abrupt", "abrupt", "logreg", pts, 1, _sea((0, 3, 2), pts, 1)),
        ConceptStream("sea-gradual", "gradual", "logreg", pts, 1000, _sea((0, 3, 2), pts, 1000)),
        ConceptStream("agrawal-abrupt", "abrupt", "logreg", pts, 1, _agrawal((7, 6, 9), pts, 1)),
        ConceptStream(
            "agrawal-gradual", "gradual", "logreg", pts, 1000, _agrawal((7, 6, 9), pts, 1000)
        ),
        ConceptStream("stagger-abrupt", "abrupt", "logreg", pts, 1, _stagger((0, 1, 2), pts)),
        ConceptStream("hyperplane-incr", "incremental", "logreg", (a,), 0, _hyperplane(a, span)),
        ConceptStream("rbf-incr", "incremental", "logreg", (a,), 0, _rbf(a, span)),
        ConceptStream("friedman-abrupt", "abrupt", "hatr", pts, 1, _friedman(pts)),
        ConceptStream("sea-stable", "stable", "logreg", (), 0, _sea((0,), (), 1)),
        ConceptStream("agrawal-stable", "stable", "logreg", (), 0, _agrawal((7,), (), 1)),
        ConceptStream("stagger-stable", "stable", "logreg", (), 0, _stagger((0,), ())),
        ConceptStream("hyperplane-stable", "stable", "logreg", (), 0, _hyperplane(None, 0)),
        ConceptStream("rbf-stable", "stable", "logreg", (), 0, _rbf(None, 0)),
        ConceptStream("friedman-stable", "stable", "hatr", (), 0, _friedman(None)),
    ]


def error_stream(stream: ConceptStream, seed: int, n: int) -> list[float]:
    """Predict-then-learn errors of the stream's catalog model: 0/1 or absolute error."""
    model = build_model(stream.model, seed)
    classify = CATALOG[stream.model].task == "classification"
    errors: list[float] = []
    for x, y in stream.make(seed, n):
        pred = model.predict_one(x)
        if classify:
            errors.append(0.0 if pred == y else 1.0)
        else:
            errors.append(abs(y - (pred or 0.0)))
        model.learn_one(x, y)
    return errors


# --------------------------------------------------------------------------- scoring


@dataclass
class Outcome:
    """Alarms of one setting on one stream, scored against the known drifts."""

    delays: list[int]
    missed: int
    false_alarms: int
    repeats: int
    quiet_events: int  # events outside detection windows (denominator for false alarms)
    stable: bool
    seconds: float
    updates: int


def score(
    alarms: Sequence[int], drifts: Sequence[int], width: int, n: int, max_delay: int,
    seconds: float = 0.0, updates: int = 0,
) -> Outcome:  # fmt: skip
    """Match alarm indexes (0-based event index) to drift windows."""
    windows = [(max(0, d - width // 2), min(n - 1, d + max_delay)) for d in drifts]
    first: list[int | None] = [None] * len(drifts)
    false_alarms = repeats = 0
    for t in alarms:
        hit = next((i for i, (lo, hi) in enumerate(windows) if lo <= t <= hi), None)
        if hit is None:
            false_alarms += 1
        elif first[hit] is None:
            first[hit] = t
        else:
            repeats += 1
    delays = [t - d for t, d in zip(first, drifts, strict=True) if t is not None]
    covered = sum(hi - lo + 1 for lo, hi in windows)
    return Outcome(
        delays, first.count(None), false_alarms, repeats, n - covered, not drifts, seconds, updates
    )


def summarize(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Aggregate outcomes of one setting over streams and seeds."""
    delays = [d for o in outcomes for d in o.delays]
    total = sum(len(o.delays) + o.missed for o in outcomes if not o.stable)
    stable = [o for o in outcomes if o.stable]
    drifting = [o for o in outcomes if not o.stable]
    fa_stable = sum(o.false_alarms for o in stable)
    ev_stable = sum(o.quiet_events for o in stable)
    fa_drift = sum(o.false_alarms for o in drifting)
    ev_drift = sum(o.quiet_events for o in drifting)
    updates = sum(o.updates for o in outcomes)
    return {
        "detected": len(delays),
        "drifts": total,
        "missed": total - len(delays),
        "mean_delay": round(statistics.fmean(delays), 1) if delays else None,
        "median_delay": round(statistics.median(delays), 1) if delays else None,
        "max_delay": max(delays) if delays else None,
        "false_alarms_stable": fa_stable,
        "fa_per_10k_stable": round(1e4 * fa_stable / ev_stable, 3) if ev_stable else None,
        "false_alarms_drifting": fa_drift,
        "fa_per_10k_drifting": round(1e4 * fa_drift / ev_drift, 3) if ev_drift else None,
        "repeats": sum(o.repeats for o in drifting),
        "us_per_update": (
            round(1e6 * sum(o.seconds for o in outcomes) / updates, 2) if updates else None
        ),
    }


# --------------------------------------------------------------------------- concept drift


@dataclass(frozen=True)
class ConceptSetting:
    """A named detector setting: a DriftConfig for the product monitor, or a baseline."""

    name: str
    config: DriftConfig | None  # None = baseline (never / random)


def _cfg(**kw: Any) -> DriftConfig:
    return DriftConfig(**kw)


def concept_settings(quick: bool = False) -> list[ConceptSetting]:
    """The settings compared; the first real one is the product default."""
    base = [
        ConceptSetting("never", None),
        ConceptSetting("random", None),
        ConceptSetting("adwin (default)", _cfg()),
    ]
    if quick:
        return [*base, ConceptSetting("ddm", _cfg(concept_detector="ddm"))]
    return [
        *base,
        ConceptSetting("adwin delta=0.0002", _cfg(adwin_delta=0.0002)),
        ConceptSetting("adwin delta=0.02", _cfg(adwin_delta=0.02)),
        ConceptSetting(
            "adwin delta=0.02 min_increase=0.1", _cfg(adwin_delta=0.02, min_increase=0.1)
        ),
        ConceptSetting("adwin min_increase=0", _cfg(min_increase=0.0)),
        ConceptSetting("adwin min_increase=0.1", _cfg(min_increase=0.1)),
        ConceptSetting("adwin min_increase=0.5", _cfg(min_increase=0.5)),
        ConceptSetting("adwin warmup=0", _cfg(warmup=0)),
        ConceptSetting(
            "adwin ungated", _cfg(warmup=0, cooldown=0, min_reference=1, min_increase=0.0)
        ),
        ConceptSetting("page_hinkley", _cfg(concept_detector="page_hinkley")),
        ConceptSetting("kswin", _cfg(concept_detector="kswin")),
        ConceptSetting("ddm", _cfg(concept_detector="ddm")),
        ConceptSetting("eddm", _cfg(concept_detector="eddm")),
    ]


SLOW = ("kswin", "kswin 1-in-50")  # run on the first seed only (hundreds of µs per update)


def _binary_only(setting: ConceptSetting) -> bool:
    return setting.config is not None and setting.config.concept_detector in ("ddm", "eddm")


def _seed_of(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def concept_alarms(setting: ConceptSetting, errors: Sequence[float], seed: int) -> list[int]:
    """Event indexes at which the setting alerts on this error stream."""
    if setting.config is None:
        if setting.name == "never":
            return []
        rng = random.Random(seed)
        return [i for i in range(len(errors)) if rng.random() < RANDOM_RATE]
    monitor = ConceptDriftMonitor(setting.config)
    update = monitor.update
    return [i for i, e in enumerate(errors) if update(e) is not None]


def _concept_task(args: tuple[str, int, int, bool, bool]) -> dict[str, Any]:
    """One (stream, seed): the error stream, then every setting on it."""
    name, seed, n, quick, slow = args
    stream = next(s for s in concept_streams(n) if s.name == name)
    t0 = time.perf_counter()
    errors = error_stream(stream, seed, n)
    model_s = time.perf_counter() - t0
    classify = CATALOG[stream.model].task == "classification"
    out: dict[str, Any] = {"stream": name, "seed": seed, "model_seconds": model_s, "rows": {}}
    for setting in concept_settings(quick):
        if (_binary_only(setting) and not classify) or (setting.name in SLOW and not slow):
            continue
        t0 = time.perf_counter()
        alarms = concept_alarms(setting, errors, _seed_of(name, seed, setting.name))
        secs = time.perf_counter() - t0
        out["rows"][setting.name] = score(
            alarms, stream.drifts, stream.width, n, MAX_DELAY, secs, n
        )
    return out


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


class BinMonitor:
    """Tumbling windows vs a reference window over quantile bins: PSI or chi-square.

    PSI alerts when sum((c - r) * ln(c / r)) over bins exceeds `threshold`;
    chi-square alerts when the two-sample chi-square test's p < `threshold`.
    Like the window KS, an alerting window becomes the new reference.
    """

    def __init__(self, window: int, threshold: float, kind: str = "psi", bins: int = 10) -> None:
        self.window, self.threshold, self.kind, self.bins = window, threshold, kind, bins
        self.current: dict[str, list[float]] = {}
        self.reference: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.filled = 0
        self.statistics: list[float] = []  # every PSI seen (for calibration)

    def update(self, features: dict[str, float]) -> list[str]:
        for name, value in features.items():
            self.current.setdefault(name, []).append(value)
        self.filled += 1
        if self.filled < self.window:
            return []
        alerts = [name for name, v in self.current.items() if self._test(name, np.asarray(v))]
        self.current, self.filled = {}, 0
        return alerts

    def _set_reference(self, name: str, values: np.ndarray) -> None:
        edges = np.unique(np.quantile(values, np.linspace(0, 1, self.bins + 1)[1:-1]))
        self.reference[name] = (edges, self._counts(edges, values))

    @staticmethod
    def _counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)

    def _test(self, name: str, values: np.ndarray) -> bool:
        ref = self.reference.get(name)
        if ref is None:
            self._set_reference(name, values)
            return False
        edges, ref_counts = ref
        cur_counts = self._counts(edges, values)
        if self.kind == "psi":
            r = (ref_counts + 0.5) / (ref_counts.sum() + 0.5 * len(ref_counts))
            c = (cur_counts + 0.5) / (cur_counts.sum() + 0.5 * len(cur_counts))
            stat = float(np.sum((c - r) * np.log(c / r)))
            self.statistics.append(stat)
            alert = stat > self.threshold
        else:
            alert = _chi2_p(ref_counts, cur_counts) < self.threshold
        if alert:
            self._set_reference(name, values)
        return alert


def _chi2_p(a: np.ndarray, b: np.ndarray) -> float:
    """p-value of the two-sample chi-square test of homogeneity on bin counts."""
    keep = (a + b) > 0
    a, b = a[keep].astype(float), b[keep].astype(float)
    if len(a) < 2:
        return 1.0
    total = a.sum() + b.sum()
    col = a + b
    ea, eb = col * a.sum() / total, col * b.sum() / total
    stat = float(np.sum((a - ea) ** 2 / ea) + np.sum((b - eb) ** 2 / eb))
    return float(chi2_dist.sf(stat, len(a) - 1))


class KSWINMonitor:
    """River KSWIN per feature, fed every `every`-th event (per-event is too slow)."""

    def __init__(self, every: int, alpha: float = 0.005, seed: int = 42) -> None:
        self.every, self.alpha, self.seed = every, alpha, seed
        self.detectors: dict[str, drift.KSWIN] = {}
        self.n = 0

    def update(self, features: dict[str, float]) -> list[str]:
        self.n += 1
        if self.n % self.every:
            return []
        alerts = []
        for name, value in features.items():
            det = self.detectors.get(name)
            if det is None:
                det = self.detectors[name] = drift.KSWIN(alpha=self.alpha, seed=self.seed)
            det.update(value)
            if det.drift_detected:
                alerts.append(name)
        return alerts


class KSMonitor:
    """The product's DataDriftMonitor, returning the names of alerting features."""

    def __init__(self, config: DriftConfig) -> None:
        self.inner = DataDriftMonitor(config)

    def update(self, features: dict[str, float]) -> list[str]:
        return [s.feature for s in self.inner.update(features)]


class RandomMonitor:
    """Fires on the whole event (feature '*') with probability RANDOM_RATE."""

    def __init__(self, seed: int, rate: float = RANDOM_RATE) -> None:
        self.rng, self.rate = random.Random(seed), rate

    def update(self, features: dict[str, float]) -> list[str]:
        return ["*"] if self.rng.random() < self.rate else []


_DEFAULTS = DriftConfig()  # the product's defaults: the "(default)" rows


@dataclass(frozen=True)
class DataSetting:
    name: str
    kind: str  # never | random | ks | psi | psi-cal | chi2 | kswin
    window: int = _DEFAULTS.data_window
    alpha: float = _DEFAULTS.data_alpha
    min_effect: float = _DEFAULTS.data_min_effect
    threshold: float = 0.1
    every: int = 20


def data_settings(quick: bool = False) -> list[DataSetting]:
    """The data-drift methods compared; the first window KS is the product default."""
    base = [
        DataSetting("never", "never"),
        DataSetting("random", "random"),
        DataSetting("window-ks (default)", "ks"),
    ]
    if quick:
        return [*base, DataSetting("psi w=2000 >0.1", "psi")]
    return [
        *base,
        DataSetting("window-ks w=500", "ks", window=500),
        DataSetting("window-ks w=1000", "ks", window=1000),
        DataSetting("window-ks w=5000", "ks", window=5000),
        DataSetting("window-ks alpha=1e-3 eff=0", "ks", alpha=1e-3, min_effect=0.0),
        DataSetting("window-ks eff=0.1", "ks", min_effect=0.1),
        DataSetting("window-ks w=1000 eff=0.1", "ks", window=1000, min_effect=0.1),
        DataSetting("psi w=2000 >0.1", "psi", threshold=0.1),
        DataSetting("psi w=2000 >0.25", "psi", threshold=0.25),
        DataSetting("psi-cal w=1000", "psi-cal", window=1000),
        DataSetting("psi-cal w=2000", "psi-cal", window=2000),
        DataSetting("chi2 w=2000 p<1e-6", "chi2"),
        DataSetting("kswin 1-in-50", "kswin", every=50),
    ]


def build_data_monitor(s: DataSetting, seed: int, calibrated: dict[int, float]) -> Any:
    """A monitor with `update(features) -> [alerting feature names]`."""
    if s.kind == "ks":
        return KSMonitor(
            DriftConfig(data_window=s.window, data_alpha=s.alpha, data_min_effect=s.min_effect)
        )
    if s.kind in ("psi", "psi-cal"):
        threshold = calibrated[s.window] if s.kind == "psi-cal" else s.threshold
        return BinMonitor(s.window, threshold, "psi")
    if s.kind == "chi2":
        return BinMonitor(s.window, s.alpha, "chi2")
    if s.kind == "kswin":
        return KSWINMonitor(s.every, seed=seed)
    return RandomMonitor(seed, RANDOM_RATE if s.kind == "random" else 0.0)


def data_alarms(
    monitor: Any, rows: Sequence[dict[str, float]], feature: str
) -> list[tuple[int, bool]]:
    """(index, is_on_the_shifted_feature) for every alert."""
    alarms = []
    update = monitor.update
    for i, row in enumerate(rows):
        for name in update(row):
            alarms.append((i, name in (feature, "*")))
    return alarms


def score_data(alarms: Sequence[tuple[int, bool]], at: int | None, n: int, secs: float) -> Outcome:
    """An alert on another feature is always a false alarm; the shifted one must be in time."""
    on_feature = [i for i, ok in alarms if ok]
    elsewhere = sum(1 for _, ok in alarms if not ok)
    out = score(on_feature, () if at is None else (at,), 0, n, DATA_MAX_DELAY, secs, n)
    out.false_alarms += elsewhere
    return out


def _data_task(args: tuple[str, int, int, bool, bool, dict[int, float]]) -> dict[str, Any]:
    """One (generator, seed): every shift, every method."""
    generator, seed, n, quick, slow, calibrated = args
    feature = DATA_GENERATORS[generator]
    at = data_shift_point(n)
    rows = feature_rows(generator, seed, n)
    out: dict[str, Any] = {"generator": generator, "seed": seed, "rows": {}}
    for shift in SHIFTS:
        data = shifted(rows, feature, shift, at)
        for s in data_settings(quick):
            if s.name in SLOW and not slow:
                continue
            monitor = build_data_monitor(
                s, _seed_of(generator, seed, shift.name, s.name), calibrated
            )
            t0 = time.perf_counter()
            alarms = data_alarms(monitor, data, feature)
            secs = time.perf_counter() - t0
            point = None if shift.name == "stable" else at
            out["rows"][(shift.name, s.name)] = score_data(alarms, point, n, secs)
    return out


def data_shift_point(n: int) -> int:
    """Not aligned with any window, so delays include the partial window."""
    return n // 2 + 300


def calibrate_psi(windows: Sequence[int], n: int, seeds: Sequence[int]) -> dict[int, float]:
    """PSI thresholds: 1.2 x the largest PSI on stable calibration runs (no false alarm)."""
    out: dict[int, float] = {}
    if not windows:
        return out
    feats = {g: [feature_rows(g, s, n) for s in seeds] for g in DATA_GENERATORS}
    for w in windows:
        stats: list[float] = []
        for runs in feats.values():
            for rows in runs:
                mon = BinMonitor(w, math.inf, "psi")
                for row in rows:
                    mon.update(row)
                stats.extend(mon.statistics)
        out[w] = round(1.2 * max(stats), 4)
    return out


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Plan:
    seeds: tuple[int, ...]
    concept_events: int
    data_events: int
    quick: bool
    jobs: int


def make_plan(quick: bool, seeds: Sequence[int] | None, jobs: int | None) -> Plan:
    """Default: 3 seeds, 24k-event concept streams, 30k-event data streams."""
    chosen = tuple(seeds) if seeds else ((1,) if quick else DEFAULT_SEEDS)
    return Plan(
        seeds=chosen,
        concept_events=9_000 if quick else 24_000,
        data_events=12_000 if quick else 30_000,
        quick=quick,
        jobs=jobs or min(2, os.cpu_count() or 1),
    )


QUICK_STREAMS = ("sea-abrupt", "agrawal-abrupt", "sea-stable")
QUICK_GENERATORS = ("friedman",)


def _call(task: tuple[Callable[[Any], Any], Any]) -> Any:
    return task[0](task[1])


def _map(fn: Callable[[Any], Any], tasks: list[Any], jobs: int) -> list[Any]:
    if jobs <= 1:
        return [fn(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(fn, tasks, chunksize=1))


def run(plan: Plan) -> dict[str, Any]:
    """Run every evaluation of the plan; returns a JSON-able result document."""
    t0 = time.perf_counter()
    streams = concept_streams(plan.concept_events)
    names = [s.name for s in streams if not plan.quick or s.name in QUICK_STREAMS]
    gens = [g for g in DATA_GENERATORS if not plan.quick or g in QUICK_GENERATORS]
    psi_windows = sorted({s.window for s in data_settings(plan.quick) if s.kind == "psi-cal"})
    calibrated = calibrate_psi(psi_windows, plan.data_events, CALIBRATION_SEEDS)
    first = plan.seeds[0]
    tasks: list[tuple[Callable[[Any], Any], Any]] = [
        (_concept_task, (nm, sd, plan.concept_events, plan.quick, sd == first))
        for nm in names
        for sd in plan.seeds
    ]
    tasks += [
        (_data_task, (g, sd, plan.data_events, plan.quick, sd == first, calibrated))
        for g in gens
        for sd in plan.seeds
    ]
    tasks.sort(key=lambda t: not t[1][4])  # the slow first-seed tasks first: better balance
    done = _map(_call, tasks, plan.jobs)
    c_done = [r for r in done if "stream" in r]
    d_done = [r for r in done if "generator" in r]
    return {
        "plan": {
            "seeds": list(plan.seeds),
            "concept_events": plan.concept_events,
            "data_events": plan.data_events,
            "max_delay": MAX_DELAY,
            "data_max_delay": DATA_MAX_DELAY,
            "random_rate": RANDOM_RATE,
            "quick": plan.quick,
            "jobs": plan.jobs,
            "nproc": os.cpu_count(),
            "psi_calibrated_thresholds": calibrated,
            "calibration_seeds": list(CALIBRATION_SEEDS),
        },
        "concept_streams": {
            s.name: {"kind": s.kind, "model": s.model, "drifts": list(s.drifts), "width": s.width}
            for s in streams
            if s.name in names
        },
        "concept": _concept_tables(c_done, plan.quick),
        "data": _data_tables(d_done, plan.quick),
        "model_seconds": round(sum(r["model_seconds"] for r in c_done), 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _concept_tables(done: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    overall, per_stream = {}, {}
    for s in concept_settings(quick):
        outs = [r["rows"][s.name] for r in done if s.name in r["rows"]]
        overall[s.name] = summarize(outs)
        streams = sorted({r["stream"] for r in done if s.name in r["rows"]})
        per_stream[s.name] = {
            st: summarize(
                [r["rows"][s.name] for r in done if r["stream"] == st and s.name in r["rows"]]
            )
            for st in streams
        }
    return {"overall": overall, "per_stream": per_stream}


def _data_tables(done: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    overall, per_shift = {}, {}
    for s in data_settings(quick):
        outs = [o for r in done for (sh, nm), o in r["rows"].items() if nm == s.name]
        overall[s.name] = summarize(outs)
        per_shift[s.name] = {
            sh.name: summarize(
                [
                    o
                    for r in done
                    for (k, nm), o in r["rows"].items()
                    if nm == s.name and k == sh.name
                ]
            )
            for sh in SHIFTS
        }
    return {"overall": overall, "per_shift": per_shift}


# --------------------------------------------------------------------------- output


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def _main_table(rows: dict[str, dict[str, Any]], unit: str) -> list[str]:
    lines = [
        f"| setting | detected | mean delay | median delay | max delay | FA/10k stable "
        f"| FA/10k drifting | repeats | µs/{unit} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['detected']}/{r['drifts']} | {_fmt(r['mean_delay'])} "
            f"| {_fmt(r['median_delay'])} | {_fmt(r['max_delay'])} "
            f"| {_fmt(r['fa_per_10k_stable'])} ({r['false_alarms_stable']}) "
            f"| {_fmt(r['fa_per_10k_drifting'])} ({r['false_alarms_drifting']}) "
            f"| {r['repeats']} | {_fmt(r['us_per_update'])} |"
        )
    return lines


def _breakdown(table: dict[str, dict[str, dict[str, Any]]], cols: Sequence[str]) -> list[str]:
    """detected/total (median delay) per column; FA count for stable columns."""
    lines = ["| setting | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, per in table.items():
        cells = []
        for c in cols:
            r = per.get(c)
            if r is None:
                cells.append("n/a")
            elif r["drifts"]:
                cells.append(f"{r['detected']}/{r['drifts']} ({_fmt(r['median_delay'])})")
            else:
                cells.append(f"FA {r['false_alarms_stable']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The result document as markdown tables."""
    p = result["plan"]
    out = [
        f"seeds {p['seeds']}, concept streams {p['concept_events']:,} events, data streams "
        f"{p['data_events']:,} events, max delay {p['max_delay']:,} (data {p['data_max_delay']:,}),"
        f" random fires at {p['random_rate']:g}/event, {p['jobs']} jobs on {p['nproc']} cores, "
        f"{result['seconds']} s. KSWIN rows ({', '.join(SLOW)}) run on the first seed only.",
        "",
        "### Concept drift (error stream of the online model)",
        "",
        *_main_table(result["concept"]["overall"], "update"),
        "",
        "Detected drifts per stream (median delay); stable streams: false alarms.",
        "",
    ]
    cols = list(result["concept_streams"])
    out += _breakdown(result["concept"]["per_stream"], cols)
    out += [
        "",
        "### Data drift (covariate shift of one feature, all features watched)",
        "",
        *_main_table(result["data"]["overall"], "event"),
        "",
        "Detected shifts per magnitude (median delay); stable: false alarms.",
        "",
        *_breakdown(result["data"]["per_shift"], [s.name for s in SHIFTS]),
        "",
        f"psi-cal thresholds (1.2 x max PSI on stable calibration seeds "
        f"{p['calibration_seeds']}): {p['psi_calibrated_thresholds']}",
    ]
    return "\n".join(out)


def _parse_seeds(text: str) -> list[int]:
    return [int(s) for s in text.replace(",", " ").split()]


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register `drift-eval` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "drift-eval",
        help="Measure drift detectors offline: delay, missed drifts, false alarms, cost.",
        description=(
            "Run every concept- and data-drift setting on River synthetic streams with known "
            "drift points (fixed seeds) and report detection delay, missed drifts, false "
            "alarms per 10k events and cost per update, against never/random baselines."
        ),
    )
    p.add_argument("--quick", action="store_true", help="Small run (1 seed, few streams), < 30 s.")
    p.add_argument("--seeds", type=_parse_seeds, help="Seeds, e.g. '1,2,3' (default 1,2,3).")
    p.add_argument("--jobs", type=int, help="Worker processes (default min(2, cores)).")
    p.add_argument("--out", help="Write the full results as JSON to this file.")
    p.add_argument("--markdown", action="store_true", help="Print the markdown tables.")
    p.set_defaults(func=cmd_drift_eval)
    return p


def cmd_drift_eval(args: argparse.Namespace) -> int:
    """Run the evaluation; print a table; optionally write JSON."""
    result = run(make_plan(args.quick, args.seeds, args.jobs))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, default=_json_default)
    text = markdown(result)
    if args.markdown or not args.out:
        print(text)
    else:
        print(f"wrote {args.out} ({result['seconds']} s)")
    return 0


def _json_default(o: Any) -> Any:
    raise TypeError(f"not JSON serializable: {type(o)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: `python -m driftline.evaluation.drift_eval [options]`."""
    parser = argparse.ArgumentParser(prog="driftline")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["drift-eval", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
