"""Copy an installer's folder from the media to the local cache, hashing as it copies.

Installers need their support files, so the whole folder is staged. Copy and SHA-256 happen in
one pass over the bytes. When the media carries a ``SHA256SUMS`` catalog at its root (``SHA256SU``
on a level-1 CD, which cuts names to 8.3), every staged file must be in it with the same hash, or
nothing runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from spdeploy.errors import MediaError, Refused
from spdeploy.media.base import Media, fold, fold_path, local_name

CATALOG = "SHA256SUMS"
# Level-1 ISO 9660 names are 8.3: there (and on a folder copied from such a CD) the catalog is this
_CATALOG_8_3 = "SHA256SU"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Staged:
    component: str
    folder: Path  # the local copy of the installer's folder
    installer: Path  # the local copy of the installer itself
    hashes: dict[str, str]  # media path -> sha256

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.hashes)


def _key(rel: str) -> str:
    """A media path (the tree's own ``/`` spelling) as the catalog and fingerprints key it."""
    return "/".join(fold(p) for p in rel.split("/"))


def fingerprint(hashes: Mapping[str, str]) -> str:
    """One SHA-256 for an installer's folder: its files' hashes and (folded) paths, sorted.

    Case and ISO ``;1`` suffixes do not count, so the same CD as a folder, an image or a zip has
    the same fingerprint.
    """
    lines = sorted(f"{_key(path)}\0{digest}\n" for path, digest in hashes.items())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def folder_fingerprint(media: Media, installer: str) -> str:
    """:func:`fingerprint` of what :func:`stage` would copy, read without copying it."""
    hashes = {}
    for rel, _size in _files(media, installer):
        digest = hashlib.sha256()
        with media.open(rel) as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
        hashes[rel] = digest.hexdigest()
    return fingerprint(hashes)


def read_catalog(media: Media) -> dict[str, str] | None:
    """``sha256sum`` output at the media root, keyed by folded path; None when absent."""
    found = _read_catalog(media)
    return None if found is None else found[1]


def _read_catalog(media: Media) -> tuple[str, dict[str, str]] | None:
    """(the catalog's path, its entries) as :func:`read_catalog` reads them; None when absent."""
    name = media.find(CATALOG) or media.find(_CATALOG_8_3)  # the 8.3 name only when no other
    if name is None:
        return None
    catalog: dict[str, str] = {}
    # utf-8-sig: PowerShell 5 writes a byte-order mark first
    text = media.read_bytes(name).decode("utf-8-sig", "replace")
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        entry = _catalog_entry(line)
        if entry is None:
            raise MediaError(
                f"{media.display(name)}: line {number + 1}: expected '<sha256>  <path>' or "
                "'SHA256 (<path>) = <sha256>'"
            )
        digest, path = entry
        catalog[fold_path(path.removeprefix("./"))] = digest.lower()
    return name, catalog


_TAGGED = re.compile(r"SHA256 \((.+)\) = ([0-9A-Fa-f]{64})")


def _catalog_entry(line: str) -> tuple[str, str] | None:
    """(digest, path) from one line as ``sha256sum`` writes it: ``<digest>  <path>`` (``*`` for
    binary mode), a leading ``\\`` when the name holds a backslash or a newline (spelt ``\\\\``,
    ``\\n``), or ``--tag``'s ``SHA256 (<path>) = <digest>``."""
    escaped = line.startswith("\\")
    body = line[1:] if escaped else line
    tagged = _TAGGED.fullmatch(body)
    if tagged is not None:
        digest, path = tagged[2], tagged[1]
    else:
        digest, sep, path = body.partition(" ")
        if not sep or len(digest) != 64:
            return None
        path = path.lstrip(" *")
    if escaped:
        path = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], path)
    return digest, path


def _files(media: Media, installer: str) -> Iterator[tuple[str, int]]:
    """The files staging copies: everything in the installer's folder (or the file alone, when
    the installer sits at the media root)."""
    folder = installer.rpartition("/")[0]
    if not folder:
        size = 0
        with media.open(installer) as fh:  # ISO and zip readers cannot seek: count the bytes
            while chunk := fh.read(_CHUNK):
                size += len(chunk)
        return iter([(installer, size)])
    return media.walk(folder)


def _plain(name: str, shown: str) -> str:
    """A name that stays a name on every system: ``D:evil`` or ``a\\..\\b`` would not on Windows."""
    if name in ("", ".", "..") or any(c in name for c in ":\\/\0"):
        raise MediaError(f"{shown}: the name {name!r} cannot be staged safely; refused")
    return name


