"""The model store: snapshots of models with their metadata, in one trusted directory.

Snapshots are pickles, and unpickling runs code: a snapshot is only ever loaded
from inside the configured store directory, and only when its SHA-256 matches the
metadata written beside it. Whoever can write to the store can run code in the
job, so give that directory the same protection as the job's code.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson


class UntrustedSnapshot(ValueError):
    """A snapshot outside the store, or whose checksum does not match."""


@dataclass(frozen=True)
class SnapshotInfo:
    """Metadata written next to each snapshot (`<name>.json`)."""

    file: str
    model: str
    version: int
    shard: str
    feature_version: str
    events_seen: int
    labelled: int
    metric: str
    metric_value: float | None
    reason: str
    created: str
    sha256: str


class ModelStore:
    """A directory of `<model>-v<version>-<shard>-<time>.pkl` files with JSON metadata."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def save(self, estimator: Any, **meta: Any) -> SnapshotInfo:
        """Write `estimator` and its metadata atomically; returns the metadata."""
        self.directory.mkdir(parents=True, exist_ok=True)
        created = datetime.now(UTC)
        stem = (
            f"{meta['model']}-v{meta['version']}-{meta['shard']}-"
            f"{created.strftime('%Y%m%dT%H%M%S%fZ')}"
        )
        blob = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
        info = SnapshotInfo(
            file=f"{stem}.pkl",
            created=created.isoformat(),
            sha256=hashlib.sha256(blob).hexdigest(),
            **meta,
        )
        _atomic_write(self.directory / info.file, blob)
        _atomic_write(
            self.directory / f"{stem}.json", orjson.dumps(asdict(info), option=orjson.OPT_INDENT_2)
        )
        return info

    def list(self) -> list[SnapshotInfo]:
        """Every snapshot in the store, oldest first."""
        if not self.directory.is_dir():
            return []
        infos = []
        for meta in self.directory.glob("*.json"):
            try:
                infos.append(SnapshotInfo(**orjson.loads(meta.read_bytes())))
            except (orjson.JSONDecodeError, TypeError):
                continue
        return sorted(infos, key=lambda i: i.created)

    def latest(self, model: str | None = None, shard: str | None = None) -> SnapshotInfo | None:
        infos = [
            i
            for i in self.list()
            if (model is None or i.model == model) and (shard is None or i.shard == shard)
        ]
        return infos[-1] if infos else None

    def resolve(self, ref: str, model: str | None = None, shard: str | None = None) -> SnapshotInfo:
        """`latest` or a snapshot file name/path inside the store."""
        if ref == "latest":
            info = self.latest(model, shard) or self.latest(model)
            if info is None:
                raise UntrustedSnapshot(f"no snapshot of {model!r} in {self.directory}")
            return info
        path = Path(ref)
        if not path.is_absolute():
            path = self.directory / path.name if path.parent == Path(".") else path
        root = self.directory.resolve()
        if not path.resolve().is_relative_to(root):
            raise UntrustedSnapshot(f"{ref} is outside the model store {root}")
        for info in self.list():
            if info.file == path.name:
                return info
        raise UntrustedSnapshot(f"{ref} has no metadata in the model store {root}")

    def load(self, info: SnapshotInfo) -> Any:
        """Unpickle a snapshot of this store after checking its checksum."""
        path = self.directory / info.file
        if not path.resolve().is_relative_to(self.directory.resolve()):
            raise UntrustedSnapshot(f"{info.file} is outside the model store")
        blob = path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != info.sha256:
            raise UntrustedSnapshot(f"{info.file}: checksum does not match its metadata")
        return pickle.loads(blob)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
