"""The soak run's parts: its typed records, the event ledger, /proc sampling, log checks.

`bench.soak` drives the run; this module holds what it measures with, so each
piece can be read (and tested) on its own:

- :class:`Ledger` records every event the producer sends (by its index in the
  built-in stream, ``evt-<index>``) and what became of it: a prediction, a dead
  letter, or nothing yet. Numpy arrays indexed by event, not dicts of ids: an
  hour at 3,000 ev/s is 10.8 M events, about 1 GB as a dict of strings and
  about 130 MB as these arrays.
- :func:`sample_process` reads the job's RSS, open file descriptors and CPU
  time from ``/proc/<pid>`` (Linux only, like the machines this runs on).
- :func:`log_problems` reads the job's structured log (``--log-format json``,
  one object per line, see ``flows/app/logs.py``) for errors.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import orjson

from driftline.flows.parse.events import LabelBytes

#: How orjson writes a built-in stream event: the id first, ``evt-`` and 9 digits.
EVENT_PREFIX = b'{"id":"evt-'
_DIGITS = slice(len(EVENT_PREFIX), len(EVENT_PREFIX) + 9)


def log(msg: str) -> None:
    """A progress line on stderr, stamped with the time of day."""
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def event_index(event_id: object) -> int | None:
    """The stream index of a built-in event id ``evt-000000042`` (None for any other id)."""
    if isinstance(event_id, str) and event_id.startswith("evt-") and event_id[4:].isdigit():
        return int(event_id[4:])
    return None


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class ProcSample:
    """One look at the job process: when (s since production started), RSS, fds, CPU."""

    t: float
    rss_bytes: int
    fds: int
    cpu_seconds: float  # user + system, since the process started


@dataclass(frozen=True)
class Interval:
    """One report interval (a minute by default) of the soak, as printed and written."""

    minute: float  # end of the interval, minutes since production started
    seconds: float
    events_in_per_s: float  # events produced (acknowledged or not) per second
    predictions_out_per_s: float  # first predictions per event read back per second
    labels_in_per_s: float
    hostile_in: int  # malformed messages produced in the interval
    dead_letters: int  # dead letters read back in the interval
    p50_ms: float | None  # produce() -> prediction written, of predictions read back
    p99_ms: float | None
    max_ms: float | None
    rss_mb: float  # of the job process, at the interval's end
    fds: int
    cpu_pct: float  # job process CPU over the interval, % of one core
    load1: float  # the machine's 1-minute load average (other work shares the cores)
    unaccounted: int  # events sent so far with neither a prediction nor a dead letter


@dataclass(frozen=True)
class Check:
    """One pass/fail condition of the soak."""

    name: str
    ok: bool
    detail: str


# ---------------------------------------------------------------- the ledger


@dataclass
class Ledger:
    """Every event sent and what came of it; thread-safe for one producer and one reader.

    The producer thread only writes ``sent_at[i]`` and the ``*_sent`` counters;
    the reading thread only writes ``done``/``latency_ms`` and the output
    counters. Latency is the prediction message's Kafka timestamp (set by the
    job's producer at ``produce()``) minus the wall time this process called
    ``produce()`` for the event: "in the output topic", independent of when
    this process gets round to reading it (it shares the 2 cores with the job).
    """

    capacity: int
    sent_at: npt.NDArray[np.float64] = field(init=False)
    latency_ms: npt.NDArray[np.float32] = field(init=False)
    done: npt.NDArray[np.bool_] = field(init=False)
    events_sent: int = 0
    labels_sent: int = 0
    hostile_sent: int = 0
    predictions: int = 0  # first prediction per event
    duplicates: int = 0  # a further prediction of an event already predicted
    foreign: int = 0  # predictions of ids this run never sent
    dead_events: int = 0  # dead letters of events this run sent (valid JSON, evt- id)
    dead_hostile: int = 0  # dead letters of the events source not of a sent event
    dead_labels: int = 0
    interval_latencies: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sent_at = np.zeros(self.capacity, dtype=np.float64)
        self.latency_ms = np.full(self.capacity, np.nan, dtype=np.float32)
        self.done = np.zeros(self.capacity, dtype=np.bool_)

    def messages(
        self, source: Iterator[bytes | None], rate: float, start: float, until: float
    ) -> Iterator[bytes | None]:
        """Pass `source`'s messages on to the producer at `rate` events/s, stamping each
        event's send time.

        Paced here, by events, not by the producer's messages/s: labels come
        ``label_delay`` behind their events and none come in the first seconds,
        so a pace on all messages sends events at up to twice the rate at first.
        Event i is due at monotonic `start` + i / rate; the wait is taken only when
        a millisecond or more ahead (sleeping for every event at 3,000 ev/s costs
        more than it keeps). Ends at monotonic time `until`, on :attr:`stop`, or
        when the ledger is full. The stamp is taken as the message is handed
        over: the producer calls ``produce()`` on it next. Events are told from
        labels (LabelBytes) and from hostile messages (anything else) by their
        first bytes, no parsing.
        """
        for raw in source:
            if time.monotonic() >= until or self.stop.is_set():
                return
            if isinstance(raw, LabelBytes):
                self.labels_sent += 1
            elif raw is not None and raw.startswith(EVENT_PREFIX):
                index = int(raw[_DIGITS])
                if index >= self.capacity:
                    return
                ahead = start + index / rate - time.monotonic()
                if ahead >= 0.001:
                    time.sleep(ahead)
                self.sent_at[index] = time.time()
                self.events_sent = index + 1
            else:
                self.hostile_sent += 1
            yield raw

    def on_prediction(self, value: bytes, timestamp_ms: int) -> None:
        """A message of the predictions topic."""
        index = event_index(orjson.loads(value).get("id"))
        if index is None or index >= self.events_sent:
            self.foreign += 1
        elif self.done[index]:
            self.duplicates += 1
        else:
            self.done[index] = True
            self.predictions += 1
            latency = float(timestamp_ms - self.sent_at[index] * 1000.0)
            self.latency_ms[index] = latency
            self.interval_latencies.append(latency)

    def on_dead_letter(self, value: bytes) -> None:
        """A message of the dead-letters topic: an event's, a hostile message's or a label's."""
        letter = orjson.loads(value)
        if letter.get("source") == "labels":
            self.dead_labels += 1
            return
        try:
            raw = orjson.loads(letter.get("raw") or "")
        except orjson.JSONDecodeError:
            raw = None
        index = event_index(raw.get("id")) if isinstance(raw, dict) else None
        if index is not None and index < self.events_sent:
            self.dead_events += 1
            if not self.done[index]:
                self.done[index] = True
        else:
            self.dead_hostile += 1

    def unaccounted(self) -> int:
        """Events sent with neither a prediction nor a dead letter (yet)."""
        n = self.events_sent
        return int(n - np.count_nonzero(self.done[:n]))

    def unaccounted_ids(self, limit: int = 20) -> list[str]:
        n = self.events_sent
        return [f"evt-{i:09d}" for i in np.flatnonzero(~self.done[:n])[:limit]]

    def take_latencies(self) -> list[float]:
        """The latencies read since the last call (one report interval's)."""
        out, self.interval_latencies = self.interval_latencies, []
        return out

    def latency_after(self, t_wall: float) -> tuple[float | None, float | None, int]:
        """p50, p99 (ms) and count of the latencies of events sent after wall time `t_wall`."""
        n = self.events_sent
        chosen = self.latency_ms[:n][(self.sent_at[:n] >= t_wall) & self.done[:n]]
        chosen = chosen[~np.isnan(chosen)]
        if not len(chosen):
            return None, None, 0
        p50, p99 = np.percentile(chosen, [50, 99])
        return float(p50), float(p99), len(chosen)


