"""Settings of the feature step: event-time windows per entity, lateness, idle expiry,
and a team's own feature function."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from driftline.flows.config.base import Duration, PositiveDuration, _Section

WindowStat = Literal["count", "mean", "std", "sum", "min", "max", "distinct", "same", "top"]
#: Stats of a numeric field (`count` also counts numbers in such a window).
NUMERIC_STATS: frozenset[str] = frozenset({"mean", "std", "sum", "min", "max"})
#: Stats of a text field: categories (`count` also counts texts in such a window).
TEXT_STATS: frozenset[str] = frozenset({"distinct", "same", "top"})
_DEFAULT_STATS: tuple[WindowStat, ...] = ("count", "mean", "std")
MAX_TOP_K = 10


class WindowSpec(_Section):
    """One windowed aggregate family: stats of `field` per key over `period`.

    A window reads numbers (count, mean, std, sum, min, max) or text
    categories (count, distinct, same, top), never both: a field holds one kind.
    """

    field: str | None = Field(None, description="Feature to aggregate; None = event counts only.")
    period: PositiveDuration
    stats: list[WindowStat] = Field(default_factory=lambda: list(_DEFAULT_STATS))
    top_k: int | None = Field(
        None,
        ge=1,
        le=MAX_TOP_K,
        description="With stat 'top': how many of the most frequent categories' counts "
        "(default 1).",
    )

    @property
    def is_text(self) -> bool:
        """Whether this window reads text categories (it has a text stat)."""
        return not TEXT_STATS.isdisjoint(self.stats)


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
    derive: str | None = Field(
        None,
        description="Your feature function, 'module:function', called once per event with "
        "the event and its window features; returns extra features (name -> number).",
    )
    derive_version: str | None = Field(
        None,
        min_length=1,
        description="Your version of `derive`: change it when the function changes "
        "(part of the feature-set version; a resume or warm start across it is refused).",
    )

    @model_validator(mode="after")
    def _lateness_below_periods(self) -> FeaturesConfig:
        for w in self.windows:
            if w.period <= self.allowed_lateness:
                raise ValueError(
                    f"window period {w.period} must exceed allowed_lateness {self.allowed_lateness}"
                )
        return self

    @model_validator(mode="after")
    def _stats_fit_their_field(self) -> FeaturesConfig:
        for i, w in enumerate(self.windows):
            numeric = sorted(NUMERIC_STATS.intersection(w.stats))
            text = sorted(TEXT_STATS.intersection(w.stats))
            where = f"features.windows[{i}]"
            if numeric and text:
                raise ValueError(
                    f"{where}.stats mixes number stats {numeric} with text stats {text}: "
                    "a field holds numbers or text; use one window for each"
                )
            if text and w.field is None:
                raise ValueError(
                    f"{where}.stats {text} describe a text field's categories: set "
                    f"{where}.field to one (a window without a field counts events)"
                )
            if {"min", "max"}.intersection(w.stats) and w.field is None:
                raise ValueError(f"{where}.stats min/max need a numeric field: set {where}.field")
            if w.top_k is not None and "top" not in w.stats:
                raise ValueError(f"{where}.top_k is read only with the stat 'top' in its stats")
        return self

    @model_validator(mode="after")
    def _derive_has_a_version(self) -> FeaturesConfig:
        if self.derive is not None and self.derive_version is None:
            raise ValueError(
                "features.derive needs features.derive_version (any text, e.g. '1'): it is "
                "part of the feature-set version, so change it when the function changes"
            )
        if self.derive is None and self.derive_version is not None:
            raise ValueError("features.derive_version is set without features.derive")
        return self
