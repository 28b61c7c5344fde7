"""The `driftline` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from flows.config import Settings, load_settings
from flows.logs import setup_logging

log = logging.getLogger("driftline")


def _nested(pairs: dict[str, Any]) -> dict[str, Any]:
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


def _load(args: argparse.Namespace, overrides: dict[str, Any]) -> Settings:
    try:
        return load_settings(args.config, _nested(overrides))
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        print(f"driftline: bad configuration:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, help="TOML config file (see README).")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--log-format", choices=["text", "json"])


def cmd_run(args: argparse.Namespace) -> int:
    settings = _load(
        args,
        {
            "run.source": args.source,
            "run.sink": args.sink,
            "run.workers": args.workers,
            "run.log_level": args.log_level,
            "run.log_format": args.log_format,
            "builtin.events": args.events,
            "builtin.seed": args.seed,
            "files.events_path": args.events_file,
            "sinks.directory": args.out,
            "model.name": args.model,
            "metrics.port": args.metrics_port,
            "metrics.enabled": False if args.no_metrics else None,
        },
    )
    setup_logging(settings.run.log_level, settings.run.log_format)
    from flows.runner import run

    monitor = run(settings)
    points = settings.builtin.drift_points if settings.run.source == "builtin" else None
    print(monitor.summary(points))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftline",
        description="Streaming ML job: validate events, windowed features, online River "
        "models, drift alerts, Prometheus metrics.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="Run the job (built-in drifting stream by default).",
        description="Run the dataflow until the source ends or SIGTERM/SIGINT; prints alerts, "
        "a progress line and a summary. Flags override the config file and environment.",
    )
    _add_common(run)
    run.add_argument("--source", choices=["builtin", "file", "kafka"])
    run.add_argument("--sink", choices=["file", "kafka", "null"])
    run.add_argument(
        "--events", type=int, help="Built-in stream: events to generate (0 = endless)."
    )
    run.add_argument("--seed", type=int, help="Built-in stream seed.")
    run.add_argument("--events-file", type=Path, help="JSONL file of events (--source file).")
    run.add_argument("--out", type=Path, help="Directory for JSONL outputs (--sink file).")
    run.add_argument(
        "--model", help="Model name from the catalog (logreg, hat, arf, linreg, hatr)."
    )
    run.add_argument("--workers", type=int, help="Worker threads in this process.")
    run.add_argument("--metrics-port", type=int, help="Prometheus port (0 = any free port).")
    run.add_argument("--no-metrics", action="store_true", help="Do not serve /metrics.")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
