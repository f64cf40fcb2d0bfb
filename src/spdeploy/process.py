"""The one module that starts processes.

Installers are the core risk: they run from an argument list (never a shell), with a timeout that
kills the whole process tree, their output going straight to a log file so that an installer
writing gigabytes costs no memory. "Not found" and "permission denied" come back as ordinary
failures, never as exceptions.

Where Windows differs, the choice is a function taking ``windows`` (default: this system), so
both branches are tested anywhere: how a process gets its own group (:func:`popen_options`),
how its tree is killed (:func:`kill_tree`), how an argument list becomes the command line the
installer parses (:func:`command_line`), and the exit code as a DWORD (``exitcodes``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spdeploy import exitcodes, faults

log = logging.getLogger(__name__)

# Set in every installer's environment, and inherited by whatever it starts: after a crash, a
# resume finds what an earlier run left running even if it never learnt the process id.
RUN_ENV = "SPDEPLOY_RUN"
COMPONENT_ENV = "SPDEPLOY_COMPONENT"
# ... and the target it works on, whatever state folder its run was recorded in: another
# apply, or a restore, must not start beside it (the history that knows the run may be another's)
TARGET_ENV = "SPDEPLOY_TARGET"

_POSIX = sys.platform != "win32"


@dataclass(frozen=True)
class ProcessResult:
    argv: tuple[str, ...]
    exit_code: int | None  # None when it never started or was killed at the timeout
    timed_out: bool
    duration_s: float
    log_path: Path | None
    error: str = ""  # why it did not start


@dataclass(frozen=True)
class Captured:
    exit_code: int | None
    output: str


# Windows' CREATE_NEW_PROCESS_GROUP (subprocess defines it only there)
_NEW_GROUP = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x00000200)


def popen_options(windows: bool = not _POSIX) -> dict[str, Any]:
    """How an installer gets a group of its own, so a timeout or Ctrl-C reaches its children:
    its own session on POSIX; a new process group on Windows (Ctrl-C at the console then goes
    to spdeploy alone, which kills the tree itself)."""
    if windows:
        return {"creationflags": _NEW_GROUP}
    return {"start_new_session": True}


def command_line(argv: Sequence[str], windows: bool = not _POSIX) -> str:
    """``argv`` as one command line: on Windows the very string ``CreateProcess`` receives
    (``subprocess.list2cmdline``: the installer's C runtime splits it back by the
    ``CommandLineToArgvW`` rules, so ``C:\\Exch Srvr`` stays one argument, Q230251); elsewhere
    as a POSIX shell would need it quoted."""
    if windows:
        return subprocess.list2cmdline(list(argv))
    import shlex

    return shlex.join(argv)


def kill_tree(pid: int, windows: bool = not _POSIX) -> None:
    """Kill ``pid`` and every descendant, including those that left its process group.

    Windows has no process groups to signal: there the tree is what psutil finds below ``pid``
    (parent process ids), killed with TerminateProcess, children first."""
    import psutil  # deferred: only a timeout needs it

    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        family = []
    if not windows:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(family, timeout=5)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    log_path: Path | None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    attach: bool = False,
    on_start: Callable[[int], None] | None = None,
) -> ProcessResult:
    """Run ``argv`` to completion or ``timeout``; output to ``log_path`` unless ``attach``.

    ``attach`` leaves stdin/stdout/stderr on the console, for installers that need a person.
    ``on_start`` hears the process id as soon as it exists (the journal records it).
    """
    args = tuple(str(a) for a in argv)
    log.debug("run %s (timeout %ss, log %s)", args, timeout, log_path)
    started = time.monotonic()
    out = None
    if not attach and log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = log_path.open("ab")
    try:
        try:
            proc = subprocess.Popen(
                args,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=None if attach else subprocess.DEVNULL,
                stdout=None if attach else (out or subprocess.DEVNULL),
                stderr=None if attach else subprocess.STDOUT,
                **popen_options(),
            )
        except (OSError, ValueError) as exc:  # ValueError: a NUL in an argument
            reason = getattr(exc, "strerror", None) or str(exc)
            if out is not None:
                out.write(f"spdeploy: could not start {args[0]}: {reason}\n".encode())
            return ProcessResult(args, None, False, time.monotonic() - started, log_path, reason)
        try:
            faults.point("after-spawn")  # the window a resume must survive: pid not recorded
            if on_start is not None:
                on_start(proc.pid)
            # the DWORD on Windows: 0xC0000005, never -1073741819
            code = exitcodes.normalise(wait(proc, timeout), windows=not _POSIX)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait()
            code, timed_out = None, True
            if out is not None:
                out.write(f"\nspdeploy: killed after the {timeout:g} s timeout\n".encode())
        except BaseException:  # Ctrl-C: never leave an installer running behind us
            kill_tree(proc.pid)
            proc.wait()
            raise
    finally:
        if out is not None:
            out.close()
    duration = time.monotonic() - started
    log.debug("exit %s after %.3fs", code, duration)
    return ProcessResult(args, code, timed_out, duration, log_path)


@dataclass(frozen=True)
class Orphan:
    """A process an earlier run started (or its descendant), still alive."""

    pid: int
    component: str | None  # which step's, when the process says
    command: str


def orphans(target: Path, runs: Mapping[str, Path]) -> list[Orphan]:
    """Live processes earlier runs left at work on ``target`` (``runs``: run id -> its staged
    folder): those whose executable or command line lies under a run's staged folder, those
    carrying one of these runs' :data:`RUN_ENV` (an installer's children, or an installer that
    copied itself elsewhere), and those carrying the target's :data:`TARGET_ENV` (a run
    recorded in another state folder). One pass over the system's processes.

    The working folder is deliberately not a sign: a person's shell sitting in the folder is not
    an installer, and a resume would wait for it, then kill it.
    """
    import psutil

    roots = {
        os.path.normcase(str(path))
        for staged in runs.values()
        for path in (staged.absolute(), staged.resolve())
    }
    wanted = os.path.normcase(str(target.resolve()))
    me = os.getpid()
    found: list[Orphan] = []
    for proc in psutil.process_iter(["pid", "exe", "cmdline"]):
        if proc.pid == me:
            continue
        cmdline = [str(a) for a in proc.info.get("cmdline") or ()]
        paths = [str(proc.info.get("exe") or ""), *cmdline]
        component = next((c for p in paths if (c := _step_of(p, roots)) is not None), None)
        if component is None:
            try:
                env = proc.environ()
            except (psutil.Error, OSError):
                continue
            mark = env.get(TARGET_ENV)
            on_target = mark is not None and os.path.normcase(mark) == wanted
            if env.get(RUN_ENV) not in runs and not on_target:
                continue
            component = env.get(COMPONENT_ENV) or ""
        found.append(Orphan(proc.pid, component or None, " ".join(cmdline)))
    return found


def _step_of(path: str, roots: set[str]) -> str | None:
    """The component folder ``path`` lies in under one of ``roots`` (``staged/<id>/...``)."""
    if not Path(path).is_absolute():
        return None
    path = os.path.normcase(os.path.normpath(path))
    for root in roots:
        if path.startswith(root + os.sep):
            return path[len(root) + 1 :].split(os.sep, 1)[0]
    return None


def wait_or_kill(pids: Sequence[int], timeout: float) -> None:
    """Wait for ``pids`` to end (they are not our children); kill the trees of those left when
    ``timeout`` runs out."""
    import psutil

    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    _gone, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        kill_tree(proc.pid)


def wait(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """``proc.wait(timeout)``, told the moment the process ends.

    ``Popen.wait`` with a timeout polls with sleeps that grow to 50 ms on POSIX: a short
    installer costs up to that much more than it runs. On Linux a pidfd becomes readable when
    the process exits, so ``select`` sleeps exactly as long as needed (Windows' own wait never
    polled). Raises ``subprocess.TimeoutExpired`` as ``Popen.wait`` does.
    """
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return proc.wait(timeout=timeout)
    try:
        fd = pidfd_open(proc.pid)
    except OSError:  # an old kernel, or the process is already gone and reaped
        return proc.wait(timeout=timeout)
    try:
        import select

        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        return proc.wait()
    finally:
        os.close(fd)


def capture(argv: Sequence[str], *, timeout: float) -> Captured:
    """Run a short query command (a probe) and return its text output."""
    try:
        done = subprocess.run(
            [str(a) for a in argv],
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return Captured(None, "")
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        log.debug("capture %s failed: %s", argv, exc)
        return Captured(None, "")
    code = exitcodes.normalise(done.returncode, windows=not _POSIX)
    return Captured(code, done.stdout.decode("utf-8", errors="replace"))
