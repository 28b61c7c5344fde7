"""The `[mapping]` section: a team's own JSON mapped onto the envelope, each role, time
formats, flattening, and what does not fit becoming a dead letter that names the field."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from driftline.flows.app.preflight import check_mapped_fields
from driftline.flows.config import (
    EventMapping,
    LabelMapping,
    StartupError,
    ValidationConfig,
    load_settings,
    unknown_environment,
)
from driftline.flows.parse.events import DeadLetter, Event, Label, Parser

T = datetime(2026, 1, 1, tzinfo=UTC)
MS = 1_767_225_600_000  # T in epoch milliseconds

FRAUD = {
    "id": "txn_id",
    "key": "card.number",
    "time": "created_at",
    "time_format": "epoch_ms",
    "label": "is_fraud",
}
TXN = {
    "txn_id": 17,
    "card": {"number": 4242, "country": "fr"},
    "created_at": MS,
    "amount": 12.5,
    "geo": {"lat": 48.85, "lon": 2.35, "city": {"name": "Paris"}},
    "is_fraud": False,
}


def parse(raw: dict[str, Any], **mapping: Any) -> Event | DeadLetter:
    parser = Parser("events", ValidationConfig(), EventMapping(**(FRAUD | mapping)))
    result: Event | DeadLetter = parser.parse_one(orjson.dumps(raw))
    return result


def dead(raw: dict[str, Any], **mapping: Any) -> DeadLetter:
    result = parse(raw, **mapping)
    assert isinstance(result, DeadLetter), result
    return result


# --- each role ---------------------------------------------------------------------------


def test_each_role_is_read_from_the_teams_fields() -> None:
    event = parse(TXN)
    assert isinstance(event, Event)
    assert event.id == "17" and event.key == "4242"  # numbers read as their text
    assert event.ts == T and event.label is False
    assert event.features == {
        "card.country": "fr",  # the key's object: its other fields are features
        "amount": 12.5,
        "geo.lat": 48.85,
        "geo.lon": 2.35,
        "geo.city.name": "Paris",
    }


def test_text_ids_stay_text_and_a_missing_label_is_no_label() -> None:
    raw = {k: v for k, v in TXN.items() if k != "is_fraud"} | {"txn_id": "t-17"}
    event = parse(raw)
    assert isinstance(event, Event) and event.id == "t-17" and event.label is None


def test_a_feature_list_takes_only_those_fields_and_objects_whole() -> None:
    event = parse(TXN, features=["amount", "geo"], exclude=["geo.city"])
    assert isinstance(event, Event)
    assert event.features == {"amount": 12.5, "geo.lat": 48.85, "geo.lon": 2.35}
    event = parse(TXN, features=["geo.lat", "card"])  # a dotted path; card without its key
    assert isinstance(event, Event) and event.features == {"geo.lat": 48.85, "card.country": "fr"}


def test_exclude_drops_fields_and_whole_objects() -> None:
    event = parse(TXN | {"tags": ["a"]}, exclude=["geo", "tags"])
    assert isinstance(event, Event) and event.features == {"card.country": "fr", "amount": 12.5}


def test_null_and_absent_features_are_left_out() -> None:
    event = parse(TXN | {"coupon": None}, features=["amount", "coupon", "never_sent"])
    assert isinstance(event, Event) and event.features == {"amount": 12.5}


def test_nested_role_fields() -> None:
    raw = {"meta": {"id": "m1", "at": "2026-01-01T01:00:00+01:00"}, "user": {"id": "u"}, "x": 1}
    event = parse(raw, id="meta.id", key="user.id", time="meta.at", time_format="iso", label=None)
    assert isinstance(event, Event)
    assert (event.id, event.key, event.ts, event.features) == ("m1", "u", T, {"x": 1})


# --- time formats ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_format", "value"),
    [
        ("epoch_ms", MS),
        ("epoch_ms", MS + 0.0),
        ("epoch_s", MS // 1000),
        ("epoch_s", MS / 1000),
        ("iso", "2026-01-01T00:00:00Z"),
        ("iso", "2026-01-01T02:00:00+02:00"),
        ("auto", MS),
        ("auto", MS // 1000),
        ("auto", "2026-01-01T00:00:00+00:00"),
    ],
)
def test_time_formats(time_format: str, value: object) -> None:
    event = parse(TXN | {"created_at": value}, time_format=time_format)
    assert isinstance(event, Event), event
    assert event.ts == T


ISO = "expected ISO-8601 text with a time zone"


@pytest.mark.parametrize(
    ("time_format", "value", "error"),
    [
        ("epoch_ms", "yesterday", "expected epoch milliseconds, got 'yesterday'"),
        ("epoch_ms", str(MS), f"expected epoch milliseconds, got '{MS}'"),
        ("epoch_s", True, "expected epoch seconds, got True"),
        ("epoch_s", None, "expected epoch seconds, got None"),
        ("epoch_s", 1e300, "1e+300 epoch seconds is out of range"),
        ("iso", MS, f"{ISO}, got {MS}"),
        ("iso", "01/01/2026", f"{ISO}, got '01/01/2026'"),
        ("iso", "2026-01-01T00:00:00", "'2026-01-01T00:00:00' has no time zone"),
        ("auto", "last tuesday", "Value error, unknown timestamp format"),
    ],
)
def test_a_time_not_in_the_declared_format_is_a_dead_letter_naming_the_field(
    time_format: str, value: object, error: str
) -> None:
    letter = dead(TXN | {"created_at": value}, time_format=time_format)
    assert letter.reason == "schema", letter
    assert letter.error.startswith(f"field 'created_at': {error}"), letter.error


def test_the_time_limits_say_which_field_was_read_and_how() -> None:
    letter = dead(TXN | {"created_at": MS // 1000})  # seconds sent, milliseconds declared
    assert letter.reason == "timestamp"
    assert letter.error.startswith("event time 1970-01-21")
    assert letter.error.endswith("(field 'created_at' read as epoch_ms)")


# --- what does not fit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"tags": ["a", "b"]}, "features: field 'tags' is a list; map scalars only"),
        ({"geo": {"path": [[1, 2]]}}, "features: field 'geo.path' is a list; map scalars only"),
        ({"geo.lat": 1.0}, "features: field 'geo.lat' appears twice (nested and dotted)"),
        ({"txn_id": None}, "field 'txn_id': Input should be a valid string"),
        ({"txn_id": 1.5}, "field 'txn_id': Input should be a valid string"),
        ({"txn_id": "x" * 300}, "field 'txn_id': String should have at most 256 characters"),
        ({"card": {"number": True}}, "field 'card.number': Input should be a valid string"),
        ({"card": "4242"}, "field 'card.number': Field required"),  # not an object
        ({"amount": "x" * 300}, "field 'amount': string longer than 256"),
        ({"is_fraud": [True]}, "field 'is_fraud': Input should be"),
        ({"is_fraud": "y" * 300}, "field 'is_fraud': string longer than 256"),
    ],
)
def test_what_does_not_fit_is_a_dead_letter_naming_the_teams_field(
    change: dict[str, Any], error: str
) -> None:
    letter = dead(TXN | change)
    assert letter.stage == "parse" and letter.reason == "schema"
    assert letter.error.startswith(error), letter.error
    assert orjson.loads(letter.raw) == TXN | change  # the input is kept as it came


def test_a_missing_role_field_is_named() -> None:
    raw = {k: v for k, v in TXN.items() if k not in ("txn_id", "created_at")}
    letter = dead(raw)
    assert letter.error == "field 'txn_id': Field required; field 'created_at': Field required"


def test_an_event_with_no_feature_left_is_a_dead_letter() -> None:
    letter = dead({"txn_id": 1, "card": {"number": 2}, "created_at": MS, "tags": None})
    assert letter.error.startswith("features: none in the event")


def test_limits_and_json_checks_apply_as_for_the_envelope() -> None:
    parser = Parser("events", ValidationConfig(max_features=2), EventMapping(**FRAUD))
    too_many = parser.parse_one(orjson.dumps(TXN))
    assert isinstance(too_many, DeadLetter) and too_many.error == "5 features, limit is 2"
    for raw, reason in [(b"[1]", "schema"), (b"{nope", "json"), (None, "empty")]:
        letter = parser.parse_one(raw)
        assert isinstance(letter, DeadLetter) and letter.reason == reason


def test_batches_keep_good_and_bad_apart() -> None:
    parser = Parser("events", ValidationConfig(), EventMapping(**FRAUD))
    parsed = parser.parse_batch([orjson.dumps(TXN | {"txn_id": i}) for i in range(3)] + [b"{}"])
    assert [e.id for e in parsed.good] == ["0", "1", "2"] and len(parsed.dead) == 1


# --- labels --------------------------------------------------------------------------------

REVIEW = LabelMapping(id="txn", label="verdict.fraud", time="at", time_format="iso", key="card")


def test_a_label_message_in_the_teams_shape() -> None:
    raw = {"txn": 17, "verdict": {"fraud": True, "by": "ann"}, "at": "2026-01-01T00:00:00Z"}
    label = Parser("labels", ValidationConfig(), REVIEW).parse_one(orjson.dumps(raw | {"card": 9}))
    assert isinstance(label, Label)
    assert (label.id, label.label, label.ts, label.key) == ("17", True, T, "9")
    label = Parser("labels", ValidationConfig(), REVIEW).parse_one(orjson.dumps(raw))
    assert isinstance(label, Label) and label.key is None  # the key is optional


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"txn": 1, "verdict": {"by": "ann"}, "at": "2026-01-01T00:00:00Z"},
         "field 'verdict.fraud': Field required"),
        ({"txn": 1, "verdict": {"fraud": 1.5}, "at": "2026-01-01T00:00:00Z"}, None),
        ({"txn": 1, "verdict": {"fraud": True}, "at": 1767225600},
         "field 'at': expected ISO-8601 text with a time zone, got 1767225600"),
        ({"verdict": {"fraud": True}, "at": "2026-01-01T00:00:00Z"}, "field 'txn': Field required"),
    ],
)  # fmt: skip
def test_a_label_that_does_not_fit_names_the_field(raw: dict[str, Any], error: str | None) -> None:
    result = Parser("labels", ValidationConfig(), REVIEW).parse_one(orjson.dumps(raw))
    if error is None:  # a float label parses; the model step judges its type
        assert isinstance(result, Label)
        return
    assert isinstance(result, DeadLetter) and result.error == error


def test_a_parser_refuses_the_other_kinds_mapping() -> None:
    with pytest.raises(TypeError, match="takes a EventMapping"):
        Parser("events", ValidationConfig(), REVIEW)


# --- the section is checked when the settings load ------------------------------------------


def roles(**changes: Any) -> dict[str, Any]:
    return {"id": "i", "key": "k", "time": "t"} | changes


ONE_ROLE = "; a field has one role; the label must never be a feature"


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ({"key": "k", "time": "t"}, "mapping.events.id\n  Field required"),
        (roles(id=""), "mapping.events.id\n  Value error, must name a field"),
        (roles(id="a..b"), "mapping.events.id\n  Value error, 'a..b' has an empty part"),
        (roles(time_format="ms"), "mapping.events.time_format\n  Input should be 'auto', 'iso'"),
        (roles(key="i"), "mapping.events.id 'i' and mapping.events.key 'i' name the same field"),
        (roles(id="m", key="m.u"), "mapping.events.id 'm' and mapping.events.key 'm.u' name over"),
        (roles(label="t"), "mapping.events.time 't' and mapping.events.label 't' name the same"),
        (
            roles(label="y", features=["a", "y"]),
            f"mapping.events.features names 'y', which is mapping.events.label ('y'){ONE_ROLE}",
        ),
        (roles(features=["k.x"]), "mapping.events.features names 'k.x', inside mapping.events.key"),
        (
            roles(features=["a"], exclude=["a"]),
            "mapping.events.features and mapping.events.exclude both name 'a'",
        ),
        (
            roles(features=["g.x"], exclude=["g"]),
            "mapping.events.features names 'g.x', inside mapping.events.exclude 'g'",
        ),
        (roles(features=["a", "a"]), "mapping.events.features names 'a' twice"),
        (roles(features=["g", "g.x"]), "mapping.events.features names 'g.x' and 'g', one inside"),
        (roles(exclude=["g.x", "g"]), "mapping.events.exclude names 'g' and 'g.x', one inside"),
        (roles(features=[]), "mapping.events.features\n  List should have at least 1 item"),
        (roles(labels="y"), "mapping.events.labels\n  Input should be a valid dictionary"),
        (roles(target="y"), "mapping.events.target\n  Extra inputs are not permitted"),
    ],
)
def test_a_bad_events_mapping_fails_at_start_naming_the_key(
    events: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        load_settings(None, {"mapping": {"events": events}})
    assert message in str(exc.value), str(exc.value)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"id": "i", "time": "t"}, "mapping.labels.label\n  Field required"),
        (
            {"id": "i", "label": "i", "time": "t"},
            "mapping.labels.id 'i' and mapping.labels.label 'i' name the same field",
        ),
        (
            {"id": "i", "label": "y", "time": "t", "key": "y.k"},
            "mapping.labels.label 'y' and mapping.labels.key 'y.k' name overlapping fields",
        ),
        (
            {"id": "i", "label": "y", "time": "t", "time_format": "unix"},
            "mapping.labels.time_format",
        ),
    ],
)
def test_a_bad_labels_mapping_fails_at_start_naming_the_key(
    labels: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        load_settings(None, {"mapping": {"labels": labels}})
    assert message in str(exc.value), str(exc.value)


def test_no_mapping_is_the_envelope() -> None:
    settings = load_settings(None, {})
    assert settings.mapping.events is None and settings.mapping.labels is None


def test_the_mapping_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    variables = {
        "DRIFTLINE_MAPPING__EVENTS__ID": "txn_id",
        "DRIFTLINE_MAPPING__EVENTS__KEY": "card.number",
        "DRIFTLINE_MAPPING__EVENTS__TIME": "created_at",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert unknown_environment(variables) == ([], [])  # nested names are settings, not typos
    events = load_settings(None, {}).mapping.events
    assert events is not None and (events.id, events.key, events.time_format) == (
        "txn_id",
        "card.number",
        "auto",
    )


# --- the start-up check against the first messages ------------------------------------------


def _settings(**mapping: Any) -> Any:
    return load_settings(None, {"mapping": mapping})


def test_a_role_field_in_none_of_the_sampled_events_is_refused_naming_the_key() -> None:
    settings = _settings(events=FRAUD | {"key": "card.id"})
    sample = [orjson.dumps(TXN), b"{not json", orjson.dumps([1])]
    with pytest.raises(StartupError) as exc:
        check_mapped_fields(settings, sample, None)
    message = str(exc.value)
    assert message.startswith("mapping.events.key 'card.id' is in none of the first 1 events")
    assert "'card.number', 'card.country'" in message  # what the events do have


def test_a_role_field_in_some_sampled_events_passes() -> None:
    sparse = {k: v for k, v in TXN.items() if k != "txn_id"}
    check_mapped_fields(_settings(events=FRAUD), [orjson.dumps(sparse), orjson.dumps(TXN)], None)


def test_a_label_field_in_none_of_the_sampled_labels_is_refused() -> None:
    settings = _settings(labels={"id": "txn", "label": "fraud", "time": "at"})
    with pytest.raises(StartupError, match=r"^mapping\.labels\.label 'fraud' is in none"):
        check_mapped_fields(settings, None, [b'{"txn": 1, "is_fraud": true, "at": 1}'])


def test_optional_fields_in_no_sampled_event_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(events=FRAUD | {"label": "fraud", "features": ["amount", "amonut"]})
    with caplog.at_level(logging.WARNING, logger="driftline"):
        check_mapped_fields(settings, [orjson.dumps(TXN)], None)
    settings_named = sorted(r.__dict__["setting"] for r in caplog.records)
    assert settings_named == ["mapping.events.features[1]", "mapping.events.label"]


def test_no_sample_or_no_mapping_checks_nothing() -> None:
    check_mapped_fields(_settings(events=FRAUD), None, None)  # a topic: nothing read ahead
    check_mapped_fields(load_settings(None, {}), [b'{"other": 1}'], [b"{}"])
