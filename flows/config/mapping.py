"""Settings of the event mapping: which fields of a team's own JSON are the event id,
the entity key, the event time, the label (and other targets' inline labels, or a
label's target) and the features.

Without a ``[mapping]`` section events and labels are driftline's envelope
(``id``, ``key``, ``ts``, ``features``, ``label``), parsed on the hot path as
before. With ``[mapping.events]`` (and/or ``[mapping.labels]``) each message is
mapped onto the envelope first and then validated by the same schemas and limits.
Paths may be dotted to reach into nested objects (``card.number``).

Everything here is checked when the settings load, each error naming its key
(``mapping.events.time_format``...), so a mapping that cannot work exits 2
before the first event.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from driftline.flows.config.base import _Section

#: How the event time is written: ISO-8601 text with a zone, epoch seconds or
#: milliseconds, or "auto" (any of those, told apart as the envelope's `ts` is).
TimeFormat = Literal["auto", "iso", "epoch_s", "epoch_ms"]

TIME_FORMAT_NAMES: dict[str, str] = {
    "auto": "ISO-8601 text with a zone or epoch seconds/milliseconds",
    "iso": "ISO-8601 text with a time zone",
    "epoch_s": "epoch seconds",
    "epoch_ms": "epoch milliseconds",
}


def _field_path(value: str) -> str:
    """A field of the team's JSON: a name, or names joined by dots into nested objects."""
    if not value or not value.strip():
        raise ValueError("must name a field, got an empty name")
    if any(not part for part in value.split(".")):
        raise ValueError(
            f"{value!r} has an empty part between dots; write nested fields as 'outer.inner'"
        )
    return value


FieldPath = Annotated[str, AfterValidator(_field_path)]

#: The target of a model whose config names none, and of a label that names none.
DEFAULT_TARGET = "default"
#: Most targets one event may carry inline labels for: a bound on the work and the
#: size of one event, far above the models a job runs.
MAX_LABEL_TARGETS = 64
#: Longest target name, as for the envelope's ids.
MAX_TARGET_NAME = 256


def _within(path: str, other: str) -> bool:
    """Whether `path` is `other` or inside it (`card.number` is inside `card`)."""
    return path == other or path.startswith(other + ".")


def _overlapping(roles: dict[str, str], section: str) -> None:
    """No two roles read the same field, or one inside the other (it would be an object)."""
    named = list(roles.items())
    for i, (role, path) in enumerate(named):
        for other_role, other in named[i + 1 :]:
            if _within(path, other) or _within(other, path):
                same = "the same field" if path == other else "overlapping fields"
                raise ValueError(
                    f"{section}.{role} {path!r} and {section}.{other_role} {other!r} "
                    f"name {same}; each role needs a field of its own"
                )


