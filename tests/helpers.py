"""Shared test helpers: run the CLI in-process or as a real subprocess, hash trees, need tools."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from spdeploy.cli import run


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Result:
    """Run ``spdeploy ARGS`` in this process (fast); stdin is not a terminal here."""
    capsys.readouterr()
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def cli_process(*args: str | Path, timeout: float = 120, **kw: Any) -> Result:
    """Run ``python -m spdeploy ARGS`` as a real subprocess."""
    done = subprocess.run(
        [sys.executable, "-m", "spdeploy", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **kw.pop("env", {})},
        check=False,
        **kw,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def tree_hash(root: Path) -> str:
    """Hash of every path, mode, mtime and content under root: any change shows."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest.update(f"{path.relative_to(root)}|{st.st_mode}|{st.st_mtime_ns}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def world_args(
    world: Any,
    command: str,
    *extra: str | Path,
    json_mode: bool = True,
    platform: str | None = "I386",
    profile: bool = True,
) -> list[str]:
    """``[--profile P] --state S [--json] COMMAND --media M --target T [--platform X] EXTRA``."""
    args = ["--profile", str(world.profile)] if profile else []
    args += ["--state", str(world.state), *(["--json"] if json_mode else []), command]
    args += ["--media", str(world.media), "--target", str(world.target)]
    args += ["--platform", platform] if platform else []
    return [*args, *map(str, extra)]


def require_tool(name: str) -> str:
    """The path of the program ``name``; without it the test skips, or fails when ``CI=true``."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} not installed, and CI must not skip tests that need it")
        pytest.skip(f"{name} not installed (./scripts/test installs it with apt when run as root)")
    return path


def cli_pty(*args: str | Path, timeout: float = 120, env: dict[str, str] | None = None) -> Result:
    """Run ``python -m spdeploy ARGS`` on a pseudo-terminal, as a person at a console would;
    ``out`` is everything the terminal received (stdout and stderr, escapes included)."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    extra = env or {}
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("NO_COLOR", None)
    env.update(extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "spdeploy", *map(str, args)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(master)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    return Result(code, received.decode("utf-8", "replace"), "")
