"""Per-event cost of the feature step, and of the whole in-memory flow, per feature config.

``python -m bench.feature_step [--events N] [--repeat R] [--flow]`` times
:class:`~driftline.flows.features.step.FeatureLogic` over the built-in stream's
events (parsed beforehand, grouped as the parse step groups them) for:

- ``default``: the built-in stream's windows (count, mean, std), no feature function;
- ``derive``: the same plus a trivial feature function (one ratio of two window values);
- ``new stats``: the same windows plus min/max of ``loan`` over 5 min and
  distinct/same/top-3 of a text field (``zip``, the stream's zipcode as text)
  over 1 h, no feature function; ``+ min/max`` and ``+ text``: each of the two alone.

With ``--flow`` it also times the whole flow in memory (TestingSource -> NullSink,
as bench row 4a) for each config. Prints CPU µs per event (this process's CPU
time, all threads: other jobs on a shared machine move it less than wall time),
the best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import generate_events, quiet_settings

PLUGIN = '''
def derive(event, windows):
    """A trivial feature: this loan against the entity's recent mean loan."""
    mean = windows["loan_mean_5m"]
    return {"loan_vs_mean_5m": event.features["loan"] / mean if mean else 0.0}
'''

BASE_WINDOWS: list[dict[str, Any]] = [
    {"field": None, "period": "5m", "stats": ["count"]},
    {"field": "loan", "period": "5m", "stats": ["mean", "std"]},
    {"field": "loan", "period": "1h", "stats": ["count", "mean"]},
]
MIN_MAX: dict[str, Any] = {"field": "loan", "period": "5m", "stats": ["min", "max"]}
TEXT: dict[str, Any] = {
    "field": "zip",
    "period": "1h",
    "stats": ["distinct", "same", "top"],
    "top_k": 3,
}
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {"windows": BASE_WINDOWS},
    "derive": {
        "windows": BASE_WINDOWS,
        "derive": "bench_features:derive",
        "derive_version": "1",
    },
    "new stats": {"windows": [*BASE_WINDOWS, MIN_MAX, TEXT]},
    "+ min/max": {"windows": [*BASE_WINDOWS, MIN_MAX]},
    "+ text": {"windows": [*BASE_WINDOWS, TEXT]},
}


def events(n: int) -> list[dict[str, Any]]:
    out = generate_events(n)
    for e in out:  # a text field for the category stats
        e["features"]["zip"] = f"z{e['features']['zipcode']}"
    return out


def time_step(features_cfg: dict[str, Any], raw: list[dict[str, Any]]) -> float:
    """µs per event of FeatureLogic.on_batch over `raw`, in batches of 500."""
    from driftline.flows.config import FeaturesConfig
    from driftline.flows.features.derive import FeatureFunction
    from driftline.flows.features.feature_set import FeatureSet
    from driftline.flows.features.step import FeatureLogic
    from driftline.flows.parse.events import Event

    config = FeaturesConfig.model_validate(features_cfg)
    fs = FeatureSet(config, FeatureFunction.from_config(config))
    fs.field_check.done = True  # the first-events check is not the steady state
    parsed = [Event(**e) for e in raw]
    batches = [
        [[(i + j, 0.0, e) for j, e in enumerate(parsed[i : i + 500])]]
        for i in range(0, len(parsed), 500)
    ]
    logic = FeatureLogic(fs, None, recovering=False)
    gc.collect()
    start = time.process_time()
    for batch in batches:
        logic.on_batch(batch)
    return (time.process_time() - start) / len(parsed) * 1e6


def time_flow(features_cfg: dict[str, Any], raw: list[bytes], workdir: Path) -> float:
    """µs per event of the whole flow in memory (TestingSource -> NullSink)."""
    from bytewax.testing import TestingSource

    from driftline.connectors.files import NullSink
    from driftline.flows.app.runner import run
    from driftline.flows.config import load_settings
    from driftline.flows.dataflow import FlowIO

    overrides = {**quiet_settings(), "features": features_cfg}
    overrides["model"] = {"store": str(workdir / "models")}
    overrides["sinks"] = {"directory": str(workdir / "out")}
    settings = load_settings(None, overrides)
    io = FlowIO(events=TestingSource(raw, batch_size=500), outputs=NullSink())
    start = time.process_time()
    run(settings, io=io, serve_metrics=False)
    return (time.process_time() - start) / len(raw) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--flow", action="store_true", help="also time the whole flow")
    ap.add_argument("--only", help="comma-separated config names")
    args = ap.parse_args()

    import orjson

    workdir = Path(tempfile.mkdtemp(prefix="driftline-featbench-"))
    (workdir / "bench_features.py").write_text(PLUGIN)
    sys.path.insert(0, str(workdir))
    raw = events(args.events)
    raw_bytes = [orjson.dumps(e) for e in raw]
    names = args.only.split(",") if args.only else list(CONFIGS)
    print(f"{args.events:,} events, best of {args.repeat} runs, CPU µs per event")
    print("| config | feature step | whole flow |")
    print("|---|---:|---:|")
    for name in names:
        cfg = CONFIGS[name]
        step = min(time_step(cfg, raw) for _ in range(args.repeat))
        flows = [time_flow(cfg, raw_bytes, workdir) for _ in range(args.repeat if args.flow else 0)]
        flow = f"{min(flows):.2f}" if flows else "-"
        print(f"| {name} | {step:.2f} | {flow} |", flush=True)


if __name__ == "__main__":
    main()
