"""MemoryTrimmer hands freed heap pages back to the system (a real glibc, a real process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

from driftline.flows.app.memory import MemoryTrimmer, find_malloc_trim

#: A heap whose freed pages glibc keeps: 60 MB of 2 KiB buffers (malloc'd, not
#: pymalloc), all freed but every 32nd, which pins the pages around it.
FRAGMENT = """
import sys, time
from datetime import timedelta
from driftline.flows.app.memory import MemoryTrimmer

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

bufs = [bytearray(2048) for _ in range(30_000)]
kept = bufs[::32]
del bufs
before = rss_mb()
with MemoryTrimmer(timedelta(seconds=float(sys.argv[1]))) as trimmer:
    time.sleep(0.5)
    trims = trimmer.trims
print(before, rss_mb(), trims, len(kept))
"""


def _fragmented_rss(interval: float) -> tuple[float, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FRAGMENT), str(interval)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def test_glibc_offers_malloc_trim() -> None:
    assert find_malloc_trim() is not None  # the job's machines and CI run glibc


def test_trimming_returns_the_freed_pages() -> None:
    before, after, trims = _fragmented_rss(0.1)
    assert trims >= 1
    assert before - after > 30, (before, after)  # of the ~58 MB freed


def test_without_trimming_the_pages_stay() -> None:
    before, after, trims = _fragmented_rss(0)
    assert trims == 0
    assert before - after < 10, (before, after)


def test_an_interval_of_zero_starts_no_thread() -> None:
    with MemoryTrimmer(timedelta(0)) as trimmer:
        assert not trimmer.running
    with MemoryTrimmer(timedelta(seconds=60)) as trimmer:
        assert trimmer.running
    assert not trimmer.running
