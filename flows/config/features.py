"""Settings of the feature step: event-time windows per entity, lateness, idle expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from driftline.flows.config.base import Duration, PositiveDuration, _Section

WindowStat = Literal["count", "mean", "std", "sum"]
_DEFAULT_STATS: tuple[WindowStat, ...] = ("count", "mean", "std")


class WindowSpec(_Section):
    """One windowed aggregate family: stats of `field` per key over `period`."""

    field: str | None = Field(None, description="Numeric feature; None = event counts only.")
    period: PositiveDuration
    stats: list[WindowStat] = Field(default_factory=lambda: list(_DEFAULT_STATS))


def builtin_windows() -> list[WindowSpec]:
    """The built-in stream's windows: event counts, and its loan amounts over 5 min and 1 h."""
    return [
        WindowSpec(field=None, period=timedelta(minutes=5), stats=["count"]),
        WindowSpec(field="loan", period=timedelta(minutes=5), stats=["mean", "std"]),
        WindowSpec(field="loan", period=timedelta(hours=1), stats=["count", "mean"]),
    ]


class FeaturesConfig(_Section):
    windows: list[WindowSpec] = Field(
        default_factory=lambda: [
            WindowSpec(field=None, period=timedelta(minutes=5), stats=["count"]),
            WindowSpec(field=None, period=timedelta(hours=1), stats=["count"]),
        ],
        description="Defaults read no field of the events (they cannot know your fields).",
    )
    time_since_last: bool = True
    allowed_lateness: Duration = Field(
        timedelta(seconds=30), description="Older than the key's newest event minus this = late."
    )
    idle_ttl: PositiveDuration | None = Field(
        None,
        description="Drop an entity's windows after this much wall-clock idleness "
        "(default: the longest window plus the allowed lateness).",
    )

    @model_validator(mode="after")
    def _lateness_below_periods(self) -> FeaturesConfig:
        for w in self.windows:
            if w.period <= self.allowed_lateness:
                raise ValueError(
                    f"window period {w.period} must exceed allowed_lateness {self.allowed_lateness}"
                )
        return self
