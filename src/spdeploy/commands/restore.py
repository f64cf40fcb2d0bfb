"""``spdeploy restore RUN_ID``: put back the files a run backed up before its installers ran.

Everything is read and checked before anything is written: the manifests (a path that is absolute
or climbs with ``..`` is refused, so a tampered manifest cannot write outside the target), the
backup copies (each must still be the file the manifest describes), and every destination (it
must stay inside the target, symlinks followed). Then, under the same per-target lock ``apply``
takes, each current file about to be overwritten is first copied into the run's folder
(``restore-<UTC time>/<component>/<path>``, so a restore can itself be undone by hand), and each
backed-up file is put back with its timestamps. Nothing is ever deleted: files the service pack
added, which were not backed up, stay.

A backup folder without its manifest is an interrupted copy: ``apply`` writes the manifest last
and takes the backup before the component's installer runs (and again on ``--resume``), so that
installer never ran in this run and there is nothing of its to undo. Such a folder is skipped with
a warning, or refused when ``--only`` names it.

A restore is not recorded in the history database: it would become the target's latest run and
hide an interrupted run from ``apply --resume``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from spdeploy.backup import Backup, read_backups
from spdeploy.errors import BadInput, Declined, LockHeld, StepFailed
from spdeploy.locking import target_lock
from spdeploy.media import open_target
from spdeploy.store import Store

OVERWRITE = "overwrite"  # the current file differs from the backup
RECREATE = "recreate"  # the file is gone from the target
UNCHANGED = "unchanged"  # identical (bytes and modification time): left alone


@dataclass(frozen=True)
class RestoreFile:
    component: str
    path: str  # target-relative, with forward slashes
    action: str  # OVERWRITE | RECREATE | UNCHANGED


@dataclass(frozen=True)
class RestoreReport:
    run_id: str
    target: str
    dry_run: bool
    files: tuple[RestoreFile, ...]
    saved_current_to: str | None  # where the overwritten current files were saved
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[RestoreFile, ...]:
        return tuple(f for f in self.files if f.action != UNCHANGED)


@dataclass(frozen=True)
class _Action:
    file: RestoreFile
    source: Path  # the backup copy
    dest: Path  # where it goes back


def restore(
    store: Store,
    run_id: str,
    dry_run: bool,
    only: Sequence[str] | None = None,
    confirm: Callable[[RestoreReport], bool] | None = None,
) -> RestoreReport:
    """Put back what run ``run_id`` backed up; ``dry_run`` only says what it would do.

    ``confirm`` hears what would be put back before anything is (as ``apply`` asks about its
    plan); a no raises :class:`Declined` (exit 1), with nothing changed.
    """
    run = store.run(run_id)
    if run.steps and not store.run_dir(run.id).is_dir():
        # Steps ran, so the folder existed: "nothing to restore" would hide lost backups.
        raise BadInput(
            f"run {run.id}: its folder {store.run_dir(run.id)} is gone, and with it any backups "
            "that run took; nothing can be restored from it"
        )
    backups, warnings = read_backups(store.run_dir(run.id), run, only or ())
    if not backups:
        return RestoreReport(run.id, run.target, dry_run, (), None, warnings)
    target = Path(run.target)
    open_target(target)  # TargetError (exit 2) when the folder is gone
    if dry_run or confirm is not None:
        planned = _plan(target, backups)
        preview = RestoreReport(run.id, run.target, True, _files(planned), None, warnings)
        if dry_run:
            return preview
        if preview.changed and confirm is not None and not confirm(preview):
            raise Declined("nothing restored: not confirmed")
    with target_lock(store, target):
        _refuse_while_installers_run(store, target)
        planned = _plan(target, backups)  # again, under the lock: the target may have changed
        saved = _carry_out(target, store.run_dir(run.id), planned)
    return RestoreReport(run.id, run.target, False, _files(planned), saved, warnings)


def _refuse_while_installers_run(store: Store, target: Path) -> None:
    """An installer a killed apply left running still writes to the target: what is put back
    now, it may overwrite a moment later (the site's own tables, the very data a backup keeps)."""
    from spdeploy.executor import installers_at_work

    runs = store.runs(target=str(target.resolve()), limit=20)
    at_work = installers_at_work(store, runs, target)
    if at_work:
        pid, component = next(iter(at_work.items()))
        raise LockHeld(
            f"{target}: {component}'s installer (pid {pid}), left running by an interrupted "
            "run, is still at work on it; nothing restored: wait for it to end "
            "(`spdeploy apply --resume` waits for it), then restore"
        )


def _files(planned: list[_Action]) -> tuple[RestoreFile, ...]:
    return tuple(a.file for a in planned)


def _plan(target: Path, backups: list[Backup]) -> list[_Action]:
    """One action per backed-up file (the first backup of a path wins); raise before writing."""
    real_target = os.path.realpath(target)
    seen: set[tuple[str, ...]] = set()
    planned = []
    for backup in backups:
        for path, parts in backup.files:
            if parts in seen:
                continue
            seen.add(parts)
            dest = target.joinpath(*parts)
            real = os.path.realpath(dest)
            if os.path.commonpath([real, real_target]) != real_target:
                raise BadInput(f"{dest}: leads outside the target ({real}); nothing restored")
            for depth in range(1, len(parts)):
                parent = target.joinpath(*parts[:depth])
                if parent.exists() and not parent.is_dir():
                    raise BadInput(
                        f"{parent}: not a folder, so {path} cannot be put back; nothing restored"
                    )
            source = backup.root.joinpath(*parts)
            if not os.path.lexists(dest):
                action = RECREATE
            elif not dest.is_file():
                raise BadInput(f"{dest}: not a file, so it cannot be put back; nothing restored")
            else:
                action = UNCHANGED if _identical(source, dest) else OVERWRITE
            planned.append(_Action(RestoreFile(backup.component, path, action), source, dest))
    return planned


def _identical(a: Path, b: Path) -> bool:
    sa, sb = a.stat(), b.stat()
    if (sa.st_size, sa.st_mtime_ns) != (sb.st_size, sb.st_mtime_ns):
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            chunk = fa.read(1 << 20)
            if chunk != fb.read(1 << 20):
                return False
            if not chunk:
                return True


def _carry_out(target: Path, run_dir: Path, planned: list[_Action]) -> str | None:
    """Save every current file about to be overwritten, then put the backups back."""
    changes = [a for a in planned if a.file.action != UNCHANGED]
    overwrites = [a for a in changes if a.file.action == OVERWRITE]
    saved = _saved_folder(run_dir) if overwrites else None
    for a in overwrites:
        assert saved is not None
        keep = saved / a.file.component / a.dest.relative_to(target)
        try:
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(a.dest, keep)
        except OSError as exc:
            raise StepFailed(
                f"saving {a.dest} in {saved} failed ({exc}); nothing restored"
            ) from None
    for done, a in enumerate(changes):
        try:
            _put_back(a.source, a.dest)
        except OSError as exc:
            where = f"; the current files were saved in {saved}" if saved else ""
            raise StepFailed(
                f"restoring {a.dest} failed ({exc}) after {done} of {len(changes)} files{where}"
            ) from None
    return str(saved) if saved else None


def _put_back(source: Path, dest: Path) -> None:
    """Copy next to the destination, then rename over it: never a half-written file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The name is cut short: a legal 255-character name plus the suffix is not a legal name.
    tmp = dest.with_name(f".{dest.name[:64]}.spdeploy-restore")
    # Made afresh, never opened as found: a symlink planted under this name would have had the
    # copy write outside the target, then been renamed over the file. unlink removes the link
    # (or an interrupted restore's copy) itself; O_EXCL does not follow one created since.
    tmp.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        with open(os.open(tmp, flags, 0o600), "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        shutil.copystat(source, tmp)  # timestamps and mode, as copy2 did
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def _saved_folder(run_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = run_dir / f"restore-{stamp}"
    n = 1
    while folder.exists():  # two restores within one second
        n += 1
        folder = run_dir / f"restore-{stamp}-{n}"
    folder.mkdir(parents=True)
    return folder
