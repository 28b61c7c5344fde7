"""A team's own code, found by import path: model factories, feature functions, rules.

The config names code the job will run (``factory = "fraud_models:build"``,
``derive = "fraud_features:derive"``, ``rule = "fraud_rules:score"``, or a River
class as ``"river.tree.HoeffdingTreeClassifier"``). It is looked up on
``PYTHONPATH`` and in the plugin directories (``run.plugins``, ``--plugins DIR``),
which are put first on ``sys.path`` once at start-up. Such code runs inside the
job with its rights: config files and plugin directories must be trusted like the
job's own code.

A path that cannot be resolved raises :class:`PluginError` naming the setting,
so start-up can exit 2 with it instead of failing mid-stream.

>>> load_object("math:sqrt", "model.factory")(16.0)
4.0
>>> load_object("collections.OrderedDict", "model.estimator").__name__
'OrderedDict'
>>> load_object("math:nope", "features.derive")
Traceback (most recent call last):
...
driftline.flows.plugins.PluginError: features.derive: module 'math' has no attribute 'nope'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class PluginError(ValueError):
    """An import path in the config that names nothing usable; the message names the key."""


def add_plugin_dirs(directories: Iterable[Path]) -> None:
    """Put each plugin directory first on ``sys.path`` (once; idempotent)."""
    for directory in reversed(list(directories)):
        entry = str(Path(directory).resolve())
        if entry not in sys.path:
            sys.path.insert(0, entry)


def split_path(path: str) -> tuple[str, str]:
    """``"pkg.mod:attr"`` or ``"pkg.mod.attr"`` -> ``("pkg.mod", "attr")``.

    >>> split_path("fraud_models:build")
    ('fraud_models', 'build')
    >>> split_path("river.linear_model.LogisticRegression")
    ('river.linear_model', 'LogisticRegression')
    """
    module, sep, attr = path.partition(":")
    if not sep:
        module, _, attr = path.rpartition(".")
    return module, attr


def load_object(path: str, setting: str) -> Any:
    """The object at `path` (``module:attr``, or dotted ``module.attr``).

    Raises :class:`PluginError` starting with `setting` when the module cannot
    be imported (including errors raised while importing it) or lacks the name.
    """
    module_name, attr = split_path(path.strip())
    if not module_name or not attr or not all(p.isidentifier() for p in attr.split(".")):
        raise PluginError(
            f"{setting}: {path!r} is not an import path; write 'module:name' "
            "(e.g. 'fraud_models:build') or 'package.module.Class'"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise PluginError(
            f"{setting}: cannot import module {module_name!r} ({exc}); is it on PYTHONPATH "
            "or in a plugin directory (run.plugins, --plugins DIR)?"
        ) from exc
    except Exception as exc:  # the user's module failed while importing
        raise PluginError(f"{setting}: importing {module_name!r} failed: {exc!r}") from exc
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise PluginError(
                f"{setting}: module {module_name!r} has no attribute {part!r}"
            ) from exc
    return target


def load_callable(path: str, setting: str) -> Any:
    """Like :func:`load_object`, and the object must be callable."""
    target = load_object(path, setting)
    if not callable(target):
        raise PluginError(f"{setting}: {path!r} is a {type(target).__name__}, not a callable")
    return target
