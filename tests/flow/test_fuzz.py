"""Bad input and faults: thousands of malformed or hostile messages through the real flow.

Hypothesis strategies generate bad messages of many kinds (broken JSON, wrong
types, huge strings, deep nesting, NaN/inf, unknown fields, latin-1 / UTF-16 /
invalid UTF-8, future and ancient timestamps, missing keys, whitespace, JSON
arrays and scalars, duplicate keys, over-long ids, numbers out of float range,
...) and good events with extreme but valid values. They are mixed, written to
a JSONL file and replayed through the whole job (``run.source = "file"``):

- the job runs to the end of the file (it never stops),
- every bad message is in the dead-letter output once, with its raw content,
  an error, a reason and a stage,
- every good event is scored exactly once, and nothing else is; valid events
  whose label is text or a number are scored too (a label the model cannot
  learn may add a dead letter from the scoring stage for that event, nothing else).

Pure-parser properties check that arbitrary bytes never make ``parse_one`` raise
and that the generators agree with the parser. Tests at the end pin the bugs
this fuzzing found (strict xfail while a bug is open).

The default run throws ``N_BAD`` (10,000) bad messages; ``DRIFTLINE_FUZZ_LONG=1``
multiplies every count by 10. ``DRIFTLINE_FUZZ_SEED=<int>`` replays a run (the
seed is printed in every failure message).
"""

from __future__ import annotations

import os
import random
import string
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from driftline.flows.config import Settings, ValidationConfig
from driftline.flows.parse.events import DeadLetter, Event, Label, Parser
from tests.conftest import RunResult, write_jsonl

LONG = os.environ.get("DRIFTLINE_FUZZ_LONG", "").strip().lower() in {"1", "true", "yes"}
SCALE = 10 if LONG else 1
N_BAD = 10_000 * SCALE
N_GOOD = 2_500 * SCALE
N_ODD = 500 * SCALE  # valid events with text or numeric labels
BATCH = 50  # messages drawn per Hypothesis example
PROPERTY_EXAMPLES = 300 * SCALE
SEED = int(os.environ.get("DRIFTLINE_FUZZ_SEED") or random.SystemRandom().randrange(2**32))

LIMITS = ValidationConfig()
RAW_KEEP = 65_536  # the dead letter keeps this many bytes of the raw message
# Good events lie a few days back, well inside [min_event_time, now + max_future].
NOW = datetime.now(UTC).replace(microsecond=0)  # fixed: strategies must not read the clock
BASE_TS = NOW - timedelta(days=3)
FUTURE = NOW + timedelta(days=2)  # beyond validation.max_future (1 day), with a margin
FIELDS = ("id", "key", "ts", "features", "label")

Msg = tuple[str, bytes]  # (kind, raw message)

# ---------------------------------------------------------------- good events


_KEYS = ["user-1", "user-2", "user-3", "ключ", "🔑-emoji", "k" * 256, "tab\tkey", "nul\x00key"]
_finite = st.floats(allow_nan=False, allow_infinity=False)
_extreme = st.sampled_from([1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -0.0, 0.0])
_feature_value = st.one_of(
    _finite,
    _extreme,
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.booleans(),
    st.text(max_size=LIMITS.max_string),
)
_feature_name = st.text(min_size=1, max_size=40)


def _render_ts(dt: datetime, form: int, hours: int) -> Any:
    """One of the accepted timestamp forms for the aware datetime `dt`."""
    if form == 0:
        return dt.isoformat()
    if form == 1:
        return dt.astimezone(timezone(timedelta(hours=hours))).isoformat()
    if form == 2:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if form == 3:
        return int(dt.timestamp())
    if form == 4:
        return dt.timestamp()
    return int(dt.timestamp() * 1000)


@st.composite
def event_dict(draw: st.DrawFn, id_: str = "x") -> dict[str, Any]:
    """A valid event (as a dict) with varied, sometimes extreme values."""
    dt = BASE_TS + timedelta(seconds=draw(st.integers(-12 * 3600, 12 * 3600)))
    ts = _render_ts(dt, draw(st.integers(0, 5)), draw(st.integers(-12, 14)))
    features = draw(st.dictionaries(_feature_name, _feature_value, min_size=1, max_size=8))
    if draw(st.booleans()):
        features["loan"] = draw(st.one_of(_finite, st.integers(-(2**40), 2**40), _feature_value))
    event: dict[str, Any] = {"id": id_, "key": draw(st.sampled_from(_KEYS)), "ts": ts}
    event["features"] = features
    label = draw(st.sampled_from(["missing", "null", "bool"]))
    if label == "null":
        event["label"] = None
    elif label == "bool":
        event["label"] = draw(st.booleans())
    return event


