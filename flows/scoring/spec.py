"""The job's models, resolved once at start-up: which state keys each owns, which
labels it learns, which inputs it is served and how it splits into segments.

A job runs one model (`[model]`) or several (`[[models]]`). Every model scores
every event; each has its own model shards, and all shards of all models are
keys of the one scoring step: model 0 takes the first `shards` keys of
:func:`~driftline.flows.routing.shard_keys`, model 1 the next, and so on. The
keys depend on the models and their shard counts, never on the worker count (a
recovery store resumes on any number of workers), and the keys of all models
spread evenly over the workers.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from driftline.flows.config import DriftConfig, ModelConfig, Settings
from driftline.flows.parse.events import Event
from driftline.flows.routing import shard_keys, shard_of
from driftline.flows.scoring.definition import ModelDefinition, model_definition

#: The segment of an event without the `segment_by` field (or with it null).
NO_SEGMENT = "(none)"


def field_text(value: Any) -> str:
    """A feature value as a segment or slice name: text as it is, booleans as JSON writes them.

    >>> field_text("BR"), field_text(True), field_text(3), field_text(None)
    ('BR', 'true', '3', '(none)')
    """
    if value is None:
        return NO_SEGMENT
    if value.__class__ is str:
        return str(value)
    if value.__class__ is bool:
        return "true" if value else "false"
    return str(value)


class InputFilter:
    """The inputs one model is served: `features_include` / `features_exclude` patterns.

    Patterns are shell patterns (``amount*``) matched against an input's name
    and, for a text feature's one-hot inputs (``country=BR``), against the
    feature's name (``country``). Events mostly carry the same names, so the kept
    names are worked out once per distinct key set and reused: the usual cost is
    one key-set comparison and one dict built from a list.

    >>> keep = InputFilter(["amount*", "country"], ["amount_raw"])
    >>> keep({"amount": 1.0, "amount_raw": 2.0, "country=BR": 1.0, "age": 30.0})
    {'amount': 1.0, 'country=BR': 1.0}
    """

    def __init__(self, include: Iterable[str], exclude: Iterable[str]) -> None:
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self._keys: Any = None  # the last input's key view's set
        self._kept: list[str] = []

    def keeps(self, name: str) -> bool:
        """Whether an input of this name is served to the model."""
        base = name.partition("=")[0]

        def matches(patterns: tuple[str, ...]) -> bool:
            return any(
                fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(base, p) for p in patterns
            )

        return (not self.include or matches(self.include)) and not matches(self.exclude)

    def __call__(self, x: dict[str, float]) -> dict[str, float]:
        if x.keys() != self._keys:
            self._keys = set(x)
            self._kept = [name for name in x if self.keeps(name)]
        return {name: x[name] for name in self._kept if name in x}

    def __getstate__(self) -> dict[str, Any]:  # the memo is rebuilt, not pickled
        return {"include": self.include, "exclude": self.exclude}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.include, self.exclude = state["include"], state["exclude"]
        self._keys, self._kept = None, []


@dataclass(frozen=True)
class ModelSpec:
    """One model of the job, as its shards are built from it."""

    name: str  # the model's own name (`id`), or its definition's in a one-model job
    config: ModelConfig
    drift: DriftConfig
    definition: ModelDefinition
    keys: tuple[str, ...]  # its shards' keys in the scoring step
    inputs: InputFilter | None = field(default=None, compare=False)

    @property
    def target(self) -> str:
        return self.config.target

    def key_of(self, event_id: str) -> str:
        """The shard of this model that scores (and learns) the event `event_id`."""
        return shard_of(event_id, self.keys)

    def shard_name(self, key: str) -> str:
        """The name outputs, metrics and the model store give the shard of `key`:
        `shard-i`, i its place among this model's shards (a key of no shard: itself).
        Routing keys are placed names (flows/routing.py); users see the model's own count."""
        try:
            return f"shard-{self.keys.index(key)}"
        except ValueError:
            return key

    def inline_label(self, event: Event) -> Any:
        """The label for this model's target that travels with `event`, or None."""
        return event.label_for(self.config.target)

    def segment_of(self, features: Mapping[str, Any]) -> str | None:
        """The segment an event's features put it in, or None for an unsegmented model."""
        by = self.config.segment_by
        return None if by is None else field_text(features.get(by))


@dataclass(frozen=True)
class ScoringPlan:
    """Every model of the job and the scoring-step keys of their shards."""

    specs: tuple[ModelSpec, ...]
    keys: tuple[str, ...]  # every shard key of every model, model by model
    by_key: dict[str, ModelSpec]
    by_target: dict[str, tuple[ModelSpec, ...]]

    @property
    def targets(self) -> frozenset[str]:
        return frozenset(self.by_target)

    def keyed(self, event_id: str, target: str | None = None) -> list[tuple[str, ModelSpec]]:
        """`(key, model)` for each model that scores `event_id` (of `target`, when given)."""
        specs = self.specs if target is None else self.by_target.get(target, ())
        return [(spec.key_of(event_id), spec) for spec in specs]


def scoring_plan(settings: Settings) -> ScoringPlan:
    """The job's models and their shard keys (see the module's docstring)."""
    configs = settings.model_configs()
    total = sum(cfg.shards for cfg in configs)
    keys = shard_keys(total)
    specs, start = [], 0
    for cfg in configs:
        definition = model_definition(cfg)
        inputs = (
            InputFilter(cfg.features_include, cfg.features_exclude)
            if cfg.features_include or cfg.features_exclude
            else None
        )
        own = tuple(keys[start : start + cfg.shards])
        start += cfg.shards
        name = cfg.id or definition.name
        specs.append(ModelSpec(name, cfg, settings.drift_for(cfg), definition, own, inputs))
    by_target: dict[str, list[ModelSpec]] = {}
    for spec in specs:
        by_target.setdefault(spec.target, []).append(spec)
    return ScoringPlan(
        tuple(specs),
        tuple(keys),
        {key: spec for spec in specs for key in spec.keys},
        {target: tuple(group) for target, group in by_target.items()},
    )
