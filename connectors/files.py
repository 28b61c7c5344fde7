"""JSONL files: replay a file of events or labels, and write outputs one JSON per line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import (
    DynamicSink,
    FixedPartitionedSink,
    StatefulSinkPartition,
    StatelessSinkPartition,
)

from driftline.connectors.shutdown import stop_requested
from driftline.flows.config import STDIN
from driftline.flows.outputs.encode import SinkItem
from driftline.flows.parse.events import LabelBytes


class _JsonlReadPartition(StatefulSourcePartition[bytes, int | None]):
    def __init__(self, path: Path, batch_size: int, resume: int | None, wrap: type) -> None:
        self._stdin = path == STDIN
        if self._stdin:  # a pipe has no offsets: nothing to seek to, nothing to resume
            self._f: BinaryIO = sys.stdin.buffer
        else:
            self._f = open(path, "rb")  # noqa: SIM115 - kept open for the partition's life
            self._f.seek(resume or 0)
        self._batch = batch_size
        self._wrap = wrap

    def next_batch(self) -> list[bytes]:
        if stop_requested():
            raise StopIteration
        lines = []
        read = 0
        for line in self._f:
            read += 1
            line = line.rstrip(b"\r\n")
            if line:  # a blank line separates nothing: it is not a message
                lines.append(self._wrap(line))
            if read >= self._batch:
                break
        if not read:
            raise StopIteration
        return lines

    def snapshot(self) -> int | None:
        return None if self._stdin else self._f.tell()

    def close(self) -> None:
        if not self._stdin:
            self._f.close()


class JsonlSource(FixedPartitionedSource[bytes, int | None]):
    """Lines of a JSONL file as raw bytes (bad encodings become dead letters, not crashes).

    Resumes at the byte offset of the last snapshot. With ``labels=True`` the
    lines are label messages. The path ``-`` reads standard input (not resumable).
    """

    def __init__(self, path: Path, batch_size: int = 1000, labels: bool = False) -> None:
        self.path = Path(path)
        self.batch_size = batch_size
        self.wrap = LabelBytes if labels else bytes

    def list_parts(self) -> list[str]:
        return [str(self.path)]

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _JsonlReadPartition:
        return _JsonlReadPartition(self.path, self.batch_size, resume_state, self.wrap)


class _JsonlPartition(StatefulSinkPartition[SinkItem, int]):
    """One output's file: appends whole lines, its snapshot is the file's length.

    Exactly-once across a crash (kill -9 included): bytewax snapshots this
    length with the state and source offsets of the same epoch, and a resume
    builds the partition with the last committed one. Whatever was written after
    it (the epochs the resumed run replays, and a line torn by the kill) is cut
    before anything is written again, so each output line is in the file once.
    A new run without a snapshot (resume None) starts the file empty.
    """

    def __init__(self, path: Path, resume: int | None, fsync: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # append mode: every write lands at the end, which after the cut below is
        # the snapshot's position
        self._f = open(path, "ab")  # noqa: SIM115 - kept open for the partition's life
        self._f.truncate(resume or 0)
        self._f.seek(0, os.SEEK_END)
        self._fsync = fsync

    def write_batch(self, values: list[SinkItem]) -> None:
        if not values:  # no empty line
            return
        # a file has no message keys: the key is dropped (buffered: one write at the flush)
        self._f.write(b"\n".join([v.payload for v in values]))
        self._f.write(b"\n")
        self._f.flush()
        if self._fsync:
            os.fsync(self._f.fileno())

    def snapshot(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.flush()
        self._f.close()


class JsonlOutputs(FixedPartitionedSink[SinkItem, int]):
    """Write `(output, SinkItem)` items as lines of one JSONL file per output.

    `output` is an :class:`~driftline.flows.records.Output` value
    (``predictions``, ``alerts``, ``dead_letters``, ``drift_reports``). Each file
    is a partition with its own length in the snapshots: on resume it is
    truncated to it, so a recovered run (even after kill -9) leaves neither
    duplicate nor torn lines behind. Items' keys are not written.
    """

    def __init__(self, paths: dict[str, Path], fsync: bool = False) -> None:
        self.paths = {name: Path(p) for name, p in paths.items()}
        self._order = sorted(self.paths)
        self.fsync = fsync

    def list_parts(self) -> list[str]:
        return list(self._order)

    def part_fn(self, item_key: str) -> int:
        return self._order.index(item_key)

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _JsonlPartition:
        return _JsonlPartition(self.paths[for_part], resume_state, self.fsync)


class _NullPartition(StatelessSinkPartition[object]):
    def write_batch(self, items: list[object]) -> None:
        return None


class NullSink(DynamicSink[object]):
    """Discard outputs (benchmarks, dry runs)."""

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _NullPartition:
        return _NullPartition()
