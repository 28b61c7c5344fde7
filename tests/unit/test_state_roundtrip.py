"""Every piece of operator state survives a pickle round-trip mid-stream.

Bytewax recovery snapshots state with pickle and a resumed job continues from the
unpickled copy, so for each state object the outputs after a resume must equal
the outputs of a run that never stopped: per-entity windows (through
`FeatureSet.featurize`), a whole `ModelShard` (model, baseline, metrics, drift
monitors, challenger, label join), the `LabelJoin` on its own (pending
predictions and early labels across the pickle), and both drift monitors.

Wall-clock fields (a prediction's `latency_ms`, a dead letter's `ts`) are left
out of the comparisons; everything else must be equal.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from driftline.flows.config import DriftConfig, FeaturesConfig, WindowSpec, load_settings
from driftline.flows.drift import ConceptDriftMonitor, DataDriftMonitor
from driftline.flows.features.feature_set import EntityWindows, Featured, FeatureSet
from driftline.flows.parse.events import Event, Label
from driftline.flows.scoring.catalog import CATALOG
from driftline.flows.scoring.labels import ArrivedLabel, LabelJoin, Served
from driftline.flows.scoring.shard import ModelShard, ShardStats

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WALL_CLOCK = {"latency_ms"}  # dropped from every record
WALL_CLOCK_BY_RECORD = {"DeadLetter": {"ts"}}  # when the record was written, not event time


def roundtrip(state: Any) -> Any:
    return pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


def normalise(item: Any) -> Any:
    """An output in a form to compare, whatever the shard emits.

    Works for ("tag", payload) tuples and for typed records: a tuple's payload is
    taken, dataclasses and named tuples become dicts (with their class name), and
    wall-clock fields are dropped.
    """
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        name = type(item).__name__
        drop = WALL_CLOCK | WALL_CLOCK_BY_RECORD.get(name, set())
        fields = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
        return name, {k: normalise(v) for k, v in fields.items() if k not in drop}
    if isinstance(item, tuple) and hasattr(item, "_asdict"):
        return type(item).__name__, normalise(item._asdict())
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return normalise(item[1])  # ("prediction", {...}) and the like: the payload
    if isinstance(item, dict):
        return {k: normalise(v) for k, v in item.items() if k not in WALL_CLOCK}
    if isinstance(item, list | tuple):
        return [normalise(v) for v in item]
    return item


def test_normalise_drops_wall_clock_and_reads_both_output_shapes() -> None:
    @dataclasses.dataclass
    class Prediction:
        id: str
        latency_ms: float

    assert normalise(("prediction", {"id": "e1", "latency_ms": 3.2})) == {"id": "e1"}
    assert normalise(Prediction("e1", 3.2)) == ("Prediction", {"id": "e1"})


# -- per-entity windows -------------------------------------------------------------------


def _feature_set() -> FeatureSet:
    return FeatureSet(
        FeaturesConfig(
            windows=[
                WindowSpec(field=None, period=timedelta(minutes=5), stats=["count"]),
                WindowSpec(
                    field="loan",
                    period=timedelta(minutes=5),
                    stats=["count", "mean", "std", "sum"],
                ),
                WindowSpec(field="loan", period=timedelta(hours=1), stats=["mean", "std"]),
            ],
            allowed_lateness=timedelta(seconds=30),
        )
    )


def _events(n: int = 3000, keys: int = 3, seed: int = 11) -> list[Event]:
    """Events of a few keys, mostly in order, some out of order, some late."""
    rng = random.Random(seed)
    t = T0
    events = []
    for i in range(n):
        t += timedelta(seconds=rng.expovariate(0.5))
        ts = t
        r = rng.random()
        if r < 0.05:
            ts = t - timedelta(seconds=rng.uniform(0, 25))  # out of order, within lateness
        elif r < 0.07:
            ts = t - timedelta(seconds=rng.uniform(60, 600))  # late
        features: dict[str, Any] = {"loan": rng.uniform(0, 1000), "city": rng.choice("ab")}
        if i % 13 == 0:
            del features["loan"]  # a window field missing from some events
        events.append(Event(id=f"e{i}", key=f"k{rng.randrange(keys)}", ts=ts, features=features))
    return events


def _featurize(
    fs: FeatureSet, states: dict[str, EntityWindows], events: list[Event], start: int
) -> list[tuple]:
    out = []
    for seq, event in enumerate(events, start):
        state = states.get(event.key)
        if state is None:
            state = states[event.key] = fs.new_state()
        f = fs.featurize(state, event, ingest=0.0, seq=seq)
        out.append((f.event.id, f.seq, f.late, f.out_of_order, f.x))
    return out


@pytest.mark.parametrize("cut", [1, 700, 1777, 2999])
def test_entity_windows_resume_gives_the_same_features(cut: int) -> None:
    fs, events = _feature_set(), _events()
    whole = _featurize(fs, {}, events, 0)
    assert any(r[2] for r in whole) and any(r[3] for r in whole)  # late and out-of-order seen

    states: dict[str, EntityWindows] = {}
    before = _featurize(fs, states, events[:cut], 0)
    resumed = roundtrip(states)
    after = _featurize(fs, resumed, events[cut:], cut)
    assert before + after == whole


# -- a whole model shard -----------------------------------------------------------------


def _shard_settings(name: str, store: Path):
    return load_settings(
        None,
        {
            "model": {"name": name, "store": str(store), "snapshot_every": 0},
            "labels": {"ttl": "10m", "max_pending": 200},
            "drift": {
                "warmup": 50,
                "min_reference": 50,
                "cooldown": 100,
                "concept_alpha": 0.01,
                "data_window": 50,
                "challenge_window": 40,
                "challenger_warm_start": 20,
                "on_concept_drift": "challenger",
            },
        },
    )


def _shard_items(name: str, n: int = 720, seed: int = 21) -> list[Featured | ArrivedLabel]:
    """Events scored by one shard, labelled four ways.

    i % 4 == 0: label inline; 1: a separate label a few events later; 2: a separate
    label a few events *before* its event (early); 3: no label ever. The concept flips at n/2
    (concept drift, a challenger) and a feature shifts at 2n/3 (data drift). A few
    labels are of the wrong type (dead letters).
    """
    rng = random.Random(seed)
    regression = CATALOG[name].task == "regression"
    placed: list[tuple[float, Any]] = []  # (position in the stream, item)
    for i in range(n):
        ts = T0 + timedelta(seconds=2 * i)
        a, b = rng.gauss(0, 1), rng.gauss(3.0 if i > 2 * n // 3 else 0.0, 1)
        flip = i > n // 2
        y: Any = (3 * a - b if flip else a + 2 * b) if regression else (a > 0) != flip
        if i % 37 == 5:
            y = "yes"  # not learnable by any catalog model
        kind = i % 4
        event = Event(
            id=f"e{i}",
            key=f"k{i % 5}",
            ts=ts,
            features={"a": a, "b": b, "city": rng.choice("xyz")},
            label=y if kind == 0 else None,
        )
        x = {"a": a, "b": b, f"city={event.features['city']}": 1.0, "n": float(i % 7)}
        late, out_of_order = i % 50 == 7, i % 50 == 9
        placed.append((i, Featured(event, x, late, out_of_order, ingest=0.0, seq=i)))
        if kind in (1, 2):
            delay = rng.randint(1, 8) * (1 if kind == 1 else -1)
            label = Label(id=f"e{i}", label=y, ts=ts + timedelta(seconds=2 * delay))
            arrived = ArrivedLabel(label, seq=100_000 + i, ingest=0.0)
            placed.append((i + delay - 0.5, arrived))
    placed.sort(key=lambda p: p[0])
    return [item for _, item in placed]


def _run(shard: ModelShard, items: list[Any], batch: int = 25) -> list[Any]:
    out = []
    for start in range(0, len(items), batch):
        out.extend(normalise(r) for r in shard.process(items[start : start + batch], ShardStats()))
    return out


def _state_of(shard: ModelShard) -> dict[str, Any]:
    model = shard.instance
    return {
        "seen": model.seen,
        "labelled": model.labelled,
        "version": model.policy.version,
        "latest_version": model.policy.latest_version,
        "metric": model.metric.get(),
        "baseline_metric": model.baseline_metric.get(),
        "rolling": model.rolling.get(),
        "outcomes": dict(shard.join.outcomes),
        "pending": list(shard.join.pending),
        "early": list(shard.join.early),
        "challenge": model.policy.challenge is not None,
    }


def _tags(outputs: list[Any]) -> set[str]:
    """Kinds seen: a dict's `kind` or the record class name (for the meaningfulness checks)."""
    kinds = set()
    for o in outputs:
        if isinstance(o, tuple) and o and isinstance(o[0], str):
            kinds.add(o[0])
            o = o[1]
        if isinstance(o, dict):
            kinds.add(str(o.get("kind", "prediction" if "prediction" in o else "")))
    return kinds


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_model_shard_resume_gives_the_same_outputs(name: str, tmp_path: Path) -> None:
    settings = _shard_settings(name, tmp_path / "models")
    items = _shard_items(name)
    cut = len(items) // 2 + 3  # not on a batch boundary of the uninterrupted run

    whole_shard = ModelShard("s0", settings, "fs-test")
    whole = _run(whole_shard, items)
    kinds = _tags(whole)
    # the stream exercises what a resume must carry: labels joined, dead letters, drift
    assert {"Classified", "Regressed"} & kinds and "DeadLetter" in kinds
    assert "drift_report" in kinds and "data_drift" in kinds

    shard = ModelShard("s0", settings, "fs-test")
    before = _run(shard, items[:cut])
    assert shard.join.pending and shard.join.early  # both kinds of waiting across the pickle
    resumed = roundtrip(shard)
    after = _run(resumed, items[cut:])

    assert len(before) + len(after) == len(whole)
    for i, (got, want) in enumerate(zip(before + after, whole, strict=True)):
        assert got == want, f"output {i} differs after the resume"
    assert _state_of(resumed) == _state_of(whole_shard)


