"""What a person watching a run sees: alerts as they fire, a progress line, a summary.

The monitor sees every output record once (in the output-encoding step) and keeps
only compact per-event facts, so it can say how accurate the model was before and
after each drift point or alert.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TextIO

from driftline.flows.records import (
    Alert,
    Classified,
    DeadLetter,
    LatePrediction,
    Outcome,
    Prediction,
    Regressed,
    baseline_label,
)

log = logging.getLogger("driftline.run")
progress_log = logging.getLogger("driftline.progress")

_WRONG, _RIGHT = 1, 2  # in `outcomes`; 0 = no outcome
_MAX_TRACKED = 20_000_000
_RULE = "-" * 72
REFUSED_HINT = "set model.label_type / model.classes to match the labels (or another model.name)"
RESUMED = "this run since it resumed from the recovery store; earlier events are not counted"


def event_index(event_id: str) -> int | None:
    """Index of a built-in stream event from its id (``evt-000000123`` -> 123)."""
    digits = event_id[4:]
    return int(digits) if event_id[:4] == "evt-" and digits.isascii() and digits.isdigit() else None


@dataclass(slots=True)
class Mean:
    """A running mean that knows how many values it holds: the mean of none is None, not 0."""

    total: float = 0.0
    n: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.n += 1

    @property
    def value(self) -> float | None:
        return self.total / self.n if self.n else None


@dataclass
class ModelFigures:
    """A further model's share of the run (the first model's are the monitor's own)."""

    scored: int = 0
    labelled: int = 0
    baseline: str | None = None
    model: Mean = field(default_factory=Mean)  # accuracy, or MAE for a regressor
    base: Mean = field(default_factory=Mean)
    regression: bool = False

    def outcome(self, outcome: Outcome) -> None:
        self.labelled += 1
        if isinstance(outcome, Regressed):
            self.regression = True
            right, base = outcome.error, outcome.baseline_error
        else:
            right, base = outcome.right, outcome.baseline_right
        if right is not None:
            self.model.add(right)
        if base is not None:
            self.base.add(base)

    def line(self, name: str) -> str:
        m, b = self.model.value, self.base.value
        metric, d = ("MAE", _decimals(m, b)) if self.regression else ("accuracy", 4)
        lift = f"  lift {m - b:+.{d}f}" if m is not None and b is not None else ""
        return (
            f"{'model ' + name:<16} {metric} {_fig(m, d)}  {baseline_label(self.baseline)} "
            f"{_fig(b, d)}{lift if not self.regression else ''}  "
            f"({self.scored:,} scored, {self.labelled:,} labelled)"
        )


