"""JSONL files: replay a file of events or labels, and write outputs one JSON per line."""

from __future__ import annotations

import os
from pathlib import Path

from bytewax.connectors.files import FileSource
from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)

from connectors.shutdown import stop_requested


class JsonlSource(FileSource):
    """Lines of a JSONL file (bytewax's FileSource; resumes at the snapshotted offset)."""

    def build_part(self, step_id: str, for_part: str, resume_state: int | None):
        part = super().build_part(step_id, for_part, resume_state)
        inner = part.next_batch

        def next_batch() -> list[str]:
            if stop_requested():
                raise StopIteration
            return inner()

        part.next_batch = next_batch  # type: ignore[method-assign]
        return part


class _JsonlPartition(StatefulSinkPartition[bytes, int]):
    def __init__(self, path: Path, resume: int | None, fsync: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "ab")
        # On resume, cut what was written after the snapshot: no duplicate lines.
        self._f.seek(resume or 0)
        self._f.truncate()
        self._fsync = fsync

    def write_batch(self, values: list[bytes]) -> None:
        self._f.write(b"\n".join(values))
        self._f.write(b"\n")
        self._f.flush()
        if self._fsync:
            os.fsync(self._f.fileno())

    def snapshot(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.flush()
        self._f.close()


class JsonlOutputs(FixedPartitionedSink[bytes, int]):
    """Write `(output, json_bytes)` items as lines of one JSONL file per output.

    `output` is ``predictions``, ``alerts`` or ``dead_letters``. Each file is a
    partition with its own offset: on resume it is truncated to the snapshot,
    so a recovered run does not leave duplicate lines behind.
    """

    def __init__(self, paths: dict[str, Path], fsync: bool = False) -> None:
        self.paths = {name: Path(p) for name, p in paths.items()}
        self._order = sorted(self.paths)
        self.fsync = fsync

    def list_parts(self) -> list[str]:
        return list(self._order)

    def part_fn(self, item_key: str) -> int:
        return self._order.index(item_key)

    def build_part(self, step_id: str, for_part: str, resume_state: int | None):
        return _JsonlPartition(self.paths[for_part], resume_state, self.fsync)


class _NullPartition(StatelessSinkPartition[object]):
    def write_batch(self, items: list[object]) -> None:
        return None


class NullSink(DynamicSink[object]):
    """Discard outputs (benchmarks, dry runs)."""

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _NullPartition:
        return _NullPartition()
