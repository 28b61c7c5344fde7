"""Whether saved state fits this run: a recovery store on resume, model snapshots on warm start.

Bytewax resumes whatever state its recovery store holds for the keys this run
asks for. Model-shard and feature-partition keys depend on the models' shard
counts and `run.feature_partitions` (never on the worker count: a store resumes
on any number of workers, see flows/routing.py), and a resumed shard keeps the
model it was pickled with, so a resume with other partitions or another model
definition would silently start untrained or keep serving the old model. So a
manifest written beside bytewax's partition files when the store is created says
what its state means, and a resume that differs is refused before the flow
starts (:class:`StartupError`, exit code 2).

A warm start is checked the same way against the snapshots' metadata: model
definition (its version), feature-set version, and for classifiers the label
type and classes.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
from bytewax.recovery import RecoveryConfig, init_db_dir

from driftline.flows.config import ModelConfig, Settings, StartupError
from driftline.flows.scoring.definition import ModelDefinition, model_definition
from driftline.flows.scoring.rule import identity_of
from driftline.flows.scoring.spec import ModelSpec, scoring_plan
from driftline.flows.scoring.store import ModelStore, SnapshotInfo, atomic_write

log = logging.getLogger("driftline")

MANIFEST = "driftline-recovery.json"
MANIFEST_FORMAT = 1

# each recorded value, named as a user changes it
_SETTING = {
    "feature_partitions": "run.feature_partitions",
    "model.name": "model.name (--model)",
    "model.definition": "model definition version (model.name, model.estimator and "
    "model.params, model.pipeline, or model.factory, model.factory_params and model.version)",
    "model.shards": "model.shards",
    "model.label_type": "model.label_type",
    "model.classes": "model.classes",
    "model.baseline": "model.baseline",
    "model.rule": "the rule (model.rule@model.rule_version)",
    "feature_version": "feature-set version (the features.* settings)",
    "model.segment_by": "model.segment_by",
    "models": "the [[models]] list (each model's id, definition, shards, labels, baseline, "
    "target and segment_by)",
}
_START_OVER = (
    "start a new recovery directory (--recovery-dir / recovery.directory); the trained "
    "models in the model store (`driftline models`) can warm-start it (--warm-start latest)"
)


def state_definition(settings: Settings, feature_version: str) -> dict[str, Any]:
    """What the state of a recovery store means: the values a resume must keep.

    Feature partitions: entities are hashed to them. Model fields: the shard keys
    follow the models' shard counts, and a resumed shard keeps its pickled model,
    baseline and label checks. The worker count is not recorded: any count resumes.
    """
    state: dict[str, Any] = {"feature_partitions": settings.run.feature_partitions}
    if settings.models:  # each model's state keys follow the ones before it: all must hold
        state["models"] = [
            {"id": cfg.id, **_model_state(cfg), "target": cfg.target, "segment_by": cfg.segment_by}
            for cfg in settings.models
        ]
    else:
        state.update({f"model.{k}": v for k, v in _model_state(settings.model).items()})
        if settings.model.segment_by is not None:  # only when set: older stores resume
            state["model.segment_by"] = settings.model.segment_by
    state["feature_version"] = feature_version
    return state


def _model_state(cfg: ModelConfig) -> dict[str, Any]:
    """What a model shard's pickled state depends on (keys as `model.*` would name them)."""
    definition = model_definition(cfg)
    state: dict[str, Any] = {
        "name": definition.name,
        "definition": definition.version,
        "shards": cfg.shards,
        "label_type": cfg.label_type,
        "classes": cfg.classes,
        "baseline": cfg.baseline,
    }
    if cfg.rule is not None:  # only with a rule, so stores made without one still resume
        state["rule"] = str(identity_of(cfg))
    return state


def _version() -> str:
    try:
        return metadata.version("driftline")
    except metadata.PackageNotFoundError:
        return "unknown"


