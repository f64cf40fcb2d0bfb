"""File-system helpers below everything that writes: atomic replacement, the target's key.

Nothing here imports another spdeploy module but ``errors``, so the store, the reports, saved
plans and backup manifests can all use it without a cycle.
"""

from __future__ import annotations

import os
from pathlib import Path

from spdeploy.errors import BadInput, SpdeployError

STATE_ENV = "SPDEPLOY_STATE"


def default_state_dir() -> Path:
    """``$SPDEPLOY_STATE``, else the platform's user data folder: history, logs, backups."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("spdeploy", appauthor=False))


def target_key(target: Path) -> str:
    """A short, stable file name for a target (its resolved path, hashed): lock and reboot
    records in the state folder are named by it."""
    return path_key(str(target.resolve()))


def path_key(resolved: str, windows: bool = os.name == "nt") -> str:
    """One key per folder. Windows names are case-insensitive and take either slash, so
    ``C:\\Exchsrvr`` and ``c:/EXCHSRVR`` are one folder there and must share one key."""
    import hashlib  # deferred: `status` hashes only when a reboot record may be there
    import ntpath

    text = ntpath.normcase(resolved) if windows else resolved
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_atomic(
    path: str | os.PathLike[str],
    text: str,
    *,
    what: str = "the report here",
    error: type[SpdeployError] | None = None,
    mode: int = 0o644,
    make_parents: bool = False,
) -> None:
    """Write a file atomically and durably: a reader (node_exporter, a CI server, ``apply
    --plan``) sees the old file or the whole new one, never half, even after a power cut.

    The parent folder must exist unless ``make_parents`` (a report written into a folder that a
    typo created is worse than an error). A file that cannot be written is ``error``
    (BadInput by default) naming the path and ``what`` was being written; nothing is left.
    """
    import tempfile  # deferred: `status` reads through this module and never writes

    target = Path(path)
    tmp: str | None = None
    try:
        if make_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).chmod(mode)  # mkstemp's 0600 would hide a report from node_exporter's user
        Path(tmp).replace(target)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            raise (error or BadInput)(f"{target}: cannot write {what} ({reason})") from None
        raise


_UNPRINTABLE = {c: "?" for c in (*range(9), *range(11, 32), 127)}


def tail_lines(path: str | os.PathLike[str], count: int, *, window: int = 64 * 1024) -> list[str]:
    """The last ``count`` non-empty lines of a log, read from its end (a log may be gigabytes),
    with control characters replaced: an installer's escape sequences must not drive the
    terminal that shows them. A log that cannot be read has no lines."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - window))
            data = fh.read()
    except OSError:
        return []
    text = data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.translate(_UNPRINTABLE).rstrip() for line in text.split("\n")]
    if size > window:
        lines = lines[1:]  # the first line read may be the end of a longer one
    return [line for line in lines if line.strip()][-count:]
