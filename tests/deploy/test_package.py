"""The installed package: one `driftline` name, its console script, and nothing else at the top."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(out)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (path,) = out.glob("driftline-*.whl")
    return path


def test_wheel_installs_only_the_driftline_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"driftline"}
    for module in (
        "driftline/flows/dataflow.py",
        "driftline/flows/app/cli.py",
        "driftline/flows/parse/events.py",
        "driftline/flows/scoring/shard.py",
        "driftline/connectors/kafka/source.py",
        "driftline/evaluation/drift_eval.py",
    ):
        assert module in names
    assert not any(n.startswith("driftline/tests/") or "/tests/" in n for n in names)
    for typed in ("flows", "connectors", "evaluation"):  # PEP 561 markers
        assert f"driftline/{typed}/py.typed" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "driftline = driftline.flows.app.cli:main" in text


def test_installed_wheel_runs_without_the_source_tree(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    installed = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert "driftline" in installed and installed <= {"driftline", "bin"}  # bin: the script
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = (
        "import driftline.flows.app.cli as cli, sys; "
        "assert 'flows' not in sys.modules and 'connectors' not in sys.modules; "
        "print(cli.__file__)"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(target))
