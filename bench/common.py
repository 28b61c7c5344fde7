"""Shared pieces of the benchmarks: events, results, RSS sampling and timing wrappers.

Every bench runs in its own process (fresh heap, no GIL sharing with the
orchestrator) and prints one ``BENCH_RESULT {json}`` line on stdout.
Throughput is "steady state": from the first event a consumer sees to the
last output it wrote, so process and client start-up are not counted
(start-up is reported separately where it is measured).
"""

from __future__ import annotations

import bisect
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

RESULT_MARK = "BENCH_RESULT "


def emit(result: dict[str, Any]) -> None:
    """Print a bench result for the orchestrator (one line on stdout)."""
    sys.stdout.write(RESULT_MARK + orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()


def parse_results(stdout: str) -> list[dict[str, Any]]:
    """The results a bench process printed."""
    return [
        orjson.loads(line[len(RESULT_MARK) :])
        for line in stdout.splitlines()
        if line.startswith(RESULT_MARK)
    ]


# ---------------------------------------------------------------- events


def generate_events(n: int, seed: int = 42, keys: int = 500) -> list[dict[str, Any]]:
    """`n` events of the built-in drifting stream (defaults, no malformed messages)."""
    from driftline.connectors.builtin import drifting_events
    from driftline.flows.config import BuiltinStreamConfig

    cfg = BuiltinStreamConfig(events=n, seed=seed, keys=keys, bad_every=0)
    return list(drifting_events(cfg))


def rekey(events: list[dict[str, Any]], keys: int, seed: int = 7) -> None:
    """Give `events` new entity keys from `keys` entities, with the built-in Zipf-like weights.

    ``drifting_events`` calls ``rng.choices(keys, weights)``, which rebuilds the
    cumulative weights on every call (O(keys) per event: 1.4 ms/event at 100k
    keys), so many-key streams are re-keyed here with precomputed cumulative weights.
    """
    cum: list[float] = []
    total = 0.0
    for k in range(keys):
        total += 1.0 / (k + 1) ** 0.8
        cum.append(total)
    rng = random.Random(seed)
    names = [f"user-{k:06d}" for k in range(keys)]
    for e in events:
        e["key"] = names[bisect.bisect(cum, rng.random() * total, 0, keys - 1)]


def with_segments(
    events: list[dict[str, Any]], field_name: str, values: int
) -> list[dict[str, Any]]:
    """Copies of `events` with a feature `field_name` of `values` values, for the segment rows.

    The built-in stream has no field of that many values. An entity keeps its value
    (as a customer keeps their shop or region), given in order of first appearance
    round-robin, so the result depends only on the events and every value occurs
    when there are at least `values` entities (checked: the rows count on it).
    """
    of_key: dict[str, int] = {}
    out = []
    for e in events:
        value = of_key.setdefault(e["key"], len(of_key) % values)
        out.append({**e, "features": {**e["features"], field_name: value}})
    if len(set(of_key.values())) < values:
        raise ValueError(f"{len(of_key)} entities cannot give {field_name} {values} values")
    return out


def write_events(events: list[dict[str, Any]], path: Path) -> None:
    """Write events as JSONL (orjson, the bytes every bench reads)."""
    with open(path, "wb") as f:
        for e in events:
            f.write(orjson.dumps(e))
            f.write(b"\n")


def load_raw(path: Path) -> list[bytes]:
    """The pre-generated events as a list of message bytes."""
    with open(path, "rb") as f:
        return [line.rstrip(b"\n") for line in f if line.strip()]


# ---------------------------------------------------------------- memory


def rss_bytes() -> int:
    """Resident set size of this process (psutil if installed, else /proc)."""
    try:
        import psutil  # type: ignore[import-not-found]

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    return 0


@dataclass
class RssSampler:
    """Samples this process's RSS every `every` seconds in a daemon thread."""

    every: float = 0.25
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        t0 = time.perf_counter()

        def loop() -> None:
            while not self._stop.is_set():
                self.samples.append((time.perf_counter() - t0, rss_bytes()))
                self._stop.wait(self.every)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.samples


# ---------------------------------------------------------------- timing


@dataclass
class Stopwatch:
    """First event in, last output out, and what was written (one per process)."""

    first_in: float | None = None
    last_out: float | None = None
    events_in: int = 0
    outputs: dict[str, int] = field(default_factory=dict)

    def seen(self, n: int) -> None:
        if n and self.first_in is None:
            self.first_in = time.perf_counter()
        self.events_in += n

    def wrote(self, items: list[Any]) -> None:
        """Count `items` by output: `SinkItem`s (what a partitioned sink's partition
        gets) or `(route, SinkItem)` (what a dynamic sink gets)."""
        from driftline.flows.outputs.encode import SinkItem

        for item in items:
            if not isinstance(item, SinkItem) and isinstance(item, tuple):
                item = item[1]
            name = item.output if isinstance(item, SinkItem) else "?"
            self.outputs[name] = self.outputs.get(name, 0) + 1
        self.last_out = time.perf_counter()

    @property
    def seconds(self) -> float:
        if self.first_in is None or self.last_out is None:
            return float("nan")
        return self.last_out - self.first_in


WATCH = Stopwatch()


def timed_source(inner: Any, watch: Stopwatch = WATCH) -> Any:
    """Wrap a bytewax FixedPartitionedSource so `watch` sees when events arrive."""
    from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

    class _Part(StatefulSourcePartition):
        def __init__(self, part: Any) -> None:
            self.part = part

        def next_batch(self) -> Any:
            batch = self.part.next_batch()
            watch.seen(len(batch))
            return batch

        def next_awake(self) -> Any:
            return self.part.next_awake()

        def snapshot(self) -> Any:
            return self.part.snapshot()

        def close(self) -> None:
            self.part.close()

    class _Source(FixedPartitionedSource):
        def list_parts(self) -> list[str]:
            return inner.list_parts()

        def build_part(self, step_id: str, for_part: str, resume_state: Any) -> Any:
            return _Part(inner.build_part(step_id, for_part, resume_state))

    return _Source()


def timed_sink(inner: Any, watch: Stopwatch = WATCH) -> Any:
    """Wrap a bytewax sink so `watch` sees when and what outputs are written.

    Dynamic sinks get `(route, SinkItem)` items; fixed-partitioned ones get the
    `SinkItem` values of their partition (JSONL: a partition per output; Kafka,
    `per_worker`: a partition per worker).
    """
    from bytewax.outputs import (
        DynamicSink,
        FixedPartitionedSink,
        StatefulSinkPartition,
        StatelessSinkPartition,
    )

    if isinstance(inner, FixedPartitionedSink):

        class _FixedPart(StatefulSinkPartition):
            def __init__(self, part: Any) -> None:
                self.part = part

            def write_batch(self, values: list[Any]) -> None:
                self.part.write_batch(values)
                watch.wrote(values)  # SinkItems, which name their output

            def snapshot(self) -> Any:
                return self.part.snapshot()

            def close(self) -> None:
                self.part.close()

        per_worker = getattr(inner, "per_worker", False)

        class _Fixed(FixedPartitionedSink):
            def list_parts(self) -> list[str]:
                return inner.list_parts()

            def part_fn(self, item_key: str) -> int:
                return inner.part_fn(item_key)

            def build_part(self, step_id: str, for_part: str, resume_state: Any) -> Any:
                return _FixedPart(inner.build_part(step_id, for_part, resume_state))

        _Fixed.per_worker = per_worker  # type: ignore[attr-defined]
        return _Fixed()

    class _Part(StatelessSinkPartition):
        def __init__(self, part: Any) -> None:
            self.part = part

        def write_batch(self, items: list[Any]) -> None:
            self.part.write_batch(items)
            watch.wrote(items)

        def close(self) -> None:
            self.part.close()

    class _Sink(DynamicSink):
        def build(self, step_id: str, worker_index: int, worker_count: int) -> Any:
            return _Part(inner.build(step_id, worker_index, worker_count))

    return _Sink()


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def quiet_settings() -> dict[str, Any]:
    """Settings overrides every driftline bench uses: no metrics server, no progress lines."""
    return {
        "metrics": {"enabled": False},
        "run": {"progress_every": 3600.0, "console_alerts": False, "log_level": "WARNING"},
    }


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false")
