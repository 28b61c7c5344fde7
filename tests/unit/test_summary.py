"""What the run monitor reports: the summary, the progress line, the refused-labels warning."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from driftline.flows.app.logs import setup_logging
from driftline.flows.app.monitor import RunMonitor
from driftline.flows.outputs.encode import EncodeOutputs
from driftline.flows.records import (
    Alert,
    Classified,
    DeadLetter,
    Prediction,
    Regressed,
    outcome_of,
)
from tests.conftest import write_jsonl

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def quiet(**fields) -> RunMonitor:
    return RunMonitor(out=io.StringIO(), **fields)


def line_of(summary: str, head: str) -> str:
    found = [line for line in summary.splitlines() if line.startswith(head)]
    assert len(found) == 1, summary
    return found[0]


def scored(event_id: str) -> Prediction:
    return Prediction(
        event_id,
        "k",
        T0.isoformat(),
        True,
        0.9,
        True,
        "prior",
        None,
        "logreg",
        1,
        "md-test",
        "v1",
        "shard-0",
        0.1,
    )


def refused_label(error: str = "label 'yes' is not of model.label_type bool") -> DeadLetter:
    return DeadLetter(
        '{"id":"e1","label":"yes"}', error, "score", T0.isoformat(), "label", "labels"
    )


# -- 1. regression: MAE, lower is better ------------------------------------------


def test_outcome_of_a_regressor_carries_absolute_errors() -> None:
    assert outcome_of("regression", "e1", 2.0, 1.5, 3.0) == Regressed("e1", 0.5, 1.0)
    assert outcome_of("regression", "e1", 2, None, 2.5) == Regressed("e1", None, 0.5)
    assert outcome_of("classification", "e1", True, True, None) == Classified("e1", True, None)


def test_regression_summary_reports_mae_and_says_which_way_is_better() -> None:
    m = quiet()
    for i in range(100):
        m.outcome(Regressed(f"r{i}", 0.41, 0.77))
    line = line_of(m.summary(), "MAE")
    assert "model 0.4100  baseline 0.7700 (lower is better): model better by 0.3600" in line
    assert "(100 labelled)" in line


def test_regression_summary_says_when_the_model_is_worse() -> None:
    m = quiet()
    m.outcome(Regressed("r1", 2.0, 1.0))
    assert "model worse by 1.0000" in line_of(m.summary(), "MAE")


def test_mae_of_any_scale_stays_readable() -> None:
    m = quiet()
    m.outcome(Regressed("r1", 48_213.4, 51_000.0))
    assert "model 48,213  baseline 51,000" in line_of(m.summary(), "MAE")


def test_classification_summary_states_the_direction() -> None:
    m = quiet()
    for right, base in [(True, True), (True, False), (True, False), (False, True)]:
        m.outcome(Classified("evt-1", right, base))
    line = line_of(m.summary(), "accuracy")
    assert "model 0.7500  baseline 0.5000  lift +0.2500 (higher is better)" in line
    assert "(4 labelled)" in line


def test_encode_outputs_hands_records_to_the_monitor() -> None:
    m = quiet()
    EncodeOutputs(m)(
        [
            ("shard-0", Regressed("r1", 1.0, 2.0)),
            ("shard-0", Classified("evt-1", True, False)),
            refused_label(),
        ]
    )
    assert m.labelled == 2 and m.model_mae.n == 1 and m.correct == 1
    assert m.refused == 1 and m.dead_reasons == {"label": 1}


# -- 2. resumed runs ----------------------------------------------------------------


def alert_at(index: int) -> Alert:
    return Alert(
        kind="concept_drift",
        detector="adwin",
        model="logreg",
        model_version=1,
        event_id=f"evt-{index:09d}",
        event_ts=T0.isoformat(),
        shard="shard-0",
    )


def resumed_run() -> RunMonitor:
    """A run resumed at event 19,000 of a stream with drifts at 20,000 and 30,000."""
    m = quiet(resumed=True, console_alerts=False)
    for i in range(19_000, 40_000):
        m.prediction(scored(f"evt-{i:09d}"))
        m.outcome(Classified(f"evt-{i:09d}", i % 10 != 0, i % 2 == 0))
    m.alert(alert_at(30_040))
    return m


def test_resumed_summary_says_what_it_covers() -> None:
    summary = resumed_run().summary([20_000, 30_000])
    assert (
        "covers           this run since it resumed from the recovery store; "
        "earlier events are not counted" in summary
    )


def test_resumed_summary_does_not_measure_drifts_it_saw_only_part_of() -> None:
    summary = resumed_run().summary([20_000, 30_000])
    partial = line_of(summary, "drift @   20,000")
    assert "not measured" in partial and "19,000" in partial
    assert "accuracy" not in partial and "first alert" not in partial  # not +10,040 events
    complete = line_of(summary, "drift @   30,000")
    assert "accuracy before 0.900" in complete and "first alert +40 events" in complete


def test_a_fresh_run_measures_every_drift_it_reached() -> None:
    m = quiet()
    for i in range(3000):
        m.prediction(scored(f"evt-{i:09d}"))
        m.outcome(Classified(f"evt-{i:09d}", True, False))
    summary = m.summary([1000, 5000])
    assert "covers" not in summary
    assert "accuracy before 1.000" in line_of(summary, "drift @    1,000")
    assert "not reached" in line_of(summary, "drift @    5,000")


# -- 3. never a metric on zero labels -----------------------------------------------


def test_no_labels_joined_says_so_instead_of_figures() -> None:
    m = quiet()
    for i in range(500):
        m.prediction(scored(f"evt-{i:09d}"))
    summary = m.summary([20_000])
    assert line_of(summary, "labels") == "labels           no labels joined yet"
    assert "0.0000" not in summary and "accuracy" not in summary and "MAE" not in summary


def test_a_baseline_that_predicted_nothing_reads_no_figure() -> None:
    m = quiet()
    for i in range(10):
        m.outcome(Classified(f"evt-{i}", i % 2 == 0, None))  # untrained baseline: None
    line = line_of(m.summary(), "accuracy")
    assert "0.0000" not in line and "lift" not in line
    assert "model 0.5000  baseline -" in line and "the baseline predicted none" in line


# -- 5. every label refused -----------------------------------------------------------


def test_all_labels_refused_warns_once_and_says_so(caplog) -> None:
    m = quiet()
    with caplog.at_level(logging.WARNING, logger="driftline.run"):
        for _ in range(1000):
            m.dead_letter(refused_label())
    warnings = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 1
    assert "model.label_type" in warnings[0].getMessage()
    assert "label 'yes' is not of model.label_type bool" in warnings[0].getMessage()
    line = line_of(m.summary(), "labels")
    assert "all 1,000 labels were refused (reason label: label 'yes'" in line
    assert "set model.label_type" in line


def test_no_refusal_warning_once_a_label_was_learned(caplog) -> None:
    m = quiet()
    m.outcome(Classified("evt-1", True, True))
    with caplog.at_level(logging.WARNING, logger="driftline.run"):
        for _ in range(1000):
            m.dead_letter(refused_label())
    assert not [r for r in caplog.records if "refused" in r.getMessage()]


# -- 6. progress in JSON logs -------------------------------------------------------------


@pytest.fixture
def json_stderr(monkeypatch) -> io.StringIO:
    """The process's log stream in JSON format, captured."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("INFO", "json")
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def test_json_progress_keeps_the_log_stream_json(json_stderr: io.StringIO) -> None:
    m = RunMonitor(progress_every=0.0, out=json_stderr, progress_format="json")
    m.tick()  # the first tick only starts the clock
    m.prediction(scored("evt-1"))
    m.outcome(Classified("evt-1", True, False))
    m.alert(alert_at(1))
    for _ in range(200):
        m.dead_letter(refused_label())
    m.tick()
    lines = json_stderr.getvalue().splitlines()
    records = [orjson.loads(line) for line in lines]  # every line is JSON
    progress = [r for r in records if r["logger"] == "driftline.progress"]
    assert len(progress) == 1 and progress[0]["msg"] == "progress"
    assert {"scored", "rate", "recent_accuracy", "alerts", "dead_letters", "late"} <= set(
        progress[0]
    )
    assert progress[0]["scored"] == 1 and progress[0]["recent_accuracy"] == 1.0