def percentiles(values: list[float]) -> tuple[float | None, float | None, float | None]:
    """p50, p99 and max of `values` (None when empty)."""
    if not values:
        return None, None, None
    p50, p99 = np.percentile(np.asarray(values), [50, 99])
    return float(p50), float(p99), float(max(values))


# ---------------------------------------------------------------- the job process


_TICKS = os.sysconf("SC_CLK_TCK")


def sample_process(pid: int, t: float) -> ProcSample | None:
    """RSS (VmRSS), open fds and CPU time of process `pid`; None once it is gone."""
    proc = Path(f"/proc/{pid}")
    try:
        rss = 0
        for line in (proc / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
                break
        fds = len(os.listdir(proc / "fd"))
        # fields after the command name, which is in parentheses and may hold spaces
        stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / _TICKS  # utime, stime
    except (FileNotFoundError, ProcessLookupError):
        return None
    return ProcSample(t=t, rss_bytes=rss, fds=fds, cpu_seconds=cpu)


def median_rss(samples: list[ProcSample], start: float, end: float) -> float | None:
    """Median RSS (bytes) of the samples taken in [start, end), None when there are none.

    A median of a window, not one sample: the heap breathes with garbage
    collection and pending-label turnover, and one sample at a peak or a
    trough would move the growth figure by more than the noise it measures.
    """
    chosen = [s.rss_bytes for s in samples if start <= s.t < end]
    return float(np.median(chosen)) if chosen else None


# ---------------------------------------------------------------- the job's log


def log_problems(path: Path) -> tuple[list[str], int]:
    """Errors in the job's stderr and how many lines were not structured log records.

    An error is a JSON record at level error or critical, or an unstructured line
    that can only be one: a Python traceback, a Rust panic (bytewax), or a
    librdkafka log line of severity 0-3 (``%3|...``: emergency to error), which
    librdkafka prints itself, outside Python's logging.
    """
    errors: list[str] = []
    unstructured = 0
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return [f"no job log at {path}"], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            if str(record.get("level", "")).lower() in ("error", "critical"):
                errors.append(line[:500])
            continue
        unstructured += 1
        text = line.lstrip()
        if (
            text.startswith("Traceback")
            or "panicked" in text
            or (len(text) > 2 and text[0] == "%" and text[1] in "0123" and text[2] == "|")
        ):
            errors.append(line[:500])
    return errors, unstructured
