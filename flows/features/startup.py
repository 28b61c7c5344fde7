"""Start-up check of the feature function: it resolves, and it works on the first events.

Run before the flow starts (``flows/app/runner.py: preflight``). A path that
names no callable exits 2 naming ``features.derive``. When the source can show
its first events (a file, the built-in stream), the function is called on them,
through a feature set of their own (real events, real windows): failing on
every one of them is a bug, not bad data (a name that clashes with a window
feature, a misspelt field, a result that is not a mapping), so it exits 2 with
the first error; failing on some only warns, as those events will become dead
letters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from driftline.flows.config import FeaturesConfig, StartupError
from driftline.flows.features.derive import SETTING, DeriveError, FeatureFunction
from driftline.flows.features.feature_set import EntityWindows, FeatureSet
from driftline.flows.parse.events import Event
from driftline.flows.plugins import PluginError

log = logging.getLogger("driftline")


def check_feature_function(
    config: FeaturesConfig, samples: Callable[[], Sequence[Event] | None]
) -> None:
    """Raise :class:`StartupError` when ``features.derive`` cannot serve (see the module).

    `samples` gives the source's first events, or None when it cannot be read
    ahead; it is called only when there is a function to check.
    """
    try:
        derive = FeatureFunction.from_config(config)
    except PluginError as exc:
        raise StartupError(str(exc)) from exc
    if derive is None:
        return
    events = samples()
    if not events:
        return
    fs = FeatureSet(config, derive)
    states: dict[str, EntityWindows] = {}
    errors: list[str] = []
    for event in events:
        state = states.get(event.key)
        if state is None:
            state = states[event.key] = fs.new_state()
        try:
            fs.featurize(state, event, 0.0)
        except DeriveError as exc:
            errors.append(str(exc))
    if not errors:
        return
    if len(errors) == len(events):
        raise StartupError(
            f"{SETTING} failed on every one of the first {len(events)} events, "
            f"so every event would be a dead letter; the first: {errors[0]}"
        )
    log.warning(
        "feature function failed on some of the first events: they will be dead letters",
        extra={
            "setting": SETTING,
            "failed": len(errors),
            "events": len(events),
            "first_error": errors[0],
        },
    )
