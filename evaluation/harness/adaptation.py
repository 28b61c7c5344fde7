"""How well each retraining policy recovers after a drift: prequential accuracy after it.

Every policy learns the same drifting classification stream online (predict, then
learn) from its own model, and is scored on the events ``[drift, drift + window)``
of each drift:

- ``driftline``: the product's policy on a concept alert, driven by the product's
  own classes as :mod:`driftline.flows.scoring.policy` drives them: a
  :class:`~driftline.flows.drift.ConceptDriftMonitor` on the champion's errors; on
  an alert a :class:`~driftline.flows.scoring.challenger.Challenge` (a fresh model
  of the catalog's kind) learns beside the champion, the two are compared over
  ``drift.challenge_window`` labels, the challenger is promoted when better and the
  monitor starts over on a promotion.
- ``reset``: the same monitor; on an alert a fresh model replaces the champion.
- ``never``: the same model, never replaced (it still learns online).
- ``hat`` / ``arf``: River's HoeffdingAdaptiveTreeClassifier and ARFClassifier as
  River gives them (seeded), which adapt by themselves and have no monitor.

The first three use the stream's catalog model (``logreg``), so they differ only
in the policy. The streams are the detection suite's drifting classification
streams, :data:`ADAPT_EVENTS` long.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from river import forest, tree

from driftline.evaluation.harness.streams import MODELS, ConceptStream, build_model
from driftline.flows.config import DriftConfig
from driftline.flows.drift import ConceptDriftMonitor
from driftline.flows.scoring.challenger import NOT_PREDICTED, Challenge, error_of, prediction_of

POLICIES = ("driftline", "reset", "never", "hat", "arf")
MONITORED = ("driftline", "reset")  # the policies a concept alert acts on
ADAPT_WINDOW = 5_000  # events after each drift the accuracy is taken over
#: The adaptation streams' length: drifts at 5,000 and 10,000, so each window is a
#: whole concept. 15k, not the detection streams' 24k: River's ARF costs 1.3-2.5 ms
#: an event here, and its runs on 21k events took 45 s each unloaded (of a 12-minute
#: budget), 170 s while other jobs shared the two cores.
ADAPT_EVENTS = 15_000


@dataclass(frozen=True)
class Adaptation:
    """One policy on one (stream, seed): its accuracy after each drift, what it did."""

    stream: str
    seed: int
    policy: str
    accuracy: tuple[float, ...]  # per drift: prequential accuracy on [drift, drift + window)
    alerts: int  # concept alerts (driftline, reset)
    replaced: int  # champions replaced: promotions (driftline) or resets
    seconds: float


def _adaptive(policy: str, seed: int) -> Any:  # a River classifier
    if policy == "hat":
        return tree.HoeffdingAdaptiveTreeClassifier(seed=seed)
    return forest.ARFClassifier(seed=seed)


def adapt(
    stream: ConceptStream, seed: int, policy: str, config: DriftConfig, window: int
) -> Adaptation:
    """Run `policy` on the stream up to the end of the last drift's window."""
    t0 = time.perf_counter()
    task = MODELS[stream.model].task
    n = min(stream.events, max(stream.drifts) + window)
    fresh = 1  # models built so far: a new one gets seed + fresh, as the product's versions
    model = _adaptive(policy, seed) if policy in ("hat", "arf") else build_model(stream.model, seed)
    monitor = ConceptDriftMonitor(config) if policy in MONITORED else None
    challenge: Challenge | None = None
    correct: list[bool] = []
    alerts = replaced = 0
    for x, y in stream.make(seed, n):
        y_pred = prediction_of(model, task, x)
        c_pred = challenge.predict(x) if challenge is not None else NOT_PREDICTED
        correct.append(y_pred == y)
        model.learn_one(x, y)
        if monitor is None:
            continue
        if challenge is not None:  # RetrainingPolicy.on_labelled
            verdict = challenge.learn(x, y, y_pred, c_pred)
            if verdict is not None:
                if verdict.outcome == "promoted":
                    model, replaced = challenge.model, replaced + 1
                    monitor.reset()
                challenge = None
        if monitor.update(error_of(task, y, y_pred)) is None:  # ModelInstance.learn
            continue
        alerts += 1
        if policy == "reset":  # RetrainingPolicy._reset
            fresh += 1
            model, replaced = build_model(stream.model, seed + fresh), replaced + 1
            monitor.reset()
        elif challenge is None:  # RetrainingPolicy._start_challenge
            fresh += 1
            challenge = Challenge(build_model(stream.model, seed + fresh), task,
                                  config.challenge_window)  # fmt: skip
    accuracy = tuple(sum(correct[d : d + window]) / window for d in stream.drifts)
    secs = time.perf_counter() - t0
    return Adaptation(stream.name, seed, policy, accuracy, alerts, replaced, secs)
