"""Labels that name their target: `Label.target` on the labels stream, `Event.labels`
inline by target, both through the envelope and through a team's mapping, and what
does not fit becoming a dead letter with its reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from driftline.flows.config import EventMapping, LabelMapping, ValidationConfig, load_settings
from driftline.flows.config.mapping import MAX_LABEL_TARGETS
from driftline.flows.parse.events import DeadLetter, Event, Label, Parser, to_json

T = datetime(2026, 1, 1, tzinfo=UTC)
TS = "2026-01-01T00:00:00Z"
EVENT = {"id": "e1", "key": "u1", "ts": TS, "features": {"amount": 12.5}}


def event(raw: dict[str, Any], limits: ValidationConfig | None = None) -> Event | DeadLetter:
    result: Event | DeadLetter = Parser("events", limits or ValidationConfig()).parse_one(
        orjson.dumps(raw)
    )
    return result


def label(raw: dict[str, Any]) -> Label | DeadLetter:
    result: Label | DeadLetter = Parser("labels", ValidationConfig()).parse_one(orjson.dumps(raw))
    return result


def dead(result: Any) -> DeadLetter:
    assert isinstance(result, DeadLetter), f"accepted: {result!r}"
    assert result.stage == "parse"
    return result


# --- the labels stream: a label names its target -------------------------------------------


def test_a_label_without_target_is_for_the_default_target() -> None:
    result = label({"id": "e1", "label": True, "ts": TS})
    assert isinstance(result, Label)
    assert (result.id, result.label, result.ts, result.target) == ("e1", True, T, None)


def test_a_label_with_a_target_is_for_that_target() -> None:
    result = label({"id": "e1", "target": "churn", "label": 1, "ts": TS, "key": "u1"})
    assert isinstance(result, Label)
    assert (result.target, result.label, result.key) == ("churn", 1, "u1")


@pytest.mark.parametrize("raw", [{"target": "default"}, {"target": None}])
def test_default_spelt_out_or_null_is_the_default_target(raw: dict[str, Any]) -> None:
    result = label({"id": "e1", "label": False, "ts": TS} | raw)
    assert isinstance(result, Label) and result.target is None  # one value for "default"


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("", "target: String should have at least 1 character"),
        ("t" * 257, "target: String should have at most 256 characters"),
        (7, "target: Input should be a valid string"),
        (["churn"], "target: Input should be a valid string"),
    ],
)
def test_a_target_that_is_no_name_is_a_dead_letter(target: object, error: str) -> None:
    letter = dead(label({"id": "e1", "label": True, "ts": TS, "target": target}))
    assert letter.reason == "schema" and letter.error == error


def test_positional_labels_keep_working() -> None:
    built = Label("e1", True, T, "u1")  # as the scoring code builds them
    assert (built.key, built.target) == ("u1", None)
    assert Label("e1", True, T, None, "churn").target == "churn"


# --- inline labels by target ------------------------------------------------------------------


def test_an_event_carries_labels_by_target_beside_the_default_label() -> None:
    result = event(EVENT | {"label": True, "labels": {"churn": 0, "ltv": 12.5, "tier": "gold"}})
    assert isinstance(result, Event)
    assert result.label is True
    assert result.labels == {"churn": 0, "ltv": 12.5, "tier": "gold"}
    assert [result.label_for(t) for t in (None, "default", "churn", "other")] == [
        True,
        True,
        0,
        None,
    ]


@pytest.mark.parametrize("labels", [None, {}])
def test_no_or_empty_labels_is_none(labels: dict[str, Any] | None) -> None:
    result = event(EVENT | {"labels": labels})
    assert isinstance(result, Event) and result.labels is None and result.label_for("churn") is None
    assert isinstance(event(EVENT), Event)  # and an event without the field parses as before


def test_labels_default_without_label_becomes_the_default_label() -> None:
    result = event(EVENT | {"labels": {"default": True, "churn": 1}})
    assert isinstance(result, Event)
    assert (result.label, result.labels) == (True, {"churn": 1})  # one place per target
    only = event(EVENT | {"labels": {"default": False}})
    assert isinstance(only, Event) and (only.label, only.labels) == (False, None)


def test_the_default_target_given_twice_is_a_schema_dead_letter() -> None:
    letter = dead(event(EVENT | {"label": True, "labels": {"default": False, "churn": 1}}))
    assert letter.reason == "schema"
    assert letter.error == (
        "labels: Value error, the 'default' target's label is given twice, "
        "in 'label' and in 'labels.default'; send it once"
    )


def test_labels_default_beside_a_null_label_is_not_twice() -> None:
    result = event(EVENT | {"label": None, "labels": {"default": 1}})
    assert isinstance(result, Event) and result.label == 1


@pytest.mark.parametrize(
    ("labels", "error"),
    [
        ({"churn": None}, "labels.churn.bool: Input should be a valid boolean"),  # no null label
        ({"churn": [1]}, "labels.churn.bool: Input should be a valid boolean"),
        ({"churn": {"v": 1}}, "labels.churn.bool: Input should be a valid boolean"),
        ({"": 1}, "labels..[key]: String should have at least 1 character"),
        ({"t" * 257: 1}, ".[key]: String should have at most 256 characters"),
        ([1], "labels: Input should be a valid dictionary"),
        ("churn", "labels: Input should be a valid dictionary"),
    ],
)
def test_inline_labels_that_do_not_fit_are_schema_dead_letters(labels: object, error: str) -> None:
    letter = dead(event(EVENT | {"labels": labels}))
    assert letter.reason == "schema"
    assert error in letter.error, letter.error


def test_at_most_64_targets_per_event() -> None:
    at_limit = {f"t{i}": i for i in range(MAX_LABEL_TARGETS)}
    result = event(EVENT | {"labels": at_limit})
    assert isinstance(result, Event) and result.labels == at_limit
    letter = dead(event(EVENT | {"labels": at_limit | {"one_more": 1}}))
    assert letter.reason == "schema"
    assert letter.error == "labels: Value error, 65 label targets, limit is 64"


def test_a_long_text_label_obeys_max_string_naming_its_target() -> None:
    limits = ValidationConfig(max_string=8)
    ok = event(EVENT | {"labels": {"tier": "x" * 8}}, limits)
    assert isinstance(ok, Event)
    letter = dead(event(EVENT | {"labels": {"churn": 1, "tier": "x" * 9}}, limits))
    assert (letter.reason, letter.error) == ("schema", "labels.tier: string longer than 8")
    letter = dead(event(EVENT | {"labels": {"default": "x" * 9}}, limits))  # before the move
    assert letter.error == "labels.default: string longer than 8"


def test_an_event_with_labels_dumps_and_reads_back_the_same() -> None:
    result = event(EVENT | {"labels": {"default": 1, "churn": 0}})
    assert isinstance(result, Event)
    row = orjson.loads(to_json(result))
    assert (row["label"], row["labels"]) == (1, {"churn": 0})
    again = event(row)
    assert isinstance(again, Event) and (again.label, again.labels) == (1, {"churn": 0})


def test_label_for_reads_default_from_labels_of_an_event_built_in_code() -> None:
    built = Event("e1", "u1", T, {"a": 1.0}, None, {"default": True})  # not parsed: not moved
    assert built.label is None and built.label_for(None) is True
    with pytest.raises(ValidationError, match="given twice"):
        Event("e1", "u1", T, {"a": 1.0}, True, {"default": True})


def test_a_batch_keeps_targets_apart_per_event() -> None:
    raws = [
        orjson.dumps(EVENT | {"id": "a", "labels": {"churn": 1}}),
        orjson.dumps(EVENT | {"id": "b", "label": 0, "labels": {"default": 1}}),
        orjson.dumps(EVENT | {"id": "c"}),
    ]
    parsed = Parser("events", ValidationConfig()).parse_batch(raws)
    assert [(e.id, e.label, e.labels) for e in parsed.good] == [
        ("a", None, {"churn": 1}),
        ("c", None, None),
    ]
    assert [(d.reason, orjson.loads(d.raw)["id"]) for d in parsed.dead] == [("schema", "b")]


# --- a team's own shape -----------------------------------------------------------------------

FRAUD = {"id": "txn_id", "key": "card", "time": "at", "label": "is_fraud"}
TXN = {"txn_id": 17, "card": 4242, "at": TS, "amount": 12.5, "is_fraud": False}


def mapped(raw: dict[str, Any], limits: ValidationConfig | None = None, **mapping: Any) -> Any:
    parser = Parser("events", limits or ValidationConfig(), EventMapping(**(FRAUD | mapping)))
    return parser.parse_one(orjson.dumps(raw))


def test_mapped_inline_labels_by_target_and_never_features() -> None:
    raw = TXN | {"cb_flag": True, "refund": {"amount": 3.0}}
    result = mapped(raw, labels={"chargeback": "cb_flag", "refund": "refund.amount"})
    assert isinstance(result, Event)
    assert (result.label, result.labels) == (False, {"chargeback": True, "refund": 3.0})
    assert result.features == {"amount": 12.5}  # the label fields are roles, not features


def test_a_mapped_inline_label_absent_or_null_is_left_out() -> None:
    result = mapped(TXN | {"cb_flag": None}, labels={"chargeback": "cb_flag", "r": "refund"})
    assert isinstance(result, Event) and result.labels is None
    assert result.features == {"amount": 12.5}  # a null label field is no feature either
    result = mapped(TXN | {"refund": 1}, labels={"chargeback": "cb_flag", "r": "refund"})
    assert isinstance(result, Event) and result.labels == {"r": 1}


def test_a_mapped_inline_label_that_does_not_fit_names_the_teams_field() -> None:
    letter = dead(mapped(TXN | {"cb_flag": [True]}, labels={"chargeback": "cb_flag"}))
    assert letter.reason == "schema"
    assert letter.error.startswith("field 'cb_flag': Input should be a valid boolean")
    limits = ValidationConfig(max_string=4)
    letter = dead(mapped(TXN | {"cb_flag": "fraud!"}, limits, labels={"chargeback": "cb_flag"}))
    assert (letter.reason, letter.error) == ("schema", "field 'cb_flag': string longer than 4")


REVIEW = {"id": "txn", "label": "verdict", "time": "at", "target": "model.name"}


def mapped_label(raw: dict[str, Any]) -> Any:
    return Parser("labels", ValidationConfig(), LabelMapping(**REVIEW)).parse_one(orjson.dumps(raw))


@pytest.mark.parametrize(
    ("extra", "target"),
    [
        ({"model": {"name": "chargeback"}}, "chargeback"),
        ({"model": {"name": "default"}}, None),
        ({"model": {"name": None}}, None),
        ({"model": {}}, None),
        ({}, None),
    ],
)
def test_a_mapped_label_names_its_target_or_is_the_default(
    extra: dict[str, Any], target: str | None
) -> None:
    result = mapped_label({"txn": 17, "verdict": True, "at": TS} | extra)
    assert isinstance(result, Label)
    assert (result.id, result.label, result.target) == ("17", True, target)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        (7, "field 'model.name': the label's target must be text, got 7"),
        (True, "field 'model.name': the label's target must be text, got True"),
        ({"x": 1}, "field 'model.name': the label's target must be text, got {'x': 1}"),
        ("", "field 'model.name': String should have at least 1 character"),
    ],
)
def test_a_mapped_target_that_is_no_name_is_a_dead_letter_naming_the_field(
    name: object, error: str
) -> None:
    raw = {"txn": 17, "verdict": True, "at": TS, "model": {"name": name}}
    letter = dead(mapped_label(raw))
    assert (letter.reason, letter.error) == ("schema", error)


def test_without_a_target_field_the_mapping_reads_no_target() -> None:
    raw = {"txn": 1, "verdict": 0, "at": TS, "target": "churn"}  # not mapped: ignored
    parser = Parser(
        "labels", ValidationConfig(), LabelMapping(id="txn", label="verdict", time="at")
    )
    result = parser.parse_one(orjson.dumps(raw))
    assert isinstance(result, Label) and result.target is None


# --- the mapping settings ------------------------------------------------------------------


def load_error(section: str, values: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as exc:
        load_settings(None, {"mapping": {section: values}})
    return str(exc.value)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"cb": "i"}, "mapping.events.id 'i' and mapping.events.labels.cb 'i' name the same field"),
        (
            {"cb": "y.flag"},
            "mapping.events.label 'y' and mapping.events.labels.cb 'y.flag' name overlapping",
        ),
        (
            {"a": "f", "b": "f"},
            "mapping.events.labels.a 'f' and mapping.events.labels.b 'f' name the same field",
        ),
        (
            {"default": "d"},
            "mapping.events.labels.default: the default target's inline label is "
            "mapping.events.label; set that instead",
        ),
        ({"": "f"}, "mapping.events.labels has a target with an empty name"),
        ({"t" * 257: "f"}, "a target name is at most 256 characters, got 257"),
        ({"cb": ""}, "mapping.events.labels.cb\n  Value error, must name a field"),
        ({"cb": "a..b"}, "mapping.events.labels.cb\n  Value error, 'a..b' has an empty part"),
        (
            {f"t{i}": f"f{i}" for i in range(65)},
            "mapping.events.labels names 65 targets, limit is 64",
        ),
    ],
)
def test_a_bad_inline_labels_mapping_fails_at_start_naming_the_key(
    labels: dict[str, str], message: str
) -> None:
    error = load_error(
        "events", {"id": "i", "key": "k", "time": "t", "label": "y", "labels": labels}
    )
    assert message in error, error


def test_an_inline_label_field_must_never_be_a_feature() -> None:
    error = load_error(
        "events",
        {"id": "i", "key": "k", "time": "t", "features": ["a", "cb"], "labels": {"c": "cb"}},
    )
    assert (
        "mapping.events.features names 'cb', which is mapping.events.labels.c ('cb'); "
        "a field has one role; the label must never be a feature"
    ) in error, error


def test_a_target_field_overlapping_another_role_fails_at_start() -> None:
    error = load_error("labels", {"id": "i", "label": "y", "time": "t", "target": "y"})
    assert "mapping.labels.label 'y' and mapping.labels.target 'y' name the same field" in error


def test_the_optional_roles_stay_out_of_the_required_ones() -> None:
    """The start-up check takes `roles()` (but `label`/`key`) as required: another
    target's label or a label's target may be absent from every sampled message."""
    events = EventMapping(id="i", key="k", time="t", labels={"cb": "cb_flag"})
    assert events.roles() == {"id": "i", "key": "k", "time": "t"}
    assert events.all_roles() == {"id": "i", "key": "k", "time": "t", "labels.cb": "cb_flag"}
    labels = LabelMapping(id="i", label="y", time="t", target="m")
    assert "target" not in labels.roles() and labels.all_roles()["target"] == "m"
