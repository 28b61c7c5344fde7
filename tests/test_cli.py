import subprocess
import sys

import pytest

from flows.cli import main


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "driftline" in capsys.readouterr().out


def test_bad_config_exits_2_before_running() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--model", "nope", "--no-metrics"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown model 'nope'" in proc.stderr
