import pytest

from driftline.flows.scoring.catalog import CATALOG, build_baseline, build_model
from driftline.flows.scoring.prequential import PrequentialMetric


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_catalog_model_predicts_then_learns(name: str) -> None:
    spec = CATALOG[name]
    model = build_model(name)
    baseline = build_baseline(spec.task, "prior")
    metric, baseline_metric = PrequentialMetric(spec.task), PrequentialMetric(spec.task)
    for i in range(500):
        x = {"a": float(i % 7), "b": float(i % 3)}
        y = (i % 7) > 3 if spec.task == "classification" else float(i % 7) * 2
        y_pred, y_base = model.predict_one(x), baseline.predict_one(x)
        if y_pred is not None:
            metric.update(y, y_pred)
        if y_base is not None:
            baseline_metric.update(y, y_base)
        model.learn_one(x, y)
        baseline.learn_one(x, y)
    # prequential: scored before it learned each event, the model learned the concept
    model_value, baseline_value = metric.get(), baseline_metric.get()
    if metric.bigger_is_better:
        assert model_value > baseline_value, (model_value, baseline_value)
    else:
        assert model_value < baseline_value, (model_value, baseline_value)
    if spec.task == "classification":
        assert model.predict_one({"a": 6.0, "b": 0.0}) is True
        assert model.predict_one({"a": 1.0, "b": 0.0}) is False
    else:
        assert model.predict_one({"a": 6.0, "b": 0.0}) == pytest.approx(12.0, abs=0.5)
        assert model.predict_one({"a": 1.0, "b": 0.0}) == pytest.approx(2.0, abs=0.5)
