import random

from driftline.flows.config import DriftConfig
from driftline.flows.drift import ConceptDriftMonitor, DataDriftMonitor


def errors(rate: float, n: int, rng: random.Random) -> list[float]:
    return [1.0 if rng.random() < rate else 0.0 for _ in range(n)]


def feed(monitor: ConceptDriftMonitor, stream: list[float]) -> list[int]:
    return [i for i, e in enumerate(stream) if monitor.update(e) is not None]


def test_concept_drift_fires_soon_after_error_rises() -> None:
    rng = random.Random(0)
    fired = feed(
        ConceptDriftMonitor(DriftConfig()), errors(0.05, 10_000, rng) + errors(0.3, 3000, rng)
    )
    assert fired, "no alert"
    assert 10_000 <= fired[0] <= 10_300
    assert len(fired) == 1


def test_no_alert_on_a_stable_stream_or_when_the_model_improves() -> None:
    rng = random.Random(1)
    stable = errors(0.1, 20_000, rng)
    assert feed(ConceptDriftMonitor(DriftConfig()), stable) == []
    improving = errors(0.4, 5000, rng) + errors(0.05, 10_000, rng)
    assert feed(ConceptDriftMonitor(DriftConfig()), improving) == []


def test_warmup_and_cooldown_hold_alerts_back() -> None:
    rng = random.Random(2)
    early = errors(0.05, 2000, rng) + errors(0.5, 1000, rng)
    assert feed(ConceptDriftMonitor(DriftConfig(warmup=1000)), early)  # the rise is seen
    assert feed(ConceptDriftMonitor(DriftConfig(warmup=3000)), early) == []
    # two rises 1,500 events apart: the second alerts only once the cooldown is over
    rng = random.Random(4)
    twice = errors(0.05, 3000, rng) + errors(0.3, 1500, rng) + errors(0.7, 3000, rng)
    first, second = feed(ConceptDriftMonitor(DriftConfig(cooldown=1000)), twice)
    assert 3000 <= first < 3300 and 4500 <= second < 4800
    assert feed(ConceptDriftMonitor(DriftConfig(cooldown=5000)), twice) == [first]


def test_data_drift_fires_on_a_shift_and_not_on_noise() -> None:
    rng = random.Random(3)
    monitor = DataDriftMonitor(DriftConfig(data_window=1000))
    signals = []
    for i in range(10_000):
        shift = 1.5 if i >= 6000 else 0.0
        signals += [(i, s) for s in monitor.update({"a": rng.gauss(shift, 1.0), "b": rng.random()})]
    assert [s.feature for _, s in signals] == ["a"]
    i, s = signals[0]
    assert 6000 <= i < 7000 and s.current_mean > s.reference_mean + 1.0
