"""The `driftline` command line: `run`, and the parser that finds every command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from driftline.flows.app.commands import (
    cmd_models,
    cmd_models_check,
    cmd_produce,
    cmd_replay,
    cmd_topics_create,
)
from driftline.flows.app.loading import load, refuse
from driftline.flows.config import Settings


def _flag_problems(args: argparse.Namespace, settings: Settings) -> list[str]:
    """Flags given for a part of the job this run does not use: never ignored silently."""
    source, sink = settings.run.source, settings.run.sink
    uses = {
        "--events": (args.events, source == "builtin", "--source builtin"),
        "--seed": (args.seed, source == "builtin", "--source builtin"),
        "--out": (args.out, sink == "file", "--sink file"),
        "--bootstrap-servers": (
            args.bootstrap_servers,
            "kafka" in (source, sink),
            "--source kafka or --sink kafka",
        ),
    }
    return [
        f"{flag} is only used with {needs} (this run: --source {source} --sink {sink})"
        for flag, (value, used, needs) in uses.items()
        if value is not None and not used
    ]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, help="TOML config file (see README).")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--log-format", choices=["text", "json"])
    p.add_argument(
        "--plugins",
        type=Path,
        action="append",
        metavar="DIR",
        help="Directory with your model factories, feature functions and rules (repeatable; "
        "run.plugins). Its code runs in the job: trust it like the job's own.",
    )


def cmd_run(args: argparse.Namespace) -> int:
    source = args.source
    if args.events_file is not None or args.labels_file is not None:
        if source not in (None, "file"):
            return refuse(
                f"--events-file/--labels-file read files: use --source file, not {source}"
            )
        source = "file"  # giving a file means reading it
    settings = load(
        args,
        {
            "run.source": source,
            "run.sink": args.sink,
            "run.workers": args.workers,
            "run.process_id": args.process_id,
            "run.addresses": args.addresses.split(";") if args.addresses else None,
            "run.log_level": args.log_level,
            "run.log_format": args.log_format,
            "builtin.events": args.events,
            "builtin.seed": args.seed,
            "files.events_path": args.events_file,
            "files.labels_path": args.labels_file,
            "kafka.bootstrap_servers": args.bootstrap_servers,
            "sinks.directory": args.out,
            "model.name": args.model,
            "metrics.port": args.metrics_port,
            "metrics.enabled": False if args.no_metrics else None,
            "live.port": args.live_port,
            "live.enabled": False if args.no_live else None,
            "recovery.directory": args.recovery_dir,
            "model.warm_start": args.warm_start,
            "model.store": args.store,
            "recovery.snapshot_interval": args.snapshot_interval,
        },
    )
    problems = _flag_problems(args, settings)
    if problems:
        return refuse("; ".join(problems))
    from driftline.flows.app.runner import run

    try:
        monitor = run(settings)
    except ValueError as exc:  # StartupError, or a warm start the store cannot vouch for
        return refuse(str(exc))
    points = settings.builtin.drift_points if settings.run.source == "builtin" else None
    print(monitor.summary(points))
    if args.plot is not None:
        from driftline.evaluation.plot import write_svg

        print(f"plot: {write_svg(args.plot, monitor, points)}")
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
    run.add_argument(
        "--events-file",
        type=Path,
        help="JSONL file of events, '-' for standard input (implies --source file).",
    )
    run.add_argument(
        "--labels-file", type=Path, help="JSONL file of labels (implies --source file)."
    )
    run.add_argument("--bootstrap-servers", help="Kafka brokers (--source/--sink kafka).")
    run.add_argument("--out", type=Path, help="Directory for JSONL outputs (--sink file).")
    run.add_argument(
        "--model",
        help="Model name from the catalog (logreg, hat, arf, linreg, hatr); your own model is "
        "set in the config (model.estimator, model.pipeline or model.factory).",
    )
    run.add_argument("--workers", type=int, help="Worker threads in this process.")
    run.add_argument(
        "-i", "--process-id", type=int, help="This process's index in a multi-process cluster."
    )
    run.add_argument(
        "-a", "--addresses", help="'host:port;host:port;...' of every cluster process, in order."
    )
    run.add_argument("--metrics-port", type=int, help="Prometheus port (0 = any free port).")
    run.add_argument("--no-metrics", action="store_true", help="Do not serve /metrics.")
    run.add_argument("--live-port", type=int, help="Port of the live page (0 = any free port).")
    run.add_argument("--no-live", action="store_true", help="Do not serve the live page.")
    run.add_argument("--warm-start", help="Start from 'latest' or a snapshot in the store.")
    run.add_argument("--store", type=Path, help="Model store directory.")
    run.add_argument("--plot", type=Path, help="Write an SVG of accuracy over time here.")
    run.add_argument(
        "--recovery-dir",
        type=Path,
        help="Bytewax recovery store (created when missing); resumes from it when present.",
    )
    run.add_argument(
        "--snapshot-interval", type=float, help="Seconds between state snapshots (recovery)."
    )
    run.set_defaults(func=cmd_run)

    models = sub.add_parser(
        "models",
        help="List the model snapshots in the model store; `models check` checks a model config.",
        description="List model snapshots (model, version, definition, feature set, events, "
        "metric). `driftline models check -c CONFIG` checks the configured model instead.",
    )
    _add_common(models)
    models.add_argument("--store", type=Path, help="Model store directory.")
    models.set_defaults(func=cmd_models)
    models_sub = models.add_subparsers(dest="models_command", metavar="{check}")
    check = models_sub.add_parser(
        "check",
        help="Check the configured model before deploying it (exit 0 fine, 2 not).",
        description="Run the start-up checks of the configured model (import, River estimator, "
        "parameters, classifier or regressor fitting model.label_type, pickling), then a short "
        "learn/predict smoke test on inputs shaped like the source's first events (random "
        "numbers when the source cannot be read ahead); print the model's description, task, "
        "definition version and feature-set version. Exit 0 when fine, 2 naming the key when "
        "not.",
        argument_default=argparse.SUPPRESS,  # a -c given before `check` is kept
    )
    _add_common(check)
    check.add_argument("--model", help="A catalog model name instead of the config's model.")
    check.add_argument("--rows", type=int, help="Smoke-test rows (default 300).")
    check.set_defaults(func=cmd_models_check)

    replay = sub.add_parser(
        "replay",
        help="Run a JSONL history through the same flow to warm a model, then snapshot it.",
        description="Backfill: the same parsing, features and learning as `run`, reading a "
        "JSONL file; the model is written to the store at the end.",
    )
    _add_common(replay)
    replay.add_argument("--events-file", type=Path, required=True, help="JSONL events.")
    replay.add_argument("--labels-file", type=Path, help="JSONL labels, if separate.")
    replay.add_argument("--model", help="Model name from the catalog.")
    replay.add_argument("--store", type=Path, help="Model store directory.")
    replay.add_argument("--warm-start", help="Start from 'latest' or a snapshot in the store.")
    replay.add_argument("--out", type=Path, help="Also write outputs (JSONL) to this directory.")
    replay.set_defaults(func=cmd_replay)

    from driftline.evaluation import drift_eval

    drift_eval.add_parser(sub)

    from driftline.flows.app import alerts

    alerts.add_parser(sub, _add_common)

    topics = sub.add_parser("topics", help="Manage the Kafka topics.")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_sub.add_parser(
        "create",
        help="Create the events, labels, predictions, alerts and dead-letter topics.",
        description="Create every driftline topic via AdminClient; existing topics are fine.",
    )
    _add_common(create)
    create.add_argument("--bootstrap-servers", help="host:port[,host:port] of the brokers.")
    create.add_argument("--partitions", type=int, help="Partitions per topic.")
    create.set_defaults(func=cmd_topics_create)

    produce = sub.add_parser(
        "produce",
        help="Feed the events and labels topics from the built-in stream or a JSONL file.",
        description="Produce events (and labels) to Kafka so the whole loop can be watched.",
    )
    _add_common(produce)
    produce.add_argument("--bootstrap-servers", help="host:port[,host:port] of the brokers.")
    produce.add_argument("--source", choices=["builtin", "file"], default="builtin")
    produce.add_argument("--events-file", type=Path, help="JSONL events (--source file).")
    produce.add_argument("--labels-file", type=Path, help="JSONL labels (--source file).")
    produce.add_argument("--events", type=int, help="Built-in stream: events (0 = endless).")
    produce.add_argument("--seed", type=int, help="Built-in stream seed.")
    produce.add_argument(
        "--labels",
        choices=["inline", "separate"],
        help="Built-in stream: labels inside events or delayed on the labels topic.",
    )
    produce.add_argument("--rate", type=float, default=0.0, help="Messages/s (0 = max).")
    produce.add_argument("--quiet", action="store_true", help="No progress line.")
    produce.set_defaults(func=cmd_produce)
    return parser


def main(argv: list[str] | None = None) -> int:
    from driftline.connectors.shutdown import block_stop_signals, unblock_stop_signals

    block_stop_signals()  # before any library starts a thread (the parser imports numpy)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.func not in (cmd_run, cmd_replay):  # no flow: Python's own handlers will do
        unblock_stop_signals()
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
