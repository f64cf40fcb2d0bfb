"""The ``Tree`` and ``Media`` protocols shared by folder, ISO and zip readers.

Paths handed to a tree are relative, written with ``/`` or ``\\``, matched case-insensitively;
what comes back is the tree's own spelling, always joined with ``/``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Hashable, Iterator
from typing import BinaryIO, Protocol, Self

from spdeploy.errors import MediaError, TargetError

MAX_VISITS = 64  # times one walk may enter one folder: once, plus once per link leading to it


def count_visit(
    visits: dict[Hashable, int],
    folder: Hashable,
    shown: str,
    error: type[MediaError | TargetError] = MediaError,
) -> None:
    """One more entry into ``folder`` (a key naming it on its medium) in this walk.

    Links, or on a corrupt image directory records, that fan out (two in each folder to the next
    one) make 2**depth paths without any loop for a depth limit or the OS to stop: a walk would
    run for ever. A real medium enters a folder once, plus once per link to it.
    """
    visits[folder] = visits.get(folder, 0) + 1
    if visits[folder] > MAX_VISITS:
        raise error(
            f"{shown}: the same folder is reached by more than {MAX_VISITS} paths (links or "
            "directory records that fan out); refused"
        )


def split_path(
    path: str, what: str = "media", error: type[MediaError | TargetError] = MediaError
) -> list[str]:
    """Split a profile path into segments; refuse anything that could leave the root."""
    text = path.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise error(f"{path}: absolute paths are not allowed on the {what}")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise error(f"{path}: '..' is not allowed (nothing outside the {what} root)")
    return parts


def local_name(name: str) -> str:
    """A name without its ISO 9660 version: ``NTSCONN.EXE;1`` -> ``NTSCONN.EXE``, ``README.;1``
    -> ``README``. This is also the name a staged copy gets on disk."""
    base, sep, version = name.rpartition(";")
    return base.rstrip(".") if sep and version.isdigit() else name


def fold(name: str) -> str:
    """The key names are compared by: case-folded, ISO 9660 ``;1`` version suffix dropped."""
    return local_name(name).casefold()


def fold_path(path: str) -> str:
    """A whole path's key: each segment folded, either slash, joined with ``/``."""
    return "/".join(fold(p) for p in path.replace("\\", "/").split("/"))


def is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


class Tree(Protocol):
    """A read-only file tree: the installed target, or the service-pack media."""

    def find(self, path: str) -> str | None:
        """This tree's spelling of ``path`` (file or folder), or None if absent."""
        ...

    def is_dir(self, path: str) -> bool: ...

    def listdir(self, path: str) -> list[str]: ...

    def glob(self, pattern: str) -> list[str]: ...

    def read_bytes(self, path: str) -> bytes: ...

    def display(self, path: str) -> str:
        """Where ``path`` is, in words a user can look up (for messages)."""
        ...


class Media(Tree, Protocol):
    """The service-pack media: a tree that can also be opened, walked and closed.

    The readers subclass it: ``with open_media(path) as media:`` closes the image or the
    archive it holds open.
    """

    kind: str  # folder, iso or zip
    location: str  # the path as given, for messages and reports
    names: str | None  # the ISO name set read: rock-ridge, joliet or iso9660; None elsewhere
    hostile: tuple[str, ...]  # entries leaving the media root (a zip's), never resolved

    def open(self, path: str) -> BinaryIO: ...

    def walk(self, path: str) -> Iterator[tuple[str, int]]:
        """Every file under folder ``path``: (relative path from the media root, size)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def glob_segments(tree: Tree, pattern: str) -> list[str]:
    """Case-insensitive glob over any tree, one segment at a time (no ``**``)."""
    parts = split_path(pattern)
    current = [""]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        following: list[str] = []
        for base in current:
            if is_glob(part):
                want = fold(part)
                for name in tree.listdir(base):
                    if fnmatch.fnmatchcase(fold(name), want):
                        following.append(f"{base}/{name}" if base else name)
            else:
                hit = tree.find(f"{base}/{part}" if base else part)
                if hit is not None:
                    following.append(hit)
        current = [p for p in following if last or tree.is_dir(p)]
    return sorted(p for p in current if not tree.is_dir(p))
