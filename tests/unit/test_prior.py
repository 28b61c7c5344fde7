"""CountingPrior predicts what River's PriorClassifier predicts, and passes River's checks."""

from __future__ import annotations

import pickle
import random

import pytest
from river import dummy

from driftline.flows.scoring.catalog import build_baseline
from driftline.flows.scoring.prior import CountingPrior


@pytest.mark.parametrize("classes", [[False, True], ["a", "b", "c"], [0, 1, 2, 3]])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_predictions_and_probabilities_are_rivers(classes: list[object], seed: int) -> None:
    """Close class counts, so the lead changes hands and ties are frequent."""
    rng = random.Random(seed)
    ours, river = CountingPrior(), dummy.PriorClassifier()
    assert ours.predict_one({}) is river.predict_one({}) is None
    for i in range(3000):
        y = rng.choice(classes)
        ours.learn_one({}, y)
        river.learn_one({}, y)
        assert ours.predict_one({}) == river.predict_one({}), i
        if i % 101 == 0:
            assert ours.predict_proba_one({}) == river.predict_proba_one({})
    resumed = pickle.loads(pickle.dumps(ours))
    y = classes[-1]
    resumed.learn_one({}, y)
    river.learn_one({}, y)
    assert resumed.predict_one({}) == river.predict_one({})


def test_a_tie_goes_to_the_class_seen_first() -> None:
    prior, river = CountingPrior(), dummy.PriorClassifier()
    for y in ["b", "a", "a", "b"]:  # b leads, a overtakes, b ties: b was seen first
        prior.learn_one({}, y)
        river.learn_one({}, y)
    assert prior.predict_one({}) == river.predict_one({}) == "b"


def test_clones_start_empty_and_learning_leaves_inputs_alone() -> None:
    """What River's estimator checks ask of an estimator (they need scikit-learn)."""
    prior = CountingPrior()
    x = {"a": 1.0}
    prior.learn_one(x, True)
    assert x == {"a": 1.0}
    clone = prior.clone()
    assert isinstance(clone, CountingPrior) and clone.predict_one(x) is None and clone.n == 0


def test_the_prior_baseline_is_a_counting_prior_and_still_rivers_kind() -> None:
    baseline = build_baseline("classification", "prior")
    assert isinstance(baseline, CountingPrior)
    assert isinstance(baseline, dummy.PriorClassifier)
