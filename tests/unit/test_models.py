import pytest

from driftline.flows.scoring.catalog import CATALOG, build_baseline, build_metric, build_model


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_catalog_model_predicts_then_learns(name: str) -> None:
    spec = CATALOG[name]
    model = build_model(name)
    baseline = build_baseline(spec.task, "prior")
    metric = build_metric(spec.task)
    for i in range(50):
        x = {"a": float(i % 7), "b": float(i % 3)}
        y = (i % 7) > 3 if spec.task == "classification" else float(i % 7) * 2
        y_pred = model.predict_one(x)
        if y_pred is not None:
            metric.update(y, y_pred)
        model.learn_one(x, y)
        baseline.learn_one(x, y)
    assert model.predict_one({"a": 6.0, "b": 0.0}) is not None


def test_catalog_has_the_required_kinds() -> None:
    assert {"logreg", "hat", "arf"} <= set(CATALOG)
    assert any(s.task == "regression" for s in CATALOG.values())