@st.composite
def good_message(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
    """A valid event without its id yet: (dict, id suffix, surrounding whitespace)."""
    event = draw(event_dict())
    suffix = draw(st.text(max_size=20))
    if draw(st.integers(0, 9)) == 0:
        suffix = suffix.ljust(230, "i")  # ids at (or near) the 256-character limit
    space = draw(st.sampled_from(["", "", "", " ", "\t", " \t  "]))
    return event, suffix, space


@st.composite
def odd_label_message(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
    """A valid event whose label is text or a number: the schema accepts it, a model may not."""
    event, suffix, space = draw(good_message())
    event["label"] = draw(
        st.one_of(st.text(max_size=20), _finite, st.integers(-(2**63), 2**64 - 1))
    )
    return event, suffix, space


# ---------------------------------------------------------------- bad messages


def _dumps(data: Any) -> bytes:
    return orjson.dumps(data)


def _replace_token(base: dict[str, Any], path: tuple[str, ...], token: bytes) -> bytes:
    """`base` as JSON with the value at `path` replaced by the raw JSON text `token`."""
    data = orjson.loads(orjson.dumps(base))
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = "__TOKEN__"
    return _dumps(data).replace(b'"__TOKEN__"', token, 1)


_bad_base = event_dict(id_="bad-0")
_json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), _finite, st.text(max_size=30)
)
_json_value = st.recursive(
    _json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_not_text = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    _finite,
    st.booleans(),
    st.none(),
    st.lists(_json_scalar, max_size=3),
    st.dictionaries(st.text(max_size=5), _json_scalar, max_size=3),
)
_not_number_or_text = st.one_of(
    st.none(),
    st.lists(_json_scalar, min_size=0, max_size=3),
    st.dictionaries(st.text(max_size=5), _json_scalar, max_size=3),
)


def _is_object(raw: bytes) -> bool:
    try:
        return isinstance(orjson.loads(raw), dict)
    except orjson.JSONDecodeError:
        return False


@st.composite
def truncated_json(draw: st.DrawFn) -> bytes:
    raw = _dumps(draw(_bad_base))
    return raw[: draw(st.integers(1, len(raw) - 1))]


@st.composite
def wrong_type(draw: st.DrawFn) -> bytes:
    base = draw(_bad_base)
    where = draw(st.sampled_from(["id", "key", "ts", "features", "value", "name", "label"]))
    if where in ("id", "key"):
        base[where] = draw(st.one_of(_not_text, st.just("")))
    elif where == "ts":
        base["ts"] = draw(st.one_of(st.booleans(), _not_number_or_text))
    elif where == "features":
        base["features"] = draw(
            st.one_of(st.just({}), st.lists(_json_scalar, max_size=3), _json_scalar)
        )
    elif where == "value":
        base["features"][draw(_feature_name)] = draw(
            st.one_of(
                st.none(),
                st.lists(_json_scalar, max_size=3),
                st.dictionaries(st.text(max_size=5), _json_scalar, max_size=3),
            )
        )
    elif where == "name":
        base["features"][""] = 1.0
    else:
        base["label"] = draw(
            st.one_of(
                st.lists(_json_scalar, max_size=3),
                st.dictionaries(st.text(max_size=5), _json_scalar, max_size=3),
            )
        )
    return _dumps(base)


