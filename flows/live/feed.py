"""What the live page shows, kept in memory as the job runs: a bounded, thread-safe feed.

The encode step calls the feed (an output watcher) for every record it encodes.
Per record the feed does O(1) work, and only for the rare records: alerts, drift
reports and dead letters are kept (bounded by `live.history`); predictions are
counted. Once a second (on the step's `tick`) it samples the Prometheus metrics
the job already keeps (events, latency, labels, the rolling model metric,
versions) into a point of the history, so the numbers on the page are the ones
`/metrics` serves. Nothing is serialised here: :meth:`LiveFeed.state` copies what
a connected page needs, and only the server serialises it, only for a page.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from driftline.flows.outputs import telemetry
from driftline.flows.records import Alert, DeadLetter, DriftReport, Outcome, Prediction

SAMPLE_EVERY = 1.0  # seconds between points of the history
SAMPLES_PER_REASON = 5  # dead-letter samples kept per reason
RAW_SHOWN = 400  # characters of a dead letter's raw input and error the page gets
SERIES_SHOWN = 12  # model/segment lines the page gets (the first ones seen)
_PROMOTIONS = ("model_promoted", "model_reset")


@dataclass(slots=True)
class _Latency:
    """The scoring-latency histogram at the last sample (cumulative bucket counts)."""

    count: float = 0.0
    total: float = 0.0
    buckets: list[tuple[float, float]] = field(default_factory=list)


def _samples(metric: Any) -> Iterable[Any]:
    """The samples of one prometheus-client metric (its public `collect`)."""
    for family in metric.collect():
        yield from family.samples


def _counter(metric: Any, **labels: str) -> float:
    """Sum of a counter's `_total` samples whose labels include `labels`."""
    return sum(
        float(s.value)
        for s in _samples(metric)
        if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _short(text: str, limit: int = RAW_SHOWN) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


#: The nested parts of a statistic the page shows: what moved with a concept drift
#: (a few entries each), with the figures it prints of each entry.
EXPLAINED = {
    "moved_features": ("feature", "ks", "p_value"),
    "rising_slices": ("slice", "reference_error", "recent_error"),
}


def _scalars(statistic: dict[str, Any]) -> dict[str, Any]:
    """An alert's statistic without its nested parts (a data alert's per-feature table),
    except the short lists of what moved with a concept drift."""
    shown: dict[str, Any] = {
        str(k): v
        for k, v in statistic.items()
        if v is None or isinstance(v, int | float | str | bool)
    }
    for key, fields in EXPLAINED.items():
        entries = statistic.get(key)
        if isinstance(entries, list):
            listed = [entry for entry in entries[:5] if isinstance(entry, dict)]
            shown[key] = [{f: entry.get(f) for f in fields} for entry in listed]
    return shown


class LiveFeed:
    """The page's state: alerts, points over time, versions, drift, dead letters, config.

    An :class:`~driftline.flows.outputs.encode.OutputWatcher` (with `drift_report`).
    Every list is bounded by `history`. Items carry a sequence number (`seq`) so a
    connected page is sent only what it has not seen (:meth:`state` with `since`).
    """

    def __init__(
        self,
        history: int = 500,
        config: dict[str, Any] | None = None,
        primary: str | None = None,
        sample_every: float = SAMPLE_EVERY,
    ) -> None:
        self.history = history
        self.config = config or {}
        self.primary = primary  # the model whose predictions count as the job's events
        self.sample_every = sample_every
        self.watchers = 0  # pages connected now (the server counts them)
        self.version = 0  # moves when anything the page shows changed
        self.started = time.time()
        self.finished: float | None = None
        self._lock = threading.Lock()  # the state a page reads
        self._sampling = threading.Lock()  # one sample at a time
        self._seq = 0
        self._scored = 0  # predictions of the primary model seen (the x of alerts)
        self._next_sample = 0.0
        self._alerts: deque[dict[str, Any]] = deque(maxlen=history)
        self._points: deque[dict[str, Any]] = deque(maxlen=history)
        self._series: dict[str, dict[str, Any]] = {}
        self._promotions: dict[tuple[str, str], dict[str, Any]] = {}
        self._drift: dict[tuple[str, str], dict[str, Any]] = {}
        self._windows = 0
        self._alert_count = 0
        self._samples: dict[str, deque[dict[str, Any]]] = {}
        self._stats: dict[str, Any] = {}
        self._versions: list[dict[str, Any]] = []
        self._labels: dict[str, Any] = {}
        self._dead: dict[str, float] = {}
        self._latency = _Latency()
        self._last: tuple[float, float] = (self.started, 0.0)  # (time, scored) at last sample

    # ------------------------------------------------------------ the watcher hooks

    def prediction(self, rec: Prediction) -> None:
        if self.primary is None or rec.model == self.primary:
            self._scored += 1  # an int add: the one per-event cost of the page

    def outcome(self, outcome: Outcome) -> None:
        """Outcomes are summed by the scoring step's metrics, which the feed samples."""

    def dead_letter(self, letter: DeadLetter) -> None:
        sample = {
            "reason": letter.reason,
            "stage": letter.stage,
            "source": letter.source,
            "ts": letter.ts,
            "error": _short(letter.error),
            "raw": _short(letter.raw),
        }
        with self._lock:
            samples = self._samples.get(letter.reason)
            if samples is None:
                if len(self._samples) >= self.history:  # reasons are few; bounded all the same
                    return
                samples = self._samples[letter.reason] = deque(maxlen=SAMPLES_PER_REASON)
            samples.appendleft(sample)
            self.version += 1

    def alert(self, alert: Alert) -> None:
        item = {
            "kind": alert.kind,
            "severity": alert.severity,
            "detector": alert.detector,
            "model": alert.model,
            "segment": alert.segment,
            "slice": alert.slice,
            "version": alert.model_version,
            "feature": alert.feature,
            "statistic": _scalars(alert.statistic),
            "event_id": alert.event_id,
            "event_ts": alert.event_ts,
            "shard": alert.shard,
            "text": alert.describe(),
            "x": self._scored,
            "at": time.time(),
        }
        with self._lock:
            self._seq += 1
            item["seq"] = self._seq
            self._alerts.append(item)
            self._alert_count += 1
            if alert.kind in _PROMOTIONS:
                key = (alert.model, alert.segment or "")
                self._promotions[key] = {
                    "version": alert.model_version,
                    "event_ts": alert.event_ts,
                    "kind": alert.kind,
                }
            self.version += 1

    def drift_report(self, report: DriftReport) -> None:
        """A closed data window: the latest KS and p-value of each feature it compared."""
        where = report.model + (f"[{report.segment}]" if report.segment is not None else "")
        with self._lock:
            self._windows += 1
            for name, figures in report.features.items():
                key = (where, name)
                row = self._drift.pop(key, None)  # re-inserted: the dict stays newest last
                if row is None and len(self._drift) >= self.history:
                    self._drift.pop(next(iter(self._drift)))
                ks = figures.get("ks")
                history: list[float] = row["history"] if row else []
                history = [*history[-19:], ks] if isinstance(ks, int | float) else history
                self._drift[key] = {
                    "model": where,
                    "feature": name,
                    "ks": ks,
                    "p_value": figures.get("p_value"),
                    "reference_mean": figures.get("reference_mean"),
                    "current_mean": figures.get("current_mean"),
                    "drifted": name in report.drifted,
                    "window_end_ts": report.window_end_ts,
                    "window": self._windows,
                    "history": history,
                }
            self.version += 1

    def tick(self) -> None:
        """After each encoded batch: a point of the history when one is due."""
        now = time.monotonic()
        if now >= self._next_sample and self._sampling.acquire(blocking=False):
            try:  # one worker samples; the others go on
                self._next_sample = now + self.sample_every
                self._sample()
            finally:
                self._sampling.release()

    # ------------------------------------------------------------ sampling

    def sample(self, final: bool = False) -> None:
        """Read the job's metrics into the current figures and one point of the history."""
        with self._sampling:
            self._sample(final)

    def _sample(self, final: bool = False) -> None:
        now = time.time()
        scored = _counter(telemetry.EVENTS, outcome="scored")
        late = _counter(telemetry.LATE_EVENTS)
        out_of_order = _counter(telemetry.OUT_OF_ORDER)
        dead: dict[str, float] = {}
        for s in _samples(telemetry.DEAD_LETTERS):
            if s.name.endswith("_total"):
                dead[s.labels["reason"]] = dead.get(s.labels["reason"], 0.0) + s.value
        latency = self._read_latency()
        labels: dict[str, dict[str, float]] = {}
        for s in _samples(telemetry.LABELS):
            if s.name.endswith("_total"):
                per = labels.setdefault(s.labels["model"], {})
                per[s.labels["outcome"]] = s.value
        pending = next((s.value for s in _samples(telemetry.PENDING_LABELS)), 0.0)
        values: dict[str, list[float | None]] = {}
        metrics: dict[str, str] = {}
        baselines: dict[str, str] = {}
        for s in _samples(telemetry.MODEL_METRIC):
            key = s.labels["model"] + (f"[{s.labels['segment']}]" if s.labels["segment"] else "")
            pair = values.setdefault(key, [None, None])
            pair[0 if s.labels["scorer"] == "model" else 1] = s.value
            metrics[key], baselines[key] = s.labels["metric"], s.labels["baseline"]
        versions = [
            {
                "model": s.labels["model"],
                "segment": s.labels["segment"] or None,
                "shard": s.labels["shard"],
                "version": int(s.value),
            }
            for s in _samples(telemetry.MODEL_VERSION)
        ]
        then, scored_then = self._last
        rate = (scored - scored_then) / (now - then) if now > then else 0.0
        with self._lock:
            self._last = (now, scored)
            for key in values:
                if key not in self._series and len(self._series) < SERIES_SHOWN:
                    self._series[key] = {
                        "key": key,
                        "model": key.split("[", 1)[0],
                        "metric": metrics[key],
                        "baseline": baselines[key],
                    }
            shown = {k: v for k, v in values.items() if k in self._series}
            last = self._points[-1] if self._points else None
            if shown and (last is None or last["v"] != shown or last["scored"] != scored):
                self._seq += 1
                self._points.append(
                    {"seq": self._seq, "t": now, "x": self._scored, "scored": scored, "v": shown}
                )
            for v in versions:
                promoted = self._promotions.get((v["model"], v["segment"] or ""))
                if promoted is not None and promoted["version"] == v["version"]:
                    v["since"], v["how"] = promoted["event_ts"], promoted["kind"]
            self._versions = sorted(
                versions, key=lambda v: (v["model"], v["segment"] or "", v["shard"])
            )[: self.history]
            self._stats = {
                "scored": scored,
                "rate": rate if not final else scored / max(now - self.started, 1e-9),
                "elapsed": now - self.started,
                "late": late,
                "out_of_order": out_of_order,
                "dead_letters": sum(dead.values()),
                "latency_ms": latency,
                "alerts": self._alert_count,
            }
            self._labels = {"pending": pending, "by_model": labels}
            self._dead = dead
            if final:
                self.finished = now
            self.version += 1

    def _read_latency(self) -> dict[str, float | None]:
        """Mean and 95th percentile (bucket bound) of scoring latency since the last sample."""
        count = total = 0.0
        buckets: list[tuple[float, float]] = []
        for s in _samples(telemetry.SCORING_LATENCY):
            if s.name.endswith("_count"):
                count = s.value
            elif s.name.endswith("_sum"):
                total = s.value
            elif s.name.endswith("_bucket"):
                buckets.append((float(s.labels["le"]), s.value))
        last = self._latency
        n = count - last.count
        mean = (total - last.total) / n * 1000 if n > 0 else None
        p95 = None
        if n > 0:
            before = dict(last.buckets)
            for bound, cumulative in buckets:
                if cumulative - before.get(bound, 0.0) >= 0.95 * n:
                    p95 = bound * 1000
                    break
        self._latency = _Latency(count, total, buckets)
        return {"mean": mean, "p95": p95, "observed": count}

    # ------------------------------------------------------------ what a page is sent

    def state(self, since: int = 0) -> dict[str, Any]:
        """What the page shows: everything (`since` 0), or the items after seq `since`.

        A page too far behind (its last item has left the bounded history) gets
        everything again (`full` true).
        """
        with self._lock:
            oldest = min(
                (d[0]["seq"] for d in (self._alerts, self._points) if d), default=self._seq + 1
            )
            full = since <= 0 or since + 1 < oldest or since > self._seq
            after = 0 if full else since
            return {
                "full": full,
                "seq": self._seq,
                "history": self.history,
                "finished": self.finished is not None,
                "alerts": [a for a in self._alerts if a["seq"] > after],
                "points": [p for p in self._points if p["seq"] > after],
                "series": list(self._series.values()),
                "stats": dict(self._stats),
                "labels": self._labels,
                "versions": list(self._versions),
                "data_drift": [dict(row) for row in reversed(self._drift.values())],
                "dead_letters": {
                    "by_reason": dict(self._dead),
                    "samples": [s for samples in self._samples.values() for s in samples],
                },
                "config": self.config,
            }


class Watchers:
    """Fan-out: each output record goes to every watcher (the run monitor, the page's feed)."""

    def __init__(self, *watchers: Any) -> None:
        self.watchers = watchers
        self._reports = [w.drift_report for w in watchers if hasattr(w, "drift_report")]

    def prediction(self, rec: Prediction) -> None:
        for w in self.watchers:
            w.prediction(rec)

    def outcome(self, outcome: Outcome) -> None:
        for w in self.watchers:
            w.outcome(outcome)

    def dead_letter(self, letter: DeadLetter) -> None:
        for w in self.watchers:
            w.dead_letter(letter)

    def alert(self, alert: Alert) -> None:
        for w in self.watchers:
            w.alert(alert)

    def drift_report(self, report: DriftReport) -> None:
        for hook in self._reports:
            hook(report)

    def tick(self) -> None:
        for w in self.watchers:
            w.tick()
