"""Model shard keys are spread over bytewax workers (checked against real routing)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.flows.routing import _ROUTE_MOD_840, shard_keys, shard_of

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
    keys = shard_keys(2 * workers, workers)
    where = routed(keys, workers)
    assert [where[k] for k in keys] == [i % workers for i in range(2 * workers)]


def test_measured_table_matches_bytewax() -> None:
    names = [f"shard-{j}" for j in range(16)]
    where = routed(names, 4)
    assert [where[n] for n in names] == [r % 4 for r in _ROUTE_MOD_840[:16]]


def test_keys_are_unique_and_events_spread() -> None:
    keys = shard_keys(8, 2)
    assert len(set(keys)) == 8
    counts = {k: 0 for k in keys}
    for i in range(8000):
        counts[shard_of(f"evt-{i}", keys)] += 1
    assert min(counts.values()) > 800
    assert shard_keys(3, 1) == ["shard-0", "shard-1", "shard-2"]
    assert shard_keys(2, 9) == ["shard-0", "shard-1"]  # no table for 9 workers


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
