"""driftline end to end (parse, features, score, learn, drift, outputs), in one process.

Modes:
  memory  pre-generated message bytes through bytewax's TestingSource
          (batch_size 500), outputs to NullSink. RSS is sampled too (it includes
          the events held in memory, the same for every row on the same events,
          so rows on one events file compare).
  kafka   the configured Kafka source and sink (``kafka.tail = false``, so the
          run ends at the end of the topic).
  file    JSONL replay (driftline.connectors.files.JsonlSource) to NullSink while sampling
          RSS: the memory bench (events are read lazily, so RSS is the flow's).
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import WATCH, RssSampler, emit, load_raw, quiet_settings, timed_sink, timed_source
from driftline.flows.config import load_settings
from driftline.flows.dataflow import FlowIO


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def run_flow(mode: str, overrides: dict[str, Any], events_file: Path | None) -> dict[str, Any]:
    """Run the flow once in this process; return throughput, accuracy and outputs."""
    from bytewax.testing import TestingSource

    from driftline.connectors.files import JsonlSource, NullSink
    from driftline.connectors.registry import build_io
    from driftline.flows.app.runner import run

    # no live page unless a row asks for one (the page's row compares with one without)
    base = {**quiet_settings(), "live": {"enabled": False}}
    settings = load_settings(None, _merge(base, overrides))
    reader = PageReader() if settings.live.enabled else None
    sampler: RssSampler | None = None
    if mode == "memory":
        assert events_file is not None
        raws = load_raw(events_file)
        io = FlowIO(events=TestingSource(raws, batch_size=500), outputs=NullSink())
        sampler = RssSampler(every=0.25).start()
    elif mode == "file":
        assert events_file is not None
        io = FlowIO(events=JsonlSource(events_file, batch_size=500), outputs=NullSink())
        sampler = RssSampler(every=0.25).start()
    else:
        io = build_io(settings)
    io = FlowIO(events=timed_source(io.events), outputs=timed_sink(io.outputs), labels=io.labels)
    t0 = time.perf_counter()
    if reader is not None:
        with reader.attached():
            monitor = run(settings, io=io, serve_metrics=False)
    else:
        monitor = run(settings, io=io, serve_metrics=False)
    t_end = time.perf_counter()
    result: dict[str, Any] = {
        "events": WATCH.events_in,
        "predictions": WATCH.outputs.get("predictions", 0),
        "outputs": WATCH.outputs,
        "seconds": WATCH.seconds,
        "wall_seconds": t_end - t0,
        "startup_seconds": (WATCH.first_in or t_end) - t0,
        "accuracy": monitor.correct / monitor.judged if monitor.judged else None,
        "alerts": len(monitor.alerts),
    }
    if monitor.others:  # a job of several models: each further model's figures too
        result["models"] = {
            name: {
                "scored": figures.scored,
                "labelled": figures.labelled,
                "metric": figures.model.value,
            }
            for name, figures in monitor.others.items()
        }
    if reader is not None:  # what the connected page was sent
        result["page"] = {"messages": reader.messages, "bytes": reader.bytes}
    segments = segment_events()
    if segments:
        result["segments"] = segments
    if sampler is not None:
        samples = sampler.stop()
        rss = [r for _, r in samples]
        result["rss"] = {
            "start_mb": rss[0] / 2**20,
            "peak_mb": max(rss) / 2**20,
            "end_mb": rss[-1] / 2**20,
            # RSS at 25/50/75/100 % of the run: flat once idle entities expire
            "quarters_mb": [
                rss[min(len(rss) - 1, len(rss) * q // 4)] / 2**20 for q in (1, 2, 3, 4)
            ],
            "samples": [
                (round(t, 2), round(r / 2**20, 1))
                for t, r in samples[:: max(1, len(samples) // 40)]
            ],
        }
    return result


class PageReader:
    """A page open on the job's live page: an SSE client reading `/events` in a thread.

    Attached by wrapping the runner's `open_page`, so it connects as soon as the page
    is served (before the first event) and reads until the job stops the server.
    """

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self._thread: threading.Thread | None = None

    def _read(self, url: str) -> None:
        import urllib.request

        with urllib.request.urlopen(url + "events", timeout=60) as stream:
            for line in stream:
                self.bytes += len(line)
                if line.startswith(b"data: "):
                    self.messages += 1

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        from driftline.flows.app import runner

        opened = runner.open_page

        def open_page(*args: Any, **kwargs: Any) -> Any:
            page = opened(*args, **kwargs)
            if page is not None:
                self._thread = threading.Thread(target=self._read, args=(page.url,), daemon=True)
                self._thread.start()
                deadline = time.monotonic() + 10  # the page's first state is read
                while not self.messages and time.monotonic() < deadline:
                    time.sleep(0.01)
            return page

        runner.open_page = open_page  # type: ignore[assignment]
        try:
            yield
        finally:
            runner.open_page = opened  # type: ignore[assignment]
            if self._thread is not None:
                self._thread.join(timeout=10)


def segment_events() -> dict[str, int]:
    """Segment models created, evicted and restored in this process (all models).

    Read from driftline's own metrics registry, which counts them whether or not
    the metrics server runs: a segment row shows it measured no eviction.
    """
    from driftline.flows.outputs.telemetry import REGISTRY

    counts: dict[str, int] = {}
    for family in REGISTRY.collect():
        if family.name != "driftline_segments":
            continue
        for sample in family.samples:
            if sample.name == "driftline_segments_total":
                event = sample.labels["event"]
                counts[event] = counts.get(event, 0) + int(sample.value)
    return counts


def main() -> None:
    import orjson

    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["memory", "kafka", "file"], required=True)
    ap.add_argument("--events-file", type=Path)
    ap.add_argument("--settings", default="{}", help="JSON overrides of driftline settings")
    args = ap.parse_args()
    emit(run_flow(args.mode, orjson.loads(args.settings), args.events_file))


if __name__ == "__main__":
    main()
