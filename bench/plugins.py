"""A feature function and a rule for the bench row that has a team's own code on.

Typical of what a team writes: a few arithmetic features from the event and
its windows, and a threshold rule on the served features. Both are plain
Python, as a user's would be; the row measures what driftline adds around them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def derive(event: Any, windows: Mapping[str, float]) -> dict[str, float]:
    """Income, loan-to-income ratio, and this loan against the entity's recent mean."""
    f = event.features
    income = f["salary"] + f["commission"]
    return {
        "income": income,
        "loan_to_income": f["loan"] / income if income else 0.0,
        "loan_vs_recent": f["loan"] - windows.get("loan_mean_5m", 0.0),
    }


def rule(x: Mapping[str, float]) -> bool:
    """The credit team's rule: a salary low for the education level is a risky loan."""
    return x["salary"] < 50_000 + 5_000 * x["elevel"]