def _as_released_before_many_models(shard: ModelShard) -> ModelShard:
    """`shard` in the shape the release before many models pickled: one object holding
    the instance's attributes and the join, its policy owned by that object."""
    old = ModelShard.__new__(ModelShard)
    instance = shard.instance
    old.__dict__.update({**instance.__dict__, "join": shard.join})
    for attr in ("segment", "slices"):  # attributes that release did not have
        del old.__dict__[attr]
    instance.policy.owner = old
    return old


def test_a_shard_pickled_by_the_release_before_resumes_as_one_instance(tmp_path: Path) -> None:
    """A recovery store of the release before many models resumes: each of its shards
    unpickles into a shard with one instance and gives the outputs a run that never
    stopped gives."""
    settings = _shard_settings("logreg", tmp_path / "models")
    items = _shard_items("logreg")
    cut = len(items) // 2 + 3
    whole_shard = ModelShard("s0", settings, "fs-test")
    whole = _run(whole_shard, items)

    shard = ModelShard("s0", settings, "fs-test")
    before = _run(shard, items[:cut])
    resumed = roundtrip(_as_released_before_many_models(shard))
    resumed.bind(whole_shard.spec)  # as the scoring step does on its first batch
    assert resumed.instance.policy.owner is resumed.instance
    after = _run(resumed, items[cut:])
    assert before + after == whole
    assert _state_of(resumed) == _state_of(whole_shard)


