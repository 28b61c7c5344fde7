"""The last step before the sinks: records -> :class:`SinkItem` (output, key, JSON), watched
by the monitor.

Every written record gets its message key here, once, from the typed record in hand:
a sink never parses JSON again to find it (Kafka passes it to `produce`, a JSONL
file has no keys and ignores it). A key names what the record is about, so the
same record written twice (the outputs after the last snapshot are written again
on resume) has the same key, and two different records do not share one:

- prediction: ``<event id>/<model>`` (``evt-000000042/approve``): one per event
  and model, so a consumer that keeps the last record per key, or a compacted
  topic, holds exactly one prediction per event and model;
- alert: ``<model>[<segment>]/<kind>/<detector>/<event id>``, then
  ``/<feature>`` (data drift) and ``/<slice>`` when it has them: an alert fires
  at one event, for one input or slice, so the key names that firing;
- drift report: ``<model>[<segment>]/<shard>/<window end event id>``: one report
  per closed data window of a shard's model instance;
- dead letter: the event id of the message it holds when it has one (an
  envelope's ``id``: the event's for an event, the event's it labels for a
  label), else no key. An event may have several dead letters (a label refused
  and a model error, one per model): the key keeps them in one partition, in
  order, it does not make them one record (do not compact the dead-letter topic).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import orjson

from driftline.flows.outputs import telemetry
from driftline.flows.records import (
    Alert,
    Classified,
    DeadLetter,
    DriftReport,
    Outcome,
    Output,
    Prediction,
    Record,
    Regressed,
)

# the output names as plain text, as sink items carry them
_PREDICTIONS = Output.PREDICTIONS.value
_ALERTS = Output.ALERTS.value
_DEAD_LETTERS = Output.DEAD_LETTERS.value
_REPORTS = Output.DRIFT_REPORTS.value


class SinkItem(NamedTuple):
    """One encoded record for a sink: its output, its message key and its JSON.

    `output` is an :class:`~driftline.flows.records.Output` value (the JSONL file or
    the Kafka topic); `key` is the message key (None: no key), see the module's
    docstring; `payload` is the record as orjson wrote it. A named tuple: made
    once per record on the hot path, as cheap as the plain tuple it replaced.
    """

    output: str
    key: bytes | None
    payload: bytes


#: A sink item on its way to the sink: `(route, item)`, bytewax's `(key, value)`
#: of a partitioned sink. `route` is the output's name (a partition per output:
#: JSONL files) or, with `routes`, the index of the worker that made it as text (a
#: partition per worker: Kafka).
Routed = tuple[str, SinkItem]

#: What reaches the encode step: `(shard, record)` from the scoring step, and the
#: dead letters of parsing and of the feature step as they are.
Scored = tuple[str, Record]


class OutputWatcher(Protocol):
    """Who watches the outputs as they are encoded (the app's run monitor).

    A protocol, so the flow depends on what it calls, not on the app layer above it.
    """

    def prediction(self, rec: Prediction) -> None: ...
    def outcome(self, outcome: Outcome) -> None: ...
    def dead_letter(self, letter: DeadLetter) -> None: ...
    def alert(self, alert: Alert) -> None: ...
    def tick(self) -> None: ...

    # optional: `drift_report(report: DriftReport) -> None`, called for each drift report
    # when the watcher has it (the live page's feed does; the run monitor does not)


class EncodeOutputs:
    """`flat_map_batch` step: scored outputs and dead letters to `(route, SinkItem)`.

    The route is the output's name, or with `routes` (model shard -> worker index
    as text) the worker's index, for a sink with a partition per worker: a batch
    here holds the outputs of the shards of this worker, so each item is
    addressed to the worker that made it (dead letters from parsing follow the
    batch's scored items, or go to worker 0 in a batch of their own). Keys are
    made here, see the module's docstring.
    """

    def __init__(
        self, monitor: OutputWatcher | None = None, routes: dict[str, str] | None = None
    ) -> None:
        self.monitor = monitor
        self.routes = routes
        self.drift_report: Callable[[DriftReport], None] | None = getattr(
            monitor, "drift_report", None
        )

    def __call__(self, items: list[Any]) -> list[Routed]:
        """`items` are `Scored | DeadLetter` (typed Any: bytewax's `branch` does not
        narrow its false side, so the flow's stream is typed as every parsed item)."""
        routes = self.routes
        here = None
        if routes is not None:
            here = next((routes[i[0]] for i in items if not isinstance(i, DeadLetter)), "0")
        return self._encode(items, here)

    def _encode(self, items: list[Scored | DeadLetter], here: str | None) -> list[Routed]:
        dumps = orjson.dumps  # a record's JSON is its fields in order
        monitor = self.monitor
        out: list[Routed] = []
        for item in items:
            if isinstance(item, DeadLetter):  # from parsing or the feature step (counted there)
                out.append((here or _DEAD_LETTERS, _letter_item(item)))
                if monitor is not None:
                    monitor.dead_letter(item)
                continue
            record = item[1]
            if isinstance(record, Prediction):
                key = f"{record.id}/{record.model}".encode()
                out.append((here or _PREDICTIONS, SinkItem(_PREDICTIONS, key, dumps(record))))
                if monitor is not None:
                    monitor.prediction(record)
            elif isinstance(record, Classified | Regressed):
                if monitor is not None:
                    monitor.outcome(record)
            elif isinstance(record, Alert):
                out.append((here or _ALERTS, SinkItem(_ALERTS, alert_key(record), dumps(record))))
                telemetry.DRIFT_ALERTS.labels(record.kind, record.detector).inc()
                if monitor is not None:
                    monitor.alert(record)
            elif isinstance(record, DriftReport):
                key = report_key(record)
                out.append((here or _REPORTS, SinkItem(_REPORTS, key, dumps(record))))
                if self.drift_report is not None:
                    self.drift_report(record)
            else:  # a dead letter from scoring
                out.append((here or _DEAD_LETTERS, _letter_item(record)))
                telemetry.count_dead_letters([record])
                if monitor is not None:
                    monitor.dead_letter(record)
        if monitor is not None:
            monitor.tick()
        return out


def _model_name(model: str, segment: str | None) -> str:
    return model if segment is None else f"{model}[{segment}]"


def alert_key(alert: Alert) -> bytes:
    """``<model>[<segment>]/<kind>/<detector>/<event id>[/<feature>][/<slice>]``.

    Everything that tells two alerts apart: several detectors, inputs (data drift)
    and slices can fire at the same event of the same model.
    """
    key = (
        f"{_model_name(alert.model, alert.segment)}/{alert.kind}/{alert.detector}/{alert.event_id}"
    )
    if alert.feature is not None:
        key += f"/{alert.feature}"
    if alert.slice is not None:
        key += f"/{alert.slice}"
    return key.encode()


def report_key(report: DriftReport) -> bytes:
    """``<model>[<segment>]/<shard>/<window end event id>``: one closed window of one
    model instance (an event is scored by one shard of a model)."""
    model = _model_name(report.model, report.segment)
    return f"{model}/{report.shard}/{report.window_end_event_id}".encode()


def letter_key(letter: DeadLetter) -> bytes | None:
    """The event id of the message a dead letter holds (its ``id``), None without one.

    Dead letters are few (a bad message, a refused label, a failing model), so
    reading their `raw` again is off the hot path; the flow's own dead letters hold
    the envelope it encoded, so their id is always found. A message that is not a
    JSON object, or whose ``id`` is not a non-empty string (a team's own shape names
    it otherwise), has no key.
    """
    raw = letter.raw
    if not raw.lstrip(" \t\r\n").startswith("{"):  # the same str back when nothing is cut
        return None
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    event_id = message.get("id") if isinstance(message, dict) else None
    return event_id.encode() if isinstance(event_id, str) and event_id else None


def _letter_item(letter: DeadLetter) -> SinkItem:
    return SinkItem(_DEAD_LETTERS, letter_key(letter), orjson.dumps(letter))
