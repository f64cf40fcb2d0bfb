"""A ``.zip`` archive as a tree, read in place.

The central directory is read once, when the archive is opened, and turned into a folder index
matched case-insensitively; the archive stays open so that resolving several installer paths
costs no further parsing. Entries are never extracted, so nothing here can write outside a folder;
still, entries that would escape the root if extracted by a naive tool (absolute names, ``..``
segments: "zip slip") are kept out of the index and make ``walk`` refuse the folder they target.
Unix symlinks stored in the archive are followed only while they stay inside it; device files are
listed but never read.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import zipfile
import zlib
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from spdeploy.errors import MediaError
from spdeploy.media.base import Media, count_visit, fold, glob_segments, split_path

_MAX_LINKS = 8  # symlink hops while resolving one path; more means a loop
_MAX_LINK_TEXT = 4096  # PATH_MAX: a longer "link" is not a link target but a hostile entry

# What zipfile raises on damaged data, at open or mid-read (CRC errors are BadZipFile).
# A damaged local header can also carry a name that is not the UTF-8 it claims.
_DAMAGE: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    UnicodeDecodeError,
)
# ...and while parsing the central directory: a corrupt one can also fail to decode or seek, or
# claim to need a newer zip version than zipfile reads (NotImplementedError, a traceback before)
_UNREADABLE: tuple[type[Exception], ...] = (*_DAMAGE, ValueError, NotImplementedError)
# zipfile inflates bzip2 and LZMA members with no bound on the output (only deflate gets one), then
# cuts it to the declared size: a few hundred bytes declaring a 6-byte file took gigabytes of
# memory. Service-pack zips are stored or deflated, so these are refused rather than inflated.
_UNBOUNDED = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}
_CHUNK = 1 << 20


def is_zip(path: Path) -> bool:
    """A zip's first local header (even when the archive is cut short: opening it then says
    what is wrong), or an end record anywhere (self-extracting archives). Never the name."""
    try:
        with path.open("rb") as fh:
            if fh.read(4) in (b"PK\x03\x04", b"PK\x05\x06"):
                return True
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def _absolute(text: str) -> bool:
    """``/x``, ``//server/x``, ``C:/x`` (backslashes already turned): as split_path sees them."""
    return text.startswith("/") or (len(text) > 1 and text[1] == ":")


def _inside(folder: list[str], target: str) -> list[str] | None:
    """``target`` resolved lexically from ``folder`` (an archive has no other file system to
    consult), or None when it climbs above the root."""
    parts = list(folder)
    for piece in target.split("/"):
        if piece == "..":
            if not parts:
                return None
            parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return parts


def _under(path: str, folder: str) -> bool:
    return not folder or path == folder or path.startswith(f"{folder}/")


