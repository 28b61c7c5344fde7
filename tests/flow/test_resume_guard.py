"""Resuming a recovery store: on any number of workers; refused when its state was made
with another model, features or feature partitions (it would be dropped or misused
silently), with the way out in the message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from bytewax.recovery import init_db_dir

from driftline.connectors.builtin import drifting_events
from driftline.flows.app.compatibility import MANIFEST, check_recovery_manifest, recovery_config
from driftline.flows.config import BuiltinStreamConfig, StartupError
from driftline.flows.features.feature_set import feature_set_version
from driftline.flows.scoring.catalog import CATALOG
from tests.conftest import write_jsonl


def _events(tmp_path: Path, n: int = 2000) -> Path:
    events = drifting_events(BuiltinStreamConfig(events=n))
    return write_jsonl(tmp_path / "events.jsonl", (orjson.dumps(e) for e in events))


def _driftline(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = ["--source", "file", "--events-file", str(tmp_path / "events.jsonl"), "--no-metrics",
            "--out", str(tmp_path / "out"), "--store", str(tmp_path / "models"),
            "--recovery-dir", str(tmp_path / "recovery")]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "driftline.flows", "run", *base, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DRIFTLINE_RUN__PROGRESS_EVERY": "3600", **(env or {})},
    )


def test_other_workers_resume_other_model_or_partitions_exit_2(tmp_path: Path) -> None:
    _events(tmp_path)
    first = _driftline(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (tmp_path / "recovery" / MANIFEST).is_file()

    workers = _driftline(tmp_path, "--workers", "2")  # state is keyed by fixed partitions
    assert workers.returncode == 0, workers.stderr[-3000:]
    assert "resuming from recovery store" in workers.stderr

    partitions = _driftline(tmp_path, env={"DRIFTLINE_RUN__FEATURE_PARTITIONS": "32"})
    assert partitions.returncode == 2, partitions.stderr[-3000:]
    assert "run.feature_partitions: 64 -> 32" in partitions.stderr
    assert "new recovery directory" in partitions.stderr and "Traceback" not in partitions.stderr

    model = _driftline(tmp_path, "--model", "hat")
    assert model.returncode == 2, model.stderr[-3000:]
    assert "model.name (--model): 'logreg' -> 'hat'" in model.stderr

    same = _driftline(tmp_path)  # the old values resume
    assert same.returncode == 0, same.stderr[-3000:]


def test_store_of_an_earlier_release_exits_2_without_a_traceback(tmp_path: Path) -> None:
    _events(tmp_path)
    assert _driftline(tmp_path).returncode == 0
    (tmp_path / "recovery" / MANIFEST).unlink()  # what an earlier release left
    old = _driftline(tmp_path)
    assert old.returncode == 2
    assert "earlier driftline release" in old.stderr and "Traceback" not in old.stderr


def test_a_new_store_records_what_its_state_means(tmp_path: Path, make_settings) -> None:
    s = make_settings(recovery={"directory": str(tmp_path / "r")}, model={"shards": 2})
    assert recovery_config(s, "fs-a") is not None
    manifest = orjson.loads((tmp_path / "r" / MANIFEST).read_bytes())
    assert manifest["driftline"] and manifest["created"] and manifest["format"] == 1
    assert manifest["state"] == {
        "feature_partitions": 64, "model.name": "logreg",
        "model.definition": CATALOG["logreg"].version, "model.shards": 2,
        "model.label_type": "bool", "model.classes": None,
        "model.baseline": "prior", "feature_version": "fs-a",
    }  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [MANIFEST, "part-0.sqlite3"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"model": {"shards": 3}}, "model.shards: 1 -> 3"),
        ({"model": {"name": "hat", "label_type": "str"}}, "model.label_type: 'bool' -> 'str'"),
        ({"model": {"classes": [True]}}, "model.classes: None -> [True]"),
        ({"model": {"baseline": "no_change"}}, "model.baseline: 'prior' -> 'no_change'"),
        ({"run": {"feature_partitions": 8}}, "run.feature_partitions: 64 -> 8"),
    ],
)
def test_each_change_of_meaning_is_named(tmp_path: Path, make_settings, change, named) -> None:
    store = {"recovery": {"directory": str(tmp_path / "r")}}
    recovery_config(make_settings(**store), "fs-a")
    _snapshot_something(tmp_path / "r")
    with pytest.raises(StartupError) as refused:
        recovery_config(make_settings(**store, **change), "fs-a")
    assert named in str(refused.value)
    assert "Resume with the old values, or start a new recovery directory" in str(refused.value)
    with pytest.raises(StartupError, match=r"feature-set version .*: 'fs-a' -> 'fs-b'"):
        check_recovery_manifest(make_settings(**store), "fs-b")


def _snapshot_something(directory: Path) -> None:
    """A state row as bytewax writes it: the store now holds state to resume."""
    import sqlite3

    with sqlite3.connect(directory / "part-0.sqlite3") as db:
        db.execute("INSERT INTO snaps (step_id, state_key, snap_epoch) VALUES ('s', 'k', 1)")


def test_a_store_without_state_takes_the_new_manifest(tmp_path: Path, make_settings) -> None:
    """Created but never snapshotted (a start-up that failed later, or `bytewax.recovery`)."""
    directory = tmp_path / "r"
    directory.mkdir()
    init_db_dir(directory, 1)
    s = make_settings(recovery={"directory": str(directory)}, run={"workers": 2})
    recovery_config(s, feature_set_version(s.features))
    assert orjson.loads((directory / MANIFEST).read_bytes())["state"]["feature_partitions"] == 64


def test_a_store_keyed_by_its_worker_count_is_refused_with_the_way_out(
    tmp_path: Path, make_settings
) -> None:
    """The release before fixed partitions recorded `workers`: its keys would not be found."""
    directory = tmp_path / "r"
    s = make_settings(recovery={"directory": str(directory)})
    recovery_config(s, "fs-a")
    _snapshot_something(directory)
    manifest = orjson.loads((directory / MANIFEST).read_bytes())
    state = manifest["state"]
    del state["feature_partitions"]
    manifest["state"] = {"workers": 2, **state}
    (directory / MANIFEST).write_bytes(orjson.dumps(manifest))
    with pytest.raises(StartupError) as refused:
        recovery_config(s, "fs-a")
    message = str(refused.value)
    assert "followed the worker count (2 workers)" in message
    assert "--warm-start latest" in message and "new recovery directory" in message


def test_unknown_or_unreadable_stores_are_refused_with_advice(tmp_path, make_settings) -> None:
    directory = tmp_path / "r"
    s = make_settings(recovery={"directory": str(directory)})
    directory.mkdir()
    init_db_dir(directory, 1)
    _snapshot_something(directory)
    with pytest.raises(StartupError, match=r"earlier driftline release.*new recovery directory"):
        recovery_config(s, "fs-a")
    (directory / MANIFEST).write_text("{not json")
    with pytest.raises(StartupError, match=r"cannot read .*new recovery directory"):
        recovery_config(s, "fs-a")
    (directory / MANIFEST).write_bytes(orjson.dumps({"format": 9, "state": {}}))
    with pytest.raises(StartupError, match="newer driftline"):
        recovery_config(s, "fs-a")


@pytest.mark.parametrize("half_made", ["empty file", "tables without the partition row"])
def test_a_store_a_killed_start_up_left_half_made_is_made_again(
    tmp_path: Path, make_settings, half_made: str
) -> None:
    """A job killed while it made its recovery store left a partition file bytewax cannot
    resume from ("No recovery partitions found on any worker"): the next start makes
    the store again (it held no snapshot), and a store with state is left alone."""
    import sqlite3
    from contextlib import closing

    directory = tmp_path / "r"
    directory.mkdir()
    partition = directory / "part-0.sqlite3"
    if half_made == "empty file":
        partition.touch()
    else:
        init_db_dir(directory, 1)
        with closing(sqlite3.connect(partition)) as db, db:
            db.execute("DELETE FROM parts")
    s = make_settings(recovery={"directory": str(directory)})
    assert recovery_config(s, "fs-a") is not None
    with closing(sqlite3.connect(partition)) as db:
        assert db.execute("SELECT part_index, part_count FROM parts").fetchall() == [(0, 1)]

    _snapshot_something(directory)  # now it holds state: resumed as it is
    before = partition.read_bytes()
    assert recovery_config(s, "fs-a") is not None
    assert partition.read_bytes() == before
