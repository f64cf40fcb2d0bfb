"""The one door for processes: argument lists, logs, timeouts that kill the whole tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spdeploy import process

posix_sh = pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX sh")


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@posix_sh
def test_exit_code_and_log(tmp_path: Path) -> None:
    exe = _script(tmp_path / "Update.exe", 'echo "hello $1"\necho oops >&2\nexit 7\n')
    log = tmp_path / "logs" / "step.log"
    result = process.run([str(exe), "a b"], timeout=30, log_path=log)
    assert result.exit_code == 7
    assert not result.timed_out
    assert log.read_text() == "hello a b\noops\n"


@posix_sh
def test_arguments_are_not_interpreted_by_a_shell(tmp_path: Path) -> None:
    exe = _script(tmp_path / "x.exe", 'printf "%s\\n" "$@"\n')
    log = tmp_path / "log"
    process.run([str(exe), "$(touch pwned)", "; rm -rf /"], timeout=30, log_path=log)
    assert log.read_text() == "$(touch pwned)\n; rm -rf /\n"
    assert not (tmp_path / "pwned").exists()


@posix_sh
def test_missing_program_is_a_normal_failure(tmp_path: Path) -> None:
    result = process.run([str(tmp_path / "nope.exe")], timeout=5, log_path=tmp_path / "log")
    assert result.exit_code is None
    assert "No such file" in result.error
    assert "could not start" in (tmp_path / "log").read_text()


@posix_sh
def test_not_executable_is_a_normal_failure(tmp_path: Path) -> None:
    exe = tmp_path / "plain.exe"
    exe.write_text("#!/bin/sh\nexit 0\n")
    result = process.run([str(exe)], timeout=5, log_path=None)
    assert result.exit_code is None
    assert "ermission" in result.error


@posix_sh
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


@posix_sh
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


@posix_sh
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
        found = {o.pid: o.component for o in orphans(tmp_path / "target", {"r1": staged})}
        assert found == {started[0].pid: "calcon", started[1].pid: "ntsconn"}
        wait_or_kill(list(found), timeout=0.2)  # they outlast the wait: their trees are killed
        started[0].wait(timeout=10)  # (psutil reaps them: their exit status is lost to Popen)
        started[1].wait(timeout=10)
        assert started[2].poll() is None and started[3].poll() is None
    finally:
        for proc in started:
            proc.kill()
            proc.wait()


# -- the Windows branches, through their ``windows`` switch -------------------------------------


def command_line_to_argv(line: str) -> list[str]:
    """A reference of ``CommandLineToArgvW`` (and the C runtime's ``argv``), as Microsoft
    documents it ("Parsing C++ command-line arguments"): how an installer splits its command
    line. The program name ends at the next quote if it starts with one, else at whitespace;
    after it, 2n backslashes before a quote are n backslashes and the quote opens or closes a
    quoted part, 2n+1 are n and a literal quote; backslashes before anything else are literal;
    in a quoted part, two quotes are one literal quote."""
    args: list[str] = []
    i, n = 0, len(line)
    if line.startswith('"'):
        end = line.find('"', 1)
        end = n if end < 0 else end
        args.append(line[1:end])
        i = end + 1
    else:
        while i < n and line[i] not in " \t":
            i += 1
        args.append(line[:i])
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        current, quoted = [], False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                run = 0
                while i < n and line[i] == "\\":
                    run, i = run + 1, i + 1
                if i < n and line[i] == '"':
                    current.append("\\" * (run // 2))
                    if run % 2:
                        current.append('"')
                        i += 1
                else:
                    current.append("\\" * run)
            elif line[i] == '"':
                if quoted and i + 1 < n and line[i + 1] == '"':
                    current.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            else:
                current.append(line[i])
                i += 1
        args.append("".join(current))


def test_the_reference_parser_follows_microsofts_examples() -> None:
    # the table of "Parsing C++ command-line arguments"
    assert command_line_to_argv('x "abc" d e') == ["x", "abc", "d", "e"]
    assert command_line_to_argv(r"x a\\b d\"e f\"g h") == ["x", r"a\\b", 'd"e', 'f"g', "h"]
    assert command_line_to_argv(r"x a\\\"b c d") == ["x", r"a\"b", "c", "d"]
    assert command_line_to_argv(r'x a\\\\"b c" d e') == ["x", "a\\\\b c", "d", "e"]
    assert command_line_to_argv('x a"b"" c d') == ["x", 'ab" c d']


EXCHANGE_PATHS = [
    r"C:\Program Files\Exchsrvr",  # Q230251: a space in the Exchange path
    r"C:\Exch Srvr\Connect\Exchconn",
    "C:\\Program Files\\",  # a trailing backslash before the closing quote
    r"\\server\share\SP4",  # UNC media
    r"\\server\share with space\SP4\Eng\Server\Setup\I386",
    "D:\\",
    "/d:C:\\exchsrvr\\bin",
    'say "hi"',
    "",
    "tab\there",
]


def test_installer_arguments_survive_the_windows_command_line() -> None:
    argv = [r"C:\spdeploy state\runs\r1\staged\server\Update.exe", *EXCHANGE_PATHS]
    line = process.command_line(argv, windows=True)
    assert command_line_to_argv(line) == argv
    assert line.startswith(
        r'"C:\spdeploy state\runs\r1\staged\server\Update.exe" "C:\Program Files\Exchsrvr"'
    )
    assert '"C:\\Program Files\\\\"' in line  # the backslash doubled before the quote
    # what quoting prevents: joined with spaces, the installer sees other arguments
    naive = command_line_to_argv(" ".join(argv[:2]))
    assert naive == [r"C:\spdeploy", *argv[0].split(" ")[1:], r"C:\Program", r"Files\Exchsrvr"]


@given(st.lists(st.text(st.characters(blacklist_characters="\x00"), max_size=12), max_size=6))
def test_any_argument_list_survives_the_windows_command_line(args: list[str]) -> None:
    argv = [r"C:\Stage Dir\Update.exe", *args]
    assert command_line_to_argv(process.command_line(argv, windows=True)) == argv


def test_posix_command_line_is_shell_quoted() -> None:
    argv = ["/stage/Update.exe", "/srv/Exch Srvr", "$(x)"]
    assert process.command_line(argv, windows=False) == "/stage/Update.exe '/srv/Exch Srvr' '$(x)'"


def test_each_system_gives_the_installer_a_group_of_its_own() -> None:
    assert process.popen_options(windows=True) == {"creationflags": 0x00000200}
    assert process.popen_options(windows=False) == {"start_new_session": True}


def test_the_windows_tree_kill_finds_children_and_grandchildren_through_psutil(
    tmp_path: Path,
) -> None:
    """No process group to signal on Windows: psutil's parent links must reach every level."""
    pids = tmp_path / "pids"
    grandchild = "import time; time.sleep(300)"
    child = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', {grandchild!r}])\n"
        "open(sys.argv[1], 'a').write(f'{p.pid}\\n')\n"
        "time.sleep(300)\n"
    )
    top = subprocess.Popen([sys.executable, "-c", child, str(pids)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (pids.exists() and pids.read_text().strip()):
            time.sleep(0.05)
        (grand,) = [int(p) for p in pids.read_text().split()]
        assert psutil.pid_exists(grand)
    finally:
        process.kill_tree(top.pid, windows=True)
        top.wait(timeout=30)
    assert top.returncode is not None
    gone = not psutil.pid_exists(grand) or psutil.Process(grand).status() == psutil.STATUS_ZOMBIE
    assert gone


@pytest.mark.skipif(sys.platform != "win32", reason="a DWORD exit code exists only on Windows")
def test_windows_exit_codes_arrive_as_the_dword() -> None:
    for code, expected in (
        (3010, 3010),
        (-1073741819, 0xC0000005),
        (0xC0000005 - (1 << 32), 0xC0000005),
    ):
        done = process.run(
            [sys.executable, "-c", f"raise SystemExit({code})"], timeout=60, log_path=None
        )
        assert done.exit_code == expected


def test_wait_returns_the_exit_code_and_times_out_as_popen_does(tmp_path: Path) -> None:
    done = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    assert process.wait(done, timeout=60) == 7
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(slow, timeout=0.2)
        assert slow.poll() is None  # still running: the caller decides (kills its tree)
    finally:
        slow.kill()
        slow.wait()