def _mode(info: zipfile.ZipInfo) -> int:
    """The Unix mode a Unix zip tool stored; 0 from DOS/Windows tools (then it is a plain file)."""
    return info.external_attr >> 16


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class ZipMedia(Media):
    """Read-only, case-insensitive view of a zip archive that never leaves its root."""

    kind = "zip"
    names = None

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except _UNREADABLE as exc:
            raise MediaError(
                f"{self.location}: not a readable zip archive ({_reason(exc)})"
            ) from None
        self._dirs: dict[str, dict[str, str]] = {"": {}}  # real folder -> {folded: real name}
        self._files: dict[str, zipfile.ZipInfo] = {}  # real path -> entry (files, links, devices)
        self._links: set[str] = set()
        self._link_text: dict[str, str] = {}
        # (raw name, folded segments once normalised, folded raw segments)
        self._hostile: list[tuple[str, list[str], list[str]]] = []
        try:
            self._index(self._zip.infolist())
        except BaseException:
            self._zip.close()  # nobody gets this object to close: the archive would stay open
            raise
        self.hostile: tuple[str, ...] = tuple(raw for raw, _, _ in self._hostile)

    # -- index ---------------------------------------------------------------------------

    def _index(self, infos: list[zipfile.ZipInfo]) -> None:
        folders: dict[tuple[str, ...], str] = {}  # folded path -> chosen spelling of its name
        files: dict[tuple[str, ...], tuple[str, zipfile.ZipInfo]] = {}
        for info in infos:
            text = info.filename.replace("\\", "/")
            parts = [p for p in text.split("/") if p not in ("", ".")]
            if _absolute(text) or ".." in parts:
                normal = posixpath.normpath(text).split("/")
                self._hostile.append(
                    (
                        info.filename,
                        [fold(p) for p in normal if p not in ("", ".")],
                        [fold(p) for p in parts],
                    )
                )
                continue
            is_folder = text.endswith("/") or stat.S_ISDIR(_mode(info))
            key: tuple[str, ...] = ()
            for depth, part in enumerate(parts):
                key = (*key, fold(part))
                if depth < len(parts) - 1 or is_folder:
                    # the sorted-first spelling wins, whatever order the archive lists them in
                    known = folders.get(key)
                    if known is None or part < known:
                        folders[key] = part
            if parts and not is_folder:
                held = files.get(key)
                # "<=": of exact duplicates the last one wins, as zipfile and unzip do
                if held is None or parts[-1] <= held[0]:
                    files[key] = (parts[-1], info)
        real: dict[tuple[str, ...], str] = {(): ""}
        for key in sorted(folders, key=len):  # parents before children
            parent, name = real[key[:-1]], folders[key]
            real[key] = f"{parent}/{name}" if parent else name
            self._dirs[parent][key[-1]] = name
            self._dirs[real[key]] = {}
        for key, (name, info) in files.items():
            if key in folders:
                continue  # a file named like a folder could not be extracted beside it either
            parent = real[key[:-1]]
            path = f"{parent}/{name}" if parent else name
            self._dirs[parent][key[-1]] = name
            self._files[path] = info
            if stat.S_ISLNK(_mode(info)):
                self._links.add(path)

    # -- resolution ----------------------------------------------------------------------

    def _resolve(self, path: str) -> tuple[str, str] | None:
        """(spelling through any links, real path in the index) for ``path``, or None."""
        return self._lookup(split_path(path, "media"), 0)

    def _lookup(self, parts: list[str], depth: int) -> tuple[str, str] | None:
        shown: list[str] = []
        real = ""
        for part in parts:
            entries = self._dirs.get(real)
            if entries is None:
                return None  # a file in the middle of the path
            name = entries.get(fold(part))
            if name is None:
                return None
            shown.append(name)
            real = f"{real}/{name}" if real else name
            if real in self._links:
                target = self._follow(real, "/".join(shown), depth)
                if target is None:
                    return None
                real = target
        return "/".join(shown), real

    def _follow(self, link: str, shown: str, depth: int) -> str | None:
        """The real path a link leads to (None when dangling); refuses one leaving the root."""
        if depth >= _MAX_LINKS:
            raise MediaError(f"{self.display(shown)}: too many levels of symlinks; refused")
        text = self._read_link(link, shown)
        target = text.replace("\\", "/")
        if not target:
            raise MediaError(f"{self.display(shown)}: symlink without a target; refused")
        parts = None if _absolute(target) else _inside(link.split("/")[:-1], target)
        if parts is None:
            raise MediaError(
                f"{self.display(shown)}: symlink points outside the media root ({text}); refused"
            )
        found = self._lookup(parts, depth + 1)
        return None if found is None else found[1]

    def _read_link(self, link: str, shown: str) -> str:
        text = self._link_text.get(link)
        if text is None:
            where = self.display(shown)
            with _MemberReader(self._member(self._files[link], where), where) as fh:
                data = fh.read_checked(_MAX_LINK_TEXT + 1)
            if len(data) > _MAX_LINK_TEXT:
                raise MediaError(f"{self.display(shown)}: symlink target too long; refused")
            text = self._link_text[link] = data.decode("utf-8", "replace")
        return text

    # -- the Tree and Media protocols ----------------------------------------------------

    def find(self, path: str) -> str | None:
        found = self._resolve(path)
        return None if found is None else found[0]

    def is_dir(self, path: str) -> bool:
        found = self._resolve(path)
        return found is not None and found[1] in self._dirs

    def listdir(self, path: str) -> list[str]:
        found = self._resolve(path)
        if found is None or found[1] not in self._dirs:
            return []
        return sorted(self._dirs[found[1]].values())

    def glob(self, pattern: str) -> list[str]:
        return glob_segments(self, pattern)

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as fh:
            return fh.read()

    def open(self, path: str) -> BinaryIO:
        found = self._resolve(path)
        if found is None or found[1] in self._dirs:
            what = "no such file" if found is None else "a folder, not a file"
            raise MediaError(f"{self.display(path)}: {what} on the media")
        shown = self.display(found[0])
        member = self._member(self._readable(found[1], shown), shown)
        return io.BufferedReader(_MemberReader(member, shown))

    def walk(self, path: str) -> Iterator[tuple[str, int]]:
        found = self._resolve(path)
        if found is None or found[1] not in self._dirs:
            raise MediaError(f"{self.display(path)}: no such folder on the media")
        yield from self._walk(found[0], found[1], (), {})

    def _walk(
        self, shown: str, real: str, above: tuple[str, ...], visits: dict[Hashable, int]
    ) -> Iterator[tuple[str, int]]:
        above = (*above, real)  # every real folder being walked, to stop links walking in circles
        count_visit(visits, real, self.display(shown))
        self._refuse_hostile(shown)
        self._refuse_hostile(real)
        for name in sorted(self._dirs[real].values()):
            rel = f"{shown}/{name}" if shown else name
            child = f"{real}/{name}" if real else name
            if child in self._links:
                target = self._follow(child, rel, 0)
                if target is None:
                    raise MediaError(f"{self.display(rel)}: dangling symlink on the media")
                if target in self._dirs and any(_under(f, target) for f in above):
                    raise MediaError(
                        f"{self.display(rel)}: symlink loop (leads back into a folder being "
                        "walked); refused"
                    )
                child = target
            if child in self._dirs:
                yield from self._walk(rel, child, above, visits)
            else:
                yield rel, self._readable(child, self.display(rel)).file_size

    def _refuse_hostile(self, folder: str) -> None:
        """Refuse a folder that an escaping entry claims to be in, raw or once normalised."""
        want = [fold(p) for p in folder.split("/") if p]
        for raw, normal, segments in self._hostile:
            if normal[: len(want)] == want or segments[: len(want)] == want:
                raise MediaError(
                    f"{self.location}: zip entry '{raw}' would leave the media root; refused"
                )

    def _readable(self, real: str, shown: str) -> zipfile.ZipInfo:
        info = self._files[real]
        kind = stat.S_IFMT(_mode(info))
        if kind not in (0, stat.S_IFREG):
            raise MediaError(f"{shown}: not a regular file (device or special file); refused")
        return info

    def _member(self, info: zipfile.ZipInfo, shown: str) -> IO[bytes]:
        if info.flag_bits & 0x1:
            raise MediaError(f"{shown}: encrypted; spdeploy cannot read it")
        method = _UNBOUNDED.get(info.compress_type)
        if method is not None:
            raise MediaError(
                f"{shown}: compressed with {method}, which spdeploy does not read (its size "
                "cannot be bounded while inflating); repack the archive with deflate"
            )
        try:
            return self._zip.open(info)
        except (NotImplementedError, RuntimeError) as exc:  # Deflate64, AES (99), unknown methods
            raise MediaError(
                f"{shown}: compressed with a method spdeploy cannot read ({exc})"
            ) from None
        except _DAMAGE as exc:
            raise MediaError(f"{shown}: damaged zip member ({_reason(exc)})") from None

    def display(self, path: str) -> str:
        return f"{self.location}!/{path.replace(chr(92), '/')}"

    def close(self) -> None:
        self._zip.close()
        self._link_text.clear()


class _MemberReader(io.RawIOBase):
    """A member's bytes; damage found while decompressing (CRC, truncation) is a MediaError."""

    def __init__(self, member: IO[bytes], shown: str) -> None:
        super().__init__()
        self._member = member
        self._shown = shown

    def readable(self) -> bool:
        return True

    def read_checked(self, size: int) -> bytes:
        try:
            return self._member.read(size)
        except _DAMAGE as exc:
            raise MediaError(f"{self._shown}: damaged zip member ({_reason(exc)})") from None

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read_checked(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        # In pieces, never read(-1): zipfile then inflates a deflate member in one call with no
        # bound on the output, so a member declaring 6 bytes could take gigabytes before the cut.
        chunks = []
        while data := self.read_checked(_CHUNK):
            chunks.append(data)
        return b"".join(chunks)

    def close(self) -> None:
        self._member.close()
        super().close()
