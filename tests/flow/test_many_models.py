"""Many models in one job (issue 15), against real runs of the flow and River's own evaluation.

Each model of a job scores every event and learns only its own target's labels;
a segmented model keeps one instance per segment value, bounded in memory and
restored from the model store; slices report per-value figures without models of
their own. Every figure here is checked against something computed apart from
the job: River's `progressive_val_score` on the same events, or a count by hand.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from river import datasets, evaluate, metrics

from driftline.flows.config import ModelConfig, Settings, load_settings
from driftline.flows.outputs import telemetry
from driftline.flows.plugins import add_plugin_dirs
from driftline.flows.scoring.definition import model_definition
from driftline.flows.scoring.store import ModelStore
from tests.conftest import RunResult, read_jsonl, write_jsonl
from tests.support.recovery import run_whole_then_killed_and_resumed

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TREE = {"estimator": "river.tree.HoeffdingTreeClassifier"}


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def job(tmp_path: Path, models: list[dict[str, Any]], **sections: dict[str, Any]) -> Settings:
    """Settings of a job of several models (`[[models]]`), raw features only.

    The conftest's `make_settings` merges tables, not lists, so a `models` list is
    set here. Windows and the time since the last event are off, so a model is
    served exactly the event's features (as River's evaluation feeds them), and a
    concept drift only alerts (`keep`), so no model is replaced mid-stream.
    """
    base: dict[str, Any] = {
        "sinks": {"directory": str(tmp_path / "out")},
        "model": {"store": str(tmp_path / "models")},
        "metrics": {"enabled": False},
        "run": {"progress_every": 3600, "epoch_interval": "PT1S"},
        "features": {"windows": [], "time_since_last": False},
        "drift": {"on_concept_drift": "keep"},
    }
    for section, values in sections.items():
        base.setdefault(section, {}).update(values)
    return load_settings(None, {**base, "models": models})


def reference(model: dict[str, Any], stream: list[tuple[dict[str, Any], Any]]) -> metrics.Accuracy:
    """River's progressive validation of the model a `[[models]]` entry names, with the
    seed the job builds it with (model.seed), on `stream`."""
    cfg = ModelConfig(id="reference", **model)
    built = model_definition(cfg).build(cfg.seed)
    score: metrics.Accuracy = evaluate.progressive_val_score(stream, built, metrics.Accuracy())
    return score


def accuracy_of(predictions: list[dict[str, Any]]) -> float:
    """Accuracy over the predictions that were made (an untrained model predicts none),
    as River's metrics count them."""
    made = [p for p in predictions if p["prediction"] is not None]
    return sum(p["prediction"] == p["label"] for p in made) / len(made)


