"""Events in a team's own JSON shape, mapped by the `[mapping]` section, score exactly as
the same events written in driftline's envelope do: same predictions, scores, baseline
and alerts per event, through the whole job (file source, windows, model, drift)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftline.connectors.builtin import drifting_events
from driftline.flows.config import BuiltinStreamConfig, Settings
from tests.conftest import RunResult, write_jsonl

N = 6_000
LABEL_DELAY_MS = 5_000
PARIS = timezone(timedelta(hours=2))  # the team writes its label times in local time
NESTED = ("salary", "commission", "age", "elevel")  # under "customer" in the team's shape

TEAM_EVENTS = {
    "id": "txn_id",
    "key": "customer.id",
    "time": "created_at",
    "time_format": "epoch_ms",
    "exclude": ["meta"],  # holds a list: not a feature
}
TEAM_LABELS = {
    "id": "decision.txn",
    "label": "decision.fraud",
    "time": "decided_at",
    "time_format": "iso",
}


def _windows(salary: str) -> list[dict[str, Any]]:
    return [
        {"period": "5m", "stats": ["count"]},
        {"field": "loan", "period": "5m", "stats": ["mean", "std"]},
        {"field": salary, "period": "1h", "stats": ["mean"]},
    ]


def _iso(ms: int, tz: timezone = UTC) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz).isoformat()


def _stream() -> Iterator[tuple[int, int, int, dict[str, Any], bool]]:
    """(index, entity number, event time in ms, features, label) of a drifting stream.

    Times are whole milliseconds, so the envelope's ISO text and the team's epoch
    milliseconds are the same instant.
    """
    cfg = BuiltinStreamConfig(
        events=N, concepts=[7, 6], drift_points=[N // 2], data_drift_points=[3 * N // 4], keys=50
    )
    for i, e in enumerate(drifting_events(cfg)):
        ms = round(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
        yield i, int(e["key"].removeprefix("user-")), ms, e["features"], e["label"]


def _team_event(i: int, entity: int, ms: int, features: dict[str, Any]) -> dict[str, Any]:
    """The same event as a team writes it: numeric ids, a nested customer, epoch ms."""
    customer = {"id": entity} | {name: features[name] for name in NESTED if name in features}
    rest = {name: value for name, value in features.items() if name not in NESTED}
    meta = {"channel": "web", "tags": ["promo", str(i % 3)]}
    return {"txn_id": i, "created_at": ms, "customer": customer, **rest, "meta": meta}


def write_streams(directory: Path, inline: bool) -> dict[str, Path]:
    """The same events (and labels) in the envelope and in the team's shape."""
    envelope, team, envelope_labels, team_labels = [], [], [], []
    for i, entity, ms, features, label in _stream():
        event = {"id": str(i), "key": str(entity), "ts": _iso(ms), "features": features}
        own = _team_event(i, entity, ms, features)
        if inline:
            event["label"] = own["is_fraud"] = label
        else:
            at = ms + LABEL_DELAY_MS
            envelope_labels.append((at, {"id": str(i), "label": label, "ts": _iso(at)}))
            decision = {"txn": i, "fraud": label, "reviewer": "ann"}
            team_labels.append((at, {"decision": decision, "decided_at": _iso(at, PARIS)}))
        envelope.append(orjson.dumps(event))
        team.append(orjson.dumps(own))
    team.append(orjson.dumps({**own, "txn_id": "bad-1", "created_at": "yesterday"}))
    team.append(orjson.dumps({**own, "txn_id": "bad-2", "cards": [1, 2]}))
    paths = {
        "envelope": write_jsonl(directory / "envelope.jsonl", envelope),
        "team": write_jsonl(directory / "team.jsonl", team),
    }
    if not inline:
        for name, rows in (("envelope_labels", envelope_labels), ("team_labels", team_labels)):
            rows.sort(key=lambda row: row[0])
            paths[name] = write_jsonl(
                directory / f"{name}.jsonl", [orjson.dumps(r) for _, r in rows]
            )
    return paths


def _plain(value: Any) -> Any:
    """Feature names without the team's nesting (`customer.salary` -> `salary`), anywhere."""
    if isinstance(value, dict):
        return {k.rsplit(".", 1)[-1]: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str) and value.startswith("customer."):
        return value.removeprefix("customer.")
    return value


def _unversioned(report: dict[str, Any]) -> dict[str, Any]:
    """A drift report without its feature-set version (the window specs name other fields)."""
    return {k: v for k, v in report.items() if k != "feature_version"}


