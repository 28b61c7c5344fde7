"""The last step before the sinks: records -> `(output, json_bytes)`, watched by the monitor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

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
    """`flat_map_batch` step: scored outputs and dead letters to sink items.

    Items are `(output, json)`. With `routes` (model shard -> worker index as
    text) they are `(worker, (output, json))` for a sink with a partition per
    worker: a batch here holds the outputs of the shards of this worker, so each
    item is addressed to the worker that made it (dead letters from parsing
    follow the batch's scored items, or go to worker 0 in a batch of their own).
    """

    def __init__(
        self, monitor: OutputWatcher | None = None, routes: dict[str, str] | None = None
    ) -> None:
        self.monitor = monitor
        self.routes = routes
        self.drift_report: Callable[[DriftReport], None] | None = getattr(
            monitor, "drift_report", None
        )

    def __call__(self, items: list[Any]) -> list[tuple[str, Any]]:
        """`items` are `Scored | DeadLetter` (typed Any: bytewax's `branch` does not
        narrow its false side, so the flow's stream is typed as every parsed item)."""
        out: list[tuple[str, Any]] = self._encode(items)
        routes = self.routes
        if routes is None:
            return out
        here = next((routes[i[0]] for i in items if not isinstance(i, DeadLetter)), "0")
        return [(here, o) for o in out]

    def _encode(self, items: list[Scored | DeadLetter]) -> list[tuple[str, bytes]]:
        dumps = orjson.dumps  # a record's JSON is its fields in order
        monitor = self.monitor
        out: list[tuple[str, bytes]] = []
        for item in items:
            if isinstance(item, DeadLetter):  # from parsing or the feature step (counted there)
                out.append((_DEAD_LETTERS, dumps(item)))
                if monitor is not None:
                    monitor.dead_letter(item)
                continue
            record = item[1]
            if isinstance(record, Prediction):
                out.append((_PREDICTIONS, dumps(record)))
                if monitor is not None:
                    monitor.prediction(record)
            elif isinstance(record, Classified | Regressed):
                if monitor is not None:
                    monitor.outcome(record)
            elif isinstance(record, Alert):
                out.append((_ALERTS, dumps(record)))
                telemetry.DRIFT_ALERTS.labels(record.kind, record.detector).inc()
                if monitor is not None:
                    monitor.alert(record)
            elif isinstance(record, DriftReport):
                out.append((_REPORTS, dumps(record)))
                if self.drift_report is not None:
                    self.drift_report(record)
            else:  # a dead letter from scoring
                out.append((_DEAD_LETTERS, dumps(record)))
                telemetry.count_dead_letters([record])
                if monitor is not None:
                    monitor.dead_letter(record)
        if monitor is not None:
            monitor.tick()
        return out
