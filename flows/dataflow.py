"""The dataflow, assembled top to bottom: read it to see where an event goes next.

```
events ─▶ parse ─┬─ok─▶ features (per entity) ─▶ key by shard ─▶ score (per shard) ─┐
                 └─bad────────────────────────────────────────────────────────────┤
                                                          encode + monitor ◀──────┘─▶ outputs
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink

from flows.config import Settings
from flows.events import Parser
from flows.features import FeatureSet
from flows.monitor import RunMonitor
from flows.outputs import EncodeOutputs
from flows.steps import FeatureLogic, KeyByShard, ParseEvents, ScoreLogic, is_keyed


@dataclass
class FlowIO:
    """The connectors a flow reads from and writes to.

    `events` yields raw messages (bytes or str; a source may also yield a
    ready-made DeadLetter for a message it could not read). `outputs` takes
    `(output_name, json_bytes)` items, output_name in predictions, alerts,
    dead_letters.
    """

    events: Source[Any]
    outputs: Sink[tuple[str, bytes]]


def build_dataflow(
    settings: Settings, io: FlowIO, monitor: RunMonitor | None = None, name: str = "driftline"
) -> Dataflow:
    """The driftline dataflow for `settings`, reading and writing through `io`."""
    features = FeatureSet(settings.features)
    parser = Parser("events", settings.validation)

    flow = Dataflow(name)
    raw_events = op.input("events", flow, io.events)
    parsed = op.flat_map_batch("parse_events", raw_events, ParseEvents(parser))
    routed = op.branch("route_parsed", parsed, is_keyed)

    featured = op.stateful_batch(
        "features", routed.trues, lambda resume: FeatureLogic(features, resume)
    )
    by_shard = op.flat_map_batch("key_by_shard", featured, KeyByShard(settings.model.shards))
    scored = op.stateful_batch(
        "score",
        by_shard,
        lambda resume: ScoreLogic(settings, features.version, resume),
    )

    results = op.merge("results", scored, routed.falses)
    encoded = op.flat_map_batch("encode_outputs", results, EncodeOutputs(monitor))
    op.output("outputs", encoded, io.outputs)
    return flow
