"""stdout and stderr that never stop a command.

An administrator pipes ``spdeploy apply --yes`` into ``head``, quits ``less``, or loses the SSH
session half-way through a service pack. None of that may stop the run: a write to a closed pipe
or a vanished terminal switches that stream off, SIGHUP switches both off, and the command goes
on to its end, with its normal exit code and history. The run's own log in the state folder
keeps everything it would have printed. (``on_signal`` is also how the error boundary turns
SIGTERM into Ctrl-C.)
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any


class Guarded(io.TextIOBase):
    """A text stream that turns itself off, instead of raising, once its reader has gone."""

    def __init__(self, inner: IO[str]) -> None:
        super().__init__()
        self.inner = inner
        self.gone = False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.inner, "encoding", None) or "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self.inner.write(text)
            except OSError:  # EPIPE, EIO from a hung-up terminal, ENOSPC on a redirect
                self.lose()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.inner.flush()
            except OSError:
                self.lose()

    def isatty(self) -> bool:
        if self.gone:
            return False
        try:
            return self.inner.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self.inner.fileno()

    def lose(self) -> None:
        """Switch the stream off. Its descriptor now points at the null device, so what is
        still buffered, and the interpreter's own flush at exit, go nowhere without an error."""
        self.gone = True
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, self.inner.fileno())
            finally:
                os.close(null)
        with contextlib.suppress(OSError, ValueError):
            self.inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Guard ``sys.stdout`` and ``sys.stderr`` (and survive SIGHUP) for the block's duration."""
    saved = sys.stdout, sys.stderr
    for stream in saved:
        # A path of non-UTF-8 bytes printed to a strict stream would raise: escape it as
        # Python's own stderr does (``\udcff``).
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    out, err = Guarded(saved[0]), Guarded(saved[1])
    sys.stdout, sys.stderr = out, err
    restore_hup = _on_hangup(out, err)
    try:
        yield
    finally:
        out.flush()
        err.flush()
        restore_hup()
        sys.stdout, sys.stderr = saved


def _on_hangup(*streams: Guarded) -> Callable[[], object]:
    """SIGHUP (the terminal went away): output off, work on. Returns what undoes it."""

    def handler(_signum: int, _frame: object) -> None:
        for stream in streams:
            stream.lose()

    return on_signal("SIGHUP", handler)


def on_signal(name: str, handler: Callable[[int, Any], None]) -> Callable[[], object]:
    """Handle signal ``name`` (SIGHUP, SIGTERM) with ``handler``; returns what undoes it. Where
    the system has no such signal (Windows has no SIGHUP), or this is not the main thread (an
    embedding program owns the signals), nothing is handled and the undo does nothing."""
    number = getattr(signal, name, None)
    if number is None:
        return lambda: None
    try:
        previous = signal.signal(number, handler)
    except ValueError:
        return lambda: None
    return lambda: signal.signal(number, previous)