@dataclass
class RunMonitor:
    """Collects run facts from output records; prints alerts and progress.

    `progress_format` "json" logs progress (logger ``driftline.progress``) so a JSON
    log stream stays JSON; "text" prints a line to `out`. `resumed`: the run goes on
    from a recovery store, so its figures cover only what this process saw.
    """

    progress_every: float = 2.0
    console_alerts: bool = True
    out: TextIO = field(default_factory=lambda: sys.stderr)
    progress_format: Literal["text", "json"] = "text"
    resumed: bool = False
    # the job's model names: the figures below are the first's, `others` the rest's
    models: list[str] = field(default_factory=list)
    others: dict[str, ModelFigures] = field(default_factory=dict)
    refusal_warning_after: int = 200  # refused labels, none accepted, before a warning
    started: float = field(default_factory=time.time)
    scored: int = 0
    dead_letters: int = 0
    late: int = 0
    labelled: int = 0
    refused: int = 0  # labels the model could not learn (dead letters of reason "label")
    first_refusal: str | None = None
    first_event: str | None = None  # id of the first event this run scored
    baseline: str | None = None  # the baseline the predictions name (prior, rule PATH@VERSION)
    last_index: int = -1  # highest built-in event index with a judged outcome
    model_accuracy: Mean = field(default_factory=Mean)
    baseline_accuracy: Mean = field(default_factory=Mean)
    model_mae: Mean = field(default_factory=Mean)
    baseline_mae: Mean = field(default_factory=Mean)
    alerts: list[Alert] = field(default_factory=list)
    dead_reasons: dict[str, int] = field(default_factory=dict)
    outcomes: bytearray = field(default_factory=bytearray)  # by event index, for the summary
    _next_progress: float = 0.0
    _recent: Mean = field(default_factory=Mean)

    @property
    def judged(self) -> int:
        return self.model_accuracy.n

    @property
    def correct(self) -> int:
        return int(self.model_accuracy.total)

    @property
    def baseline_correct(self) -> int:
        return int(self.baseline_accuracy.total)

    @property
    def regression(self) -> bool:
        return bool(self.model_mae.n or self.baseline_mae.n)

    def _other(self, model: str) -> ModelFigures | None:
        """The figures of a further model of the job; None for the first (or only) one."""
        if not self.models or not model or model == self.models[0]:
            return None
        figures = self.others.get(model)
        if figures is None:
            figures = self.others[model] = ModelFigures()
        return figures

    def prediction(self, rec: Prediction) -> None:
        other = self._other(rec.model)
        if other is not None:
            other.scored += 1
            other.baseline = other.baseline or rec.baseline_model
            return
        self.scored += 1
        if isinstance(rec, LatePrediction):
            self.late += 1
        if self.first_event is None:
            self.first_event = rec.id
            self.baseline = rec.baseline_model

    def outcome(self, outcome: Outcome) -> None:
        """A prediction met its label (inline or delayed)."""
        other = self._other(outcome.model)
        if other is not None:
            other.outcome(outcome)
            return
        self.labelled += 1
        if isinstance(outcome, Regressed):
            self._regressed(outcome)
        else:
            self._classified(outcome)

    def _regressed(self, o: Regressed) -> None:
        if o.baseline_error is not None:
            self.baseline_mae.add(o.baseline_error)
        if o.error is not None:
            self.model_mae.add(o.error)
            self._recent.add(o.error)

    def _classified(self, o: Classified) -> None:
        if o.baseline_right is not None:
            self.baseline_accuracy.add(o.baseline_right)
        if o.right is None:
            return
        self.model_accuracy.add(o.right)
        self._recent.add(o.right)
        idx = event_index(o.event_id)
        if idx is not None and idx < _MAX_TRACKED:
            if idx >= len(self.outcomes):
                self.outcomes.extend(b"\x00" * (idx + 1 - len(self.outcomes) + 4096))
            self.outcomes[idx] = _RIGHT if o.right else _WRONG
            self.last_index = max(self.last_index, idx)

    def dead_letter(self, letter: DeadLetter) -> None:
        self.dead_letters += 1
        self.dead_reasons[letter.reason] = self.dead_reasons.get(letter.reason, 0) + 1
        if letter.reason == "label":
            self._refused(letter.error)

    def _refused(self, error: str) -> None:
        """Warn once, early, when every label so far was refused: the run is learning nothing."""
        self.refused += 1
        self.first_refusal = self.first_refusal or error
        if not self.labelled and self.refused == self.refusal_warning_after:
            log.warning(
                f"the first {self.refused:,} labels were all refused, the model learns "
                f"nothing: {REFUSED_HINT} (first refused: {self.first_refusal})",
                extra={"refused": self.refused, "first_error": self.first_refusal},
            )

    def alert(self, alert: Alert) -> None:
        self.alerts.append(alert)
        if self.console_alerts:
            level = logging.INFO if alert.severity == "info" else logging.WARNING
            log.log(level, alert.describe(), extra={"alert": alert.to_dict()})

    def tick(self) -> None:
        """Report progress when due."""
        now = time.time()
        if now < self._next_progress:
            return
        if self._next_progress:
            self._progress(now)
        self._recent = Mean()
        self._next_progress = now + self.progress_every

    def _progress(self, now: float) -> None:
        """A human line in text mode; a log record in JSON mode (one JSON object per line)."""
        recent = self._recent.value
        rate = self.scored / max(now - self.started, 1e-9)
        if self.progress_format == "json":
            metric = "recent_mae" if self.regression else "recent_accuracy"
            figures: dict[str, float | None] = {"scored": self.scored, "rate": round(rate, 1)}
            figures[metric] = None if recent is None else round(recent, 4)
            figures |= {"alerts": len(self.alerts), "dead_letters": self.dead_letters}
            progress_log.info("progress", extra={**figures, "late": self.late})
            return
        metric = "MAE" if self.regression else "accuracy"
        print(
            f"[driftline] {self.scored:>10,} scored  {rate:>9,.0f} ev/s  "
            f"recent {metric} {_fmt(recent)}  alerts {len(self.alerts):>3}  "
            f"dead letters {self.dead_letters:>5,}  late {self.late:,}",
            file=self.out,
            flush=True,
        )

    def accuracy_between(self, start: int, stop: int) -> float | None:
        """Accuracy over built-in events with index in [start, stop)."""
        seg = self.outcomes[max(start, 0) : max(stop, 0)]
        right, wrong = seg.count(_RIGHT), seg.count(_WRONG)
        return right / (right + wrong) if right + wrong else None

    def first_alert_after(
        self, index: int, kind: str = "concept_drift", margin: int = 200
    ) -> int | None:
        """Events from `index` to the first alert of `kind` after `index - margin`.

        The margin allows for gradual transitions that start before the nominal point.
        """
        at = (
            event_index(a.event_id)
            for a in self.alerts
            if a.kind == kind and a.slice is None and self._other(a.model) is None
        )  # the first model's own alerts: its figures are the ones the summary gives
        delays = [i - index for i in at if i is not None and i >= index - margin]
        return min(delays) if delays else None

    def summary(self, drift_points: list[int] | None = None, span: int = 2000) -> str:
        """A short report of the run (with per-drift accuracy when drift points are known)."""
        elapsed = max(time.time() - self.started, 1e-9)
        reasons = _listing(self.dead_reasons)
        lines = ["", "driftline run summary", _RULE]
        if self.resumed:
            lines.append(f"covers           {RESUMED}")
        if len(self.models) > 1:
            lines.append(f"models           {', '.join(self.models)} (figures: {self.models[0]})")
        lines += [
            f"events scored    {self.scored:,} in {elapsed:.1f} s "
            f"({self.scored / elapsed:,.0f} events/s), late {self.late:,}",
            f"dead letters     {self.dead_letters:,}" + (f" ({reasons})" if reasons else ""),
            self._labels_line(),
            *(self.others[name].line(name) for name in self.models[1:] if name in self.others),
            self._alerts_line(),
        ]
        lines += [self._drift_line(point, span) for point in drift_points or []]
        return "\n".join([*lines, _RULE])

    def _alerts_line(self) -> str:
        line = f"alerts           {_listing(Counter(a.kind for a in self.alerts)) or 'none'}"
        sliced = sum(a.slice is not None for a in self.alerts)
        return line + (f" ({sliced} of them on slices)" if sliced else "")

    def _labels_line(self) -> str:
        """The model against the baseline, or why there is nothing to compare (never 0 of 0)."""
        if self.regression:
            return self._mae_line()
        if self.model_accuracy.n or self.baseline_accuracy.n:
            return self._accuracy_line()
        if self.labelled:
            return f"labels           {self.labelled:,} joined, none with a prediction to score"
        if self.refused:
            return (
                f"labels           all {self.refused:,} labels were refused (reason label: "
                f"{self.first_refusal}): {REFUSED_HINT}"
            )
        return "labels           no labels joined yet"

    def _accuracy_line(self) -> str:
        m, b = self.model_accuracy.value, self.baseline_accuracy.value
        lift = f"  lift {m - b:+.4f}" if m is not None and b is not None else ""
        baseline = baseline_label(self.baseline)
        return (
            f"accuracy         model {_fig(m, 4)}  {baseline} {_fig(b, 4)}{lift} "
            f"(higher is better){self._counts(self.model_accuracy, self.baseline_accuracy)}"
        )

    def _mae_line(self) -> str:
        m, b = self.model_mae.value, self.baseline_mae.value
        d = _decimals(m, b)
        baseline = baseline_label(self.baseline)
        line = f"MAE              model {_fig(m, d)}  {baseline} {_fig(b, d)} (lower is better)"
        if m is not None and b is not None:
            verdict = "better" if m < b else "worse" if m > b else "no better"
            line += f": model {verdict} by {abs(b - m):,.{d}f}"
        return line + self._counts(self.model_mae, self.baseline_mae)

    def _counts(self, model: Mean, baseline: Mean) -> str:
        idle = "the model" if not model.n else "the baseline" if not baseline.n else None
        return f"  ({self.labelled:,} labelled" + (f"; {idle} predicted none)" if idle else ")")

    def _drift_line(self, point: int, span: int) -> str:
        """Accuracy around one drift point, only when this run saw all it is computed from."""
        head = f"drift @ {point:>8,}  "
        first = event_index(self.first_event) if self.resumed and self.first_event else None
        if first is not None and point - span < first:
            return head + f"not measured: this run resumed at event {first:,}"
        if point > self.last_index:
            return head + "not reached by a labelled event"
        before = self.accuracy_between(point - span, point)
        after = self.accuracy_between(point, point + span // 4)
        recovered = self.accuracy_between(point + span // 2, point + span // 2 + span)
        delay = self.first_alert_after(point)
        return (
            f"{head}accuracy before {_fmt(before)}  just after {_fmt(after)}  "
            f"recovered {_fmt(recovered)}  first alert "
            + (f"{delay:+,} events" if delay is not None else "none")
        )


def _listing(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def _fmt(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "  -  "


def _fig(value: float | None, decimals: int) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def _decimals(*values: float | None) -> int:
    """Decimals for errors of any scale: 0.3666, 512.25, 48,213."""
    scale = max((abs(v) for v in values if v is not None), default=0.0)
    return 4 if scale < 100 else 2 if scale < 10_000 else 0