def write_recovery_manifest(settings: Settings, feature_version: str) -> Path:
    """Record what a new recovery store's state will mean (before bytewax writes any)."""
    directory = settings.recovery.directory
    assert directory is not None
    manifest = {
        "format": MANIFEST_FORMAT,
        "driftline": _version(),
        "created": datetime.now(UTC).isoformat(),
        "state": state_definition(settings, feature_version),
    }
    path = directory / MANIFEST
    atomic_write(path, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return path


def _read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest's recorded state; StartupError when missing, unreadable or too new."""
    path = directory / MANIFEST
    if not path.exists():
        raise StartupError(
            f"recovery store {directory} has no {MANIFEST}: it was made by an earlier driftline "
            "release (or is not a driftline recovery store), so the workers, model and feature "
            "set of its state are unknown and resuming could silently drop the trained model; "
            + _START_OVER
        )
    try:
        manifest = orjson.loads(path.read_bytes())
        fmt, state = manifest["format"], manifest["state"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise StartupError(f"recovery store {directory}: cannot read {MANIFEST} ({exc}); "
                           + _START_OVER) from exc  # fmt: skip
    if not isinstance(fmt, int) or fmt > MANIFEST_FORMAT or not isinstance(state, dict):
        raise StartupError(
            f"recovery store {directory} was written by a newer driftline "
            f"({manifest.get('driftline')}): resume it with that release, or " + _START_OVER
        )
    return state


def check_recovery_manifest(settings: Settings, feature_version: str) -> None:
    """Refuse to resume a store whose state was made with other workers, model or features."""
    directory = settings.recovery.directory
    assert directory is not None
    old = _read_manifest(directory)
    if "feature_partitions" not in old:
        raise StartupError(_worker_keyed(directory, old))
    new = state_definition(settings, feature_version)
    changes = [
        f"{_SETTING[key]}: {_show(old.get(key, '(not recorded)'))} -> {_show(value)}"
        for key, value in new.items()
        if old.get(key, "(not recorded)") != value
        and not (key in _RECORDED_LATER and key not in old)
    ]
    if changes:
        raise StartupError(
            f"recovery store {directory} holds state made with other settings, which this "
            "release cannot carry over (it would drop the trained model or keep serving the old "
            "one): " + "; ".join(changes) + ". Resume with the old values, or " + _START_OVER
        )


def _worker_keyed(directory: Path, old: dict[str, Any]) -> str:
    """Why a store whose state keys follow its worker count cannot resume, and what to do."""
    return (
        f"recovery store {directory} was made by a driftline release whose state keys "
        f"followed the worker count ({old.get('workers', '?')} workers); this release keys "
        "state by fixed partitions (run.feature_partitions), so none of its state would be "
        "found. Either finish with the release that made it, or start a new recovery "
        "directory (--recovery-dir / recovery.directory) and warm-start the trained models "
        "from the model store (--warm-start latest; `driftline models` lists them): entity "
        "windows and pending labels start empty and topics are read from their start"
    )


#: Keys earlier releases did not record: their stores are judged by the other keys
#: (before model definitions, `model.name` was a catalog name, and said it all).
_RECORDED_LATER = frozenset({"model.definition"})


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def holds_state(directory: Path) -> bool:
    """Whether resuming the store would restore anything: a snapshot in any partition.

    A store created but never snapshotted (a start-up that failed later, or one
    made with `python -m bytewax.recovery`) may take this run's manifest. Files
    that are not bytewax partitions, or cannot be read, count as state.
    """
    if not directory.is_dir():
        return False
    files = [p for p in directory.iterdir() if not p.name.startswith(MANIFEST)]
    if any(not p.name.startswith("part-") for p in files):
        return True
    try:
        return any(_snapshots(p) for p in files if p.suffix == ".sqlite3" and _partition_made(p))
    except sqlite3.Error:
        return True


def _snapshots(partition: Path) -> int:
    with closing(sqlite3.connect(f"file:{partition}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM snaps").fetchone()[0])


def _partition_made(partition: Path) -> bool:
    """Whether bytewax finished making this partition file: its `parts` table names it.

    A start-up killed while it made the store leaves a file without that row (or
    without the tables), and bytewax refuses to resume from such a store ("No
    recovery partitions found on any worker"). A file that cannot be read at all
    is not judged here: :func:`holds_state` counts it as state.
    """
    try:
        with closing(sqlite3.connect(f"file:{partition}?mode=ro", uri=True)) as db:
            tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if "parts" not in {name for (name,) in tables}:
                return False
            return bool(db.execute("SELECT count(*) FROM parts").fetchone()[0])
    except sqlite3.Error:
        return True


def _drop_half_made_partitions(directory: Path) -> None:
    """Remove the partition files of a store that holds no state when any is half made,
    so the store is made again whole (nothing is lost: no partition holds a snapshot)."""
    partitions = sorted(directory.glob("part-*.sqlite3"))
    if all(_partition_made(p) for p in partitions):
        return
    for partition in partitions:
        for path in (partition, *(partition.with_name(partition.name + s) for s in _SQLITE_SIDES)):
            path.unlink(missing_ok=True)
    log.warning(
        "recovery store: partition files a killed start-up left half made were removed "
        "and are made again (they held no snapshot)",
        extra={"directory": str(directory), "partitions": len(partitions)},
    )


#: The files SQLite keeps beside a database.
_SQLITE_SIDES = ("-wal", "-shm", "-journal")


def recovery_config(settings: Settings, feature_version: str) -> RecoveryConfig | None:
    """Bytewax recovery for the configured store: created with its manifest, or checked.

    The manifest is written before the partition files, so a store that holds
    state always has one.
    """
    section = settings.recovery
    if section.directory is None:
        return None
    directory = section.directory
    if holds_state(directory):
        check_recovery_manifest(settings, feature_version)
        log.info("resuming from recovery store", extra={"directory": str(directory)})
    else:
        directory.mkdir(parents=True, exist_ok=True)
        write_recovery_manifest(settings, feature_version)
        _drop_half_made_partitions(directory)
        if not any(directory.glob("part-*.sqlite3")):
            init_db_dir(directory, section.partitions)
        log.info("recovery store created", extra={"directory": str(directory)})
    return RecoveryConfig(directory, backup_interval=section.backup_interval)


def check_warm_start(settings: Settings, feature_version: str) -> None:
    """Fail at start-up when a configured warm start does not fit this run.

    Each shard resolves `latest` on its own, so every shard's snapshot is checked,
    and its checksum verified now, not mid-stream. A snapshot written before label
    types were recorded (no `task` in its metadata) is checked against the classes
    its model predicts: refused when they are text and this run's labels are not
    (or the reverse), the failure that matters (a model answering "high" to labels
    true/false); otherwise accepted with a warning, because refusing would strand
    every model trained before this release, live ones included, which no replay
    can make again.
    """
    for spec in scoring_plan(settings).specs:
        _check_model_warm_start(spec, settings, feature_version)


def _check_model_warm_start(spec: ModelSpec, settings: Settings, feature_version: str) -> None:
    """One model's warm start: each shard's snapshot (a segmented model's: see segments.py)."""
    cfg = spec.config
    ref = cfg.warm_start
    if not ref:
        return
    store = ModelStore(cfg.store)
    definition = spec.definition
    checked: set[str] = set()
    infos: list[SnapshotInfo] = []
    if cfg.segment_by is None:
        infos = [
            store.resolve(ref, spec.name, spec.shard_name(key), definition.version)
            for key in spec.keys
        ]
    elif ref != "latest":  # a named snapshot starts every new segment
        infos = [store.resolve(ref, spec.name)]
    else:  # each segment from its own latest: those the store holds are checked now
        infos = [
            i
            for i in store.list()
            if i.model == spec.name and i.segment is not None
            and i.definition_version in (None, definition.version)
        ]  # fmt: skip
    for info in infos:
        if info.file in checked:
            continue
        checked.add(info.file)
        problems = snapshot_problems(info, cfg, feature_version)
        if problems:
            raise StartupError(
                f"warm start {info.file} does not fit this run (snapshot -> this run): "
                + "; ".join(problems)
                + ". Warm-start from a snapshot made with this run's settings (see `driftline "
                "models`), set them back to the snapshot's, or run without --warm-start"
            )
        model = store.load(info)
        if info.task is None:
            _check_unrecorded_labels(info, model, cfg.label_type, definition)
        log.info("warm start", extra={"snapshot": info.file, "version": info.version})


def snapshot_problems(info: SnapshotInfo, cfg: ModelConfig, feature_version: str) -> list[str]:
    """How a snapshot's model differs from the one this run would train, as 'old -> new'."""
    definition = model_definition(cfg)
    problems = []
    if info.definition_version is not None:  # recorded: the definition, not its name
        if info.definition_version != definition.version:
            problems.append(
                f"{_SETTING['model.definition']}: {info.definition_version} ({info.model}) -> "
                f"{definition.version} ({definition.name})"
            )
    elif info.model != definition.name:
        problems.append(f"model.name (--model): {info.model!r} -> {definition.name!r}")
    if info.feature_version != feature_version:
        problems.append(
            f"feature-set version (the features.* settings): {info.feature_version} -> "
            f"{feature_version}, refusing a train/serve skew"
        )
    if info.task == "classification" and definition.task == "classification":
        if info.label_type != cfg.label_type:
            problems.append(f"model.label_type: {info.label_type!r} -> {cfg.label_type!r}")
        if _class_set(info.classes) != _class_set(cfg.classes):
            problems.append(f"model.classes: {info.classes} -> {cfg.classes}")
    return problems


def _class_set(classes: list[bool | int | str] | None) -> set[tuple[str, Any]] | None:
    """Classes compared with their types: True and 1 are equal in Python, not as labels."""
    return None if classes is None else {(type(c).__name__, c) for c in classes}


def _check_unrecorded_labels(
    info: SnapshotInfo, model: Any, label_type: str, definition: ModelDefinition
) -> None:
    """A snapshot without a recorded label type: judge by the classes its model predicts."""
    if definition.task != "classification":
        return
    classes = _predicted_classes(model)
    if any(isinstance(c, str) != (label_type == "str") for c in classes):
        raise StartupError(
            f"warm start {info.file} predates recorded label types, and its model predicts "
            f"{sorted(map(repr, classes))}, not labels of model.label_type {label_type!r}: "
            "set model.label_type to what it was trained on, or warm-start from another snapshot"
        )
    log.warning(
        "warm start from a snapshot without a recorded label type, accepted on the classes "
        "its model predicts; its own next snapshot records it",
        extra={"snapshot": info.file, "predicts": sorted(map(repr, classes))},
    )


def _predicted_classes(model: Any) -> set[Any]:
    """The classes a trained River classifier predicts (empty when it cannot tell)."""
    try:
        return set(model.predict_proba_one({}))
    except Exception:  # an old or foreign model: nothing to judge by
        return set()
