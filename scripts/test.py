"""The README's test command where there is no bash (Windows): ``python scripts/test.py``.

Installs the package and its test tools into ``.venv``, then runs ruff, mypy and the tests;
extra arguments go to pytest. On Debian, ``scripts/test`` also installs the Debian tools some
tests compare against (xorriso, genisoimage, bsdtar, chromium, promtool); without them those
tests skip, and fail when CI=true on Linux (tests/helpers.py, require_tool).
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    env_dir = ROOT / ".venv"
    bindir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    python = bindir / ("python.exe" if sys.platform == "win32" else "python")
    if not python.exists():
        venv.create(env_dir, with_pip=True)
    steps = [
        [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [python, "-m", "pip", "install", "--quiet", "-e", ".[test]"],
        [python, "-m", "ruff", "check", "."],
        [python, "-m", "ruff", "format", "--check", "."],
        [python, "-m", "mypy"],
    ]
    for step in steps:
        done = subprocess.run([str(a) for a in step], cwd=ROOT, check=False)
        if done.returncode:
            return done.returncode
    # one worker per CPU, as scripts/test does (pytest-xdist)
    pytest = [str(python), "-m", "pytest", "-n", "auto", *argv]
    return subprocess.run(pytest, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
