"""Import paths from the config: a team's own code found on PYTHONPATH or in plugin dirs."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import pytest

from driftline.flows import plugins
from driftline.flows.plugins import PluginError, add_plugin_dirs, load_callable, load_object


def test_docstring_examples_run() -> None:
    assert doctest.testmod(plugins).failed == 0


def test_a_plugin_directory_is_searched_first(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "team_models.py").write_text("def build():\n    return 'from the plugin dir'\n")
    with pytest.raises(PluginError, match="cannot import module 'team_models'"):
        load_callable("team_models:build", "model.factory")
    add_plugin_dirs([tmp_path])
    add_plugin_dirs([tmp_path])  # idempotent
    assert sys.path.count(str(tmp_path.resolve())) == 1
    assert load_callable("team_models:build", "model.factory")() == "from the plugin dir"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("nomodule", "not an import path"),
        ("math:", "not an import path"),
        ("math:1bad", "not an import path"),
        ("math:pi.real.nope", "has no attribute 'nope'"),
        ("driftline_no_such_module:build", "cannot import module"),
    ],
)
def test_bad_paths_name_the_setting(path: str, message: str) -> None:
    with pytest.raises(PluginError, match=message) as caught:
        load_object(path, "features.derive")
    assert str(caught.value).startswith("features.derive: ")


def test_a_module_that_fails_to_import_is_reported(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    (tmp_path / "broken_rules.py").write_text("raise RuntimeError('missing credentials')\n")
    with pytest.raises(PluginError, match="importing 'broken_rules' failed: RuntimeError"):
        load_object("broken_rules:score", "model.rule")


def test_a_value_that_is_not_callable_is_refused() -> None:
    with pytest.raises(PluginError, match=r"model\.rule: 'math:pi' is a float, not a callable"):
        load_callable("math:pi", "model.rule")
