"""The driftline flow as a module for ``python -m bytewax.run bench.cluster_flow:flow``.

Used by the scaling bench to run one flow over several processes
(``-i PROCESS_ID -a "host:port;host:port"``). Settings overrides come as JSON
in ``$BENCH_SETTINGS``; at exit each process writes its timings to
``$BENCH_TIMING_FILE`` (first event in, last output out, counts).
"""

from __future__ import annotations

import atexit
import os

import orjson

from bench.common import WATCH, quiet_settings, timed_sink, timed_source
from bench.driftline_flow import _merge
from driftline.connectors.registry import build_io
from driftline.flows.config import load_settings
from driftline.flows.dataflow import FlowIO, build_dataflow


def _write_timings() -> None:
    path = os.environ.get("BENCH_TIMING_FILE")
    if not path:
        return
    with open(path, "wb") as f:
        f.write(
            orjson.dumps(
                {
                    "first_in": WATCH.first_in,
                    "last_out": WATCH.last_out,
                    "events": WATCH.events_in,
                    "outputs": WATCH.outputs,
                }
            )
        )


def build() -> object:
    """The flow for the settings in $BENCH_SETTINGS, with timed source and sink."""
    overrides = orjson.loads(os.environ.get("BENCH_SETTINGS", "{}"))
    settings = load_settings(None, _merge(quiet_settings(), overrides))
    io = build_io(settings)
    io = FlowIO(events=timed_source(io.events), outputs=timed_sink(io.outputs), labels=io.labels)
    atexit.register(_write_timings)
    return build_dataflow(settings, io)


flow = build()