@st.composite
def huge_string(draw: st.DrawFn) -> bytes:
    base = draw(_bad_base)
    char = draw(st.characters(exclude_categories=("Cs",)))
    where = draw(st.sampled_from(["id", "key", "value", "name", "label", "payload", "many"]))
    if where == "payload":  # over validation.max_bytes
        base["features"]["pad"] = char * draw(st.integers(LIMITS.max_bytes + 1, 100_000))
        return _dumps(base)
    if where == "many":  # over validation.max_features
        n = draw(st.integers(LIMITS.max_features + 1, 2 * LIMITS.max_features))
        base["features"] = {f"f{i}": i for i in range(n)}
        return _dumps(base)
    text = char * draw(st.integers(LIMITS.max_string + 1, 5_000))
    if where in ("id", "key", "label"):
        base[where] = text
    elif where == "value":
        base["features"]["big"] = text
    else:
        base["features"][text] = 1.0
    return _dumps(base)


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(2, 3_000))
    opener, closer = draw(st.sampled_from([(b'{"a":', b"}"), (b"[", b"]")]))
    nested = opener * depth + b"1" + closer * depth
    where = draw(st.sampled_from(["top", "value", "label", "unknown"]))
    if where == "top":
        return b'{"id":"bad-deep","features":' + nested + b"}"
    path = {"value": ("features", "deep"), "label": ("label",), "unknown": ("deep",)}[where]
    return _replace_token(draw(_bad_base), path, nested)


_NON_FINITE = [b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"inf", b"1e999", b"-1e400", b"1E309"]


@st.composite
def non_finite(draw: st.DrawFn) -> bytes:
    token = draw(st.sampled_from(_NON_FINITE))
    path = draw(st.sampled_from([("features", "a"), ("features", "loan"), ("ts",), ("label",)]))
    return _replace_token(draw(_bad_base), path, token)


@st.composite
def unknown_field(draw: st.DrawFn) -> bytes:
    base = draw(_bad_base)
    name = draw(st.text(max_size=12).filter(lambda n: n not in FIELDS))
    base[name] = draw(_json_value)
    return _dumps(base)


@st.composite
def wrong_encoding(draw: st.DrawFn) -> bytes:
    base = draw(_bad_base)
    encoding = draw(
        st.sampled_from(
            [
                "latin-1",
                "cp1252",
                "utf-16",
                "utf-16-le",
                "utf-16-be",
                "utf-32",
                "utf-32-le",
                "utf-32-be",
            ]
        )
    )
    if encoding in ("latin-1", "cp1252"):
        # "éx" is e9 78: a 3-byte UTF-8 lead followed by ASCII, never valid UTF-8
        base["key"] = draw(st.text(alphabet=string.ascii_letters, max_size=5)) + "éx"
    return _dumps(base).decode().encode(encoding, errors="replace")


_INVALID_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xbf",
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xe0\x80\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xf5\x80\x80\x80",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
]


@st.composite
def invalid_utf8(draw: st.DrawFn) -> bytes:
    raw = _dumps(draw(_bad_base))
    seq = draw(st.sampled_from(_INVALID_UTF8))
    return raw.replace(b'"bad-0"', b'"bad-' + seq + b'-0"', 1)


def _ts_case(draw: st.DrawFn, kind: str) -> Any:
    if kind == "future_iso":
        days = draw(st.integers(0, (datetime(9999, 1, 1, tzinfo=UTC) - FUTURE).days))
        return (FUTURE + timedelta(days=days)).isoformat()
    if kind == "future_epoch_s":
        return draw(st.integers(int(FUTURE.timestamp()), 10**11 - 1))
    if kind == "future_epoch_ms":
        return draw(st.integers(int(FUTURE.timestamp() * 1000), 253_000_000_000_000))
    if kind == "ancient_iso":
        dt = datetime(1, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 730_000)))
        return dt.isoformat()
    if kind == "ancient_epoch_s":
        return draw(st.one_of(st.integers(-62_000_000_000, 946_684_799), st.floats(-1e9, 9e8)))
    if kind == "ancient_epoch_ms":
        return draw(st.integers(10**11, 946_684_799_999))
    if kind == "out_of_range_epoch":
        return draw(st.sampled_from([1e20, -1e20, 10**18, -(10**18), 1e300, 2**63, -(2**63)]))
    if kind == "zoneless":
        dt = BASE_TS + timedelta(seconds=draw(st.integers(0, 3600)))
        return draw(st.sampled_from([dt.replace(tzinfo=None).isoformat(), dt.date().isoformat()]))
    if kind == "overflow_iso":  # parses, but moving it to UTC leaves datetime's range
        return draw(
            st.sampled_from(
                [
                    "9999-12-31T23:59:59-23:59",
                    "0001-01-01T00:00:00+23:59",
                    "9999-12-31T20:00:00-05:00",
                    "0001-01-01T01:00:00+02:00",
                ]
            )
        )
    return draw(
        st.one_of(
            st.sampled_from(
                [
                    "",
                    " ",
                    "yesterday",
                    "now",
                    "2026-13-01T00:00:00Z",
                    "2026-11-20 25:00:00+00:00",
                    "20261120",
                    "2026/11/20 10:00 UTC",
                    "Fri, 20 Nov 2026 10:00:00 GMT",
                    "1767225600",
                ]
            ),
            st.text(max_size=30),
        ).filter(_not_aware_iso)
    )


