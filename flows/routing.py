"""State keys that do not depend on the worker count, placed evenly over any workers.

State lives under keys: feature partitions (entities hashed to a fixed number of
them, `run.feature_partitions`) and model shards (`model.shards` per model). Their
names depend only on those counts, never on how many workers run them, so a
recovery store resumes on any number of workers and bytewax moves each key's
state to the worker that now owns it.

bytewax routes a key to worker ``h(key) % workers``, ``h`` being Rust's default
hasher: SipHash-1-3 with zero keys over the key's UTF-8 bytes and a 0xff
terminator (:func:`bytewax_hash`; `tests/flow/test_sharding.py` checks it against
real multi-worker runs). Plain names spread badly (``shard-0`` and ``shard-1``
both land on worker 1 of 2), so :func:`placed_keys` picks, for the i-th key, a
name whose ``h % 840`` is ``i % 840``: 840 is divisible by every worker count
from 1 to 8 (and 10, 12, 14, 15, 20, 21, 24, ...), so for those counts key i
lands on worker ``i % workers``, whatever the count, and :func:`worker_routes`
knows where every key is for any count.

>>> placed_keys("shard", 4)
['shard-92', 'shard-365', 'shard-844', 'shard-461']
>>> keys = placed_keys("shard", 4)
>>> [worker_of(k, 2) for k in keys], [worker_of(k, 3) for k in keys]
([0, 1, 0, 1], [0, 1, 2, 0])
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

#: Divisible by every worker count 1-8: key i is placed on worker i % workers for them.
PLACEMENT_MODULUS = 840

_MASK = (1 << 64) - 1


def _rotl(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (64 - bits))) & _MASK


def _sip_rounds(v0: int, v1: int, v2: int, v3: int, rounds: int) -> tuple[int, int, int, int]:
    for _ in range(rounds):
        v0 = (v0 + v1) & _MASK
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _MASK
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _MASK
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _MASK
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def bytewax_hash(key: str) -> int:
    """The 64-bit hash bytewax routes a state key by (Rust's `DefaultHasher` on a `str`).

    Only used to name and place keys at start-up (about 10 µs a key), never per event.
    """
    data = key.encode() + b"\xff"  # `impl Hash for str` writes the bytes, then 0xff
    v0, v1 = 0x736F6D6570736575, 0x646F72616E646F6D
    v2, v3 = 0x6C7967656E657261, 0x7465646279746573
    end = len(data) - len(data) % 8
    for i in range(0, end, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3 ^ m, 1)
        v0 ^= m
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[end:], "little")
    v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3 ^ last, 1)
    v0 ^= last
    v0, v1, v2, v3 = _sip_rounds(v0, v1, v2 ^ 0xFF, v3, 3)
    return v0 ^ v1 ^ v2 ^ v3


def worker_of(key: str, workers: int) -> int:
    """The worker bytewax gives `key` in a cluster of `workers`."""
    return bytewax_hash(key) % workers


@lru_cache(maxsize=64)
def _placed(prefix: str, n: int) -> tuple[str, ...]:
    wanted: dict[int, list[int]] = {}  # residue -> ranks still to name
    for i in range(n):
        wanted.setdefault(i % PLACEMENT_MODULUS, []).append(i)
    names: list[str] = [""] * n
    j = 0
    while wanted:
        name = f"{prefix}-{j}"
        ranks = wanted.get(bytewax_hash(name) % PLACEMENT_MODULUS)
        if ranks is not None:
            names[ranks.pop(0)] = name
            if not ranks:
                del wanted[bytewax_hash(name) % PLACEMENT_MODULUS]
        j += 1
    return tuple(names)


def placed_keys(prefix: str, n: int) -> list[str]:
    """`n` key names `prefix-j`, the i-th placed on worker i % workers (see the module)."""
    return list(_placed(prefix, n))


def shard_keys(shards: int) -> list[str]:
    """Names of `shards` model shards (all models' shards in one sequence)."""
    return placed_keys("shard", shards)


def partition_keys(partitions: int) -> list[str]:
    """Names of the feature-state partitions that entities are hashed to."""
    return placed_keys("features", partitions)


def shard_of(event_id: str, keys: Sequence[str]) -> str:
    """The key of an id among `keys` (a model shard by event id, a feature partition by
    entity; labels carry the event id, so they find their event's shard)."""
    if len(keys) == 1:
        return keys[0]
    return keys[zlib.crc32(event_id.encode()) % len(keys)]


def worker_routes(keys: Sequence[str], workers: int) -> dict[str, str]:
    """The worker (as text) bytewax gives each key in a cluster of `workers`."""
    return {key: str(worker_of(key, workers)) for key in keys}


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
