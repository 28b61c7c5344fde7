"""Start-up checks of what the settings point at: problems found before the first event.

Settings validation (:mod:`driftline.flows.config`) checks values; this checks the world
they name: an output directory that can be written, window fields that exist
in the events and hold numbers. Each failure is a :class:`StartupError` that
names the setting (and flag), which the command line turns into exit code 2,
instead of a traceback after "starting".
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from driftline.flows.config import Settings, StartupError

log = logging.getLogger("driftline")

SAMPLE_EVENTS = 200  # events read ahead from a file or the built-in stream to check fields


def check_output_directory(settings: Settings) -> None:
    """The JSONL sink's directory exists (created now) and can be written."""
    if settings.run.sink != "file":
        return
    directory = settings.sinks.directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(
            f"sinks.directory (--out) {directory} cannot be created: {exc.strerror}"
        ) from exc
    if not directory.is_dir():
        raise StartupError(f"sinks.directory (--out) {directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StartupError(f"sinks.directory (--out) {directory} is not writable")


def _is_number(value: object) -> bool:
    return value.__class__ is float or value.__class__ is int


def check_window_fields(settings: Settings, samples: Iterable[dict[str, object]] | None) -> None:
    """Window fields against the first events' features, when a source can show them.

    A field that holds text is an error: a window aggregates numbers and would
    read zeros forever. A field absent from the sample only warns (fields can be
    sparse); the feature step keeps watching and counts it if it never comes.
    """
    if samples is None:
        return
    rows = list(samples)
    if not rows:
        return
    for i, window in enumerate(settings.features.windows):
        field = window.field
        if field is None:
            continue
        values = [row[field] for row in rows if field in row]
        setting = f"features.windows[{i}].field"
        if not values:
            log.warning(
                "window field not in the first events",
                extra={"setting": setting, "field": field, "events": len(rows)},
            )
        elif not any(_is_number(v) for v in values):
            kinds = sorted({type(v).__name__ for v in values})
            raise StartupError(
                f"{setting} {field!r} holds {'/'.join(kinds)} values in the first {len(rows)} "
                "events, not numbers: a window aggregates numbers (count, mean, std, sum); "
                "choose a numeric field or drop the window"
            )
