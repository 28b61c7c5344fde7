"""The model store: snapshots of models with their metadata, in one trusted directory.

Snapshots are pickles, and unpickling runs code: a snapshot is only ever loaded
from inside the configured store directory, and only when its SHA-256 matches the
metadata written beside it. Whoever can write to the store can run code in the
job, so give that directory the same protection as the job's code.

Each snapshot's metadata records what its model learned from (label type,
classes, raw input names) so a warm start can be checked against the run it
would serve. Metadata written before those fields existed still lists, with
the defaults below (`task` None marks it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from driftline.flows.config import FeaturesConfig, ModelConfig, Settings
from driftline.flows.features.feature_set import FeatureSet
from driftline.flows.parse.events import Event

log = logging.getLogger("driftline")

MAX_INPUT_NAMES = 2000  # raw input names kept per model: bounded metadata and memory


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
    task: str | None = None  # None: written before the fields below were recorded
    label_type: str | None = None  # classifiers: "bool", "int" or "str"
    classes: list[bool | int | str] | None = None
    features: list[str] = field(default_factory=list)  # raw input names, sorted
    features_capped: bool = False  # more names came than MAX_INPUT_NAMES
    definition_version: str | None = None  # None: written before definitions were versioned
    segment: str | None = None  # the segment's model (model.segment_by), None: the one model

    def labels_text(self) -> str:
        """The labels the model learned, for listings: "str ['high', 'low']", or "-"."""
        if self.label_type is None:
            return "-"
        return self.label_type if self.classes is None else f"{self.label_type} {self.classes}"

    def features_text(self, limit: int = 8) -> str:
        """The raw inputs the model learned from, for listings (shortened after `limit`)."""
        if self.task is None:
            return "(not recorded)"
        shown = ", ".join(self.features[:limit])
        more = len(self.features) - limit
        if more > 0 or self.features_capped:
            shown += f" (+{max(more, 0)}{'+' if self.features_capped else ''} more)"
        return shown or "(none)"


class ModelStore:
    """A directory of `<model>-v<version>-<shard>-<time>.pkl` files with JSON metadata.

    `<model>` is the model's name made safe for a file name (a pipeline's
    ``StandardScaler | LogisticRegression`` is ``StandardScaler_LogisticRegression``).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def save(self, estimator: Any, **meta: Any) -> SnapshotInfo:
        """Write `estimator` and its metadata atomically; returns the metadata."""
        self.directory.mkdir(parents=True, exist_ok=True)
        created = datetime.now(UTC)
        segment = meta.get("segment")
        of = f"{meta['shard']}-{_file_safe(segment)}" if segment is not None else meta["shard"]
        stem = (
            f"{_file_safe(meta['model'])}-v{meta['version']}-{of}-"
            f"{created.strftime('%Y%m%dT%H%M%S%fZ')}"
        )
        blob = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
        info = SnapshotInfo(
            file=f"{stem}.pkl",
            created=created.isoformat(),
            sha256=hashlib.sha256(blob).hexdigest(),
            **meta,
        )
        atomic_write(self.directory / info.file, blob)
        atomic_write(
            self.directory / f"{stem}.json", orjson.dumps(asdict(info), option=orjson.OPT_INDENT_2)
        )
        return info

    def list(self) -> list[SnapshotInfo]:
        """Every snapshot in the store, oldest first."""
        if not self.directory.is_dir():
            return []
        known = {f.name for f in fields(SnapshotInfo)}
        infos = []
        for meta in self.directory.glob("*.json"):
            try:  # fields of a newer release are left out rather than hiding the snapshot
                data = orjson.loads(meta.read_bytes())
                infos.append(SnapshotInfo(**{k: v for k, v in data.items() if k in known}))
            except (orjson.JSONDecodeError, TypeError, AttributeError):
                continue
        return sorted(infos, key=lambda i: i.created)

    def latest(
        self,
        model: str | None = None,
        shard: str | None = None,
        definition: str | None = None,
        segment: str | None = None,
    ) -> SnapshotInfo | None:
        """The newest snapshot of `model` (and `shard`) and `segment` (None: unsegmented).

        With `definition` (a definition version), of that definition: snapshots
        that recorded one are matched by it, older ones by the model's name.
        """
        infos = [
            i
            for i in self.list()
            if _of_model(i, model, definition)
            and (shard is None or i.shard == shard)
            and i.segment == segment
        ]
        return infos[-1] if infos else None

    def resolve(
        self,
        ref: str,
        model: str | None = None,
        shard: str | None = None,
        definition: str | None = None,
        segment: str | None = None,
    ) -> SnapshotInfo:
        """`latest` (of `model`'s `definition`) or a snapshot file name/path inside the store."""
        if ref == "latest":
            info = self.latest(model, shard, definition, segment) or self.latest(
                model, None, definition, segment
            )
            if info is None:
                of = f"{model!r}" + (f" (definition {definition})" if definition else "")
                raise UntrustedSnapshot(f"no snapshot of {of} in {self.directory}")
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