# -- the label join ------------------------------------------------------------------------


def _join_ops(n: int = 600, seed: int = 31) -> list[tuple[str, Any]]:
    """Predictions and labels in every order: joined, early, duplicate, expired, unknown."""
    rng = random.Random(seed)
    ops: list[tuple[str, Any]] = []
    for i in range(n):
        ts = T0 + timedelta(seconds=10 * i)
        served = Served(f"e{i}", f"k{i % 3}", ts, {"a": float(i)}, i % 2 == 0, True, 1)
        label = Label(id=f"e{i}", label=i % 3 == 0, ts=ts + timedelta(seconds=rng.uniform(0, 30)))
        r = rng.random()
        if r < 0.3:
            ops += [("label", label), ("served", served)]  # early
        elif r < 0.6:
            ops += [("served", served), ("label", label)]
        elif r < 0.7:
            ops += [("served", served), ("label", label), ("label", label)]  # duplicate
        elif r < 0.8:
            ops.append(("served", served))  # never labelled: expires
        elif r < 0.9:
            ops.append(("label", Label(id=f"ghost{i}", label=True, ts=ts)))  # unknown
        else:
            ops += [("served", served), ("observe", ts)]
    # labels that come too late, after their predictions expired
    for i in range(0, n, 50):
        ops.append(("label", Label(id=f"e{i}", label=True, ts=T0 + timedelta(seconds=10 * n))))
    return ops


def _apply(join: LabelJoin, ops: list[tuple[str, Any]]) -> list[Any]:
    out = []
    for op, arg in ops:
        if op == "served":
            got = join.served(arg)
        elif op == "label":
            got = join.label(arg)
        else:
            got = join.observe(arg)
        out.append(None if got is None else dataclasses.asdict(got))
    return out


def _join_state(join: LabelJoin) -> dict[str, Any]:
    return {
        "outcomes": dict(join.outcomes),
        "pending": list(join.pending),
        "early": list(join.early),
        "joined": list(join.joined_ids),
        "expired": list(join.expired_ids),
        "watermark": join.watermark,
    }


@pytest.mark.parametrize("cut", [1, 333, 700])
def test_label_join_resume_gives_the_same_joins(cut: int) -> None:
    ops = _join_ops()

    def fresh() -> LabelJoin:
        return LabelJoin(timedelta(minutes=5), max_pending=20, memory=100)

    whole = fresh()
    want = _apply(whole, ops)
    assert set(whole.outcomes) >= {"joined", "early", "duplicate", "unlabelled", "unknown"}

    join = fresh()
    before = _apply(join, ops[:cut])
    resumed = roundtrip(join)
    assert before + _apply(resumed, ops[cut:]) == want
    assert _join_state(resumed) == _join_state(whole)


