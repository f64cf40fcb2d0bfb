"""The one boundary where errors reach the user (pre-commit's ``error_handler.py`` is the model).

Expected errors (:class:`SpdeployError`) are one line, or a JSON envelope with a stable ``code``
under ``--json``, and their own exit code. Ctrl-C, and SIGTERM, are 130, after the executor has
recorded the run as interrupted. Anything else is a bug: a short line, exit 70, and the
traceback appended to ``crash.log`` in the state folder, even when reporting the error itself
fails.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from spdeploy import __version__
from spdeploy.errors import Internal, Interrupted, SpdeployError


class Outcome:
    """What the block decided; the handler sets it when it catches an error."""

    __slots__ = ("exit_code",)

    def __init__(self, exit_code: int = 0) -> None:
        self.exit_code = exit_code


@contextlib.contextmanager
def error_handler(
    argv: list[str], json_mode: bool, state_dir: Callable[[], Path | None]
) -> Iterator[Outcome]:
    """Run the block; turn what escapes it into an exit code on the returned outcome.

    ``state_dir()`` names the folder for the crash log (``--state``, once parsed), None for the
    default one.
    """
    outcome = Outcome()
    try:
        try:
            with _terminate_as_interrupt():
                yield outcome
        except SpdeployError as exc:
            outcome.exit_code = report(exc, json_mode)
        except KeyboardInterrupt:
            outcome.exit_code = report(Interrupted("interrupted"), json_mode)
    except Exception as exc:  # a bug, in the block or in reporting its error: never a traceback
        where = crash_log(exc, argv, state_dir())
        message = f"internal error: {type(exc).__name__}: {exc} (traceback in {where})"
        try:
            outcome.exit_code = report(Internal(message), json_mode)
        except Exception:  # the reporter itself is broken: the plainest line there is
            sys.stderr.write(f"spdeploy: error: {message}\n")
            outcome.exit_code = Internal.exit_code


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (systemd stopping a unit, Ansible's or ``timeout``'s deadline, ``kill``) ends a
    command as Ctrl-C does: the installer's tree stopped, the run recorded as interrupted, the
    command that resumes it printed, exit 130. Unhandled, it was a silent death (exit 143) that
    left the history saying "running" and the installer working on."""
    from spdeploy.streams import on_signal

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    undo = on_signal("SIGTERM", handler)
    try:
        yield
    finally:
        undo()


def report(exc: SpdeployError, json_mode: bool) -> int:
    """Show ``exc`` as the user sees errors; its exit code."""
    from spdeploy.output import Output

    Output(json_mode=json_mode).error(exc)
    return exc.exit_code


def crash_log(exc: BaseException, argv: list[str], folder: Path | None) -> str:
    """Append the traceback to ``crash.log`` in ``folder`` (default: the state folder); where
    it went, or why it could not be written."""
    import time
    import traceback

    from spdeploy.fsutil import default_state_dir

    try:
        folder = folder or default_state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "crash.log"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        # a path of non-UTF-8 bytes (a surrogate escape) must not crash the crash log
        with path.open("a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(f"--- {stamp} spdeploy {__version__}: spdeploy {' '.join(argv)}\n")
            fh.write("".join(traceback.format_exception(exc)) + "\n")
        return str(path)
    except OSError:
        return "(could not write a crash log)"
