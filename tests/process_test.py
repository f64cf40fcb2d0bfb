"""The one door for processes: argument lists, logs, timeouts that kill the whole tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from spdeploy import process

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX sh")


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_exit_code_and_log(tmp_path: Path) -> None:
    exe = _script(tmp_path / "Update.exe", 'echo "hello $1"\necho oops >&2\nexit 7\n')
    log = tmp_path / "logs" / "step.log"
    result = process.run([str(exe), "a b"], timeout=30, log_path=log)
    assert result.exit_code == 7
    assert not result.timed_out
    assert log.read_text() == "hello a b\noops\n"


def test_arguments_are_not_interpreted_by_a_shell(tmp_path: Path) -> None:
    exe = _script(tmp_path / "x.exe", 'printf "%s\\n" "$@"\n')
    log = tmp_path / "log"
    process.run([str(exe), "$(touch pwned)", "; rm -rf /"], timeout=30, log_path=log)
    assert log.read_text() == "$(touch pwned)\n; rm -rf /\n"
    assert not (tmp_path / "pwned").exists()


def test_missing_program_is_a_normal_failure(tmp_path: Path) -> None:
    result = process.run([str(tmp_path / "nope.exe")], timeout=5, log_path=tmp_path / "log")
    assert result.exit_code is None
    assert "No such file" in result.error
    assert "could not start" in (tmp_path / "log").read_text()


def test_not_executable_is_a_normal_failure(tmp_path: Path) -> None:
    exe = tmp_path / "plain.exe"
    exe.write_text("#!/bin/sh\nexit 0\n")
    result = process.run([str(exe)], timeout=5, log_path=None)
    assert result.exit_code is None
    assert "ermission" in result.error


def test_timeout_kills_child_and_grandchild(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The installer starts a child, the child a grandchild that leaves the process group.
    exe = _script(
        tmp_path / "hang.exe",
        f'sleep 300 & echo $! >> "{pids}"\n'
        f'( setsid sleep 300 & echo $! >> "{pids}"; wait ) &\n'
        "sleep 300\n",
    )
    result = process.run([str(exe)], timeout=1.5, log_path=tmp_path / "log")
    assert result.timed_out
    assert result.exit_code is None
    assert "killed after" in (tmp_path / "log").read_text()
    left = [int(p) for p in pids.read_text().split()]
    assert len(left) == 2
    for pid in left:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_large_output_goes_to_the_file_not_memory(tmp_path: Path) -> None:
    exe = _script(tmp_path / "noisy.exe", "head -c 50000000 /dev/zero\n")
    log = tmp_path / "log"
    before = psutil.Process(os.getpid()).memory_info().rss
    result = process.run([str(exe)], timeout=60, log_path=log)
    after = psutil.Process(os.getpid()).memory_info().rss
    assert result.exit_code == 0
    assert log.stat().st_size == 50_000_000
    assert after - before < 20_000_000


def test_capture_returns_output_and_handles_missing(tmp_path: Path) -> None:
    done = process.capture([sys.executable, "-c", "print('5.5.2653.0')"], timeout=30)
    assert done.exit_code == 0 and done.output.strip() == "5.5.2653.0"
    assert process.capture([str(tmp_path / "missing")], timeout=5).exit_code is None


def test_duration_is_measured(tmp_path: Path) -> None:
    exe = _script(tmp_path / "s.exe", "sleep 0.2\n")
    started = time.monotonic()
    result = process.run([str(exe)], timeout=30, log_path=None)
    assert 0.2 <= result.duration_s <= time.monotonic() - started + 0.01


def test_orphans_are_found_by_their_path_and_their_mark(tmp_path: Path) -> None:
    """What a resume waits for: an installer run from the staged folder, a child it started
    elsewhere (it carries the run's mark), but not a shell that only sits in the folder."""
    from spdeploy.process import COMPONENT_ENV, RUN_ENV, orphans, wait_or_kill

    staged = tmp_path / "runs" / "r1" / "staged"
    installer = staged / "calcon" / "Calcon.exe"
    installer.parent.mkdir(parents=True)
    installer.write_text("#!/bin/sh\nsleep 60\n")
    installer.chmod(0o755)
    started = [
        subprocess.Popen(["/bin/sh", str(installer)]),
        subprocess.Popen(
            ["sleep", "60"], env={**os.environ, RUN_ENV: "r1", COMPONENT_ENV: "ntsconn"}
        ),
        subprocess.Popen(["sleep", "60"], cwd=installer.parent),  # a person's shell, say
        subprocess.Popen(["sleep", "60"], env={**os.environ, RUN_ENV: "another-run"}),
    ]
    try:
        found = {o.pid: o.component for o in orphans("r1", staged)}
        assert found == {started[0].pid: "calcon", started[1].pid: "ntsconn"}
        wait_or_kill(list(found), timeout=0.2)  # they outlast the wait: their trees are killed
        started[0].wait(timeout=10)  # (psutil reaps them: their exit status is lost to Popen)
        started[1].wait(timeout=10)
        assert started[2].poll() is None and started[3].poll() is None
    finally:
        for proc in started:
            proc.kill()
            proc.wait()
