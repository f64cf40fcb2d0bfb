"""Service-pack media readers: ``open_media(path)`` picks one by what the path holds."""

from __future__ import annotations

from pathlib import Path

from spdeploy.errors import MediaError, TargetError
from spdeploy.media.base import Media, Tree
from spdeploy.media.folder import FolderTree

__all__ = ["FolderTree", "Media", "Tree", "open_media", "open_target"]


def open_media(path: str | Path) -> Media:
    p = Path(path)
    if p.is_dir():
        return FolderTree(p, "media")
    if not p.exists():
        raise MediaError(f"{p}: media not found (expected a folder, an .iso image or a .zip)")
    raise MediaError(f"{p}: unsupported media (this version reads folders only)")


def open_target(path: str | Path) -> FolderTree:
    p = Path(path)
    if not p.is_dir():
        problem = "not found" if not p.exists() else "not a folder"
        raise TargetError(f"{p}: target {problem} (expected the product's install folder)")
    return FolderTree(p, "target")
