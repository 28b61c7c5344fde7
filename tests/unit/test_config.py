from pathlib import Path

import pytest
from pydantic import ValidationError

from driftline.flows.config import load_settings


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


def test_sources_merge_per_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[metrics]\nhost = "0.0.0.0"\nport = 9200\n[drift]\nwarmup = 7\n')
    monkeypatch.setenv("DRIFTLINE_METRICS__PORT", "9300")
    s = load_settings(cfg, {"drift": {"cooldown": 3}})
    assert (s.metrics.host, s.metrics.port) == ("0.0.0.0", 9300)
    assert (s.drift.warmup, s.drift.cooldown) == (7, 3)


def test_file_is_read_only_by_its_load(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[metrics]\nport = 9200\n")
    assert load_settings(cfg).metrics.port == 9200
    assert load_settings().metrics.port == 9108


@pytest.mark.parametrize(
    "text",
    ["[metrics]\nprot = 9200\n", "[metric]\nport = 9200\n", "events = 10\n"],
)
def test_unknown_keys_in_the_file_are_refused(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ValidationError):
        load_settings(cfg)


def test_bad_file_value_names_the_setting(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[metrics]\nport = 70000\n")
    with pytest.raises(ValidationError, match=r"metrics\.port"):
        load_settings(cfg)
