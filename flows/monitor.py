"""What a person watching a run sees: alerts as they fire, a progress line, a summary.

The monitor sees every output record once (in the output-encoding step) and keeps
only compact per-event facts, so it can say how accurate the model was before and
after each drift point or alert.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from flows.alerts import Alert

log = logging.getLogger("driftline.run")

_UNKNOWN, _WRONG, _RIGHT = 0, 1, 2
_MAX_TRACKED = 20_000_000


def event_index(event_id: str) -> int | None:
    """Index of a built-in stream event from its id (``evt-000000123`` -> 123)."""
    if event_id.startswith("evt-"):
        try:
            return int(event_id[4:])
        except ValueError:
            return None
    return None


@dataclass
class RunMonitor:
    """Collects run facts from output records; prints alerts and progress."""

    progress_every: float = 2.0
    console_alerts: bool = True
    out: TextIO = field(default_factory=lambda: sys.stderr)
    started: float = field(default_factory=time.time)
    scored: int = 0
    dead_letters: int = 0
    late: int = 0
    labelled: int = 0
    judged: int = 0  # labelled classifications
    correct: int = 0
    baseline_correct: int = 0
    alerts: list[Alert] = field(default_factory=list)
    dead_reasons: dict[str, int] = field(default_factory=dict)
    outcomes: bytearray = field(default_factory=bytearray)  # by event index, for the summary
    _next_progress: float = 0.0
    _window: list[int] = field(default_factory=lambda: [0, 0])

    def prediction(self, rec: dict[str, Any]) -> None:
        self.scored += 1
        if rec.get("late"):
            self.late += 1

    def outcome(self, event_id: str, right: bool | None, baseline_right: bool | None) -> None:
        """A prediction met its label (inline or delayed)."""
        self.labelled += 1
        if right is None:  # regression: no accuracy to keep
            return
        self.judged += 1
        self.correct += right
        self.baseline_correct += bool(baseline_right)
        self._window[0] += 1
        self._window[1] += right
        idx = event_index(event_id)
        if idx is not None and idx < _MAX_TRACKED:
            if idx >= len(self.outcomes):
                self.outcomes.extend(b"\x00" * (idx + 1 - len(self.outcomes) + 4096))
            self.outcomes[idx] = _RIGHT if right else _WRONG

    def dead_letter(self, reason: str) -> None:
        self.dead_letters += 1
        self.dead_reasons[reason] = self.dead_reasons.get(reason, 0) + 1

    def alert(self, alert: Alert) -> None:
        self.alerts.append(alert)
        if self.console_alerts:
            level = logging.INFO if alert.severity == "info" else logging.WARNING
            log.log(level, alert.describe(), extra={"alert": alert.to_dict()})

    def tick(self) -> None:
        """Print a progress line when one is due."""
        now = time.time()
        if now < self._next_progress:
            return
        if self._next_progress:
            n, right = self._window
            acc = f"{right / n:.3f}" if n else "  -  "
            rate = self.scored / max(now - self.started, 1e-9)
            print(
                f"[driftline] {self.scored:>10,} scored  {rate:>9,.0f} ev/s  "
                f"recent accuracy {acc}  alerts {len(self.alerts):>3}  "
                f"dead letters {self.dead_letters:>5,}  late {self.late:,}",
                file=self.out,
                flush=True,
            )
        self._window = [0, 0]
        self._next_progress = now + self.progress_every

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
        delays = [
            i - index
            for a in self.alerts
            if a.kind == kind and (i := event_index(a.event_id)) is not None and i >= index - margin
        ]
        return min(delays) if delays else None

    def summary(self, drift_points: list[int] | None = None, span: int = 2000) -> str:
        """A short report of the run (with per-drift accuracy when drift points are known)."""
        elapsed = max(time.time() - self.started, 1e-9)
        kinds: dict[str, int] = {}
        for a in self.alerts:
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
        lines = ["", "driftline run summary", "-" * 72]
        lines.append(
            f"events scored    {self.scored:,} in {elapsed:.1f} s "
            f"({self.scored / elapsed:,.0f} events/s), late {self.late:,}"
        )
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.dead_reasons.items()))
        lines.append(
            f"dead letters     {self.dead_letters:,}" + (f" ({reasons})" if reasons else "")
        )
        if self.judged:
            acc = self.correct / self.judged
            base = self.baseline_correct / self.judged
            lines.append(
                f"accuracy         model {acc:.4f}  baseline {base:.4f}  lift {acc - base:+.4f}"
                f"  ({self.labelled:,} labelled)"
            )
        lines.append(
            "alerts           "
            + (", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none")
        )
        for point in drift_points or []:
            before = self.accuracy_between(point - span, point)
            after = self.accuracy_between(point, point + span // 4)
            recovered = self.accuracy_between(point + span // 2, point + span // 2 + span)
            delay = self.first_alert_after(point)
            lines.append(
                f"drift @ {point:>8,}  accuracy before {_fmt(before)}  "
                f"just after {_fmt(after)}  recovered {_fmt(recovered)}  "
                f"first alert {format(delay, '+,') + ' events' if delay is not None else 'none'}"
            )
        lines.append("-" * 72)
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "  -  "
