"""Backups a step takes before its installer runs, and the manifest that says they are whole.

The one owner of the manifest format (``runs/<id>/backup/<component>.manifest.json``): written
here, last, after the copy; read here by ``restore`` and listed by ``history``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from spdeploy import jsonfile
from spdeploy.errors import BadInput, MediaError

if TYPE_CHECKING:
    from spdeploy.profile import Component
    from spdeploy.records import RunRecord
    from spdeploy.session import Prepared

# runs/<id>/backup/<component>.manifest.json: written last by a step's backup, read by restore,
# listed by history
MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class Backup:
    """What one component's manifest says was copied, checked against the copies."""

    component: str
    root: Path  # <run>/backup/<component>
    files: tuple[tuple[str, tuple[str, ...]], ...]  # (path as recorded, its segments)


def backup_manifest(run_dir: Path, component: str) -> Path:
    """What a step backed up: written last, so its presence means the copy is whole."""
    return run_dir / "backup" / f"{component}{MANIFEST_SUFFIX}"


def take_backup(prep: Prepared, comp: Component, run_dir: Path) -> None:
    """Copy the component's ``backup`` paths (trees, timestamps kept) before it runs.

    Once per run: a step rerun after a crash must not overwrite the first, untouched copy with
    files its interrupted installer may already have changed.
    """
    from spdeploy.media import open_target
    from spdeploy.staging import file_sha256

    manifest = backup_manifest(run_dir, comp.id)
    if not comp.backup or manifest.exists():
        return
    tree = open_target(prep.target)
    files: list[dict[str, object]] = []
    root = run_dir / "backup" / comp.id
    # No manifest: anything in root is a copy interrupted before this installer ran. Start
    # afresh: copytree cannot copy a symlink over the one copied the first time (every resume
    # died there), and a file deleted from the target since would come back on restore.
    shutil.rmtree(root, ignore_errors=True)
    rels = {rel for path in comp.backup if (rel := tree.find(path)) is not None}
    for rel in sorted(rels):
        # A path inside another backup path is copied with it: twice would fail on a symlink.
        if any(rel != top and (not top or rel.startswith(f"{top}/")) for top in rels):
            continue
        src = prep.target / rel
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest)
    for copied in sorted(root.rglob("*")) if root.exists() else []:
        if copied.is_file() and not copied.is_symlink():
            info = copied.stat()
            rel = copied.relative_to(root).as_posix()
            # restore refuses a copy that changed, even in place
            digest = file_sha256(copied)
            entry = {"path": rel, "size": info.st_size, "mtime": info.st_mtime, "sha256": digest}
            files.append(entry)
    payload = {
        "component": comp.id,
        "target": str(prep.target.resolve()),
        "paths": list(comp.backup),
        "files": files,
    }
    tmp = manifest.with_suffix(".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    tmp.replace(manifest)


def read_backups(
    run_dir: Path, run: RunRecord, only: Sequence[str]
) -> tuple[list[Backup], tuple[str, ...]]:
    folder = run_dir / "backup"
    manifests = sorted(folder.glob(f"*{MANIFEST_SUFFIX}")) if folder.is_dir() else []
    found = {m.name[: -len(MANIFEST_SUFFIX)]: m for m in manifests}
    incomplete = sorted(
        p.name
        for p in (folder.iterdir() if folder.is_dir() else ())
        if p.is_dir() and p.name not in found
    )
    for cid in only:
        if cid in incomplete:
            raise BadInput(
                f"{cid}: the backup in {folder / cid} is incomplete (no manifest: the copy was "
                "interrupted before its installer ran); nothing to restore for it"
            )
        if cid not in found and cid not in {s.component for s in run.steps}:
            known = ", ".join(found) or "none"
            raise BadInput(f"--only {cid}: not a step of run {run.id} (backups: {known})")
    warnings = tuple(
        f"{cid}: the backup in {folder / cid} is incomplete (no manifest: the copy was "
        "interrupted before its installer ran); skipped"
        for cid in incomplete
        if not only
    )
    # Execution order: when two components backed up the same file, the first copy is the one
    # taken before the run changed anything.
    order = {cid: i for i, cid in enumerate(dict.fromkeys(s.component for s in run.steps))}
    chosen = sorted(
        (c for c in found if not only or c in only),
        key=lambda c: (c not in order, order.get(c, 0), c),
    )
    return [_read_manifest(found[cid], cid, run) for cid in chosen], warnings


_SHA256 = re.compile(r"[0-9a-f]{64}")


# The manifest as restore reads it, decoded by spdeploy.jsonfile (dataclasses, not msgspec
# Structs: every run imports this module, and msgspec only when a manifest is read).


@dataclass(frozen=True)
class _Copied:
    """A file the manifest says was copied, as ``take_backup`` writes it (and ``mtime``)."""

    path: str
    size: int
    sha256: str | None = None  # manifests before the hash was recorded carry none

    def __post_init__(self) -> None:
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            problem = f"is not a SHA-256 (64 lowercase hex digits): {jsonfile.shown(self.sha256)}"
            raise jsonfile.Invalid("sha256", problem)


@dataclass(frozen=True)
class _Manifest:
    """The manifest's keys that ``restore`` reads (``paths`` is for people)."""

    component: str
    target: str
    files: tuple[_Copied, ...]


def _read_manifest(manifest: Path, cid: str, run: RunRecord) -> Backup:
    from spdeploy.media.base import split_path
    from spdeploy.staging import file_sha256

    def bad(detail: str) -> BadInput:
        return BadInput(f"{manifest}: {detail}; nothing restored")

    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8
        raise bad(f"not a readable backup manifest ({exc})") from None
    try:
        doc = jsonfile.parse(text, _Manifest)
    except jsonfile.Unreadable as exc:
        raise bad(f"not a readable backup manifest (not valid JSON: {exc})") from None
    try:
        data = jsonfile.convert(doc, _Manifest)
    except jsonfile.Unreadable as exc:
        raise bad(f"not a backup manifest ({exc})") from None
    if data.component != cid:
        raise bad(f"names component {data.component!r}, expected {cid!r}")
    if data.target != run.target:
        raise bad(f"is a backup of {data.target!r}, but run {run.id} was on {run.target}")
    root = manifest.parent / cid
    real_root = os.path.realpath(root)
    files = []
    for entry in data.files:
        path, size, digest = entry.path, entry.size, entry.sha256
        try:
            parts = tuple(split_path(path, "target"))
        except MediaError as exc:
            raise bad(exc.message) from None
        if not parts:
            raise bad(f"{path!r}: an empty path")
        copy = root.joinpath(*parts)
        try:
            real = os.path.realpath(copy)
            whole = not copy.is_symlink() and copy.is_file() and copy.stat().st_size == size
        except (OSError, ValueError) as exc:
            # A NUL byte (ValueError) or a name too long for the file system (OSError) is a
            # corrupt manifest, not a crash.
            raise bad(f"{path!r}: not a usable path ({exc})") from None
        if os.path.commonpath([real, real_root]) != real_root:
            raise bad(f"{copy}: leads outside the backup folder")
        if not whole:
            raise bad(
                f"{copy}: the backup copy is missing or changed (the manifest says {size} bytes)"
            )
        # Manifests before the hash was recorded carry none: for them the size is the check.
        try:
            changed = digest is not None and file_sha256(copy) != digest
        except OSError as exc:
            raise bad(f"{copy}: cannot read the backup copy ({exc})") from None
        if changed:
            raise bad(f"{copy}: the backup copy changed (its SHA-256 is not the manifest's)")
        files.append((path, parts))
    return Backup(cid, root, tuple(files))