def by_model(predictions: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in predictions:
        out.setdefault(p["model"], []).append(p)
    return out


def counter(name: str, labels: dict[str, str]) -> float:
    return telemetry.REGISTRY.get_sample_value(name, labels) or 0.0


# ------------------------------------------------- two models on Phishing, each River's own


PHISHING = list(datasets.Phishing())


@pytest.fixture(scope="module")
def phishing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """River's Phishing data as events with their labels inline, and a text `bucket`
    field (i % 3) that segments them and that no model should learn from."""
    lines = [
        orjson.dumps(
            {
                "id": f"p{i}",
                "key": "site",
                "ts": at(i),
                "features": {**x, "bucket": str(i % 3)},
                "label": y,
            }
        )
        for i, (x, y) in enumerate(PHISHING)
    ]
    return write_jsonl(tmp_path_factory.mktemp("phishing") / "phishing.jsonl", lines)


def phishing_job(tmp_path: Path, events: Path, models: list[dict[str, Any]]) -> Settings:
    return job(
        tmp_path,
        models,
        run={"source": "file"},
        files={"events_path": str(events), "batch_size": 64},
    )


def test_two_models_in_one_job_each_equal_their_own_progressive_validation(
    tmp_path: Path, phishing: Path, run_flow
) -> None:
    logreg = {"id": "logreg-1", "name": "logreg", "features_exclude": ["bucket"]}
    tree = {"id": "tree-1", **TREE, "features_exclude": ["bucket"]}
    result = run_flow(phishing_job(tmp_path, phishing, [logreg, tree]))

    first = reference({"name": "logreg"}, PHISHING)
    second = reference(TREE, PHISHING)
    assert first.get() != second.get()  # two models, told apart by their figures
    m = result.monitor
    assert m.models == ["logreg-1", "tree-1"]
    assert m.labelled == m.judged == len(PHISHING) == 1250
    assert m.correct / m.judged == first.get()  # the monitor's own figures: the first model
    assert m.others["tree-1"].scored == m.others["tree-1"].labelled == 1250
    assert m.others["tree-1"].model.value == second.get()

    predictions = by_model(result.predictions)
    assert set(predictions) == {"logreg-1", "tree-1"}
    assert accuracy_of(predictions["logreg-1"]) == first.get()
    assert accuracy_of(predictions["tree-1"]) == second.get()


def test_one_prediction_per_event_and_model_says_which_model_made_it(
    tmp_path: Path, phishing: Path, run_flow
) -> None:
    logreg = {"id": "lr", "name": "logreg", "features_exclude": ["bucket"]}
    tree = {"id": "ht", **TREE, "features_exclude": ["bucket"]}
    before = {
        name: counter("driftline_predictions_total", {"model": name}) for name in ("lr", "ht")
    }
    result = run_flow(phishing_job(tmp_path, phishing, [logreg, tree]))

    made = Counter((p["id"], p["model"]) for p in result.predictions)
    assert len(made) == 2 * len(PHISHING) and set(made.values()) == {1}
    definitions = {
        name: model_definition(ModelConfig(id=name, **cfg)).version
        for name, cfg in (("lr", {"name": "logreg"}), ("ht", TREE))
    }
    assert definitions["lr"] != definitions["ht"]
    for p in result.predictions:
        assert p["model_version"] == 1 and p["segment"] is None
        assert p["definition_version"] == definitions[p["model"]]
        assert p["feature_version"].startswith("fs-")
    assert len({p["feature_version"] for p in result.predictions}) == 1  # one feature set
    for name in ("lr", "ht"):
        assert counter("driftline_predictions_total", {"model": name}) == before[name] + 1250


# ------------------------------------------------------------------- segments of a model


def test_each_segment_equals_progressive_validation_on_its_own_events(
    tmp_path: Path, phishing: Path, run_flow
) -> None:
    segmented = {
        "id": "per-bucket",
        "name": "logreg",
        "segment_by": "bucket",
        "features_exclude": ["bucket"],
    }
    result = run_flow(phishing_job(tmp_path, phishing, [segmented]))

    per_segment = by_model(result.predictions)["per-bucket"]
    assert Counter(p["segment"] for p in per_segment) == {"0": 417, "1": 417, "2": 416}
    for bucket in ("0", "1", "2"):
        own = [(x, y) for i, (x, y) in enumerate(PHISHING) if str(i % 3) == bucket]
        expected = reference({"name": "logreg"}, own).get()
        served = [p for p in per_segment if p["segment"] == bucket]
        assert [p["id"] for p in served] == [
            f"p{i}" for i in range(len(PHISHING)) if str(i % 3) == bucket
        ]
        assert accuracy_of(served) == expected, bucket
    whole = reference({"name": "logreg"}, PHISHING).get()
    assert result.monitor.correct / result.monitor.judged != whole  # not one shared model


# ------------------------------------------------------------------- labels by target


def target_events(n: int, inline: bool = False) -> list[dict[str, Any]]:
    """Events whose default label is `amount > 50` and churn label `visits < 3`: two
    targets a model can each learn, told apart by which it predicts."""
    events = []
    for i in range(n):
        amount, visits = float((i * 37) % 100), float((i * 11) % 7)
        event: dict[str, Any] = {
            "id": f"e{i}",
            "key": f"u{i % 5}",
            "ts": at(i),
            "features": {"amount": amount, "visits": visits},
        }
        if inline:
            event["label"] = amount > 50
            event["labels"] = {"churn": visits < 3}
        events.append(event)
    return events


TARGET_MODELS = [
    {"id": "fraud-model", "name": "logreg"},
    {"id": "churn-model", "name": "logreg", "target": "churn"},
]


def test_labels_reach_the_models_of_their_target_only(tmp_path: Path, run_flow) -> None:
    events = target_events(300)
    default_labels = [
        {"id": e["id"], "label": e["features"]["amount"] > 50, "ts": at(i + 0.5)}
        for i, e in enumerate(events)
        if i % 2 == 0
    ]
    churn_labels = [
        {"id": e["id"], "target": "churn", "label": e["features"]["visits"] < 3, "ts": at(i + 0.5)}
        for i, e in enumerate(events)
        if i % 3 == 0
    ]
    stray = [{"id": "e1", "target": "upsell", "label": True, "ts": at(1.5)}]
    events_path = write_jsonl(tmp_path / "events.jsonl", (orjson.dumps(e) for e in events))
    labels_path = write_jsonl(
        tmp_path / "labels.jsonl",
        (orjson.dumps(lb) for lb in [*default_labels, *churn_labels, *stray]),
    )
    dead_before = counter("driftline_dead_letters_total", {"stage": "parse", "reason": "target"})
    result = run_flow(
        job(
            tmp_path,
            TARGET_MODELS,
            run={"source": "file"},
            files={"events_path": str(events_path), "labels_path": str(labels_path)},
        )
    )

    m = result.monitor
    assert m.models == ["fraud-model", "churn-model"]
    assert m.labelled == len(default_labels) == 150
    assert m.others["churn-model"].labelled == len(churn_labels) == 100
    assert m.scored == m.others["churn-model"].scored == 300
    for model, labelled in (("fraud-model", 150), ("churn-model", 100)):
        assert counter("driftline_labels_total", {"outcome": "joined", "model": model}) >= labelled
    # the stray target: one dead letter naming it, counted
    assert [(d["stage"], d["reason"], d["source"]) for d in result.dead_letters] == [
        ("parse", "target", "labels")
    ]
    assert "'upsell' is learned by no model" in result.dead_letters[0]["error"]
    assert orjson.loads(result.dead_letters[0]["raw"])["id"] == "e1"
    assert m.dead_reasons == {"target": 1}
    after = counter("driftline_dead_letters_total", {"stage": "parse", "reason": "target"})
    assert after == dead_before + 1


def test_inline_labels_of_another_target_reach_its_model(tmp_path: Path, run_flow) -> None:
    events = target_events(400, inline=True)
    path = write_jsonl(tmp_path / "events.jsonl", (orjson.dumps(e) for e in events))
    result = run_flow(
        job(tmp_path, TARGET_MODELS, run={"source": "file"}, files={"events_path": str(path)})
    )

    predictions = by_model(result.predictions)
    truth = {e["id"]: e for e in events}
    for p in predictions["fraud-model"]:
        assert p["label"] is truth[p["id"]]["label"]
    for p in predictions["churn-model"]:
        assert p["label"] is truth[p["id"]]["labels"]["churn"]
    m = result.monitor
    assert m.labelled == m.others["churn-model"].labelled == 400
    # each learned its own target: River's evaluation of the same model on each target
    stream = [((e["features"]), e["label"]) for e in events]
    churn = [((e["features"]), e["labels"]["churn"]) for e in events]
    assert m.correct / m.judged == reference({"name": "logreg"}, stream).get()
    assert m.others["churn-model"].model.value == reference({"name": "logreg"}, churn).get()
    assert accuracy_of(predictions["churn-model"]) == m.others["churn-model"].model.value


# ------------------------------------------------------------------------ slices


SLICE_RULES = '''
def big_amount(x):
    """The team's rule: a big amount is a positive."""
    return x["amount"] > 50
'''

SLICED = {
    "id": "sliced-rule",
    "name": "rule",
    "rule": "slice_rules:big_amount",
    "slices": ["country"],
    "slice_top": 2,
    "rolling_window": 25,
}


@pytest.fixture(scope="module")
def slice_plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A plugin directory holding the rule `slice_rules:big_amount` (as a team's would)."""
    directory = tmp_path_factory.mktemp("plugins")
    (directory / "slice_rules.py").write_text(SLICE_RULES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "path", list(sys.path))
        mp.delitem(sys.modules, "slice_rules", raising=False)
        yield directory
        sys.modules.pop("slice_rules", None)


def sliced_events() -> list[dict[str, Any]]:
    """120 events: NL leads the traffic at first (24 events), then BR, DE and FR take over
    (48, 32 and 16 events), so the top values change mid-stream. The labels disagree
    with the rule on a different share of each country's events."""
    events = []
    wrong_every = {"NL": 2, "BR": 7, "DE": 4, "FR": 3}
    for i in range(120):
        country = "NL" if i < 24 else ("BR", "BR", "BR", "DE", "DE", "FR")[i % 6]
        amount = float((i * 29) % 101)
        flipped = i % wrong_every[country] == 0
        events.append(
            {
                "id": f"s{i}",
                "key": f"c{i % 4}",
                "ts": at(i),
                "features": {"amount": amount, "country": country},
                "label": (amount > 50) != flipped,
            }
        )
    return events


def rolling_accuracy(rights: list[bool], window: int) -> float:
    last = rights[-window:]
    return sum(last) / len(last)


@pytest.fixture(scope="module")
def sliced_run(
    slice_plugins: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[dict[str, Any]], RunResult]:
    """The sliced rule's run over :func:`sliced_events`, in batches of 10 events."""
    from driftline.flows.app.runner import run

    tmp_path = tmp_path_factory.mktemp("sliced")
    events = sliced_events()
    path = write_jsonl(tmp_path / "events.jsonl", (orjson.dumps(e) for e in events))
    settings = job(
        tmp_path,
        [SLICED],
        run={"source": "file", "plugins": [str(slice_plugins)]},
        files={"events_path": str(path), "batch_size": 10},
        drift={"data_window": 50},
    )
    add_plugin_dirs(settings.run.plugins)
    return events, RunResult(settings.sinks.directory, run(settings, serve_metrics=False))


def rule_rights(
    events: list[dict[str, Any]], result: RunResult, upto: int
) -> dict[str, list[bool]]:
    """Per country, whether the rule was right, event by event, before event `upto`."""
    predictions = {p["id"]: p for p in result.predictions}
    out: dict[str, list[bool]] = {}
    for e in events[:upto]:
        p = predictions[e["id"]]
        out.setdefault(e["features"]["country"], []).append(p["prediction"] == p["label"])
    return out


def slice_series(model: str) -> set[str]:
    """The slice values `model` has series of in Prometheus (scorer "model")."""
    return {
        s.labels["value"]
        for family in telemetry.REGISTRY.collect()
        if family.name == "driftline_slice_metric"
        for s in family.samples
        if s.labels["model"] == model and s.labels["scorer"] == "model"
    }


def test_the_drift_report_holds_each_slice_values_rolling_accuracy(sliced_run) -> None:
    events, result = sliced_run
    assert [p["prediction"] for p in result.predictions] == [
        e["features"]["amount"] > 50 for e in events
    ]
    # the report of the second data window (the first is the reference) is made when
    # s99 is scored, before its label is learned: its slices count s99's traffic and
    # the labels of the events before it
    (report,) = result.drift_reports
    assert report["model"] == "sliced-rule" and report["window_end_event_id"] == "s99"
    scored = Counter(e["features"]["country"] for e in events[:100])
    learned = rule_rights(events, result, 99)
    assert events[99]["features"]["country"] == "DE"  # so DE has one label less
    assert set(report["slices"]) == {f"country={c}" for c in scored}
    for country, judged in learned.items():
        figures = report["slices"][f"country={country}"]
        assert (figures["events"], figures["labelled"]) == (scored[country], len(judged))
        assert figures["model"] == round(rolling_accuracy(judged, 25), 4), country
    assert len({f["model"] for f in report["slices"].values()}) == 4  # the slices differ


def test_prometheus_gets_the_top_slice_values_and_other(sliced_run) -> None:
    events, result = sliced_run
    final = rule_rights(events, result, len(events))
    assert {c: len(r) for c, r in final.items()} == {"NL": 24, "BR": 48, "DE": 32, "FR": 16}
    labels = {"model": "sliced-rule", "segment": "", "slice": "country", "metric": "accuracy"}

    def exported(value: str) -> float | None:
        return telemetry.REGISTRY.get_sample_value(
            "driftline_slice_metric", {**labels, "value": value, "scorer": "model"}
        )

    for country in ("BR", "DE"):  # slice_top = 2: the two with the most events
        assert exported(country) == pytest.approx(rolling_accuracy(final[country], 25))
    rest = [final["NL"][-25:], final["FR"][-25:]]  # each value's window, weighted by its size
    assert exported("other") == pytest.approx(sum(map(sum, rest)) / sum(map(len, rest)))
    assert exported("FR") is None  # never among the top two


def test_a_slice_value_that_leaves_the_top_leaves_prometheus(sliced_run) -> None:
    assert slice_series("sliced-rule") == {"BR", "DE", "other"}


# --------------------------------------------------- the segment bound: evict, store, restore


BOUNDED = {
    "id": "bounded",
    "name": "logreg",
    "segment_by": "shop",
    "features_exclude": ["shop"],
    # shop s0's labels flip: the fresh model that replaces its first is version 2
    "drift": {"on_concept_drift": "reset", "warmup": 0, "min_reference": 10},
}
FLIP = 300  # shop s0's events before the others come


def shop_events() -> list[dict[str, Any]]:
    """Shop s0 alone (its label flips half way), then rounds of s1..s4 (two events each,
    label `v > 0.5`), then s0 again: with two live segments, each newcomer evicts one."""
    rows: list[tuple[str, float, bool]] = [("s0", 1.0, i < FLIP // 2) for i in range(FLIP)]
    for r in range(3):
        for shop in ("s1", "s2", "s3", "s4"):
            rows += [(shop, v, v > 0.5) for v in ((0.2, 0.8) if r % 2 else (0.8, 0.2))]
    rows += [("s0", 1.0, False)] * 20
    return [
        {"id": f"b{i}", "key": shop, "ts": at(i), "features": {"v": v, "shop": shop}, "label": y}
        for i, (shop, v, y) in enumerate(rows)
    ]


def lru(segments: list[str], limit: int) -> Counter[str]:
    """Created, evicted and restored segments of a least-recently-seen bound, by hand."""
    live: OrderedDict[str, None] = OrderedDict()
    gone: set[str] = set()
    seen: Counter[str] = Counter()
    for segment in segments:
        if segment in live:
            live.move_to_end(segment)
            continue
        seen["restored" if segment in gone else "created"] += 1
        gone.discard(segment)
        if len(live) >= limit:
            evicted, _ = live.popitem(last=False)
            gone.add(evicted)
            seen["evicted"] += 1
        live[segment] = None
    return seen


def test_segments_beyond_the_bound_are_stored_evicted_and_restored(
    tmp_path: Path, run_flow
) -> None:
    events = shop_events()
    path = write_jsonl(tmp_path / "events.jsonl", (orjson.dumps(e) for e in events))

    def run(limit: int, where: Path) -> tuple[list[dict[str, Any]], dict[str, float]]:
        before = {
            event: counter("driftline_segments_total", {"model": "bounded", "event": event})
            for event in ("created", "evicted", "restored")
        }
        settings = job(
            where,
            [{**BOUNDED, "max_segments": limit}],
            run={"source": "file"},
            files={"events_path": str(path), "batch_size": 8},
        )
        predictions = run_flow(settings).predictions
        moved = {
            event: counter("driftline_segments_total", {"model": "bounded", "event": event}) - count
            for event, count in before.items()
        }
        return predictions, moved

    bounded, moved = run(2, tmp_path / "bounded")
    expected = lru([e["features"]["shop"] for e in events], 2)
    assert expected["evicted"] >= 10 and expected["restored"] >= 8  # the bound is exercised
    assert moved == {event: float(expected[event]) for event in ("created", "evicted", "restored")}
    live = {"model": "bounded", "shard": bounded[0]["shard"]}
    assert telemetry.REGISTRY.get_sample_value("driftline_live_segments", live) == 2

    # s0 was replaced by version 2 after its labels flipped, then evicted ...
    assert bounded[0]["model_version"] == 1 and bounded[FLIP - 1]["model_version"] == 2
    stored = ModelStore(tmp_path / "bounded" / "models").list()
    assert {info.segment for info in stored} == {"s0", "s1", "s2", "s3", "s4"}
    assert len(stored) == expected["evicted"]
    assert all(info.reason == "evicted" and info.model == "bounded" for info in stored)
    (s0,) = [info for info in stored if info.segment == "s0"]
    assert s0.version == 2 and s0.labelled > 0
    # ... and when it came back, it served the stored model, version and all
    returned = [p for p in bounded[FLIP:] if p["segment"] == "s0"]
    assert len(returned) == 20 and {p["model_version"] for p in returned} == {2}

    # the same job with room for every segment: what each segment's model predicted
    # is the same, so an evicted segment came back with all it had learned
    unbounded, unbounded_moved = run(1000, tmp_path / "unbounded")
    assert unbounded_moved == {"created": 5.0, "evicted": 0.0, "restored": 0.0}

    def served(p: dict[str, Any]) -> tuple[Any, ...]:
        return (p["id"], p["segment"], p["prediction"], p["score"], p["model_version"])

    assert [served(p) for p in bounded] == [served(p) for p in unbounded]


def test_driftline_models_lists_the_snapshots_per_model_and_segment(tmp_path: Path) -> None:
    """`driftline models` groups a store's snapshots by model, then segment."""
    store = ModelStore(tmp_path / "store")
    meta = {
        "feature_version": "fs-x", "events_seen": 10, "labelled": 10, "metric": "accuracy",
        "metric_value": 0.9, "reason": "evicted", "shard": "shard-0", "version": 1,
    }  # fmt: skip
    for model, segment in (("per-shop", "s1"), ("whole", None), ("per-shop", "s0")):
        store.save({"a": 1}, model=model, segment=segment, **meta)
    listing = subprocess.run(
        [sys.executable, "-m", "driftline.flows", "models", "--store", str(store.directory)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    header, rows = listing[0].split(), [line.split() for line in listing[1::2]]
    assert header[:3] == ["model", "segment", "ver"]
    assert [row[:2] for row in rows] == [["per-shop", "s0"], ["per-shop", "s1"], ["whole", "-"]]
    assert all(row[-1].endswith(".pkl") for row in rows)
    assert "-s0-" in rows[0][-1]  # the segment is in the file name too


# ------------------------------------------------------------- kill -9 and resume


N_RECOVERY = 16_000
RECOVERY_CONFIG = """
[[models]]
id = "whole-stream"
name = "logreg"

[[models]]
id = "per-region"
name = "logreg"
segment_by = "region"
features_exclude = ["region"]
max_segments = 3               # five regions take turns: evicted and restored all along
"""
REGION_SPAN = 50  # events in a row of one region: five regions take turns


def test_kill_9_and_resume_keeps_every_model_segment_and_version(tmp_path: Path) -> None:
    """Two models, one segmented by region (five regions taking turns): a job killed
    mid-stream and resumed writes what a job never killed writes, once per event and
    model, each segment's model and version carried over the kill.

    `max_segments` is below the regions, so segments are evicted to the store and
    restored throughout, across the kill too: the resumed job restores each from the
    snapshot its recovered state names, not a newer one the killed process wrote.
    """
    from driftline.connectors.builtin import drifting_events
    from driftline.flows.config import BuiltinStreamConfig

    config = tmp_path / "models.toml"
    config.write_text(RECOVERY_CONFIG)
    stream = BuiltinStreamConfig(events=N_RECOVERY, drift_points=[6_000, 12_000], bad_every=0)
    lines = []
    for i, event in enumerate(drifting_events(stream)):
        event["features"]["region"] = f"r{(i // REGION_SPAN) % 5}"
        lines.append(orjson.dumps(event))
    events = write_jsonl(tmp_path / "events.jsonl", lines)

    def command(out: str, *more: str) -> list[str]:
        run = ["run", "-c", str(config), "--events-file", str(events), "--no-metrics"]
        where = ["--out", str(tmp_path / out), "--store", str(tmp_path / f"{out}-models")]
        return [sys.executable, "-m", "driftline.flows", *run, *where, *more]

    # two predictions per event: killed once a quarter of them (4,000 events) are written
    whole, written = run_whole_then_killed_and_resumed(command, tmp_path, 2 * N_RECOVERY)

    def outcome(p: dict[str, Any]) -> tuple[Any, ...]:
        return (p["id"], p["model"], p["segment"], p["prediction"], p["score"], p["model_version"])

    # the two models' records interleave by batch, which a resume moves: compared sorted
    reference = sorted(outcome(p) for p in read_jsonl(whole))
    killed = sorted(outcome(p) for p in read_jsonl(written))
    assert len(reference) == 2 * N_RECOVERY
    assert Counter((o[0], o[1]) for o in killed) == Counter((o[0], o[1]) for o in reference)
    assert killed == reference
    served = {(o[1], o[2]) for o in reference}
    assert served == {("whole-stream", None)} | {("per-region", f"r{r}") for r in range(5)}
    for out in ("whole", "killed"):  # segments were evicted and restored in both runs
        assert any(i.reason == "evicted" for i in ModelStore(tmp_path / f"{out}-models").list())
    versions = {(o[1], o[5]) for o in reference}
    assert {("whole-stream", 1), ("whole-stream", 2), ("whole-stream", 3)} <= versions
