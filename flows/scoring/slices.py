"""Slices: where a shared model fails, without a model per value.

`slices = ["device", "country"]` keeps, per value of each field, the rolling
metric of the model and of its baseline (so the lift) and a concept-drift
monitor on the model's errors of that value alone, so an alert can say
"accuracy fell for country=BR" while the overall error hardly moved.

Bounded twice: at most `slice_values` distinct values are watched per field
(later values share the ``other`` slice), and Prometheus gets only the
`slice_top` values with the most traffic plus ``other`` (:meth:`SliceMonitor.exported`).

>>> from driftline.flows.config import DriftConfig
>>> m = SliceMonitor(["country"], "classification", 100, DriftConfig(), max_values=2)
>>> [m.values_of({"country": c}) for c in ("BR", "DE", "FR", "BR")]
[('BR',), ('DE',), ('other',), ('BR',)]
>>> _ = m.learn(("BR",), True, True, False)
>>> _ = m.learn(("BR",), True, False, True)
>>> m.report()["country=BR"]["model"], m.report()["country=BR"]["labelled"]
(0.5, 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from driftline.flows.config import DriftConfig
from driftline.flows.drift import ConceptDriftMonitor, ConceptSignal
from driftline.flows.scoring.challenger import error_of
from driftline.flows.scoring.definition import Task
from driftline.flows.scoring.prequential import PrequentialMetric
from driftline.flows.scoring.spec import field_text

#: The slice of values beyond `slice_values` (and, on Prometheus, beyond `slice_top`).
OTHER = "other"


class SliceStats:
    """One slice value's traffic, rolling metrics and error-rate drift monitor."""

    __slots__ = ("baseline", "concept", "events", "labelled", "model")

    def __init__(self, task: Task, window: int, drift: DriftConfig) -> None:
        self.events = 0
        self.labelled = 0
        self.model = PrequentialMetric(task, window)
        self.baseline = PrequentialMetric(task, window)
        self.concept = ConceptDriftMonitor(drift)

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        """Slotted state; River's rolling metrics of the release before become the same
        figures (their window replayed)."""
        for name, value in state[1].items():
            if name in ("model", "baseline") and not isinstance(value, PrequentialMetric):
                task: Task = "classification" if _is_accuracy(value) else "regression"
                value = PrequentialMetric.from_river(value, task, value.window_size)
            setattr(self, name, value)

    def lift(self, bigger_is_better: bool) -> float:
        model, base = self.model.get(), self.baseline.get()
        return model - base if bigger_is_better else base - model


def _is_accuracy(rolling: Any) -> bool:
    """Whether River's `utils.Rolling` (of state pickled before prequential.py) wraps Accuracy."""
    return type(rolling.obj).__name__ == "Accuracy"


@dataclass(frozen=True, slots=True)
class SliceSignal:
    """Concept drift on one slice value's errors."""

    slice: str  # "country=BR"
    signal: ConceptSignal
    stats: SliceStats


@dataclass(frozen=True, slots=True)
class SliceRise:
    """How far one slice value's recent error is above its reference (an alert's why)."""

    slice: str
    reference_error: float
    recent_error: float
    p_value: float

    def figures(self) -> dict[str, Any]:
        return {
            "slice": self.slice,
            "reference_error": round(self.reference_error, 4),
            "recent_error": round(self.recent_error, 4),
            "p_value": float(f"{self.p_value:.3g}"),
        }


