"""Service-pack media readers: ``open_media(path)`` picks one by what the path holds."""

from __future__ import annotations

from pathlib import Path

from spdeploy.errors import MediaError, TargetError
from spdeploy.media.base import Media, Tree
from spdeploy.media.folder import FolderTree

__all__ = ["FolderTree", "Media", "Tree", "open_media", "open_target"]


def open_media(path: str | Path) -> Media:
    """A folder, an ISO 9660 image or a zip archive, told apart by content, not by extension."""
    p = Path(path)
    is_dir, exists, is_file = _kind(p, MediaError)
    if is_dir:
        return FolderTree(p, "media")
    if not exists:
        raise MediaError(f"{p}: media not found (expected a folder, an .iso image or a .zip)")
    if not is_file:
        raise MediaError(f"{p}: not a regular file (expected a folder, an .iso image or a .zip)")
    # Imported here, each only when the one before it did not fit: a command pays only for the
    # reader its media needs (the zip reader brings zipfile, bz2 and lzma).
    from spdeploy.media.iso import IsoMedia, is_iso

    if is_iso(p):
        return IsoMedia(p)
    from spdeploy.media.zipmedia import ZipMedia, is_zip

    if is_zip(p):
        return ZipMedia(p)
    raise MediaError(
        f"{p}: not a folder, an ISO 9660 image or a zip archive "
        f"(first bytes {_head(p)}; a truncated image loses its descriptors too)"
    )


def _head(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(8)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    return data.hex(" ") if data else "none: the file is empty"


def open_target(path: str | Path) -> FolderTree:
    p = Path(path)
    is_dir, exists, _ = _kind(p, TargetError)
    if not is_dir:
        problem = "not found" if not exists else "not a folder"
        raise TargetError(f"{p}: target {problem} (expected the product's install folder)")
    return FolderTree(p, "target")


def _kind(p: Path, error: type[MediaError | TargetError]) -> tuple[bool, bool, bool]:
    """(is a folder, exists, is a file). pathlib answers False for a missing path but raises
    for one it cannot ask about (a name too long for the file system, a loop of links)."""
    try:
        return p.is_dir(), p.exists(), p.is_file()
    except OSError as exc:
        raise error(f"{p}: cannot read it ({exc.strerror or exc})") from None
