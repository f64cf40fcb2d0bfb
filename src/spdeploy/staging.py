"""Copy an installer's folder from the media to the local cache, hashing as it copies.

Installers need their support files, so the whole folder is staged. Copy and SHA-256 happen in
one pass over the bytes. When the media carries a ``SHA256SUMS`` catalog at its root, every staged
file must be in it with the same hash, or nothing runs.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spdeploy.errors import MediaError, Refused
from spdeploy.media.base import Media, fold, local_name

CATALOG = "SHA256SUMS"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Staged:
    component: str
    folder: Path  # the local copy of the installer's folder
    installer: Path  # the local copy of the installer itself
    hashes: dict[str, str]  # media path -> sha256


def read_catalog(media: Media) -> dict[str, str] | None:
    """``sha256sum`` output at the media root, keyed by folded path; None when absent."""
    name = media.find(CATALOG)
    if name is None:
        return None
    catalog: dict[str, str] = {}
    for number, line in enumerate(media.read_bytes(name).decode("utf-8", "replace").splitlines()):
        if not line.strip():
            continue
        digest, sep, path = line.partition(" ")
        if not sep or len(digest) != 64:
            raise MediaError(
                f"{media.display(name)}: line {number + 1}: expected '<sha256>  <path>'"
            )
        path = path.lstrip(" *").removeprefix("./")
        catalog["/".join(fold(p) for p in path.replace("\\", "/").split("/"))] = digest.lower()
    return catalog


def stage(
    media: Media,
    component: str,
    installer: str,
    dest: Path,
    catalog: dict[str, str] | None,
    progress: Callable[[int], None] | None = None,
) -> Staged:
    """Copy the folder holding ``installer`` into ``dest``; verify against ``catalog``."""
    folder = installer.rpartition("/")[0]
    hashes: dict[str, str] = {}
    dest.mkdir(parents=True, exist_ok=True)
    for rel, _size in media.walk(folder) if folder else [(installer, 0)]:
        inner = rel[len(folder) + 1 :] if folder else rel
        local = dest.joinpath(*(local_name(p) for p in inner.split("/")))
        local.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with media.open(rel) as src, local.open("wb") as out:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        hashes[rel] = digest.hexdigest()
        if catalog is not None:
            key = "/".join(fold(p) for p in rel.split("/"))
            expected = catalog.get(key)
            if expected is None:
                raise Refused(f"{media.display(rel)}: not listed in the media's {CATALOG}; refused")
            if expected != hashes[rel]:
                raise Refused(
                    f"{media.display(rel)}: SHA-256 mismatch (catalog {expected}, "
                    f"file {hashes[rel]}); refused"
                )
    staged_installer = dest.joinpath(
        *(local_name(p) for p in installer[len(folder) + 1 if folder else 0 :].split("/"))
    )
    if os.name == "posix":
        # ISO level-1 media carry no permissions: the staged copy must be executable to run.
        mode = staged_installer.stat().st_mode
        staged_installer.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return Staged(component, dest, staged_installer, hashes)