class SliceMonitor:
    """Per-slice metrics and drift of one model instance (see the module's docstring)."""

    def __init__(
        self,
        fields: Iterable[str],
        task: Task,
        window: int,
        drift: DriftConfig,
        max_values: int,
        top: int = 10,
    ) -> None:
        self.fields = tuple(fields)
        self.top = top
        self.task = task
        self.window = window
        self.drift = drift
        self.max_values = max_values
        self.bigger_is_better = task == "classification"  # accuracy; MAE is smaller-better
        self.stats: dict[str, dict[str, SliceStats]] = {f: {} for f in self.fields}
        # `(field, value)` on Prometheus now: a value that leaves the top leaves it
        self.shown: set[tuple[str, str]] = set()

    def values_of(self, features: Mapping[str, Any]) -> tuple[str, ...]:
        """The slice value of each field for an event (counted), kept with its prediction."""
        out = []
        for name in self.fields:
            value = field_text(features.get(name))
            per_value = self.stats[name]
            stats = per_value.get(value)
            if stats is None:
                if len(per_value) >= self.max_values + (OTHER in per_value):
                    value = OTHER
                    stats = per_value.get(OTHER)
                if stats is None:
                    stats = per_value[value] = SliceStats(self.task, self.window, self.drift)
            stats.events += 1
            out.append(value)
        return tuple(out)

    def learn(self, values: tuple[str, ...], y: Any, y_pred: Any, b_pred: Any) -> list[SliceSignal]:
        """A label for an event of these slice values: update each; drift signals, if any."""
        signals = []
        for name, value in zip(self.fields, values, strict=True):
            stats = self.stats[name].get(value)
            if stats is None:  # served before a restore that dropped it: nothing to compare
                continue
            stats.labelled += 1
            if y_pred is not None:
                stats.model.update(y, y_pred)
            if b_pred is not None:
                stats.baseline.update(y, b_pred)
            signal = stats.concept.update(error_of(self.task, y, y_pred))
            if signal is not None:
                signals.append(SliceSignal(f"{name}={value}", signal, stats))
        return signals

    def rising(self, top: int) -> list[SliceRise]:
        """The `top` slice values whose recent error rose most above their reference.

        Explains an alert on the whole model's errors: which slices carry the rise.
        Only values with a judged reference (`drift.min_reference` errors), or
        that alerted on their own within their recent window, count.
        """
        rises = []
        for name, per_value in self.stats.items():
            for value, stats in per_value.items():
                rise = stats.concept.rise()
                if rise is not None:
                    rises.append(
                        SliceRise(
                            f"{name}={value}", rise.reference_error, rise.recent_error, rise.p_value
                        )
                    )
        rises.sort(key=lambda r: r.recent_error - r.reference_error, reverse=True)
        return rises[:top]

    def report(self) -> dict[str, dict[str, Any]]:
        """Every watched slice value's figures, for the drift reports (``country=BR``: ...)."""
        out = {}
        for name, per_value in self.stats.items():
            for value, stats in per_value.items():
                out[f"{name}={value}"] = self._figures(stats)
        return out

    def _figures(self, stats: SliceStats) -> dict[str, Any]:
        labelled = stats.labelled > 0
        return {
            "events": stats.events,
            "labelled": stats.labelled,
            "model": round(stats.model.get(), 4) if labelled else None,
            "baseline": round(stats.baseline.get(), 4) if labelled else None,
            "lift": round(stats.lift(self.bigger_is_better), 4) if labelled else None,
            "recent_error": (
                round(stats.concept.recent.mean(), 4) if stats.concept.observed else None
            ),
        }

    def exported(self) -> list[tuple[str, str, float, float]]:
        """`(field, value, model metric, baseline metric)` for Prometheus: per field the
        `top` values with the most events, and ``other`` for the rest (their metrics
        averaged, weighted by the labels each window holds)."""
        rows = []
        for name, per_value in self.stats.items():
            labelled = [(v, s) for v, s in per_value.items() if s.labelled]
            labelled.sort(key=lambda vs: vs[1].events, reverse=True)
            shown = [(v, s) for v, s in labelled[: self.top] if v != OTHER]
            rest = [s for v, s in labelled if (v, s) not in shown]
            for value, stats in shown:
                rows.append((name, value, stats.model.get(), stats.baseline.get()))
            if rest:
                weights = [min(s.labelled, self.window) for s in rest]
                total = sum(weights)
                model = sum(w * s.model.get() for w, s in zip(weights, rest, strict=True))
                base = sum(w * s.baseline.get() for w, s in zip(weights, rest, strict=True))
                rows.append((name, OTHER, model / total, base / total))
        return rows
