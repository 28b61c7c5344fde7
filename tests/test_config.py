from pathlib import Path

import pytest
from pydantic import ValidationError

from driftline.flows.config import load_settings


def test_defaults_load() -> None:
    s = load_settings()
    assert s.run.source == "builtin" and s.metrics.host == "127.0.0.1"


def test_file_then_env_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nname = "hat"\n[metrics]\nport = 9200\n[builtin]\nevents = 10\n')
    monkeypatch.setenv("DRIFTLINE_METRICS__PORT", "9300")
    s = load_settings(cfg, {"builtin": {"events": 20}})
    assert s.model.name == "hat"
    assert s.metrics.port == 9300
    assert s.builtin.events == 20


@pytest.mark.parametrize(
    "overrides",
    [
        {"model": {"name": "no-such-model"}},
        {"builtin": {"concepts": [1, 2], "drift_points": []}},
        {"builtin": {"concepts": [1, 12], "drift_points": [10]}},
        {"run": {"source": "file"}},
        {"metrics": {"port": 70000}},
        {"features": {"allowed_lateness": "PT2H"}},
        {"model": {"unknown_option": 1}},
    ],
)
def test_bad_config_fails_at_start(overrides: dict) -> None:
    with pytest.raises(ValidationError):
        load_settings(None, overrides)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "nope.toml")
