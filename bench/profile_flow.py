"""Profile the in-memory driftline flow (TestingSource -> NullSink) with cProfile.

``python -m bench.profile_flow [--events N] [--top 25]`` prints the hottest
functions by own time, and own time summed per source file / package, as
shares of the profiled run. cProfile inflates call-heavy code (about 2x
here), so read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.common import generate_events, load_raw, quiet_settings, write_events


def area(filename: str) -> str:
    """A readable group for a source file: project module, or package."""
    if "site-packages/" in filename:
        rest = filename.split("site-packages/", 1)[1]
        parts = rest.split("/")
        return parts[0] if len(parts) < 3 else f"{parts[0]}/{parts[1]}"
    for root in ("flows/", "connectors/", "bench/"):
        if f"/{root}" in filename:
            return root + filename.split(f"/{root}", 1)[1]
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C: " + filename + ")"
    return "stdlib/" + Path(filename).name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out", type=Path, help="also dump the pstats here")
    args = ap.parse_args()

    from bytewax.testing import TestingSource

    from driftline.connectors.files import NullSink
    from driftline.flows.app.runner import run
    from driftline.flows.config import load_settings
    from driftline.flows.dataflow import FlowIO

    path = Path(tempfile.mkdtemp(prefix="driftline-profile-")) / "events.jsonl"
    write_events(generate_events(args.events), path)
    raws = load_raw(path)
    settings = load_settings(None, quiet_settings())
    io = FlowIO(events=TestingSource(raws, batch_size=500), outputs=NullSink())
    prof = cProfile.Profile()
    prof.enable()
    run(settings, io=io, serve_metrics=False)
    prof.disable()
    if args.out:
        prof.dump_stats(args.out)
    stats = pstats.Stats(prof)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    print(f"profiled {args.events:,} events, {total:.2f} s of own time under cProfile\n")
    print("| function | own % | cumulative % | calls |")
    print("|---|---:|---:|---:|")
    rows = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[: args.top]
    for (file, line, func), (_cc, nc, tt, ct, _callers) in rows:
        where = f"{area(file)}:{line}" if line else area(file)
        print(f"| `{func}` ({where}) | {100 * tt / total:.1f} | {100 * ct / total:.1f} | {nc:,} |")
    print("\n| driftline / River call (cumulative: itself and all it calls) | cumulative % |")
    print("|---|---:|")
    ours = [
        (kv[1][3], kv[0])
        for kv in raw.items()
        if area(kv[0][0]).startswith(("flows/", "connectors/"))
        or (area(kv[0][0]) == "river/compose" and kv[0][2] in ("learn_one", "predict_proba_one"))
    ]
    for ct, (file, line, func) in sorted(ours, reverse=True):
        if ct / total < 0.03:
            break
        print(f"| `{func}` ({area(file)}:{line}) | {100 * ct / total:.1f} |")
    by_area: dict[str, float] = defaultdict(float)
    for (file, _line, _func), v in raw.items():
        by_area[area(file)] += v[2]
    print("\n| file / package | own % |")
    print("|---|---:|")
    for name, tt in sorted(by_area.items(), key=lambda kv: kv[1], reverse=True)[: args.top]:
        print(f"| {name} | {100 * tt / total:.1f} |")


if __name__ == "__main__":
    main()