class EventMapping(_Section):
    """Where the envelope's fields are in a team's event."""

    SECTION: ClassVar[str] = "mapping.events"

    id: FieldPath = Field(description="The event id (labels refer to it).")
    key: FieldPath = Field(description="The entity whose windowed features the event feeds.")
    time: FieldPath = Field(description="The event time.")
    time_format: TimeFormat = "auto"
    label: FieldPath | None = Field(
        None, description="The label when it travels with the event (none = labels come apart)."
    )
    features: list[FieldPath] | None = Field(
        None,
        min_length=1,
        description="Fields that are features (an object: its fields); none = every field "
        "not used above.",
    )
    exclude: list[FieldPath] = Field(
        default_factory=list, description="Fields (or objects) that are never features."
    )
    labels: dict[str, FieldPath] = Field(
        default_factory=dict,
        description="Other targets' inline labels: target name -> the field holding its "
        'label (`labels = {chargeback = "cb_flag"}`); the default target\'s is `label`.',
    )

    def roles(self) -> dict[str, str]:
        """The fields read for a role other than feature, by setting name.

        Without the inline labels of `labels`: the start-up check takes every role
        here but `label` as required, and another target's label is often absent.
        :meth:`all_roles` has them all.
        """
        roles = {"id": self.id, "key": self.key, "time": self.time}
        if self.label is not None:
            roles["label"] = self.label
        return roles

    def all_roles(self) -> dict[str, str]:
        """Every field read for a role other than feature, the inline labels named
        `labels.<target>`: what is never a feature and must not overlap."""
        roles = self.roles()
        for target, path in self.labels.items():
            roles[f"labels.{target}"] = path
        return roles

    @model_validator(mode="after")
    def _fields_are_consistent(self) -> EventMapping:
        section = self.SECTION
        _targets_are_valid(self.labels, section)
        roles = self.all_roles()
        _overlapping(roles, section)
        for setting in ("features", "exclude"):
            names: list[str] = getattr(self, setting) or []
            for i, name in enumerate(names):
                for other in names[:i]:
                    if _within(name, other) or _within(other, name):
                        twice = "twice" if name == other else f"and {other!r}, one inside the other"
                        raise ValueError(f"{section}.{setting} names {name!r} {twice}")
        for name in self.features or []:
            for role, path in roles.items():  # an object holding a role's field is fine:
                if _within(name, path):  # that field is left out of its features
                    is_label = role == "label" or role.startswith("labels.")
                    hint = "; the label must never be a feature" if is_label else ""
                    which = "which is" if name == path else "inside"
                    raise ValueError(
                        f"{section}.features names {name!r}, {which} {section}.{role} "
                        f"({path!r}); a field has one role{hint}"
                    )
            for excluded in self.exclude:  # excluding part of a listed object is fine
                if name == excluded:
                    raise ValueError(
                        f"{section}.features and {section}.exclude both name {name!r}; keep one"
                    )
                if _within(name, excluded):
                    raise ValueError(
                        f"{section}.features names {name!r}, inside {section}.exclude "
                        f"{excluded!r}; keep one"
                    )
        return self


def _targets_are_valid(labels: dict[str, str], section: str) -> None:
    """Target names as the envelope takes them (1 to 256 characters), at most
    :data:`MAX_LABEL_TARGETS`, and no `default`: its inline label is `label`."""
    if len(labels) > MAX_LABEL_TARGETS:
        raise ValueError(
            f"{section}.labels names {len(labels)} targets, limit is {MAX_LABEL_TARGETS}"
        )
    for target in labels:
        if not target:
            raise ValueError(f"{section}.labels has a target with an empty name")
        if len(target) > MAX_TARGET_NAME:
            raise ValueError(
                f"{section}.labels.{target[:40]}...: a target name is at most "
                f"{MAX_TARGET_NAME} characters, got {len(target)}"
            )
        if target == DEFAULT_TARGET:
            raise ValueError(
                f"{section}.labels.{DEFAULT_TARGET}: the default target's inline label is "
                f"{section}.label; set that instead"
            )


class LabelMapping(_Section):
    """Where the label envelope's fields are in a team's label message."""

    SECTION: ClassVar[str] = "mapping.labels"

    id: FieldPath = Field(description="The id of the event the label is for.")
    label: FieldPath = Field(description="The label.")
    time: FieldPath = Field(description="When the label was known.")
    time_format: TimeFormat = "auto"
    key: FieldPath | None = Field(None, description="The entity, when the message carries it.")
    target: FieldPath | None = Field(
        None,
        description="The target the label is for, when the message says it (text; "
        "absent or null = the default target).",
    )

    def roles(self) -> dict[str, str]:
        """The fields read, by setting name, without `target`.

        The start-up check takes every role here but `key` as required, and a
        label for the default target may well carry no target: :meth:`all_roles`
        has it too.
        """
        roles = {"id": self.id, "label": self.label, "time": self.time}
        if self.key is not None:
            roles["key"] = self.key
        return roles

    def all_roles(self) -> dict[str, str]:
        """Every field read, by setting name: what must not overlap."""
        roles = self.roles()
        if self.target is not None:
            roles["target"] = self.target
        return roles

    @model_validator(mode="after")
    def _fields_are_distinct(self) -> LabelMapping:
        _overlapping(self.all_roles(), self.SECTION)
        return self


class MappingConfig(_Section):
    """A team's own JSON shapes; none = driftline's envelope (the fast path)."""

    events: EventMapping | None = None
    labels: LabelMapping | None = None