def test_label_join_carries_pending_and_early_labels_across_the_pickle() -> None:
    join = LabelJoin(timedelta(minutes=10), 100)
    join.served(Served("p", "k", T0, {"a": 1.0}, True, False, 1))
    join.label(Label(id="q", label=False, ts=T0))
    resumed = roundtrip(join)
    joined = resumed.label(Label(id="p", label=True, ts=T0 + timedelta(seconds=1)))
    assert joined is not None and joined.x == {"a": 1.0} and joined.y_pred is True
    early = resumed.served(Served("q", "k", T0 + timedelta(seconds=2), {}, None, None, 1))
    assert early is not None and early.label is False
    assert resumed.outcomes == {"early": 1, "joined": 2}


def test_label_join_snapshots_its_predictions_as_plain_tuples() -> None:
    """Pickled as objects, 18,600 waiting predictions took 1.25 s a snapshot (the soak)."""
    join = LabelJoin(timedelta(minutes=10), 100)
    ts = T0 + timedelta(microseconds=123_457)  # a time that float seconds would round
    join.served(Served("p", "k", ts, {"a": 1.0}, True, False, 1, segment="s", window=3))
    blob = pickle.dumps(join, protocol=pickle.HIGHEST_PROTOCOL)
    assert b"Served" not in blob  # a tuple, its time an int of microseconds
    resumed = pickle.loads(blob)
    assert resumed.pending["p"] == join.pending["p"] and resumed.pending["p"].ts == ts


def test_a_label_join_pickled_by_the_release_before_resumes() -> None:
    join = LabelJoin(timedelta(minutes=10), 100)
    join.served(Served("p", "k", T0, {"a": 1.0}, True, False, 1))
    join.label(Label(id="q", label=False, ts=T0))
    old = LabelJoin.__new__(LabelJoin)
    old.__setstate__(dict(vars(join)))  # what unpickling its attributes dict does
    assert _join_state(old) == _join_state(join)
    joined = roundtrip(old).label(Label(id="p", label=True, ts=T0 + timedelta(seconds=1)))
    assert joined is not None and joined.x == {"a": 1.0}


# -- drift monitors -------------------------------------------------------------------------


def _concept_signals(monitor: ConceptDriftMonitor, errors: list[float]) -> list[tuple]:
    out = []
    for i, e in enumerate(errors):
        s = monitor.update(e)
        if s is not None:
            out.append((i, dataclasses.astuple(s)))
    return out


@pytest.mark.parametrize("detector", ["adwin", "page_hinkley", "ddm", "eddm", "kswin"])
def test_concept_monitor_resume_gives_the_same_signals(detector: str) -> None:
    rng = random.Random(41)
    errors = [float(rng.random() < (0.1 if i < 900 else 0.6)) for i in range(1500)]
    config = DriftConfig(
        concept_detector=detector, warmup=300, min_reference=200, cooldown=300, concept_alpha=0.01
    )
    whole = _concept_signals(ConceptDriftMonitor(config), errors)
    assert whole

    monitor = ConceptDriftMonitor(config)
    before = _concept_signals(monitor, errors[:700])
    resumed = roundtrip(monitor)
    after = [(i + 700, s) for i, s in _concept_signals(resumed, errors[700:])]
    assert before + after == whole


def _data_rows(n: int, seed: int = 51) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [
        {
            "loan": rng.gauss(2.0 if i > n // 2 else 0.0, 1.0),
            "age": rng.randint(20, 80),
            "city": rng.choice("ab"),
            "extra": rng.random(),
        }
        for i in range(n)
    ]


def _data_outputs(monitor: DataDriftMonitor, rows: list[dict[str, object]], start: int) -> list:
    out = []
    for i, row in enumerate(rows, start):
        signals = monitor.update(row)
        out += [(i, dataclasses.astuple(s)) for s in signals]
        if monitor.filled == 0:
            out.append((i, repr(monitor.report), monitor.untracked, monitor.untracked_values))
    return out


@pytest.mark.parametrize("cut", [1, 1030, 2500])
def test_data_monitor_resume_gives_the_same_signals(cut: int) -> None:
    config = DriftConfig(data_window=200, data_max_features=2)  # `extra` is untracked
    rows = _data_rows(4000)
    whole = _data_outputs(DataDriftMonitor(config), rows, 0)
    assert any(len(o) == 2 for o in whole)  # a shift was signalled

    monitor = DataDriftMonitor(config)
    before = _data_outputs(monitor, rows[:cut], 0)
    resumed = roundtrip(monitor)
    assert before + _data_outputs(resumed, rows[cut:], cut) == whole
