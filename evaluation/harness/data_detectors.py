"""The data-drift methods under test, each a monitor of every numeric feature.

Each method watches all features of the shifted stream: the product's window KS
(:class:`driftline.flows.drift.DataDriftMonitor`), PSI and chi-square over
quantile bins of a reference window (fixed or calibrated PSI thresholds), and
River KSWIN fed a sample of the events; the random and never baselines run as
monitors too. An alert on another feature than the shifted one is a false alarm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from river import drift
from scipy.stats import chi2 as chi2_dist

from driftline.evaluation.harness.baselines import RANDOM_RATE, RandomMonitor
from driftline.evaluation.harness.streams import DATA_GENERATORS, feature_rows
from driftline.flows.config import DriftConfig
from driftline.flows.drift import DataDriftMonitor


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


_DEFAULTS = DriftConfig()  # the product's defaults: the "(default)" rows


@dataclass(frozen=True)
class DataSetting:
    """A named data-drift method and its parameters (each kind reads the ones it uses)."""

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
