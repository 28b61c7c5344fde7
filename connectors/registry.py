"""Builds the flow's sources and sinks from the settings (the only place that chooses)."""

from __future__ import annotations

import itertools
from typing import Any

from bytewax.inputs import Source
from bytewax.outputs import Sink

from driftline.connectors.builtin import BuiltinSource, drifting_events
from driftline.connectors.files import JsonlOutputs, JsonlSource, NullSink
from driftline.flows.config import STDIN, Settings
from driftline.flows.dataflow import FlowIO
from driftline.flows.parse.events import Parser
from driftline.flows.records import Output


def events_source(settings: Settings) -> Source[Any]:
    kind = settings.run.source
    if kind == "builtin":
        return BuiltinSource(settings.builtin)
    if kind == "file":
        assert settings.files.events_path is not None
        return JsonlSource(settings.files.events_path, batch_size=settings.files.batch_size)
    from driftline.connectors.kafka import kafka_source

    return kafka_source(settings.kafka, settings.kafka.events_topic)


def labels_source(settings: Settings) -> Source[Any] | None:
    """Labels on their own stream (None when they travel inside events)."""
    kind = settings.run.source
    if kind == "file" and settings.files.labels_path is not None:
        return JsonlSource(
            settings.files.labels_path, batch_size=settings.files.batch_size, labels=True
        )
    if kind == "kafka":
        from driftline.connectors.kafka import kafka_source

        return kafka_source(settings.kafka, settings.kafka.labels_topic, labels=True)
    return None


def outputs_sink(settings: Settings) -> Sink[Any]:
    kind = settings.run.sink
    if kind == "file":
        directory = settings.sinks.directory
        return JsonlOutputs(
            {o.value: directory / o.file_name for o in Output}, fsync=settings.sinks.fsync
        )
    if kind == "null":
        return NullSink()
    from driftline.connectors.kafka import kafka_outputs

    return kafka_outputs(settings.kafka, settings.run.cluster_workers)


def build_io(settings: Settings) -> FlowIO:
    """Connectors for a run."""
    return FlowIO(
        events=events_source(settings),
        outputs=outputs_sink(settings),
        labels=labels_source(settings),
    )


def sample_features(settings: Settings, n: int) -> list[dict[str, object]] | None:
    """Raw features of the source's first `n` valid events, when it can be read ahead.

    The built-in stream is generated again and a file read from its start; a
    topic or standard input cannot be read without consuming it: None.
    """
    kind = settings.run.source
    if kind == "builtin":
        return [e["features"] for e in itertools.islice(drifting_events(settings.builtin), n)]
    path = settings.files.events_path
    if kind != "file" or path is None or path == STDIN:
        return None
    with open(path, "rb") as f:
        lines = [line.rstrip(b"\r\n") for line in itertools.islice(f, n)]
    parsed = Parser("events", settings.validation).parse_batch([ln for ln in lines if ln])
    return [event.features for event in parsed.good]
