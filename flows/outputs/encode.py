"""The last step before the sinks: records -> `(output, json_bytes)`, watched by the monitor."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from driftline.flows.outputs import telemetry
from driftline.flows.records import Alert, DeadLetter
from driftline.flows.scoring.labels import Classified, Outcome

PREDICTIONS, ALERTS, DEAD_LETTERS, REPORTS = (
    "predictions",
    "alerts",
    "dead_letters",
    "drift_reports",
)
OUTPUTS = (PREDICTIONS, ALERTS, DEAD_LETTERS, REPORTS)


class OutputWatcher(Protocol):
    """Who watches the outputs as they are encoded (the app's run monitor).

    A protocol, so the flow depends on what it calls, not on the app layer above it.
    """

    def prediction(self, rec: dict[str, Any]) -> None: ...
    def outcome(self, outcome: Outcome) -> None: ...
    def dead_letter(self, letter: DeadLetter) -> None: ...
    def alert(self, alert: Alert) -> None: ...
    def tick(self) -> None: ...


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

    def __call__(self, items: list[Any]) -> list[Any]:
        out = self._encode(items)
        routes = self.routes
        if routes is None:
            return out
        here = next((routes[i[0]] for i in items if i.__class__ is tuple), "0")
        return [(here, o) for o in out]

    def _encode(self, items: list[Any]) -> list[tuple[str, bytes]]:
        dumps = orjson.dumps
        monitor = self.monitor
        out: list[tuple[str, bytes]] = []
        for item in items:
            if item.__class__ is DeadLetter:
                out.append((DEAD_LETTERS, item.to_json()))
                if monitor is not None:
                    monitor.dead_letter(item)
                continue
            tag, payload = item[1]
            if tag == "dead_letter":
                out.append((DEAD_LETTERS, payload.to_json()))
                telemetry.count_dead_letters([payload])
                if monitor is not None:
                    monitor.dead_letter(payload)
            elif tag == "prediction":
                out.append((PREDICTIONS, dumps(payload)))
                if monitor is not None:
                    monitor.prediction(payload)
            elif tag == "report":
                out.append((REPORTS, dumps(payload)))
            elif tag == "outcome":
                if monitor is not None:
                    monitor.outcome(_as_outcome(payload))
            else:
                out.append((ALERTS, payload.to_json()))
                telemetry.DRIFT_ALERTS.labels(payload.kind, payload.detector).inc()
                if monitor is not None:
                    monitor.alert(payload)
        if monitor is not None:
            monitor.tick()
        return out


def _as_outcome(payload: Outcome | tuple[str, bool | None, bool | None]) -> Outcome:
    """`payload` as an outcome record.

    Shards used to send a bare `(event_id, right, baseline_right)` tuple: it still
    works, and a regressor's `(event_id, None, None)` counts as labelled, unscored.
    """
    if payload.__class__ is tuple:
        return Classified(*payload)  # type: ignore[misc]
    return payload  # type: ignore[return-value]