def test_text_progress_is_a_human_line() -> None:
    m = quiet(progress_every=0.0)
    m.tick()
    m.outcome(Regressed("r1", 0.5, 1.0))
    m.tick()
    assert "recent MAE 0.500" in m.out.getvalue()  # type: ignore[attr-defined]


# -- end to end ---------------------------------------------------------------------------


def events_file(path: Path, n: int, label=None) -> Path:
    def event(i: int) -> bytes:
        rec = {
            "id": f"e{i}",
            "key": f"k{i % 5}",
            "ts": (T0 + timedelta(seconds=i)).isoformat(),
            "features": {"a": float(i % 10), "b": float(i % 3)},
        }
        if label is not None:
            rec["label"] = label(i)
        return orjson.dumps(rec)

    return write_jsonl(path, (event(i) for i in range(n)))


def test_regression_run_prints_mae(tmp_path: Path, make_settings, run_flow) -> None:
    path = events_file(tmp_path / "events.jsonl", 2000, lambda i: 3.0 * (i % 10) + (i % 3))
    result = run_flow(
        make_settings(
            run={"source": "file"},
            files={"events_path": str(path)},
            model={"name": "linreg"},
            features={"windows": [], "time_since_last": False},
        )
    )
    line = line_of(result.monitor.summary(), "MAE")
    assert "(lower is better): model better by" in line and "(2,000 labelled)" in line