def _scored(result: RunResult) -> dict[str, tuple[Any, ...]]:
    return {
        p["id"]: (
            p["key"], p["ts"], p["prediction"], p["score"], p["baseline"], p["label"],
            p["model_version"], p.get("late", False),
        )
        for p in result.predictions
    }  # fmt: skip


@pytest.mark.parametrize("labels", ["inline", "own_stream"])
def test_team_shape_scores_like_the_envelope(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    run_flow: Callable[[Settings], RunResult],
    labels: str,
) -> None:
    inline = labels == "inline"
    paths = write_streams(tmp_path, inline)
    common = {"drift": {"data_window": 1000}}

    def settings(name: str, **sections: Any) -> Settings:
        files = {"events_path": str(paths[name]), "batch_size": 500}
        if not inline:
            files["labels_path"] = str(paths[f"{name}_labels"])
        out = {"directory": str(tmp_path / name)}
        return make_settings(run={"source": "file"}, files=files, sinks=out, **common, **sections)

    envelope = run_flow(settings("envelope", features={"windows": _windows("salary")}))
    mapping: dict[str, Any] = {"events": TEAM_EVENTS | ({"label": "is_fraud"} if inline else {})}
    if not inline:
        mapping["labels"] = TEAM_LABELS
    team = run_flow(
        settings("team", features={"windows": _windows("customer.salary")}, mapping=mapping)
    )

    assert len(envelope.predictions) == N and envelope.monitor.labelled == N
    assert envelope.dead_letters == []
    assert _scored(team) == _scored(envelope)  # every prediction, score and baseline
    assert team.monitor.labelled == N and team.monitor.correct == envelope.monitor.correct
    kinds = {a["kind"] for a in envelope.alerts}
    assert {"concept_drift", "data_drift"} <= kinds, kinds  # something to compare
    assert _plain(team.alerts) == envelope.alerts
    # data drift watched the same features under the team's (dotted) names
    assert [_plain(_unversioned(r)) for r in team.drift_reports] == [
        _unversioned(r) for r in envelope.drift_reports
    ]
    assert "customer.salary" in team.drift_reports[0]["features"]
    # what did not fit the mapping is a dead letter naming the team's field
    errors = sorted(d["error"] for d in team.dead_letters)
    assert errors == [
        "features: field 'cards' is a list; map scalars only",
        "field 'created_at': expected epoch milliseconds, got 'yesterday'",
    ]
    assert {d["reason"] for d in team.dead_letters} == {"schema"}


# --- the command line ------------------------------------------------------------------------


def driftline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftline.flows", "run", "--no-metrics", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DRIFTLINE_RUN__PROGRESS_EVERY": "3600"},
    )


def _team_file(path: Path, n: int = 50) -> Path:
    return write_jsonl(
        path,
        [
            orjson.dumps(_team_event(i, i % 5, 1_767_225_600_000 + i * 1000, {"loan": i}))
            for i in range(n)
        ],
    )


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[mapping.events]\nid = "txn_id"\nkey = "txn_id"\ntime = "created_at"\n',
         "mapping.events.id 'txn_id' and mapping.events.key 'txn_id' name the same field"),
        ('[mapping.events]\nid = "txn_id"\nkey = "customer.id"\ntime = "created_at"\n'
         'time_format = "millis"\n', "mapping.events.time_format"),
        ('[mapping.events]\nid = "txn_id"\nkey = "customer.id"\ntime = "created_at"\n'
         'features = ["loan"]\nexclude = ["loan"]\n',
         "mapping.events.features and mapping.events.exclude both name 'loan'"),
        ('[mapping.labels]\nid = "txn"\ntime = "at"\n', "mapping.labels.label"),
    ],
)  # fmt: skip
def test_a_bad_mapping_exits_2_naming_the_key(tmp_path: Path, toml: str, key: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    proc = driftline("-c", str(config), "--events-file", str(_team_file(tmp_path / "e.jsonl")))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "bad configuration" in proc.stderr and key in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_a_mapping_that_matches_none_of_the_first_events_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text(
        '[mapping.events]\nid = "txn_id"\nkey = "customer.number"\ntime = "created_at"\n'
    )
    proc = driftline(
        "-c", str(config), "--events-file", str(_team_file(tmp_path / "e.jsonl")),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "mapping.events.key 'customer.number' is in none of the first 50 events" in proc.stderr
    assert "'customer.id'" in proc.stderr  # the fields they do have
    assert "starting" not in proc.stderr and "Traceback" not in proc.stderr
