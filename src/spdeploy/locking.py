"""The target's lock: one apply or restore at a time on a target; the others exit 4 at once.

Two OS locks (flock / msvcrt.locking, through filelock; the kernel drops them when their holder
dies, so a lock left by a killed spdeploy never blocks the next one):

- one in the state folder, ``locks/<hash of the target's path>.lock``, beside a note naming the
  holder's run and process, so a loser can say who holds it;
- one in the target itself, ``.spdeploy.lock``, so that every spdeploy that can change the
  target sees it, whatever its state folder: two administrators, or Ansible and a console user.

The target's lock file is deleted while still held, so a run leaves the target as the installers
left it: filelock (3.20.4 on) refuses a lock taken on a file already unlinked, so a rival that
opened the old file cannot hold it beside one that locks a new file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from spdeploy.errors import BadInput, LockHeld, TargetError
from spdeploy.fsutil import target_key
from spdeploy.store import Store

TARGET_LOCK = ".spdeploy.lock"


def lock_path(store: Store, target: Path) -> Path:
    """The state folder's lock file for ``target``."""
    return store.state_dir / "locks" / f"{target_key(target)}.lock"


@contextlib.contextmanager
def target_lock(store: Store, target: Path) -> Iterator[Callable[[str], None]]:
    """Both locks, taken at once or not at all (LockHeld, exit 4). Yields ``announce(run_id)``,
    which leaves the note a loser reads; the note goes when the lock does."""
    import filelock

    lock_file = lock_path(store, target)
    note = lock_file.with_suffix(".holder")
    in_target = target / TARGET_LOCK
    with contextlib.ExitStack() as held:
        try:
            lock_file.parent.mkdir(parents=True, exist_ok=True)
            held.enter_context(filelock.FileLock(lock_file, timeout=0))
        except filelock.Timeout:
            raise _held_here(target, _read_holder(note)) from None
        except OSError as exc:  # a read-only or full state folder
            raise BadInput(
                f"{store.state_dir}: cannot take the target's lock in the state folder "
                f"({exc.strerror or exc}); it must be writable (choose another with --state)"
            ) from None
        held.callback(_remove_quietly, note)
        try:
            held.enter_context(filelock.FileLock(in_target, timeout=0))
        except filelock.Timeout:
            raise _held_by_another(target, in_target) from None
        except OSError as exc:
            raise TargetError(
                f"{in_target}: cannot create the target's lock file "
                f"({exc.strerror or exc}); applying needs write access to the target"
            ) from None
        # Runs before the release above it (last in, first out). Windows cannot delete an open
        # file; filelock deletes it there after releasing.
        held.callback(_remove_quietly, in_target)

        def announce(run_id: str) -> None:
            note.write_text(json.dumps({"run_id": run_id, "pid": os.getpid()}), encoding="utf-8")

        yield announce


def held_elsewhere(store: Store, target: Path) -> LockHeld | None:
    """What :func:`target_lock` would raise now, found without taking the lock or writing a
    byte (for a dry run, which must exit as the real run would): a live holder named in this
    state folder's note, or, on POSIX, the target's own lock file locked by another process."""
    holder = _holder(lock_path(store, target).with_suffix(".holder"))
    if holder is not None and holder[1] != os.getpid() and _alive(holder[1]):
        return _held_here(target, holder)
    in_target = target / TARGET_LOCK
    if os.name == "posix" and in_target.is_file():
        import fcntl

        with contextlib.suppress(OSError):
            fd = os.open(in_target, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return _held_by_another(target, in_target)
            finally:
                os.close(fd)  # closing drops the lock this test may have taken
    return None


def _alive(pid: int) -> bool:
    import psutil

    return bool(psutil.pid_exists(pid))


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _held_here(target: Path, holder: tuple[str, int] | None) -> LockHeld:
    """The lock in this state folder is held; by ``holder`` (run, pid) when its note says."""
    who = f" (run {holder[0]}, pid {holder[1]})" if holder is not None else ""
    return LockHeld(
        f"{target}: another apply or restore holds this target's lock{who}; try again when it "
        "has finished"
    )


def _held_by_another(target: Path, in_target: Path) -> LockHeld:
    return LockHeld(
        f"{target}: another apply or restore holds this target's lock ({in_target}), from "
        "another state folder or user; try again when it has finished"
    )


def _holder(note: Path) -> tuple[str, int] | None:
    """(run id, pid) from the holder's note; None when there is none to read."""
    try:
        found = json.loads(note.read_text(encoding="utf-8"))
        return str(found["run_id"]), int(found["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_holder(note: Path) -> tuple[str, int] | None:
    """The holder's note, for a loser. The winner writes it just after taking the lock, so a
    loser that arrives in between waits a moment for it."""
    deadline = time.monotonic() + 1.0
    while (holder := _holder(note)) is None and time.monotonic() <= deadline:
        time.sleep(0.02)
    return holder