def _not_aware_iso(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is None
    except ValueError:
        return True


_TS_KINDS = [
    "future_iso",
    "future_epoch_s",
    "future_epoch_ms",
    "ancient_iso",
    "ancient_epoch_s",
    "ancient_epoch_ms",
    "out_of_range_epoch",
    "zoneless",
    "overflow_iso",
    "garbage",
]


@st.composite
def bad_timestamp(draw: st.DrawFn) -> Msg:
    kind = draw(st.sampled_from(_TS_KINDS))
    base = draw(_bad_base)
    base["ts"] = _ts_case(draw, kind)
    return f"timestamp_{kind}", _dumps(base)


@st.composite
def missing_keys(draw: st.DrawFn) -> bytes:
    base = draw(_bad_base)
    required = ["id", "key", "ts", "features"]
    for name in draw(st.lists(st.sampled_from(required), min_size=1, unique=True)):
        del base[name]
    return _dumps(base)


_EMPTY_LIKE = [
    b" ",
    b"\t",
    b"  \t ",
    b"\x0b",
    b"\x0c",
    b" \r ",
    b"\x00",
    b"\xef\xbb\xbf",
    b"{}",
    b"null",
    b'""',
    b"[]",
    b"{ }",
    b"\t{}\t",
]


@st.composite
def empty_like(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from(_EMPTY_LIKE))


@st.composite
def duplicate_keys(draw: st.DrawFn) -> bytes:
    """A valid object followed by a repeated field with a bad value (the last one wins)."""
    base = draw(_bad_base)
    field, value = draw(
        st.sampled_from(
            [
                ("id", b"5"),
                ("id", b'""'),
                ("key", b"null"),
                ("ts", b"true"),
                ("features", b"[]"),
                ("features", b"{}"),
                ("label", b'{"y":1}'),
                ("ts", b'"2999-01-01T00:00:00+00:00"'),
            ]
        )
    )
    return _dumps(base)[:-1] + b',"' + field.encode() + b'":' + value + b"}"


@st.composite
def lone_surrogate(draw: st.DrawFn) -> bytes:
    escape = draw(st.sampled_from([b"\\ud800", b"\\udfff", b"\\udbff\\u0041", b"\\ud83d"]))
    return _dumps(draw(_bad_base)).replace(b'"bad-0"', b'"bad-' + escape + b'"', 1)


@st.composite
def garbage(draw: st.DrawFn) -> bytes:
    raw = draw(
        st.one_of(
            st.text(min_size=1, max_size=200).map(str.encode), st.binary(min_size=1, max_size=200)
        )
    )
    return raw if not _is_object(raw) else b"!" + raw


@st.composite
def json_non_object(draw: st.DrawFn) -> bytes:
    value = draw(_json_value.filter(lambda v: not isinstance(v, dict)))
    return _dumps(value)


def _tagged(kind: str, strategy: st.SearchStrategy[bytes]) -> st.SearchStrategy[Msg]:
    return strategy.map(lambda raw: (kind, raw))


bad_message: st.SearchStrategy[Msg] = st.one_of(
    _tagged("truncated_json", truncated_json()),
    _tagged("garbage", garbage()),
    _tagged("json_non_object", json_non_object()),
    _tagged("wrong_type", wrong_type()),
    _tagged("huge_string", huge_string()),
    _tagged("deep_nesting", deep_nesting()),
    _tagged("non_finite", non_finite()),
    _tagged("unknown_field", unknown_field()),
    _tagged("wrong_encoding", wrong_encoding()),
    _tagged("invalid_utf8", invalid_utf8()),
    bad_timestamp(),
    _tagged("missing_keys", missing_keys()),
    _tagged("empty_like", empty_like()),
    _tagged("duplicate_keys", duplicate_keys()),
    _tagged("lone_surrogate", lone_surrogate()),
)


def line_safe(raw: bytes) -> bytes:
    """A message fit for one line of a JSONL file: no CR/LF (the file source splits on them)."""
    return raw.replace(b"\n", b" ").replace(b"\r", b" ") or b" "


def dead_raw(raw: bytes) -> str:
    """What a dead letter keeps of a raw message."""
    return raw[:RAW_KEEP].decode("utf-8", errors="backslashreplace")


# ---------------------------------------------------------------- generation


def collect(strategy: st.SearchStrategy[Any], n: int, salt: int) -> list[Any]:
    """Draw at least `n` values of `strategy` with Hypothesis (seeded by SEED and `salt`)."""
    out: list[Any] = []
    rounds = 0
    while len(out) < n:
        want = -(-(n - len(out)) // BATCH)

        @settings(
            max_examples=want,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @seed(SEED * 1_000 + salt * 100 + rounds)
        @given(st.lists(strategy, min_size=BATCH, max_size=BATCH))
        def draw(batch: list[Any]) -> None:
            out.extend(batch)

        draw()
        rounds += 1
    return out[:n]


def make_messages(n_bad: int, n_good: int, n_odd: int) -> tuple[list[Msg], list[bytes], list[str]]:
    """Bad messages (kind, line); lines of valid events (good, then odd labels) and their ids."""
    bad = [(kind, line_safe(raw)) for kind, raw in collect(bad_message, n_bad, salt=1)]
    valid = collect(good_message(), n_good, salt=2) + collect(odd_label_message(), n_odd, salt=3)
    lines: list[bytes] = []
    ids: list[str] = []
    for i, (event, suffix, space) in enumerate(valid):
        event["id"] = f"good-{i}-{suffix}"
        ids.append(event["id"])
        lines.append(space.encode() + _dumps(event) + space.encode())
    return bad, lines, ids


# ---------------------------------------------------------------- the job


def test_thousands_of_bad_messages_through_the_real_flow(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    run_flow: Callable[[Settings], RunResult],
) -> None:
    """The job never stops; every bad message is a dead letter, every good one scored once."""
    bad, good_lines, good_ids = make_messages(N_BAD, N_GOOD, N_ODD)
    odd_ids = set(good_ids[N_GOOD:])
    assert len(bad) == N_BAD and len(set(good_ids)) == N_GOOD + N_ODD
    lines = [raw for _, raw in bad] + good_lines
    random.Random(SEED).shuffle(lines)
    path = write_jsonl(tmp_path / "fuzz.jsonl", lines)
    ctx = f"seed={SEED} (DRIFTLINE_FUZZ_SEED), input {path}"

    result = run_flow(
        make_settings(run={"source": "file"}, files={"events_path": str(path), "batch_size": 500})
    )

    # every valid event scored exactly once, and nothing else scored
    scored = Counter(p["id"] for p in result.predictions)
    twice = {i: n for i, n in scored.items() if n > 1}
    assert not twice, f"scored more than once: {list(twice)[:5]}; {ctx}"
    accepted = set(scored) - set(good_ids)
    assert not accepted, f"bad messages were scored: {sorted(accepted)[:5]}; {ctx}"
    unscored = [i for i in good_ids if i not in scored]
    assert not unscored, f"{len(unscored)} valid events not scored, e.g. {unscored[:3]}; {ctx}"

    # a label the model cannot learn may add a dead letter after scoring, for that event only
    dead = [d for d in result.dead_letters if d["stage"] == "parse"]
    late_dead = [d for d in result.dead_letters if d["stage"] != "parse"]
    strays = [d for d in late_dead if orjson.loads(d["raw"]).get("id") not in odd_ids]
    assert not strays, f"dead letters after parsing for valid events: {strays[:3]}; {ctx}"

    # every bad message is a dead letter (by count and by raw content), with its reasons
    expected = Counter(dead_raw(raw) for _, raw in bad)
    got = Counter(d["raw"] for d in dead)
    missing = expected - got
    if missing:
        kinds = Counter(k for k, raw in bad if dead_raw(raw) in missing)
        example = next(raw for _, raw in bad if dead_raw(raw) in missing)
        pytest.fail(
            f"{sum(missing.values())} bad messages lost {dict(kinds)}: {example[:200]!r}; {ctx}"
        )
    assert not (got - expected), f"unexpected dead letters: {list(got - expected)[:3]}; {ctx}"
    assert len(dead) == N_BAD
    empty = [d for d in result.dead_letters if not (d["error"] and d["reason"] and d["stage"])]
    assert not empty, f"dead letters without a reason: {empty[:3]}; {ctx}"
    assert {d["source"] for d in result.dead_letters} == {"events"}
    assert result.monitor.dead_letters == N_BAD + len(late_dead)
    assert result.monitor.scored == N_GOOD + N_ODD


# ---------------------------------------------------------------- the parser alone

_events = Parser("events", LIMITS)
_labels = Parser("labels", LIMITS)
_property = settings(
    max_examples=PROPERTY_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_property
@given(st.one_of(st.binary(max_size=4_096), st.text(max_size=1_000).map(str.encode)))
def test_parse_one_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    """Any bytes become an Event/Label or a DeadLetter with a reason; nothing raises."""
    for parser, kind in ((_events, Event), (_labels, Label)):
        result = parser.parse_one(raw)
        assert isinstance(result, kind | DeadLetter)
        if isinstance(result, DeadLetter):
            assert result.error and result.reason and result.raw == dead_raw(raw)


@_property
@given(bad_message)
def test_every_bad_kind_is_one_dead_letter(msg: Msg) -> None:
    """Each generated bad message is exactly one dead letter (the generator's oracle)."""
    kind, raw = msg
    parsed = _events.parse_batch([line_safe(raw)])
    assert not parsed.good, f"{kind} accepted: {raw[:300]!r}"
    assert len(parsed.dead) == 1 and parsed.dead[0].error and parsed.dead[0].reason


@_property
@given(good_message())
def test_every_good_event_parses(msg: tuple[dict[str, Any], str, str]) -> None:
    """Extreme but valid events are accepted (the generator's oracle)."""
    event, suffix, space = msg
    event["id"] = f"good-0-{suffix}"
    result = _events.parse_one(space.encode() + _dumps(event) + space.encode())
    assert isinstance(result, Event), result
    assert result.id == event["id"]


# ---------------------------------------------------------------- bugs found


@pytest.mark.parametrize("ts", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_parse_one_does_not_raise_on_timestamps_at_the_edge_of_time(ts: str) -> None:
    """Such a timestamp should be a 'timestamp'/'schema' dead letter, not an exception."""
    raw = _dumps({"id": "a", "key": "k", "ts": ts, "features": {"a": 1}})
    result = _events.parse_one(raw)
    assert isinstance(result, DeadLetter) and result.reason != "internal"


@pytest.mark.parametrize(
    ("model", "label"),
    [("logreg", "yes"), ("linreg", "yes"), ("hatr", "1"), ("arf", "1")],
)
def test_a_label_the_model_cannot_learn_does_not_stop_the_job(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    run_flow: Callable[[Settings], RunResult],
    model: str,
    label: str,
) -> None:
    """The schema accepts text labels; a model that cannot learn one must not stop the job.

    Found by this fuzzing: before scoring caught model errors, ``"label": "yes"``
    stopped the job with ``ValueError: invalid literal for int()`` inside River's
    LogisticRegression (``TypeError`` for arf and the regressors).
    """
    lines = []
    for i in range(40):
        ts = (BASE_TS + timedelta(seconds=i)).isoformat()
        event = {"id": f"e{i}", "key": "k", "ts": ts, "features": {"loan": float(i)}}
        good = i % 2 == 0 if model in ("logreg", "arf") else float(i % 2)  # bool / number
        lines.append(_dumps({**event, "label": label if i == 20 else good}))
    path = write_jsonl(tmp_path / "labels.jsonl", lines)
    result = run_flow(
        make_settings(
            run={"source": "file"}, files={"events_path": str(path)}, model={"name": model}
        )
    )
    assert Counter(p["id"] for p in result.predictions) == Counter(f"e{i}" for i in range(40))
    # the label the model cannot learn is reported, with why, and nothing else is
    [dead] = result.dead_letters
    assert orjson.loads(dead["raw"])["id"] == "e20", dead
    assert (dead["stage"], dead["reason"]) == ("score", "label") and label in dead["error"]
