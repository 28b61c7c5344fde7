"""Catalogue of malformed and hostile messages, one per kind of bad input.

Used by the built-in stream to inject bad messages (``bad_every``) and by the
tests, which assert that each one lands in the dead-letter output with a reason.
"""

from __future__ import annotations

import orjson

_GOOD = {
    "id": "bad-0",
    "key": "user-1",
    "ts": "2026-01-01T00:00:00+00:00",
    "features": {"a": 1.0},
    "label": True,
}


def _with(**changes: object) -> bytes:
    data = dict(_GOOD)
    for k, v in changes.items():
        if v is _DROP:
            data.pop(k, None)
        else:
            data[k] = v
    return orjson.dumps(data)


_DROP = object()

MALFORMED: list[tuple[str, bytes | None]] = [
    ("not_json", b"this is not json"),
    ("truncated_json", b'{"id": "x", "key": '),
    ("json_array", b"[1, 2, 3]"),
    ("json_scalar", b"42"),
    ("empty_payload", b""),
    ("tombstone", None),
    ("invalid_utf8", b'{"id": "\xff\xfe", "key": "k"}'),
    ("nan_literal", b'{"id": "n", "key": "k", "ts": 1767225600, "features": {"a": NaN}}'),
    ("infinity", b'{"id": "i", "key": "k", "ts": 1767225600, "features": {"a": 1e999}}'),
    ("missing_id", _with(id=_DROP)),
    ("missing_key", _with(key=_DROP)),
    ("missing_ts", _with(ts=_DROP)),
    ("missing_features", _with(features=_DROP)),
    ("empty_id", _with(id="")),
    ("numeric_id", _with(id=12345)),
    ("features_not_object", _with(features=[1, 2, 3])),
    ("empty_features", _with(features={})),
    ("nested_feature", _with(features={"a": {"b": {"c": 1}}})),
    ("list_feature", _with(features={"a": [1, 2]})),
    ("null_feature", _with(features={"a": None})),
    ("unknown_timestamp_format", _with(ts="yesterday at noon")),
    ("timestamp_without_zone", _with(ts="2026-01-01T00:00:00")),
    ("boolean_timestamp", _with(ts=True)),
    ("ancient_timestamp", _with(ts="1901-01-01T00:00:00+00:00")),
    ("future_timestamp", _with(ts="2999-01-01T00:00:00+00:00")),
    ("unknown_field", _with(colour="blue")),
    ("label_object", _with(label={"y": 1})),
    ("huge_string_feature", _with(features={"a": "x" * 10_000})),
    ("too_many_features", _with(features={f"f{i}": 1.0 for i in range(1000)})),
    ("id_too_long", _with(id="i" * 1000)),
    ("oversized_payload", _with(features={"a": 1.0}, pad="p" * 70_000)),
    ("deep_nesting", b'{"id": "d", "features": ' + b'{"a": ' * 500 + b"1" + b"}" * 501),
]
