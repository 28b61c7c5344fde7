"""The installed package serves the page's files (not the source tree's): they ship in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "flows" / "live" / "static"
NAMES = ("index.html", "app.js", "style.css")

SERVE = """
import sys, urllib.request
from driftline.flows.live import LiveFeed, LivePage
import driftline.flows.live as live
assert live.__file__.startswith(sys.argv[1]), live.__file__
page = LivePage(LiveFeed(), "127.0.0.1", 0)
url = page.start()
for name in sys.argv[2:]:
    path = "" if name == "index.html" else "static/" + name
    with urllib.request.urlopen(url + path, timeout=10) as resp:
        sys.stdout.buffer.write(name.encode() + b" " + str(len(resp.read())).encode() + b"\\n")
page.stop()
"""


def test_the_wheel_ships_and_serves_the_page(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(tmp_path)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("driftline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in NAMES:
        assert f"driftline/flows/live/static/{name}" in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {SERVE}",
         str(target), *NAMES],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    served = dict(line.split() for line in proc.stdout.splitlines())
    assert served == {name: str(len((STATIC / name).read_bytes())) for name in NAMES}