def file_sha256(path: Path) -> str:
    """A local file's SHA-256, as backup manifests record it and restore checks it."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def staged_path(dest: Path, installer: str) -> Path:
    """Where :func:`stage` puts ``installer`` when it stages its folder into ``dest`` (known
    before staging, for the commands a dry run shows)."""
    return dest / local_name(installer.rpartition("/")[2])


def staged_size(media: Media, installer: str) -> int:
    """Bytes :func:`stage` will copy for ``installer`` (for a progress bar)."""
    return sum(size for _, size in _files(media, installer))


def check_stageable(media: Media, installer: str, catalog: dict[str, str] | None) -> None:
    """Refuse what :func:`stage` would refuse, without copying: a file the catalog does not
    list, a name that cannot be staged, a file that cannot be opened (a special file, a link
    out of the media, an encrypted member). Each file is opened, none is read, so that a dry
    run exits as the real run would."""
    for rel, _parts, _expected in _to_stage(media, installer, catalog):
        with media.open(rel):
            pass


def _to_stage(
    media: Media, installer: str, catalog: dict[str, str] | None
) -> Iterator[tuple[str, list[str], str | None]]:
    """Each file staging copies: its path on the media, its local path's parts, its catalog
    digest; refused here, before anything is copied, when the catalog lacks it or its name
    cannot be staged."""
    folder = installer.rpartition("/")[0]
    for rel, _size in _files(media, installer):
        expected = None if catalog is None else catalog.get(_key(rel))
        if catalog is not None and expected is None:
            raise Refused(f"{media.display(rel)}: not listed in the media's {CATALOG}; refused")
        inner = rel[len(folder) + 1 :] if folder else rel
        yield rel, [_plain(local_name(p), media.display(rel)) for p in inner.split("/")], expected


def stage(
    media: Media,
    component: str,
    installer: str,
    dest: Path,
    catalog: dict[str, str] | None,
    progress: Callable[[int], None] | None = None,
) -> Staged:
    """Copy the folder holding ``installer`` into ``dest``; verify against ``catalog``.

    On any refusal the partial copy is removed: nothing from a bad medium stays in the cache.
    """
    try:
        return _stage(media, component, installer, dest, catalog, progress)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _stage(
    media: Media,
    component: str,
    installer: str,
    dest: Path,
    catalog: dict[str, str] | None,
    progress: Callable[[int], None] | None,
) -> Staged:
    hashes: dict[str, str] = {}
    dest.mkdir(parents=True, exist_ok=True)
    for rel, parts, expected in _to_stage(media, installer, catalog):
        local = dest.joinpath(*parts)
        local.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with media.open(rel) as src, local.open("wb") as out:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        hashes[rel] = digest.hexdigest()
        if expected is not None and expected != hashes[rel]:
            raise Refused(
                f"{media.display(rel)}: SHA-256 mismatch (catalog {expected}, "
                f"file {hashes[rel]}); refused"
            )
    staged_installer = staged_path(dest, installer)
    make_executable(staged_installer)
    return Staged(component, dest, staged_installer, hashes)


def make_executable(path: Path, windows: bool = os.name == "nt") -> None:
    """ISO level-1 media carry no permissions: on POSIX the staged copy must be made executable
    to run. Windows runs any ``.exe`` it may read (its chmod would only touch read-only)."""
    if not windows:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@dataclass(frozen=True)
class Mismatch:
    path: str
    expected: str
    actual: str


@dataclass(frozen=True)
class Verification:
    """``media --verify``: every file the catalog lists, hashed and compared."""

    catalog: str | None  # where the catalog is, None when the media has none
    listed: int
    ok: int
    mismatched: tuple[Mismatch, ...]
    missing: tuple[str, ...]  # listed, not on the media
    unlisted: tuple[str, ...]  # on the media, not listed (refused if ever staged)

    @property
    def passed(self) -> bool:
        return self.catalog is not None and not self.mismatched and not self.missing


def verify_catalog(
    media: Media,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> Verification:
    """Hash every file the media's catalog lists; ``total`` hears the byte count first."""
    found = _read_catalog(media)
    if found is None:
        return Verification(None, 0, 0, (), (), ())
    name, catalog = found
    files = {_key(rel): (rel, size) for rel, size in media.walk("")}
    present = [(key, *files[key]) for key in sorted(catalog) if key in files]
    if total is not None:
        total(sum(size for _, _, size in present))
    mismatched = []
    for key, rel, _size in present:
        digest = hashlib.sha256()
        with media.open(rel) as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                if progress is not None:
                    progress(len(chunk))
        if digest.hexdigest() != catalog[key]:
            mismatched.append(Mismatch(rel, catalog[key], digest.hexdigest()))
    catalog_key = _key(name)
    return Verification(
        catalog=media.display(name),
        listed=len(catalog),
        ok=len(present) - len(mismatched),
        mismatched=tuple(mismatched),
        missing=tuple(sorted(key for key in catalog if key not in files)),
        unlisted=tuple(
            sorted(
                rel for key, (rel, _) in files.items() if key not in catalog and key != catalog_key
            )
        ),
    )
