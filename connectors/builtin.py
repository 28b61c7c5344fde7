"""The built-in drifting stream: a seeded, labelled event stream with known drift points.

Built on ``river.datasets.synth``: concepts are Agrawal (or SEA) classification
functions chained with ``ConceptDriftStream`` so the concept changes at the
configured event indexes. Each row becomes an event of one of many entities,
with event times from exponential gaps, optional out-of-order arrivals,
optional covariate shifts (data drift) and optional malformed messages.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from river import datasets
from river.datasets import synth

from driftline.connectors.malformed import MALFORMED
from driftline.connectors.shutdown import stop_requested
from driftline.flows.config import BuiltinStreamConfig
from driftline.flows.parse.events import LabelBytes


def _concept(cfg: BuiltinStreamConfig, function: int, seed: int) -> datasets.base.SyntheticDataset:
    if cfg.generator == "agrawal":
        return synth.Agrawal(
            classification_function=function, seed=seed, balance_classes=cfg.balance_classes
        )
    return synth.SEA(variant=function, noise=0.05, seed=seed)


def chain_concepts(
    concepts: Sequence[datasets.base.SyntheticDataset],
    points: Sequence[int],
    width: int,
    seed: int,
) -> datasets.base.SyntheticDataset:
    """Concepts chained by ConceptDriftStream so concept i starts at event points[i-1].

    `points` has one entry fewer than `concepts`; one concept is returned as is.
    `width` is the drift width (1 = abrupt), raised where needed to keep River's
    sigmoid from overflowing: ConceptDriftStream computes
    exp(-4 (i - position) / width), which overflows for i far before the position
    when the width is tiny, so an "abrupt" drift at event 20,000 is spread over
    about +-60 events at the sharpest. The drift between concept i and i+1 draws
    from seed + 100 + i.
    """
    if len(points) != len(concepts) - 1:
        raise ValueError(f"{len(concepts)} concepts need {len(concepts) - 1} points, got {points}")
    stream = concepts[-1]
    for i in range(len(concepts) - 2, -1, -1):
        start = points[i - 1] if i > 0 else 0
        position = points[i] - start
        stream = synth.ConceptDriftStream(
            stream=concepts[i],
            drift_stream=stream,
            position=position,
            width=max(width, math.ceil(4 * position / 700) + 1),
            seed=seed + 100 + i,
        )
    return stream


def concept_stream(cfg: BuiltinStreamConfig) -> datasets.base.Dataset:
    """The configured concepts chained so concept i starts at drift_points[i-1]."""
    concepts = [_concept(cfg, f, cfg.seed + i) for i, f in enumerate(cfg.concepts)]
    return chain_concepts(concepts, cfg.drift_points, cfg.drift_width, cfg.seed)


def drifting_events(cfg: BuiltinStreamConfig) -> Iterator[dict[str, Any]]:
    """Yield event dicts (with labels) forever or for `cfg.events` events."""
    rng = random.Random(cfg.seed)
    keys = [f"user-{k:05d}" for k in range(cfg.keys)]
    cum_weights = list(  # a few busy entities (Zipf-like); cumulative: O(log keys) a draw
        itertools.accumulate(1.0 / (k + 1) ** 0.8 for k in range(cfg.keys))
    )
    clock = cfg.start
    mean_gap = cfg.mean_gap_ms / 1000.0
    shifts = sorted(cfg.data_drift_points)
    for i, (x, y) in enumerate(concept_stream(cfg)):
        if cfg.events and i >= cfg.events:
            return
        clock += timedelta(seconds=rng.expovariate(1.0 / mean_gap))
        ts = clock
        if cfg.disorder and rng.random() < cfg.disorder:
            ts = clock - timedelta(seconds=rng.uniform(0, 60))
        features = {(k if isinstance(k, str) else f"x{k}"): v for k, v in x.items()}
        n_shifts = sum(1 for p in shifts if i >= p)
        if n_shifts and cfg.data_drift_feature in features:
            features[cfg.data_drift_feature] *= cfg.data_drift_scale**n_shifts
        yield {
            "id": f"evt-{i:09d}",
            "key": rng.choices(keys, cum_weights=cum_weights)[0],
            "ts": ts.isoformat(),
            "features": features,
            "label": bool(y),
        }


def _with_separate_labels(cfg: BuiltinStreamConfig) -> Iterator[dict[str, Any] | LabelBytes]:
    """Events without labels, each label emitted once event time passes its due time."""
    rng = random.Random(cfg.seed + 7)
    mean = cfg.label_delay.total_seconds()
    due: list[tuple[datetime, int, bytes]] = []
    for i, event in enumerate(drifting_events(cfg)):
        label = event.pop("label")
        ts = datetime.fromisoformat(event["ts"])
        while due and due[0][0] <= ts:
            yield LabelBytes(heapq.heappop(due)[2])
        yield event
        if rng.random() < cfg.label_missing:
            continue
        delay = mean if cfg.label_delay_kind == "fixed" else rng.expovariate(1.0 / mean)
        at = ts + timedelta(seconds=delay)
        msg = {"id": event["id"], "label": label, "ts": at.isoformat()}
        heapq.heappush(due, (at, i, orjson.dumps(msg)))
    while due:
        yield LabelBytes(heapq.heappop(due)[2])


def drifting_messages(cfg: BuiltinStreamConfig) -> Iterator[bytes | None]:
    """The stream as JSON messages, with a malformed one every `bad_every` events.

    With ``labels = "separate"`` labels are their own messages (LabelBytes),
    delayed in event time, some never sent (``label_missing``).
    """
    n_bad = 0
    items = drifting_events(cfg) if cfg.labels == "inline" else _with_separate_labels(cfg)
    n_events = 0
    for item in items:
        if isinstance(item, LabelBytes):
            yield item
            continue
        if cfg.bad_every and n_events and n_events % cfg.bad_every == 0:
            yield MALFORMED[n_bad % len(MALFORMED)][1]  # None stands for a tombstone
            n_bad += 1
        n_events += 1
        yield orjson.dumps(item)


class _BuiltinPartition(StatefulSourcePartition[bytes | None, int]):
    def __init__(self, cfg: BuiltinStreamConfig, resume: int | None) -> None:
        self._it = drifting_messages(cfg)
        self._done = resume or 0
        self._batch = cfg.batch_size
        for _ in range(self._done):  # replay deterministically up to the snapshot
            next(self._it, None)

    def next_batch(self) -> list[bytes | None]:
        if stop_requested():
            raise StopIteration
        batch = [m for _, m in zip(range(self._batch), self._it, strict=False)]
        if not batch:
            raise StopIteration
        self._done += len(batch)
        return batch

    def snapshot(self) -> int:
        return self._done


class BuiltinSource(FixedPartitionedSource[bytes | None, int]):
    """Bytewax source of the built-in drifting stream (one partition)."""

    def __init__(self, cfg: BuiltinStreamConfig) -> None:
        self.cfg = cfg

    def list_parts(self) -> list[str]:
        return ["builtin"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _BuiltinPartition:
        return _BuiltinPartition(self.cfg, resume_state)
