"""A team's own JSON shape mapped onto the envelope, before validation.

A mapper takes the decoded JSON object of one message and returns the envelope
dict (``id``, ``key``, ``ts``, ``features``, ``label``, ``labels`` for events;
``id``, ``label``, ``ts``, ``key``, ``target`` for labels) that the parser then
validates with the very :class:`~driftline.flows.parse.events.Event`/``Label``
schemas and limits the envelope goes through: one code path for every rule and
dead-letter reason.
What cannot be mapped (a list among the features, a time not in the declared
format) raises :class:`MappingError` naming the team's field; the parser makes
it a dead letter. A field the mapping needs but the message lacks is left out,
so the schema reports it as required, under the team's name (:meth:`field_of`).

Decisions, written down in the README too:

- An id or key given as an integer is read as its decimal text (teams use
  numeric ids; ``123`` and ``"123"`` are the same event). Other non-text ids
  (floats, booleans, objects) are refused by the schema.
- A feature that is null or absent is left out (River models take sparse
  inputs); an event left with no feature is a dead letter, as in the envelope.
- Nested objects are flattened to dotted names (``{"geo": {"lat": 1}}`` gives
  ``geo.lat``); a dotted path in the mapping reaches into nested objects.
- Another target's inline label (``mapping.events.labels``) that is null or
  absent is left out: that event has no label for that target yet. A label
  message's target that is null or absent is the default target; one that is
  not text is a dead letter (a number is not read as a name, unlike ids: a
  target names a model's config, which is text).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from driftline.flows.config.mapping import TIME_FORMAT_NAMES, EventMapping, LabelMapping

_MISSING: Final = object()


class MappingError(ValueError):
    """A message that does not fit the mapping; the message names the team's field."""


def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _lookup(data: dict[str, Any], parts: tuple[str, ...]) -> Any:
    """The value at a (nested) path, or :data:`_MISSING` when any step is absent."""
    value: Any = data
    for part in parts:
        if value.__class__ is not dict:
            return _MISSING
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def has_field(data: dict[str, Any], path: str) -> bool:
    """Whether `data` has a (non-null) value at the dotted `path`."""
    value = _lookup(data, _parts(path))
    return value is not _MISSING and value is not None


