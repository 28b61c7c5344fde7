"""The parse step: raw messages of a batch to routed records (events grouped by
feature partition, labels for their model shard, dead letters)."""

from __future__ import annotations

import itertools
import time
from typing import Any, TypeGuard

from driftline.flows.config.mapping import DEFAULT_TARGET
from driftline.flows.outputs import telemetry
from driftline.flows.parse.events import Event, Label, LabelBytes, Parser, to_json
from driftline.flows.records import DeadLetter, dead_letter
from driftline.flows.routing import grouped, shard_of
from driftline.flows.scoring.labels import ArrivedLabel

#: Events of one feature partition in a batch: `(partition, [(seq, ingest, Event), ...])`.
EventGroup = tuple[str, list[tuple[int, float, Event]]]
#: What the parse step emits.
ParsedItem = EventGroup | ArrivedLabel | DeadLetter


class ParseInputs:
    """`flat_map_batch` step: raw messages to routed records.

    Events become `(partition, [(seq, ingest, Event), ...])`: one item per
    feature partition per batch, so bytewax moves (and, between processes,
    pickles) a few lists instead of one item per event. Labels (raw messages of type
    :class:`LabelBytes`) become :class:`ArrivedLabel` (a label whose target no model
    learns, `targets`, a dead letter), and anything unusable a :class:`DeadLetter`.
    `seq` numbers arrivals so the scoring step can restore the order the keyed
    feature step grouped by entity.
    """

    def __init__(
        self, events: Parser, labels: Parser, targets: frozenset[str], partitions: list[str]
    ) -> None:
        self.events = events
        self.labels = labels
        self.targets = targets
        self.partitions = partitions
        self._seq = itertools.count()

    def __call__(self, raws: list[Any]) -> list[ParsedItem]:
        ingest = time.time()
        event_raws: list[Any] = []
        label_raws: list[bytes | str | None] = []
        dead: list[DeadLetter] = []
        for r in raws:
            cls = r.__class__
            if cls is LabelBytes:
                label_raws.append(bytes(r))  # orjson wants exactly bytes
            elif cls is DeadLetter:  # the source could not read it
                dead.append(r)
            else:
                event_raws.append(r)
        seq = self._seq
        out: list[ParsedItem] = []
        if event_raws:
            parsed = self.events.parse_batch(event_raws)
            partitions = self.partitions
            out.extend(
                grouped((shard_of(e.key, partitions), (next(seq), ingest, e)) for e in parsed.good)
            )
            dead.extend(parsed.dead)
        if label_raws:
            parsed = self.labels.parse_batch(label_raws)
            targets = self.targets
            for lb in parsed.good:
                if (lb.target or DEFAULT_TARGET) in targets:
                    out.append(ArrivedLabel(lb, next(seq), ingest))
                else:
                    dead.append(self._untargeted(lb))
            dead.extend(parsed.dead)
        telemetry.count_dead_letters(dead)
        out.extend(dead)
        return out

    def _untargeted(self, label: Label) -> DeadLetter:
        """The dead letter of a label for a target no model of the job learns."""
        target = label.target or DEFAULT_TARGET
        return dead_letter(
            to_json(label),
            f"label target {target!r} is learned by no model of this job; targets: "
            f"{', '.join(sorted(self.targets))} (model.target / models[i].target)",
            stage="parse",
            reason="target",
            source="labels",
            whole=True,
        )


def is_keyed(item: ParsedItem) -> TypeGuard[EventGroup]:
    """Routes parsed items: event groups (keyed by partition) go to the feature step."""
    return item.__class__ is tuple


def is_label(item: ParsedItem) -> TypeGuard[ArrivedLabel]:
    """Routes the rest: labels go to their model shard, dead letters to the output."""
    return item.__class__ is ArrivedLabel
