"""The parse step: raw messages of a batch to routed records (events grouped by
feature partition, labels for their model shard, dead letters)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from driftline.flows.outputs import telemetry
from driftline.flows.parse.events import DeadLetter, LabelBytes, Parser
from driftline.flows.routing import grouped, shard_of
from driftline.flows.scoring.labels import ArrivedLabel


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

    def __call__(self, raws: list[Any]) -> list[Any]:
        ingest = time.time()
        event_raws, label_raws, dead = [], [], []
        for r in raws:
            cls = r.__class__
            if cls is LabelBytes:
                label_raws.append(bytes(r))  # orjson wants exactly bytes
            elif cls is DeadLetter:  # the source could not read it
                dead.append(r)
            else:
                event_raws.append(r)
        seq = self._seq
        out: list[Any] = []
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


def is_keyed(item: Any) -> bool:
    """Routes parsed items: event groups (keyed by partition) go to the feature step."""
    return item.__class__ is tuple


def is_label(item: Any) -> bool:
    """Routes the rest: labels go to their model shard, dead letters to the output."""
    return item.__class__ is ArrivedLabel


def key_labels(items: list[ArrivedLabel]) -> list[tuple[str, list[ArrivedLabel]]]:
    """`flat_map_batch` step: labels grouped by their model shard."""
    return grouped((a.shard, a) for a in items)