def field_names(data: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted names of every field of `data` that is not an object, in order."""
    names: list[str] = []
    for name, value in data.items():
        if value.__class__ is dict:
            names.extend(field_names(value, f"{prefix}{name}."))
        else:
            names.append(prefix + name)
    return names


def _text_id(value: Any) -> Any:
    """An integer id as its decimal text; anything else as it is (the schema judges it)."""
    return str(value) if value.__class__ is int else value


def _describe_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_is(value: Any) -> Any:
    return value


def time_reader(time_format: str, path: str) -> Callable[[Any], Any]:
    """A function reading the event time at `path` in `time_format` as a UTC datetime.

    "auto" hands the value on untouched: the schema's own timestamp rules
    (ISO-8601 with a zone, or epoch seconds/milliseconds told apart by size)
    apply, exactly as for the envelope's `ts`. Chosen once per mapper, so an
    event pays for its own format's checks only.
    """
    if time_format == "auto":
        return _as_is
    expected = TIME_FORMAT_NAMES[time_format]

    def unexpected(value: Any) -> MappingError:
        return MappingError(f"field {path!r}: expected {expected}, got {_describe_value(value)}")

    if time_format == "iso":

        def read_iso(value: Any) -> datetime:
            if value.__class__ is not str:
                raise unexpected(value)
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise unexpected(value) from None
            if parsed.tzinfo is None:
                raise MappingError(f"field {path!r}: {_describe_value(value)} has no time zone")
            try:
                return parsed.astimezone(UTC)
            except OverflowError:
                raise MappingError(
                    f"field {path!r}: {_describe_value(value)} is out of range in UTC"
                ) from None

        return read_iso
    scale = 1000.0 if time_format == "epoch_ms" else 1.0

    def read_epoch(value: Any) -> datetime:
        cls = value.__class__
        if cls is not int and cls is not float:  # not bool: a boolean is no time
            raise unexpected(value)
        try:  # JSON has no NaN or infinity: every number orjson gives is finite
            return datetime.fromtimestamp(value / scale, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise MappingError(f"field {path!r}: {value!r} {expected} is out of range") from None

    return read_epoch


class _Mapper:
    """What both mappers share: the team's names for the envelope's fields."""

    def __init__(self, roles: dict[str, str], time_path: str, time_format: str) -> None:
        # envelope field -> the team's path, to name the team's field in errors
        self.names = roles
        self.time_path = time_path
        self.time_format = time_format
        self.read_time = time_reader(time_format, time_path)

    def field_of(self, loc: tuple[str | int, ...]) -> str:
        """An error location of the envelope schema, in the team's names."""
        if not loc:
            return "<root>"
        head = loc[0]
        if head == "features" and len(loc) > 1:
            return f"field {loc[1]!r}"  # a feature's name is its path in the team's JSON
        if head == "labels" and len(loc) > 1:  # a target's inline label: its field
            path = self.names.get(f"labels.{loc[1]}")
            if path is not None:
                return f"field {path!r}"
        path = self.names.get(str(head))
        if path is not None:
            return f"field {path!r}"
        return ".".join(str(p) for p in loc)

    def label_name(self) -> str:
        """How errors name the label field."""
        return f"field {self.names.get('label', 'label')!r}"

    def time_note(self) -> str:
        """Said after a time-limit error: which field was read, and how."""
        return f"field {self.time_path!r} read as {self.time_format}"


class EventMapper(_Mapper):
    """A team's event as the envelope dict (id, key, ts, features and maybe label)."""

    def __init__(self, cfg: EventMapping) -> None:
        super().__init__(
            {"id": cfg.id, "key": cfg.key, "ts": cfg.time}
            | ({"label": cfg.label} if cfg.label is not None else {})
            | {f"labels.{target}": path for target, path in cfg.labels.items()},
            cfg.time,
            cfg.time_format,
        )
        self._id = _parts(cfg.id)
        self._key = _parts(cfg.key)
        self._time = _parts(cfg.time)
        self._label = _parts(cfg.label) if cfg.label is not None else None
        self._labels = [(target, _parts(path)) for target, path in cfg.labels.items()]
        # paths never taken as features: the roles' fields (inline labels too) and the
        # exclusions
        self._skip = frozenset(cfg.all_roles().values()) | frozenset(cfg.exclude)
        self._features = (
            None if cfg.features is None else [(name, _parts(name)) for name in cfg.features]
        )

    def envelope(self, data: dict[str, Any]) -> dict[str, Any]:
        """The envelope for `data`; raises :class:`MappingError` naming the team's field."""
        out: dict[str, Any] = {}
        value = _lookup(data, self._id)
        if value is not _MISSING:
            out["id"] = _text_id(value)
        value = _lookup(data, self._key)
        if value is not _MISSING:
            out["key"] = _text_id(value)
        value = _lookup(data, self._time)
        if value is not _MISSING:
            out["ts"] = self.read_time(value)
        if self._label is not None:
            value = _lookup(data, self._label)
            if value is not _MISSING:
                out["label"] = value
        if self._labels:
            labels = self.labels(data)
            if labels:
                out["labels"] = labels
        out["features"] = self.features(data)
        return out

    def labels(self, data: dict[str, Any]) -> dict[str, Any]:
        """The other targets' inline labels in `data`, by target; null or absent: left out."""
        labels: dict[str, Any] = {}
        for target, parts in self._labels:
            value = _lookup(data, parts)
            if value is not _MISSING and value is not None:
                labels[target] = value
        return labels

    def features(self, data: dict[str, Any]) -> dict[str, Any]:
        """The feature fields of `data`, flattened to dotted names."""
        features: dict[str, Any] = {}
        skip = self._skip
        if self._features is None:
            _flatten(data, "", skip, features)
            return features
        for name, parts in self._features:
            value = _lookup(data, parts)
            if value.__class__ is dict:
                _flatten(value, name + ".", skip, features)
            elif value is not _MISSING:
                _add_feature(features, name, value)
        return features


def _add_feature(features: dict[str, Any], name: str, value: Any) -> None:
    if value is None:
        return  # a null feature is an absent one
    if value.__class__ is list:
        raise MappingError(f"features: field {name!r} is a list; map scalars only")
    if name in features:  # a literal dotted key beside the nested object it spells
        raise MappingError(f"features: field {name!r} appears twice (nested and dotted)")
    features[name] = value


def _flatten(obj: dict[str, Any], prefix: str, skip: frozenset[str], out: dict[str, Any]) -> None:
    """Scalar leaves of `obj` into `out` under dotted names, leaving out `skip` paths.

    A decoded JSON object holds only dicts, lists, text, numbers, booleans and
    null: dicts are walked, lists refused, null left out.
    """
    for name, value in obj.items():
        path = prefix + name
        if path in skip:
            continue
        if value.__class__ is dict:
            _flatten(value, path + ".", skip, out)
        else:
            _add_feature(out, path, value)


class LabelMapper(_Mapper):
    """A team's label message as the label envelope dict (id, label, ts and maybe key).

    Fields the mapping does not name are ignored: a label message often carries
    more (who reviewed it, why) than the job needs.
    """

    def __init__(self, cfg: LabelMapping) -> None:
        super().__init__(
            {"id": cfg.id, "label": cfg.label, "ts": cfg.time}
            | ({"key": cfg.key} if cfg.key is not None else {})
            | ({"target": cfg.target} if cfg.target is not None else {}),
            cfg.time,
            cfg.time_format,
        )
        self._id = _parts(cfg.id)
        self._label = _parts(cfg.label)
        self._time = _parts(cfg.time)
        self._key = _parts(cfg.key) if cfg.key is not None else None
        self._target = _parts(cfg.target) if cfg.target is not None else None
        self._target_path = cfg.target

    def envelope(self, data: dict[str, Any]) -> dict[str, Any]:
        """The label envelope for `data`; raises :class:`MappingError` naming the team's field."""
        out: dict[str, Any] = {}
        value = _lookup(data, self._id)
        if value is not _MISSING:
            out["id"] = _text_id(value)
        value = _lookup(data, self._label)
        if value is not _MISSING:
            out["label"] = value
        value = _lookup(data, self._time)
        if value is not _MISSING:
            out["ts"] = self.read_time(value)
        if self._key is not None:
            value = _lookup(data, self._key)
            if value is not _MISSING and value is not None:
                out["key"] = _text_id(value)
        if self._target is not None:
            value = _lookup(data, self._target)
            if value is not _MISSING and value is not None:  # none: the default target
                if value.__class__ is not str:
                    raise MappingError(
                        f"field {self._target_path!r}: the label's target must be text, "
                        f"got {_describe_value(value)}"
                    )
                out["target"] = value
        return out


Mapper = EventMapper | LabelMapper


def mapper_for(cfg: EventMapping | LabelMapping) -> Mapper:
    """The mapper of a mapping section."""
    return EventMapper(cfg) if isinstance(cfg, EventMapping) else LabelMapper(cfg)
