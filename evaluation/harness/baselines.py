"""The baselines every detector is compared against: never, and random alarms.

"never" raises nothing (its detections and false alarms are the floor); "random"
fires on each event with probability :data:`RANDOM_RATE`, the same for concept
and data drift, so a detector has skill only where it beats both.
"""

from __future__ import annotations

import random

RANDOM_RATE = 1 / 5_000  # the random baseline fires on average once per 5,000 events


def random_alarms(n: int, seed: int) -> list[int]:
    """Event indexes (of `n` events) at which the random baseline fires."""
    rng = random.Random(seed)
    return [i for i in range(n) if rng.random() < RANDOM_RATE]


class RandomMonitor:
    """Fires on the whole event (feature '*') with probability RANDOM_RATE."""

    def __init__(self, seed: int, rate: float = RANDOM_RATE) -> None:
        self.rng, self.rate = random.Random(seed), rate

    def update(self, features: dict[str, float]) -> list[str]:
        return ["*"] if self.rng.random() < self.rate else []