def _of_model(info: SnapshotInfo, model: str | None, definition: str | None) -> bool:
    if definition is not None and info.definition_version is not None:
        return info.definition_version == definition
    return model is None or info.model == model


def _file_safe(name: str) -> str:
    """A model's name as part of a file name: letters, digits, `_`, `.` and `-` only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:80] or "model"


def atomic_write(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (a temporary file per process, then a rename)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def warm_start_command(settings: Settings, snapshot: str, config: Path | None) -> list[str]:
    """`driftline run` arguments that warm-start from `snapshot` with this run's model.

    `--model` and `--store` are given when they differ from the defaults, and
    `-c` when a config file was used; settings from the environment are not repeated.
    """
    defaults = ModelConfig()
    args = ["driftline", "run"]
    if config is not None:
        args += ["-c", str(config)]
    if settings.model.name not in (None, defaults.name):  # a model by path: in the config
        args += ["--model", settings.model.name]
    if settings.model.store != defaults.store:
        args += ["--store", str(settings.model.store)]
    return [*args, "--warm-start", snapshot]


def worth_snapshotting(shard: str, labelled: int, seen: int, label_type: str) -> bool:
    """Whether a shard's model learned anything at all, so that a store entry is honest.

    A model that learned from no label is untrained (or the warm start,
    unchanged): written to the store it would pass for a trained one.
    """
    if labelled:
        return True
    log.warning(
        "no model snapshot: the model learned from no label (every label was refused, or none "
        "came); if the labels are not of model.label_type or not in model.classes, set those "
        "(config file or DRIFTLINE_MODEL__LABEL_TYPE / DRIFTLINE_MODEL__CLASSES)",
        extra={"shard": shard, "events_scored": seen, "label_type": label_type},
    )
    return False


def derived_feature_names(config: FeaturesConfig) -> frozenset[str]:
    """Inputs the feature set adds to every event (windows, time since last), not raw ones."""
    fs = FeatureSet(config)
    empty = Event(id="-", key="-", ts=datetime(2000, 1, 1, tzinfo=UTC), features={})
    return frozenset(fs.featurize(fs.new_state(), empty, 0.0).x)


def _raw_names(x: Iterable[str], derived: frozenset[str]) -> set[str]:
    """Raw feature names of a model input: text one-hots (`name=value`) as their `name`."""
    return {k.partition("=")[0] for k in x if k not in derived}


class InputNames:
    """The raw input names a model learned from, and a check of what it is served.

    `learned(x)` looks at an input's names only when its key set differs from the
    last one's (events mostly carry the same names), so the usual cost is one
    key-set comparison; at most MAX_INPUT_NAMES are kept (`capped` tells when more
    came). Window features are left out: the feature-set version covers them.

    After a warm start from a snapshot that recorded its names (`expected`),
    `served(x)` counts inputs that share no raw name with them, warning on the
    first: such a model predicts from its bias alone.
    """

    def __init__(
        self, derived: frozenset[str], learned: Iterable[str] = (), expected: bool = False
    ) -> None:
        self.derived = derived
        self.names: set[str] = set(learned)
        self.capped = False
        self.expected: frozenset[str] | None = frozenset(self.names) if expected else None
        self.unmatched = 0
        self._learned_keys: set[str] | None = None
        self._served_keys: set[str] | None = None
        self._disjoint = False

    @classmethod
    def warm_started(cls, derived: frozenset[str], info: SnapshotInfo) -> InputNames:
        """Names carried over from a snapshot; served inputs are checked when it has some."""
        checkable = bool(info.features) and not info.features_capped  # a full list only
        names = cls(derived, info.features, expected=checkable)
        names.capped = info.features_capped
        return names

    def learned(self, x: dict[str, float]) -> None:
        if x.keys() == self._learned_keys:
            return
        self._learned_keys = set(x)
        new = _raw_names(x, self.derived) - self.names
        room = MAX_INPUT_NAMES - len(self.names)
        if len(new) > room:
            self.capped = True
            new = set(sorted(new)[:room])
        self.names |= new

    def served(self, x: dict[str, float], shard: str = "") -> None:
        expected = self.expected
        if expected is None:
            return
        if x.keys() != self._served_keys:
            self._served_keys = set(x)
            raw = _raw_names(x, self.derived)
            self._disjoint = bool(raw) and raw.isdisjoint(expected)
        if self._disjoint:
            self.unmatched += 1
            if self.unmatched == 1:
                log.warning(
                    "served inputs share no name with what the warm-start model learned from: "
                    "it predicts from its bias alone (`driftline models` lists its inputs)",
                    extra={"shard": shard, "served": sorted(_raw_names(x, self.derived))[:8],
                           "learned": sorted(expected)[:8]},
                )  # fmt: skip
