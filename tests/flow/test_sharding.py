"""State keys are placed over bytewax workers, whatever their count (checked against
real routing: flows/routing.py computes bytewax's hash itself)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.flows.routing import partition_keys, shard_keys, shard_of, worker_of

ROOT = Path(__file__).resolve().parents[2]


def routed(keys: list[str], workers: int) -> dict[str, int]:
    """Which worker bytewax gives each key, from a real run with `workers` workers."""
    proc = subprocess.run(
        [sys.executable, "-m", "bytewax.run", "tests.support.routing_flow:flow",
         "-w", str(workers)],
        env={**os.environ, "ROUTING_KEYS": ",".join(keys)},
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {k: int(w) for k, w in re.findall(r"@([\w-]+)=(\d+)", proc.stdout + proc.stderr)}


@pytest.mark.parametrize("workers", [2, 3])
def test_shard_i_lands_on_worker_i_mod_workers(workers: int) -> None:
    keys = shard_keys(2 * workers)
    where = routed(keys, workers)
    assert [where[k] for k in keys] == [i % workers for i in range(2 * workers)]


def test_the_hash_is_bytewaxs() -> None:
    """Any name, 3 and 4 workers: where bytewax puts it is where worker_of says."""
    names = [f"shard-{j}" for j in range(12)] + ["features-7", "a-much-longer-key-name-x", "k"]
    for workers in (3, 4):
        where = routed(names, workers)
        assert [where[n] for n in names] == [worker_of(n, workers) for n in names]


def test_keys_do_not_depend_on_the_worker_count_and_spread_over_any() -> None:
    keys = partition_keys(64)
    assert len(set(keys)) == 64 and keys == partition_keys(64)
    for workers in range(1, 9):  # every count dividing 840: perfectly even
        assert [worker_of(k, workers) for k in keys] == [i % workers for i in range(64)]
    for workers in (9, 16):  # other counts: a spread, no worker left out
        assert {worker_of(k, workers) for k in keys} == set(range(workers))
    assert shard_keys(3) == shard_keys(3) and not set(shard_keys(3)) & set(keys)


def test_events_spread_over_the_keys() -> None:
    keys = shard_keys(8)
    counts = {k: 0 for k in keys}
    for i in range(8000):
        counts[shard_of(f"evt-{i}", keys)] += 1
    assert min(counts.values()) > 800


def test_outputs_are_written_in_the_process_that_scored_them() -> None:
    """KafkaOutputs has a partition per worker; outputs addressed by worker_routes stay put."""
    from tests.support.broker import free_port

    addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(2))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", "tests.support.sink_routing_flow:flow",
             "-i", str(i), "-a", addresses],
            env={**os.environ, "ROUTING_WORKERS": "2", "ROUTING_PROCESS": str(i)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        )
        for i in range(2)
    ]  # fmt: skip
    text = ""
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out[-2000:]
        text += out
    scored = dict(re.findall(r"scored ([\w-]+)@(\d)", text))
    written = dict(re.findall(r"written ([\w-]+)@(\d)", text))
    assert len(scored) == 4 and written == scored
    assert set(scored.values()) == {"0", "1"}  # both processes score (and write)
