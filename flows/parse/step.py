"""The parse step: raw messages of a batch to routed records (events grouped by
feature partition, labels for their model shard, dead letters)."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any, TypeGuard

from driftline.flows.outputs import telemetry
from driftline.flows.parse.events import Event, LabelBytes, Parser
from driftline.flows.records import DeadLetter
from driftline.flows.routing import grouped, shard_of
from driftline.flows.scoring.labels import ArrivedLabel

if TYPE_CHECKING:
    from driftline.flows.features.feature_set import Featured

#: Events of one feature partition in a batch: `(partition, [(seq, ingest, Event), ...])`.
EventGroup = tuple[str, list[tuple[int, float, Event]]]
#: What the parse step emits.
ParsedItem = EventGroup | ArrivedLabel | DeadLetter


class ParseInputs:
    """`flat_map_batch` step: raw messages to routed records.

    Events become `(partition, [(seq, ingest, Event), ...])`: one item per
    feature partition per batch, so bytewax moves (and, between processes,
    pickles) a few lists instead of one item per event. Labels (raw messages of type
    :class:`LabelBytes`) become :class:`ArrivedLabel` for their model shard, and
    anything unusable a :class:`DeadLetter`. `seq` numbers arrivals so the
    scoring step can restore the order the keyed feature step grouped by entity.
    """

    def __init__(
        self, events: Parser, labels: Parser, shards: list[str], partitions: list[str]
    ) -> None:
        self.events = events
        self.labels = labels
        self.shards = shards
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
            shards = self.shards
            out.extend(
                ArrivedLabel(lb, next(seq), ingest, shard_of(lb.id, shards)) for lb in parsed.good
            )
            dead.extend(parsed.dead)
        telemetry.count_dead_letters(dead)
        out.extend(dead)
        return out


def is_keyed(item: ParsedItem) -> TypeGuard[EventGroup]:
    """Routes parsed items: event groups (keyed by partition) go to the feature step."""
    return item.__class__ is tuple


def is_label(item: ParsedItem) -> TypeGuard[ArrivedLabel]:
    """Routes the rest: labels go to their model shard, dead letters to the output."""
    return item.__class__ is ArrivedLabel


def key_labels(items: list[ArrivedLabel]) -> list[tuple[str, list[Featured | ArrivedLabel]]]:
    """`flat_map_batch` step: labels grouped by their model shard.

    Typed as the groups of featured events are, as the scoring step takes both.
    """
    return grouped((a.shard, a) for a in items)
