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

import orjson

from driftline.flows.config import Settings, StartupError
from driftline.flows.parse.mapping import field_names, has_field

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

    A field of the other kind than its window's stats is an error: a number
    window (count, mean, std, sum, min, max) over a text field, or a text window
    (distinct, same, top) over a number field, would read zeros forever. A field
    absent from the sample only warns (fields can be sparse); the feature step
    keeps watching and counts it if it never comes.
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
            continue
        text = window.is_text
        if any((v.__class__ is str) if text else _is_number(v) for v in values):
            continue
        kinds = "/".join(sorted({type(v).__name__ for v in values}))
        wants = (
            "text (distinct, same, top count its categories)"
            if text
            else "numbers (count, mean, std, sum, min, max); for text use count, distinct, "
            "same, top"
        )
        raise StartupError(
            f"features.windows[{i}].stats {window.stats} read {wants}, but {setting} "
            f"{field!r} holds {kinds} values in the first {len(rows)} events: "
            "change the stats, choose another field or drop the window"
        )


def check_model_fields(settings: Settings, samples: Iterable[dict[str, object]] | None) -> None:
    """Warn when a model's `segment_by` or `slices` field is in none of the first events.

    Not an error: a field may come later; until it does every event is in the
    segment or slice value ``(none)``, which is what the warning says.
    """
    rows = list(samples or [])
    if not rows:
        return
    for i, cfg in enumerate(settings.model_configs()):
        where = f"models[{i}]" if settings.models else "model"
        named = [("segment_by", cfg.segment_by)] if cfg.segment_by else []
        named += [(f"slices[{n}]", name) for n, name in enumerate(cfg.slices)]
        for setting, name in named:
            if not any(name in row for row in rows):
                log.warning(
                    f"{where}.{setting} field is in none of the first events: they all go to "
                    "the value '(none)' until it comes",
                    extra={"setting": f"{where}.{setting}", "field": name, "events": len(rows)},
                )


def check_mapped_fields(
    settings: Settings, events: list[bytes] | None, labels: list[bytes] | None
) -> None:
    """The fields a mapping reads against the first messages, when a source can show them.

    A field the mapping needs (id, key, time; for labels id, label, time) that
    none of the sampled messages has is a misspelt name or another shape: every
    message would be a dead letter, so it is refused (exit 2, naming
    `mapping.events.key`...). An optional one (the inline label, a label's key,
    a listed feature) absent from all of them only warns. Costs a JSON decode of
    the sample, once.
    """
    mapping = settings.mapping
    if mapping.events is not None and events:
        roles = mapping.events.roles()
        label = roles.pop("label", None)
        optional = {} if label is None else {"label": label}
        for i, name in enumerate(mapping.events.features or []):
            optional[f"features[{i}]"] = name
        for target, name in mapping.events.labels.items():
            optional[f"labels.{target}"] = name
        _check_fields("mapping.events", "events", roles, optional, events)
    if mapping.labels is not None and labels:
        roles = mapping.labels.roles()
        key = roles.pop("key", None)
        optional = {} if key is None else {"key": key}
        if mapping.labels.target is not None:
            optional["target"] = mapping.labels.target
        _check_fields("mapping.labels", "labels", roles, optional, labels)


def _check_fields(
    section: str,
    kind: str,
    required: dict[str, str],
    optional: dict[str, str],
    messages: list[bytes],
) -> None:
    rows = []
    for message in messages:
        try:
            row = orjson.loads(message)
        except orjson.JSONDecodeError:
            continue  # a dead letter when it comes; not the mapping's business
        if isinstance(row, dict):
            rows.append(row)
    if not rows:
        return
    for setting, path in required.items():
        if not any(has_field(row, path) for row in rows):
            names = field_names(rows[0])
            shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
            raise StartupError(
                f"{section}.{setting} {path!r} is in none of the first {len(rows)} {kind}, "
                f"so every one would be a dead letter; the first has the fields {shown}"
            )
    for setting, path in optional.items():
        if not any(has_field(row, path) for row in rows):
            log.warning(
                f"{section}.{setting} field not in the first {kind}",
                extra={"setting": f"{section}.{setting}", "field": path, kind: len(rows)},
            )
