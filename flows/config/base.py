"""What every settings section shares: durations as people write them, the
start-up error, the strict section base, and the stdin path marker."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

STDIN = Path("-")  # `--events-file -`: read events from standard input

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_SHORT_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w))", re.IGNORECASE)


def _short_duration(value: Any) -> Any:
    """`5m`, `1h30m`, `30s`, `250ms` as a timedelta; anything else is left to pydantic.

    pydantic reads ISO-8601 (`PT5M`), `HH:MM:SS` and plain seconds; people write
    durations the short way in TOML and environment variables too.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    parts = _SHORT_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
        return value
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts))


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be a positive duration, got {value}")
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError(f"must not be negative, got {value}")
    return value


Duration = Annotated[timedelta, BeforeValidator(_short_duration), AfterValidator(_not_negative)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_short_duration), AfterValidator(_positive)]


class StartupError(ValueError):
    """A problem found before the flow starts; the command line exits 2 with its message."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
