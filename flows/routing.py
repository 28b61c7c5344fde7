"""Model shard keys that bytewax spreads evenly over its workers.

bytewax routes a key to worker ``h(key) % workers`` for a fixed hash ``h``. The
plain names ``shard-0`` and ``shard-1`` both land on worker 1 of 2, so two model
shards would share one worker. ``_ROUTE_MOD_840`` holds ``h("shard-j") % 840``
for j < 64, measured on bytewax 0.21.1 (``tests/flow/test_sharding.py`` checks it
against a real multi-worker run); 840 is divisible by every worker count from 1
to 8 (and 10, 12, 14, 15, 20, ...), so for those counts the keys below put
shard i on worker ``i % workers``. Other counts fall back to plain names.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Any

_ROUTE_MOD_840 = (
    665, 295, 813, 803, 406, 699, 619, 196, 176, 421, 704, 294, 768, 335, 139, 250,
    326, 165, 373, 801, 528, 775, 450, 822, 601, 754, 635, 527, 351, 164, 296, 798,
    6, 78, 699, 404, 469, 700, 551, 70, 404, 488, 781, 807, 591, 105, 833, 655,
    794, 625, 439, 636, 393, 652, 495, 610, 497, 463, 78, 814, 653, 416, 788, 306,
)  # fmt: skip


def shard_keys(shards: int, workers: int) -> list[str]:
    """Names for `shards` model shards, shard i routed to worker i % `workers`."""
    plain = [f"shard-{i}" for i in range(shards)]
    if workers <= 1 or 840 % workers:
        return plain
    pools = [
        [f"shard-{j}" for j, r in enumerate(_ROUTE_MOD_840) if r % workers == w]
        for w in range(workers)
    ]
    keys = []
    for i in range(shards):
        pool, n = pools[i % workers], i // workers
        keys.append(pool[n] if n < len(pool) else f"shard-extra-{i}")
    return keys


def shard_of(event_id: str, keys: Sequence[str]) -> str:
    """The model shard of an event (labels carry the id, so they find the same one)."""
    if len(keys) == 1:
        return keys[0]
    return keys[zlib.crc32(event_id.encode()) % len(keys)]


def worker_routes(keys: Sequence[str], workers: int) -> dict[str, str]:
    """The worker (as text) each model shard key is expected on: shard i on i % workers.

    Exact when :func:`shard_keys` could place the keys; otherwise only a spread,
    which costs a move between processes but never correctness.
    """
    return {key: str(i % workers) for i, key in enumerate(keys)}


def grouped(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, list[Any]]]:
    """`(key, value)` pairs as one `(key, [values])` item per key, order kept.

    What crosses to a keyed step is then one item per key per batch, not one per
    event (bytewax pickles every item it moves between processes).
    """
    groups: dict[str, list[Any]] = {}
    for key, value in pairs:
        group = groups.get(key)
        if group is None:
            group = groups[key] = []
        group.append(value)
    return list(groups.items())
