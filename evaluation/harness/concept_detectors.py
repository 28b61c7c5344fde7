"""The concept-drift settings under test and the alarms each raises on an error stream.

An online catalog model (predict, then learn) runs once over each stream; its
error stream (0/1, or absolute error for regression) is replayed through
:class:`driftline.flows.drift.ConceptDriftMonitor` for every detector setting, so
all settings see exactly the same errors. The model is *not* replaced on an
alert here (the product's ``on_concept_drift = "reset"`` would change the error
stream per setting); the monitor's own gates (warm-up, cooldown, reference
reset) behave as in the product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from driftline.evaluation.harness.baselines import random_alarms
from driftline.flows.config import DriftConfig
from driftline.flows.drift import ConceptDriftMonitor


@dataclass(frozen=True)
class ConceptSetting:
    """A named detector setting: a DriftConfig for the product monitor, or a baseline."""

    name: str
    config: DriftConfig | None  # None = baseline (never / random)


def _cfg(**kw: Any) -> DriftConfig:
    return DriftConfig(**kw)


#: The concept gate the "(default)" row, the targets and driftline's policy in the
#: adaptation table run: the product's defaults (DriftConfig()), ADWIN delta 0.02
#: and concept_alpha 1e-4. On seeds 1-3, 1e-4 caught all 33 abrupt drifts (median
#: delay 95, max 584) with no false alarm in 1.2M stable events at 0.5-30 % error
#: and 2 on 150k regression events, where 1e-3 had 1 and 4; 1e-5 missed an abrupt
#: drift. concept_min_effect 0.01 and 0.02 changed no alarm: a rise significant at
#: 1e-4 over 200 errors is larger than that already.
DEFAULT = _cfg()
UNGATED_ALPHA = 0.999  # "ungated": any rise passes the test (alpha must stay below 1)


def concept_settings(quick: bool = False) -> list[ConceptSetting]:
    """The settings compared; the first real one is the default (:data:`DEFAULT`)."""
    base = [
        ConceptSetting("never", None),
        ConceptSetting("random", None),
        ConceptSetting("adwin (default)", DEFAULT),
    ]
    if quick:
        return [*base, ConceptSetting("ddm", _cfg(concept_detector="ddm"))]
    gate = [
        ConceptSetting(f"adwin delta={d:g} alpha={a:g}" + (f" eff={e:g}" if e else ""),
                       _cfg(adwin_delta=d, concept_alpha=a, concept_min_effect=e))
        for d, a, e in (
            (0.02, 1e-2, 0.0), (0.02, 1e-3, 0.0), (0.02, 1e-4, 0.0), (0.02, 1e-5, 0.0),
            (0.02, 1e-3, 0.01), (0.02, 1e-3, 0.02), (0.02, 1e-4, 0.01),
            (0.002, 1e-2, 0.0), (0.002, 1e-3, 0.0), (0.002, 1e-4, 0.0), (0.002, 1e-3, 0.01),
        )
    ]  # fmt: skip
    return [
        *base,
        *gate,
        ConceptSetting("adwin warmup=0", _cfg(warmup=0)),
        ConceptSetting(
            "adwin ungated",
            _cfg(warmup=0, cooldown=0, min_reference=1, concept_alpha=UNGATED_ALPHA),
        ),
        ConceptSetting("page_hinkley", _cfg(concept_detector="page_hinkley")),
        ConceptSetting("kswin", _cfg(concept_detector="kswin")),
        ConceptSetting("ddm", _cfg(concept_detector="ddm")),
        ConceptSetting("eddm", _cfg(concept_detector="eddm")),
    ]


def binary_only(setting: ConceptSetting) -> bool:
    """DDM and EDDM take 0/1 errors: the setting is skipped on regression streams."""
    return setting.config is not None and setting.config.concept_detector in ("ddm", "eddm")


def concept_alarms(setting: ConceptSetting, errors: Sequence[float], seed: int) -> list[int]:
    """Event indexes at which the setting alerts on this error stream."""
    if setting.config is None:
        if setting.name == "never":
            return []
        return random_alarms(len(errors), seed)
    monitor = ConceptDriftMonitor(setting.config)
    update = monitor.update
    return [i for i, e in enumerate(errors) if update(e) is not None]
