from itertools import islice, pairwise

import orjson
import pytest
from river.datasets import synth

from driftline.connectors.builtin import chain_concepts, drifting_events, drifting_messages
from driftline.connectors.malformed import MALFORMED
from driftline.flows.config import BuiltinStreamConfig


def test_seeded_stream_repeats() -> None:
    cfg = BuiltinStreamConfig(events=500)
    assert list(drifting_events(cfg)) == list(drifting_events(cfg))
    other = BuiltinStreamConfig(events=500, seed=7)
    assert list(drifting_events(cfg)) != list(drifting_events(other))


def test_stream_has_many_keys_increasing_times_and_labels() -> None:
    events = list(drifting_events(BuiltinStreamConfig(events=5000, disorder=0.0)))
    assert len(events) == 5000
    assert len({e["key"] for e in events}) > 200
    times = [e["ts"] for e in events]
    assert times == sorted(times)
    assert {e["label"] for e in events} == {True, False}


def test_some_events_arrive_out_of_order() -> None:
    events = list(drifting_events(BuiltinStreamConfig(events=5000, disorder=0.05)))
    times = [e["ts"] for e in events]
    back = sum(1 for a, b in pairwise(times) if b < a)
    assert 100 < back < 500


def test_data_drift_scales_the_feature() -> None:
    cfg = BuiltinStreamConfig(events=4000, data_drift_points=[2000], data_drift_scale=3.0)
    events = list(drifting_events(cfg))
    before = sum(e["features"]["hvalue"] for e in events[:2000]) / 2000
    after = sum(e["features"]["hvalue"] for e in events[2000:]) / 2000
    assert after > 2 * before


def test_bad_messages_are_injected() -> None:
    msgs = list(islice(drifting_messages(BuiltinStreamConfig(events=100, bad_every=10)), 200))
    bad = [m for m in msgs if m in {raw for _, raw in MALFORMED}]
    assert len(bad) == 9
    assert all(isinstance(orjson.loads(m), dict) for m in msgs if m not in bad)


def _agrawal(function: int, seed: int) -> synth.Agrawal:
    return synth.Agrawal(classification_function=function, seed=seed)


def test_chain_concepts_switches_at_the_point() -> None:
    rows = list(chain_concepts([_agrawal(0, 1), _agrawal(2, 2)], [1000], 1, seed=0).take(1200))
    assert rows[:900] == list(_agrawal(0, 1).take(900))
    after = {repr(row) for row in _agrawal(2, 2).take(1200)}
    assert all(repr(row) in after for row in rows[1100:])


def test_chain_concepts_guards_the_sigmoid_and_the_points() -> None:
    # width 1 at event 20,000: exp(4 * 20,000) would overflow without the guard
    stream = chain_concepts([_agrawal(0, 1), _agrawal(2, 2)], [20_000], 1, seed=0)
    assert len(list(stream.take(100))) == 100
    one = _agrawal(0, 1)
    assert chain_concepts([one], [], 1, seed=0) is one
    with pytest.raises(ValueError, match="need 1 points"):
        chain_concepts([_agrawal(0, 1), _agrawal(2, 2)], [], 1, seed=0)
