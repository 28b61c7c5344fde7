"""Builds the flow's sources and sinks from the settings (the only place that chooses)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
from bytewax.inputs import Source
from bytewax.outputs import Sink

from driftline.connectors.builtin import BuiltinSource, drifting_events
from driftline.connectors.files import JsonlOutputs, JsonlSource, NullSink
from driftline.flows.config import STDIN, Settings
from driftline.flows.dataflow import FlowIO
from driftline.flows.parse.events import Event, Parser
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

    return kafka_outputs(settings.kafka)


def build_io(settings: Settings) -> FlowIO:
    """Connectors for a run."""
    return FlowIO(
        events=events_source(settings),
        outputs=outputs_sink(settings),
        labels=labels_source(settings),
    )


def sample_messages(settings: Settings, n: int) -> list[bytes] | None:
    """The source's first `n` event messages, when it can be read ahead.

    The built-in stream is generated again and a file read from its start; a
    topic or standard input cannot be read without consuming it: None.
    """
    kind = settings.run.source
    if kind == "builtin":
        return [orjson.dumps(e) for e in itertools.islice(drifting_events(settings.builtin), n)]
    path = settings.files.events_path
    if kind != "file" or path is None or path == STDIN:
        return None
    return _first_lines(path, n)


def sample_label_messages(settings: Settings, n: int) -> list[bytes] | None:
    """The first `n` messages of a labels file, when labels come on their own from one."""
    path = settings.files.labels_path
    if settings.run.source != "file" or path is None:
        return None
    return _first_lines(path, n)


def _first_lines(path: Path, n: int) -> list[bytes]:
    with open(path, "rb") as f:
        lines = [line.rstrip(b"\r\n") for line in itertools.islice(f, n)]
    return [line for line in lines if line]


def sample_events(settings: Settings, n: int) -> list[Event] | None:
    """The source's first `n` valid events, parsed as the flow parses them (through the
    mapping, when there is one), when the source can be read ahead (see :func:`sample_messages`)."""
    messages = sample_messages(settings, n)
    if messages is None:
        return None
    raws: list[bytes | str | None] = list(messages)
    return Parser("events", settings.validation, settings.mapping.events).parse_batch(raws).good


def sample_features(settings: Settings, n: int) -> list[dict[str, object]] | None:
    """Features of the source's first `n` valid events (as the mapping names them, when
    there is one), when the source can be read ahead (see :func:`sample_messages`)."""
    mapping = settings.mapping.events
    if settings.run.source == "builtin" and mapping is None:  # no need to encode and parse
        return [e["features"] for e in itertools.islice(drifting_events(settings.builtin), n)]
    messages = sample_messages(settings, n)
    if messages is None:
        return None
    raws: list[bytes | str | None] = list(messages)
    parsed = Parser("events", settings.validation, mapping).parse_batch(raws)
    return [event.features for event in parsed.good]