def test_untrained_baseline_reads_no_figure_end_to_end(
    tmp_path: Path, make_settings, run_flow
) -> None:
    result = run_flow(
        make_settings(
            builtin={
                "events": 500,
                "labels": "separate",
                "label_delay": "PT30M",  # every label after every prediction
                "label_delay_kind": "fixed",
                "bad_every": 0,
            }
        )
    )
    summary = result.monitor.summary()
    assert result.monitor.labelled == 500
    assert "0.0000" not in line_of(summary, "accuracy")


def test_no_label_joined_end_to_end(tmp_path: Path, make_settings, run_flow) -> None:
    result = run_flow(
        make_settings(builtin={"events": 500, "labels": "separate", "label_missing": 1.0})
    )
    summary = result.monitor.summary()
    assert line_of(summary, "labels") == "labels           no labels joined yet"
    assert "0.0000" not in summary


def test_string_labels_for_a_bool_model_warn_once(
    tmp_path: Path, make_settings, run_flow, caplog
) -> None:
    events = events_file(tmp_path / "events.jsonl", 600)
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        (
            orjson.dumps(
                {
                    "id": f"e{i}",
                    "label": "yes" if i % 2 else "no",
                    "ts": (T0 + timedelta(seconds=i + 1)).isoformat(),
                }
            )
            for i in range(600)
        ),
    )
    with caplog.at_level(logging.WARNING, logger="driftline.run"):
        result = run_flow(
            make_settings(
                run={"source": "file"},
                files={"events_path": str(events), "labels_path": str(labels)},
            )
        )
    warnings = [r for r in caplog.records if "were all refused" in r.getMessage()]
    assert len(warnings) == 1 and "model.label_type" in warnings[0].getMessage()
    line = line_of(result.monitor.summary(), "labels")
    assert line.startswith("labels           all 600 labels were refused (reason label:")
    assert "set model.label_type" in line
