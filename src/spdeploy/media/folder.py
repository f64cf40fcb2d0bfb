"""A folder as a tree: service-pack media copied to disk, or an installed target."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import BinaryIO

from spdeploy.errors import MediaError, TargetError
from spdeploy.media.base import Media, count_visit, fold, glob_segments, split_path

# listdir's answers that mean "nothing here to list", not "cannot read": not a folder, gone,
# a symlink loop, a name too long for the file system
_NOTHING_TO_LIST = frozenset({errno.ENOTDIR, errno.ENOENT, errno.ELOOP, errno.ENAMETOOLONG})


class FolderTree(Media):
    """Case-insensitive, read-only view of a folder that never leaves its root."""

    kind = "folder"
    names = None
    hostile = ()  # a link leaving the root is refused when reached, not listed up front

    def __init__(self, root: str | os.PathLike[str], what: str = "media") -> None:
        self.root = Path(root)
        self.location = str(root)
        self.what = what
        # the error names what the trouble is with (its JSON code "media" or "target"): the
        # tree this folder is, not the reader that reads it
        self._error = TargetError if what == "target" else MediaError
        self._real_root = os.path.realpath(self.root)
        self._listing: dict[str, dict[str, str]] = {}
        self._inside: set[str] = set()  # paths already checked not to leave the root

    def _entries(self, rel: str) -> dict[str, str]:
        """Folded name -> real name for one folder (cached: media does not change mid-run)."""
        entries = self._listing.get(rel)
        if entries is None:
            try:
                names = os.listdir(self.root / rel) if rel else os.listdir(self.root)
            except OSError as exc:
                if exc.errno not in _NOTHING_TO_LIST:
                    # a folder that cannot be read is not an empty one: an installer staged
                    # from it would run without its payload
                    shown = self.display(rel) if rel else str(self.root)
                    problem = f"cannot read this folder ({exc.strerror})"
                    raise self._error(f"{shown}: {problem}") from None
                names = []
            # sorted so that two names differing only in case resolve the same way every time
            entries = {}
            for name in sorted(names):
                entries.setdefault(fold(name), name)
            self._listing[rel] = entries
        return entries

    def find(self, path: str) -> str | None:
        rel = ""
        for part in split_path(path, self.what, self._error):
            name = self._entries(rel).get(fold(part))
            if name is None:
                return None
            rel = f"{rel}/{name}" if rel else name
            self._check_inside(rel)
        return rel

    def _check_inside(self, rel: str) -> None:
        if rel in self._inside:
            return
        full = self.root / rel
        if full.is_symlink():
            real = os.path.realpath(full)
            if os.path.commonpath([real, self._real_root]) != self._real_root:
                raise self._error(
                    f"{full}: symlink points outside the {self.what} root ({real}); refused"
                )
        self._inside.add(rel)

    def is_dir(self, path: str) -> bool:
        rel = self.find(path) if path else ""
        return rel is not None and (self.root / rel).is_dir()

    def listdir(self, path: str) -> list[str]:
        rel = self.find(path) if path else ""
        return [] if rel is None else sorted(self._entries(rel).values())

    def glob(self, pattern: str) -> list[str]:
        return glob_segments(self, pattern)

    def _path(self, path: str) -> Path:
        rel = self.find(path)
        if rel is None:
            raise self._error(f"{self.root / path}: no such file on the {self.what}")
        full = self.root / rel
        try:
            mode = full.stat().st_mode
        except OSError as exc:  # a dangling symlink, or one that loops
            raise self._error(f"{full}: broken symlink ({exc.strerror}); refused") from None
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise self._error(f"{full}: not a regular file (device or special file); refused")
        return full

    def read_bytes(self, path: str) -> bytes:
        return self._path(path).read_bytes()

    def open(self, path: str) -> BinaryIO:
        return self._path(path).open("rb")

    def walk(self, path: str) -> Iterator[tuple[str, int]]:
        base = self.find(path)
        if base is None:
            raise self._error(f"{self.root / path}: no such folder on the {self.what}")
        yield from self._walk(base, {})

    def _walk(self, base: str, visits: dict[Hashable, int]) -> Iterator[tuple[str, int]]:
        info = (self.root / base).stat()
        count_visit(visits, (info.st_dev, info.st_ino), str(self.root / base), self._error)
        for name in self.listdir(base):
            rel = f"{base}/{name}" if base else name
            self._check_inside(rel)
            if (self.root / rel).is_dir():
                yield from self._walk(rel, visits)
            else:
                yield rel, self._path(rel).stat().st_size

    def display(self, path: str) -> str:
        return str(self.root / path)

    def close(self) -> None:
        self._listing.clear()
        self._inside.clear()
