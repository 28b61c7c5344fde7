"""The records the flow writes: alerts (drift, model changes) and dead letters.

An alert also says how a person reads it on the console."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

AlertKind = Literal[
    "concept_drift",
    "data_drift",
    "model_reset",
    "challenger_started",
    "model_promoted",
    "challenger_dropped",
]
Severity = Literal["info", "warning", "critical"]


@dataclass(slots=True)
class Alert:
    """Something an operator should know about, tied to the event where it fired."""

    kind: AlertKind
    detector: str
    model: str
    model_version: int
    event_id: str
    event_ts: str
    shard: str
    severity: Severity = "warning"
    feature: str | None = None
    statistic: dict[str, Any] = field(default_factory=dict)
    events_seen: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def describe(self) -> str:
        """One line for people watching the console."""
        s = self.statistic
        where = f"at event {self.event_id} ({self.event_ts}), shard {self.shard}"
        who = f"{self.model} v{self.model_version}"
        if self.kind == "concept_drift":
            what = (
                f"CONCEPT DRIFT [{self.detector}] {who}: error rate "
                f"{s.get('reference_error', float('nan')):.3f} -> "
                f"{s.get('recent_error', float('nan')):.3f}"
            )
        elif self.kind == "data_drift":
            what = (
                f"DATA DRIFT [{self.detector}] feature {self.feature!r}: "
                f"KS={s.get('ks', float('nan')):.3f} p={s.get('p_value', float('nan')):.1e}, "
                f"mean {s.get('reference_mean', float('nan')):.4g} -> "
                f"{s.get('current_mean', float('nan')):.4g}"
            )
        elif self.kind == "challenger_started":
            what = (
                f"CHALLENGER v{s.get('challenger_version')} training beside {who} "
                f"(compared over {s.get('window')} labelled events)"
            )
        elif self.kind in ("model_promoted", "challenger_dropped"):
            verb = "PROMOTED" if self.kind == "model_promoted" else "DROPPED"
            what = (
                f"CHALLENGER {verb}: v{s.get('challenger_version')} error "
                f"{s.get('challenger_error', float('nan')):.3f} vs champion "
                f"v{s.get('from_version')} {s.get('champion_error', float('nan')):.3f} "
                f"over {s.get('compared')} events; serving {who}"
            )
        else:
            what = (
                f"MODEL RESET {self.model} v{s.get('from_version')} -> v{self.model_version} "
                f"({s.get('reason', '')})"
            )
        return f"{what} {where}"


@dataclass(slots=True)
class DeadLetter:
    """An input that could not be used, kept with the reason."""

    raw: str
    error: str
    stage: str
    ts: str
    reason: str = "invalid"
    source: str = "events"

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "raw": self.raw,
                "error": self.error,
                "stage": self.stage,
                "ts": self.ts,
                "reason": self.reason,
                "source": self.source,
            }
        )
