"""With raw features, one model and labels in the events, the flow is River's own evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from river import datasets, evaluate, metrics

from driftline.flows.scoring.catalog import build_model
from tests.conftest import write_jsonl


def test_phishing_accuracy_equals_progressive_val_score(
    tmp_path: Path, make_settings, run_flow
) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    lines = [
        orjson.dumps(
            {
                "id": f"p{i}",
                "key": "site",
                "ts": (t0 + timedelta(seconds=i)).isoformat(),
                "features": x,
                "label": y,
            }
        )
        for i, (x, y) in enumerate(datasets.Phishing())
    ]
    path = write_jsonl(tmp_path / "phishing.jsonl", lines)
    settings = make_settings(
        run={"source": "file"},
        files={"events_path": str(path), "batch_size": 64},
        features={"windows": [], "time_since_last": False},
        model={"name": "logreg"},
        drift={"on_concept_drift": "keep"},
    )
    result = run_flow(settings)

    reference = evaluate.progressive_val_score(
        datasets.Phishing(), build_model("logreg"), metrics.Accuracy()
    )
    m = result.monitor
    assert m.labelled == len(lines) == 1250
    assert m.correct / m.labelled == reference.get()
    assert {p["model_version"] for p in result.predictions} == {1}
