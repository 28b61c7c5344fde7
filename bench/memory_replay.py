"""Where a long run's memory goes: the soak's stream replayed in memory, with samples.

``python -m bench.memory_replay --events 900000 --out /tmp/replay.txt`` runs the
job in-process on the soak's built-in stream (its event times advance at 600
events/s, labels ~30 s late on their own, drifts, hostile messages) to a null
sink, with a recovery store snapshotting every `--snapshot` s, and every 5 s
writes one line: RSS, Python's allocated blocks (pymalloc), and glibc's heaps
(``mallinfo2``: bytes in its heaps, in use, free). Python's blocks and malloc's
bytes in use flat while the heaps and RSS grow is memory the allocator keeps;
in use growing is state. ``--trim-interval 0`` turns the job's malloc_trim off
(`run.memory_trim_interval`), to compare. No Kafka: what the replay shows is
the job's own.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.soak_job import LABEL_TTL, SOAK_WINDOWS, stream_config
from driftline.flows.app.runner import run
from driftline.flows.config import load_settings

MB = 1 << 20


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def _sample(out: Path, stop: threading.Event, every: float = 5.0) -> None:
    mallinfo2: Any = getattr(ctypes.CDLL(None), "mallinfo2", None)
    if mallinfo2 is not None:
        mallinfo2.restype = _MallInfo2
    started = time.monotonic()
    with out.open("w") as f:
        f.write("seconds rss_mb python_blocks heap_mb in_use_mb free_mb\n")
        while not stop.wait(every):
            heap = in_use = free = float("nan")
            if mallinfo2 is not None:
                mi = mallinfo2()
                heap, in_use, free = mi.arena / MB, mi.uordblks / MB, mi.fordblks / MB
            f.write(
                f"{time.monotonic() - started:.0f} {_rss_mb():.1f} {sys.getallocatedblocks()} "
                f"{heap:.1f} {in_use:.1f} {free:.1f}\n"
            )
            f.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=900_000, help="Events to replay.")
    ap.add_argument("--out", type=Path, required=True, help="The samples, one line per 5 s.")
    ap.add_argument("--snapshot", default="5s", help="Recovery snapshot interval (5s).")
    ap.add_argument("--trim-interval", default="5s", help="run.memory_trim_interval (0 = off).")
    args = ap.parse_args()
    stream = argparse.Namespace(
        seed=42,
        label_delay=30.0,
        label_missing=0.02,
        bad_every=1000,
        balanced=False,
        drift_minutes=3.0,
        minutes=args.events / 600 / 60,
    )
    work = Path(tempfile.mkdtemp(prefix="driftline-replay-"))
    settings = load_settings(
        None,
        {
            "run": {
                "source": "builtin",
                "sink": "null",
                "memory_trim_interval": args.trim_interval,
            },
            "builtin": {**stream_config(stream, 600.0).model_dump(), "events": args.events},
            "features": {"windows": SOAK_WINDOWS},
            "labels": {"ttl": LABEL_TTL},
            "live": {"enabled": False},
            "recovery": {"directory": str(work / "recovery"), "snapshot_interval": args.snapshot},
            "model": {"store": str(work / "models")},
        },
    )
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(args.out, stop), daemon=True)
    sampler.start()
    try:
        run(settings, serve_metrics=False)
    finally:
        stop.set()
        sampler.join()
    print(f"samples in {args.out}; state in {work}")


if __name__ == "__main__":
    main()
