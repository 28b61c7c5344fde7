"""The commands besides `run`: topics, produce, models (and models check) and replay."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from typing import Any

from driftline.flows.app.loading import load

log = logging.getLogger("driftline")


def _kafka_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "kafka.bootstrap_servers": args.bootstrap_servers,
        "run.log_level": args.log_level,
        "run.log_format": args.log_format,
    }


def cmd_topics_create(args: argparse.Namespace) -> int:
    """Create the topics; exit 2 with one clear message when the brokers cannot do it."""
    settings = load(args, {**_kafka_overrides(args), "kafka.partitions": args.partitions})
    from driftline.connectors.kafka.admin import create_topics
    from driftline.flows.config import StartupError

    try:
        created = create_topics(settings.kafka)
    except StartupError as exc:
        print(f"driftline: {exc}", file=sys.stderr)
        return 2
    for topic, status in created.items():
        print(f"{topic}: {status}")
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    """Produce the stream; exit 2 when the brokers are unreachable, 1 when any message
    was not acknowledged (rejected, or still queued when the final flush ended)."""
    settings = load(
        args,
        {
            **_kafka_overrides(args),
            "builtin.events": args.events,
            "builtin.seed": args.seed,
            "builtin.labels": args.labels,
        },
    )
    from driftline.connectors.builtin import drifting_messages
    from driftline.connectors.kafka.admin import reach_brokers
    from driftline.connectors.producer import file_messages, produce
    from driftline.connectors.shutdown import request_stop
    from driftline.flows.config import StartupError

    if args.source == "file":
        if args.events_file is None:
            print("driftline produce: --source file needs --events-file", file=sys.stderr)
            return 2
        messages: Iterator[bytes | None] = file_messages(args.events_file, args.labels_file)
    else:
        messages = drifting_messages(settings.builtin)
    import signal

    signal.signal(signal.SIGTERM, lambda *_: request_stop())
    try:
        reach_brokers(settings.kafka)
        result = produce(settings.kafka, messages, rate=args.rate, progress=not args.quiet)
    except StartupError as exc:
        print(f"driftline: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if not result.ok:
        log.error(
            f"{result.not_delivered} messages not delivered to {settings.kafka.bootstrap_servers}",
            extra={**result.as_log(), "first_error": result.first_error},
        )
        return 1
    log.info("produced", extra=result.as_log())
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """List the snapshots of every model store the config names, per model and segment."""
    settings = load(args, {"model.store": args.store})
    from driftline.flows.scoring.store import ModelStore

    stores = list(dict.fromkeys(cfg.store for cfg in settings.model_configs()))
    infos = [i for store in stores for i in ModelStore(store).list()]
    if not infos:
        print(f"no snapshots in {', '.join(map(str, stores))}")
        return 0
    infos.sort(key=lambda i: (i.model, i.segment or "", i.shard, i.created))
    width = max(8, *(len(i.model) for i in infos))
    seg_width = max(7, *(len(i.segment or "-") for i in infos))
    print(
        f"{'model':<{width}} {'segment':<{seg_width}} {'ver':>4} {'shard':<8} "
        f"{'features':<14} {'events':>9} {'metric':>14} {'reason':<13} {'created':<19} file"
    )
    for i in infos:
        value = f"{i.metric} {i.metric_value:.4f}" if i.metric_value is not None else i.metric
        print(
            f"{i.model:<{width}} {i.segment or '-':<{seg_width}} {i.version:>4} {i.shard:<8} "
            f"{i.feature_version:<14} {i.events_seen:>9,} {value:>14} {i.reason:<13} "
            f"{i.created[:19]:<19} {i.file}"
        )
        definition = i.definition_version or "(not recorded)"
        print(
            f"    definition {definition}; labels {i.labels_text()}; "
            f"learned from {i.features_text()}"
        )
    return 0


def cmd_models_check(args: argparse.Namespace) -> int:
    """Check the configured model as a run's start-up does, then a short learn/predict run.

    Prints what the model is (name, description, task, definition and feature-set
    versions); exits 2 naming the key when anything is wrong, 0 when fine.
    """
    # `check`'s own flags are absent unless given (so a -c before `check` is kept)
    settings = load(args, {"model.name": getattr(args, "model", None)})
    from driftline.connectors.registry import sample_features
    from driftline.flows.config import StartupError
    from driftline.flows.features.derive import FeatureFunction
    from driftline.flows.features.feature_set import FeatureSet
    from driftline.flows.plugins import PluginError
    from driftline.flows.scoring.definition import check_model
    from driftline.flows.scoring.smoke import SMOKE_ROWS, smoke_inputs, smoke_test
    from driftline.flows.scoring.spec import InputFilter

    rows = getattr(args, "rows", SMOKE_ROWS)
    configs = settings.model_configs()
    for n, cfg in enumerate(configs):
        entry = f"models[{n}] ({cfg.id}): " if settings.models else ""
        try:
            definition = check_model(cfg)
            samples = sample_features(settings, rows)
            # the inputs a run would serve: raw, window and the feature function's features,
            # less what the model's features_include / features_exclude leave out
            derive = FeatureFunction.from_config(settings.features)
            feature_set = FeatureSet(settings.features, derive)
            inputs = smoke_inputs(feature_set, samples, rows, cfg.seed)
            if cfg.features_include or cfg.features_exclude:
                keep = InputFilter(cfg.features_include, cfg.features_exclude)
                inputs = [keep(x) for x in inputs]
            result = smoke_test(definition, cfg, inputs)
        except (StartupError, PluginError) as exc:
            print(f"driftline models check: {entry}{exc}", file=sys.stderr)
            return 2
        if samples:
            source = settings.run.source
            where = "the built-in stream" if source == "builtin" else "files.events_path"
            origin = f"features of the first {len(samples):,} events of {where}"
        else:
            origin = "random numbers: the source cannot be read ahead"
        labels: str = "float (numbers)" if definition.task == "regression" else cfg.label_type
        if definition.task == "classification" and cfg.classes is not None:
            labels += f" {cfg.classes}"
        if n:
            print()
        if settings.models:
            print(f"id           {cfg.id} (target {cfg.target})")
        print(f"model        {definition.name} ({definition.source})")
        print(f"description  {definition.description}")
        print(f"task         {definition.task_text}; labels {labels}")
        print(f"definition   {definition.version}")
        print(f"feature set  {feature_set.version}")
        if cfg.segment_by is not None:
            print(f"segments     by {cfg.segment_by}, at most {cfg.max_segments:,} live per shard")
        if cfg.slices:
            print(f"slices       {', '.join(cfg.slices)}")
        print(
            f"smoke test   {result.rows:,} rows of up to {result.inputs} inputs ({origin}), "
            f"synthetic labels: predicted {result.predicted:,}, learned {result.rows:,}, "
            f"pickled {result.pickled_bytes / 1000:,.1f} kB and restored, {result.seconds:.2f} s"
        )
    print("ok")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Warm a model on history: the same flow, from a file, snapshotted at the end.

    Exits 1 when no snapshot was written (the model learned from no label), and
    prints a `driftline run` command that warm-starts from the new snapshot as is.
    """
    settings = load(
        args,
        {
            "run.source": "file",
            "run.sink": "null" if args.out is None else "file",
            "sinks.directory": args.out,
            "files.events_path": args.events_file,
            "files.labels_path": args.labels_file,
            "model.name": args.model,
            "model.store": args.store,
            "model.snapshot_on_end": True,
            "model.warm_start": args.warm_start,
            "metrics.enabled": False,
            "run.log_level": args.log_level,
            "run.log_format": args.log_format,
        },
    )
    import shlex

    from driftline.flows.app.runner import run
    from driftline.flows.scoring.store import ModelStore, warm_start_command

    stores = [ModelStore(p) for p in dict.fromkeys(c.store for c in settings.model_configs())]
    before = {i.file for store in stores for i in store.list()}
    try:
        monitor = run(settings)
    except ValueError as exc:
        print(f"driftline: {exc}", file=sys.stderr)
        return 2
    print(monitor.summary())
    written = [(s, i) for s in stores for i in s.list() if i.file not in before]
    if not written:
        print("driftline replay: no model snapshot written (see the warning)", file=sys.stderr)
        return 1
    for store, info in written:
        of = info.model + (f" [{info.segment}]" if info.segment is not None else "")
        print(f"model snapshot: {store.directory / info.file} ({of} v{info.version})")
    # one model's snapshot can be named; several models each start from their latest
    ref = written[-1][1].file if len(written) == 1 else "latest"
    command = warm_start_command(settings, ref, args.config)
    print(f"warm-start a live run with: {shlex.join(command)}")
    return 0
