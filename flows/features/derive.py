"""A team's own feature function (``features.derive``): called per event, its result served.

``derive(event, windows)`` gets the validated event and the entity's window
features as they are served for it (computed from the entity's earlier events,
before this one is added; a read-only mapping), and returns extra features,
name -> number (bools count as 0/1). They are merged into the served feature
vector ``x``, which the scoring step keeps until the label comes and learns
from as it is: the function runs once per event, in the feature step, so what
the model learns from is what it was served (no recomputation at label time,
no skew, no leakage).

What it returns must not rename what the event already has: a name that is a
raw feature (or a text feature's one-hot ``name=value``) or a window feature
of the event is an error, not a silent overwrite. An exception, a result
that is not a mapping, or a value that is not a finite number is a
:class:`DeriveError`, which the feature step turns into a dead letter (stage
``features``, reason ``derive``) while the job goes on.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from driftline.flows.config import FeaturesConfig
from driftline.flows.parse.events import Event
from driftline.flows.plugins import load_callable

SETTING = "features.derive"

#: What a feature function is: (event, window features) -> extra features.
Derive = Callable[[Event, Mapping[str, float]], Any]


class DeriveError(Exception):
    """The feature function failed on one event; the message is the dead letter's error."""


class FeatureFunction:
    """A loaded ``features.derive`` with its identity (import path and version)."""

    __slots__ = ("function", "path", "version")

    def __init__(self, function: Derive, path: str, version: str) -> None:
        self.function = function
        self.path = path
        self.version = version

    @classmethod
    def from_config(cls, config: FeaturesConfig) -> FeatureFunction | None:
        """The configured function, or None. Raises PluginError (naming
        ``features.derive``) when the path does not resolve to a callable."""
        if config.derive is None:
            return None
        return cls(
            load_callable(config.derive, SETTING), config.derive, config.derive_version or ""
        )

    def extend(self, x: dict[str, float], event: Event, windows: dict[str, float]) -> None:
        """Call the function for `event` and add what it returns to `x`.

        `windows` holds the event's window features (already in `x`). Raises
        :class:`DeriveError` saying what went wrong; `x` may then hold some of
        the new names, and is not to be served.
        """
        try:
            extra = self.function(event, MappingProxyType(windows))
        except Exception as exc:  # the team's code: any failure is this event's dead letter
            raise DeriveError(
                f"{SETTING} {self.path!r} raised {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(extra, Mapping):
            raise DeriveError(
                f"{SETTING} {self.path!r} returned {type(extra).__name__}, "
                "not a mapping of feature name -> number"
            )
        for name, value in extra.items():
            if not isinstance(name, str) or not name:
                raise DeriveError(f"{SETTING} {self.path!r} returned the name {name!r}: not a text")
            if name in x:
                raise DeriveError(
                    f"{SETTING} {self.path!r} returned {name!r}, which the event already has "
                    "(a raw or window feature): rename it"
                )
            number = _finite(value)
            if number is None:
                raise DeriveError(
                    f"{SETTING} {self.path!r} returned {name!r} = {value!r:.80}: "
                    "not a finite number (or bool)"
                )
            x[name] = number


def _finite(value: object) -> float | None:
    """`value` as a float when it is a finite number or a bool, else None."""
    if value is True or value is False:
        return 1.0 if value else 0.0
    if not isinstance(value, numbers.Real):  # numpy's numbers are Real too
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None
