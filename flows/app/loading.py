"""Settings for a command: config file, environment and flags, checked before anything runs.

Anything wrong exits 2 here, naming the setting; logging is set up from the
settings, and unknown-environment warnings are logged once it is.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from pydantic import ValidationError

from driftline.flows.app.logs import setup_logging
from driftline.flows.config import Settings, load_settings, unknown_environment
from driftline.flows.plugins import add_plugin_dirs

log = logging.getLogger("driftline")


def nested(pairs: dict[str, Any]) -> dict[str, Any]:
    """{"run.source": "file"} -> {"run": {"source": "file"}}, skipping None values."""
    out: dict[str, Any] = {}
    for dotted, value in pairs.items():
        if value is None:
            continue
        node = out
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def load(args: argparse.Namespace, overrides: dict[str, Any]) -> Settings:
    """Settings from the config file, environment and flags, and logging set up by them.

    Anything wrong exits 2 here, before the flow starts, naming the setting.
    """
    errors, warnings = unknown_environment()
    if errors:
        print("driftline: bad configuration:\n" + "\n".join(errors), file=sys.stderr)
        raise SystemExit(2)
    plugins = getattr(args, "plugins", None)  # --plugins, common to every command
    overrides = {"run.plugins": plugins, **overrides}
    try:
        settings = load_settings(args.config, nested(overrides))
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        print(f"driftline: bad configuration:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    setup_logging(settings.run.log_level, settings.run.log_format)
    add_plugin_dirs(settings.run.plugins)
    for warning in warnings:
        log.warning(warning)
    return settings


def refuse(message: str) -> int:
    print(f"driftline: {message}", file=sys.stderr)
    return 2
