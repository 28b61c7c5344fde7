"""The example team's own code: a model factory, a feature function and a rule.

driftline finds this module through ``--plugins examples/phishing`` (or
``run.plugins``) and calls what ``phishing.toml`` names. Everything here is
plain Python and River; nothing imports driftline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from river import compose, linear_model, optim, preprocessing

#: Signals whose clean value is 1 (the Phishing data codes clean as 1, unknown as
#: 0.5): a page raises a red flag for each one below 1, by the security team's
#: experience: no HTTPS, an empty or foreign form handler, pop-up windows.
RED_FLAGS = ("signals.https", "signals.empty_server_form_handler", "signals.popup_window")


def build() -> Any:
    """The model: scaled inputs into a logistic regression with a faster learning rate.

    A factory, not a catalog name, because the team tunes the optimizer: its
    version (`model.version` in phishing.toml) changes when this code does.
    """
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        linear_model.LogisticRegression(optimizer=optim.SGD(0.1)),
    )


def derive(event: Any, windows: Mapping[str, float]) -> dict[str, float]:
    """Features computed once per event, served and later learned from as they were.

    `red_flags`: how many of the red-flag signals are below their clean value.
    `host_long_url_excess`: how much more this page's URL length signal is than
    its host's recent pages' (the window mean, from the host's earlier pages).
    """
    signals = event.features
    red_flags = sum(1.0 for name in RED_FLAGS if signals.get(name, 1.0) < 1.0)
    recent = windows.get("signals.long_url_mean_1h", 0.0)
    return {
        "red_flags": red_flags,
        "host_long_url_excess": float(signals.get("signals.long_url", 0.0)) - recent,
    }


def looks_phishy(x: Mapping[str, float]) -> bool:
    """The rule the team had before any model: a page raising two red flags is phishing."""
    return x["red_flags"] >= 2
