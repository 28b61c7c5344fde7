"""The significance test behind the concept gate, against scipy and hand figures."""

from __future__ import annotations

import random

import pytest
from scipy.stats import fisher_exact, ttest_ind

from driftline.flows.config import DriftConfig
from driftline.flows.drift.concept import ConceptDriftMonitor, ErrorSample, rise_p_value


def sample(errors: list[float]) -> ErrorSample:
    s = ErrorSample()
    for e in errors:
        s.add(e)
    return s


def test_the_issue_case_is_not_significant() -> None:
    # reference 0.51 % (46 errors in 9,000), recent 2 errors in the last 200
    reference = sample([1.0] * 46 + [0.0] * (9_000 - 46))
    recent = sample([1.0] * 2 + [0.0] * 198)
    p = rise_p_value(recent, reference, binary=True)
    assert p == pytest.approx(0.28, abs=0.01)
    # and it is Fisher's one-sided exact test on the 2x2 table
    _, fisher = fisher_exact([[2, 198], [46, 9_000 - 46]], alternative="greater")
    assert p == pytest.approx(fisher, rel=1e-9)


def test_a_real_rise_at_a_low_rate_is_significant() -> None:
    reference = sample([1.0] * 45 + [0.0] * 8_955)
    recent = sample([1.0] * 16 + [0.0] * 184)  # 0.5 % -> 8 %
    assert rise_p_value(recent, reference, binary=True) < 1e-9


def test_absolute_errors_use_welch() -> None:
    rng = random.Random(3)
    reference = [abs(rng.gauss(0, 1)) for _ in range(3_000)]
    recent = [abs(rng.gauss(0.6, 1)) for _ in range(200)]
    p = rise_p_value(sample(recent), sample(reference), binary=False)
    _, t_p = ttest_ind(recent, reference, equal_var=False, alternative="greater")
    assert p == pytest.approx(t_p, rel=0.05)  # z vs t with 200+ degrees of freedom
    assert rise_p_value(sample(reference[:200]), sample(recent), binary=False) > 0.5


def test_removing_an_error_undoes_adding_it() -> None:
    s = sample([0.5, 2.0, 3.5])
    s.add(10.0)
    s.remove(10.0)
    assert (s.n, s.mean(), s.variance()) == (3, 2.0, pytest.approx(2.25))


def test_recent_and_reference_never_share_an_error() -> None:
    cfg = DriftConfig(warmup=100, min_reference=50)
    monitor = ConceptDriftMonitor(cfg, recent_window=200)
    for i in range(1_000):
        monitor.update(float(i % 7 == 0))
    assert monitor.recent.n == 200
    # errors 1..300 are the warm-up and its window; 301..800 left the window since
    assert monitor.reference.n == 1_000 - 200 - 100
    assert monitor.recent.n + monitor.reference.n + cfg.warmup == monitor.observed


def test_min_effect_holds_back_a_significant_but_small_rise() -> None:
    def alerts(min_effect: float) -> int:
        cfg = DriftConfig(warmup=0, min_reference=100, cooldown=500, concept_min_effect=min_effect)
        monitor = ConceptDriftMonitor(cfg)
        rng = random.Random(5)
        fired = 0
        for i in range(20_000):
            rate = 0.05 if i < 10_000 else 0.09
            fired += monitor.update(float(rng.random() < rate)) is not None
        return fired

    assert alerts(0.0) >= 1
    assert alerts(0.1) == 0
