"""The dataflow, assembled top to bottom: read it to see where an event goes next.

```
events ─┐         ┌─event─▶ features (per entity) ─┬─▶ key by model shard ─┐
labels ─┴─▶ parse ┼─label──────────────────────────┼─▶ key by model shard ─┴─▶ score (per shard) ─┐
                  │                                └─bad (feature function)───────────────────────┤
                  └─bad───────────────────────────────────────────────────────────────────────────┤
                                                               outputs ◀── encode + monitor ◀─────┘
```

Every model of the job (`[[models]]`, see flows/scoring/spec.py) has shards of its
own: an event goes to one shard of each model, a label to one shard of each model
of its target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink

from driftline.flows.config import Settings
from driftline.flows.features.derive import FeatureFunction
from driftline.flows.features.feature_set import FeatureSet
from driftline.flows.features.step import FeatureLogic, is_featured, unkeyed
from driftline.flows.outputs.encode import EncodeOutputs, OutputWatcher, Routed
from driftline.flows.parse.events import Parser
from driftline.flows.parse.step import ParseInputs, is_keyed, is_label
from driftline.flows.routing import partition_keys, worker_routes
from driftline.flows.scoring.spec import scoring_plan
from driftline.flows.scoring.step import KeyByModel, KeyLabels, ScoreLogic


@dataclass
class FlowIO:
    """The connectors a flow reads from and writes to.

    `events` yields raw messages (bytes or str; a source may also yield a
    ready-made DeadLetter for a message it could not read). `labels`, when
    labels come on their own stream, yields raw label messages as
    :class:`~driftline.flows.parse.events.LabelBytes` (a source may also mix them
    into `events`). `outputs` takes `(route, SinkItem)` items: a
    `SinkItem(output, key, payload)` holds the output's name (the value of an
    :class:`~driftline.flows.records.Output`), the message key the encode step
    gave the record (see flows/outputs/encode.py) and its JSON. The route is the
    output's name, or, for a sink with a true `per_worker` attribute (one partition
    per worker, named so they sort in worker order), the index as text of the
    worker that made the item.
    """

    events: Source[Any]
    outputs: Sink[Routed]
    labels: Source[Any] | None = None


def build_dataflow(
    settings: Settings,
    io: FlowIO,
    monitor: OutputWatcher | None = None,
    name: str = "driftline",
    recovering: bool = True,
) -> Dataflow:
    """The driftline dataflow for `settings`, reading and writing through `io`.

    `recovering` False skips pickling state snapshots no recovery store will keep.
    """
    features = FeatureSet(settings.features, FeatureFunction.from_config(settings.features))
    workers = settings.run.cluster_workers
    plan = scoring_plan(settings)  # the job's models and their shards' keys
    # entities hashed to a fixed number of feature partitions: state that any worker count resumes
    partitions = partition_keys(settings.run.feature_partitions)
    parse = ParseInputs(
        Parser("events", settings.validation, settings.mapping.events),
        Parser("labels", settings.validation, settings.mapping.labels),
        plan.targets,
        partitions,
    )

    flow = Dataflow(name)
    raw = op.input("events", flow, io.events)
    if io.labels is not None:
        raw = op.merge("inputs", raw, op.input("labels", flow, io.labels))
    parsed = op.flat_map_batch("parse", raw, parse)
    events = op.branch("route_events", parsed, is_keyed)
    labels = op.branch("route_labels", events.falses, is_label)

    featured = op.stateful_batch(
        "features", events.trues, lambda resume: FeatureLogic(features, resume, recovering)
    )
    served = op.branch("route_featured", featured, is_featured)  # or the feature function failed
    by_shard = op.flat_map_batch("key_by_shard", served.trues, KeyByModel(plan))
    labels_by_shard = op.flat_map_batch("key_labels", labels.trues, KeyLabels(plan))
    scored = op.stateful_batch(
        "score",
        op.merge("to_score", by_shard, labels_by_shard),
        lambda resume: ScoreLogic(settings, plan, features.version, resume, recovering),
    )

    feature_dead = op.map("feature_dead_letters", served.falses, unkeyed)
    results = op.merge("results", scored, labels.falses, feature_dead)
    # a sink with one partition per worker gets `(worker, SinkItem)` items
    # addressed to the worker that scored them, so outputs never change process
    routes = worker_routes(plan.keys, workers) if getattr(io.outputs, "per_worker", False) else None
    encoded = op.flat_map_batch("encode_outputs", results, EncodeOutputs(monitor, routes))
    op.output("outputs", encoded, io.outputs)
    return flow
