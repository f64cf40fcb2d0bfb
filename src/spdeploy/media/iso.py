"""An ISO 9660 image as a tree, read in place and lazily.

``pycdlib.PyCdlib().open()`` parses every directory record of an image before answering: seconds
on a 50,000-file CD, as slow as extracting it (SPEC §11). Resolving an installer path needs only
the directories along that path, so this reader follows ECMA-119 itself: the volume descriptors
from sector 16, then one directory extent per path segment, each read once and cached.

Three name sets may be on an image; the best one present is used: Rock Ridge (real POSIX names,
modes and symlinks, in the primary tree's System Use areas), else Joliet (UCS-2 names in a
supplementary tree), else the plain ISO 9660 names (``NTSCONN.EXE;1``). Names are reported
without their ``;1`` version. Rock Ridge symlinks are followed only while they stay inside the
image; device files are listed but never read.
"""

from __future__ import annotations

import io
import os
import stat
import struct
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

from spdeploy.errors import MediaError
from spdeploy.media.base import Media, count_visit, fold, glob_segments, local_name, split_path

SECTOR = 2048
_FIRST_DESCRIPTOR = 16
_MAX_DESCRIPTORS = 64  # a real image has a handful; this bounds a corrupt one
_MAX_DIRECTORY = 64 << 20  # no real directory extent is this large; a corrupt length could be
_MAX_LINKS = 16
_JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")  # UCS-2 levels 1-3 (Joliet specification)
_RRIP_IDS = (b"RRIP_1991A", b"IEEE_P1282", b"IEEE_1282")

_FLAG_DIRECTORY = 0x02
_FLAG_ASSOCIATED = 0x04
_FLAG_MULTI_EXTENT = 0x80

# Rock Ridge SL component flags (RRIP 4.1.3.1)
_SL_CONTINUE, _SL_CURRENT, _SL_PARENT, _SL_ROOT = 0x01, 0x02, 0x04, 0x08


def is_iso(path: Path) -> bool:
    """True when ``path`` holds an ISO 9660 volume descriptor where ECMA-119 puts the first one."""
    try:
        with path.open("rb") as fh:
            fh.seek(_FIRST_DESCRIPTOR * SECTOR)
            head = fh.read(7)
    except OSError:
        return False
    return head[1:6] == b"CD001"


class _Entry(NamedTuple):
    name: str  # as shown to users: the chosen name set's spelling, without ``;1``
    extents: tuple[tuple[int, int], ...]  # (logical block, byte length) in file order
    directory: bool
    mode: int | None = None  # Rock Ridge PX mode, when the image has one
    link: tuple[str, ...] | None = None  # Rock Ridge symlink components ("/" marks absolute)

    @property
    def size(self) -> int:
        return sum(length for _, length in self.extents)

    @property
    def special(self) -> bool:
        """A device, FIFO or socket: listed, never read."""
        if self.mode is None or self.link is not None:
            return False
        kind = stat.S_IFMT(self.mode)
        return kind not in (0, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK)


class _SystemUse:
    """What the Rock Ridge entries of one directory record say (filled in as they are read)."""

    __slots__ = ("child_link", "descriptors", "link", "mode", "name", "relocated", "sharing")

    def __init__(self) -> None:
        self.name: str | None = None
        self.mode: int | None = None
        self.link: list[str] | None = None
        self.relocated = False  # RE: the real entry is elsewhere (its CL record), hide this one
        self.child_link: int | None = None  # CL: this "file" is the relocated directory here
        self.descriptors: set[bytes] | None = None  # ER identifiers (on the root's "." record)
        self.sharing = False  # SP (on the root's "." record): SUSP is in use


class IsoMedia(Media):
    """Read-only, case-insensitive view of an ISO 9660 image file."""

    kind = "iso"
    hostile = ()  # no record names a parent; a Rock Ridge link is followed only inside the image

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(path)
        try:
            self._fh = self.path.open("rb")
            self._size = os.fstat(self._fh.fileno()).st_size
        except OSError as exc:
            raise MediaError(f"{self.path}: cannot read the image ({exc.strerror})") from None
        self._dirs: dict[int, dict[str, _Entry]] = {}
        # Continuation areas of a real image never overlap, so together they fit in the image;
        # the budget stops crafted CE entries that all point at the same 2 KiB (see _system_use).
        self._continued = 0
        try:
            self._block, self._root, self.names = self._volume()
        except BaseException:
            self._fh.close()
            raise

    # -- volume descriptors --------------------------------------------------------------

    def _volume(self) -> tuple[int, _Entry, str]:
        primary: bytes | None = None
        joliet: bytes | None = None
        for index in range(_FIRST_DESCRIPTOR, _FIRST_DESCRIPTOR + _MAX_DESCRIPTORS):
            sector = self._read(index * SECTOR, SECTOR, "volume descriptor")
            if sector[1:6] != b"CD001":
                raise MediaError(f"{self.path}: not an ISO 9660 image (no volume descriptor)")
            kind = sector[0]
            if kind == 1 and primary is None:
                primary = sector
            elif kind == 2 and joliet is None and any(e in sector[88:120] for e in _JOLIET_ESCAPES):
                joliet = sector
            elif kind == 255:
                break
        if primary is None:
            raise MediaError(f"{self.path}: not an ISO 9660 image (no primary volume descriptor)")
        block = struct.unpack_from("<H", primary, 128)[0]
        if block not in (512, 1024, 2048):
            raise MediaError(f"{self.path}: corrupt ISO 9660 image (logical block size {block})")
        declared = struct.unpack_from("<I", primary, 80)[0] * block
        if declared > self._size:
            raise MediaError(
                f"{self.path}: truncated ISO 9660 image (declares {declared} bytes, "
                f"the file has {self._size})"
            )
        self._block = block
        root = self._root_record(primary)
        self._rock_ridge = False
        self._joliet = False
        dot = self._dot_system_use(root)
        rrip = bool(dot.descriptors and dot.descriptors & set(_RRIP_IDS))
        if dot.sharing and (rrip or dot.mode is not None):
            self._rock_ridge = True
            return block, root, "rock-ridge"
        if joliet is not None:
            self._joliet = True
            return block, self._root_record(joliet), "joliet"
        return block, root, "iso9660"

    def _root_record(self, descriptor: bytes) -> _Entry:
        record = descriptor[156:190]
        lba, length = (
            struct.unpack_from("<I", record, 2)[0],
            struct.unpack_from("<I", record, 10)[0],
        )
        return _Entry("", ((lba, length),), True)

    def _dot_system_use(self, root: _Entry) -> _SystemUse:
        """The root's "." record carries SUSP's SP entry and Rock Ridge's ER (RRIP 5.1)."""
        lba, length = root.extents[0]
        data = self._read(lba * self._block, min(length, self._block), "root directory")
        size = data[0] if data else 0
        if size < 34 or size > len(data):  # a root extent shorter than its own "." record
            raise MediaError(f"{self.path}: corrupt ISO 9660 image (bad root directory record)")
        name_len = data[32]
        start = 33 + name_len + (1 - name_len % 2)
        return self._system_use(data[start:size], first=True)

    # -- low level -----------------------------------------------------------------------

    def _read(self, offset: int, length: int, what: str) -> bytes:
        if offset + length > self._size:
            raise MediaError(
                f"{self.path}: truncated ISO 9660 image ({what} at byte {offset} is past the "
                f"end of the file, {self._size} bytes)"
            )
        self._fh.seek(offset)
        return self._fh.read(length)

    def _system_use(self, area: bytes, first: bool = False) -> _SystemUse:
        """Parse SUSP entries (following CE continuation areas) for the Rock Ridge fields."""
        out = _SystemUse()
        name_parts: list[str] = []
        link: list[str] = []
        continuing = False  # an SL component continues in the next one
        pending = [area]
        hops = 0
        while pending:
            data = pending.pop()
            i = 0
            while i + 4 <= len(data):
                sig, length = data[i : i + 2], data[i + 2]
                if length < 4 or i + length > len(data):
                    break
                body = data[i + 4 : i + length]
                if sig == b"SP" and first and body[:2] == b"\xbe\xef":
                    out.sharing = True
                elif sig == b"ER" and len(body) >= 4:
                    id_len = body[0]
                    out.descriptors = (out.descriptors or set()) | {body[4 : 4 + id_len]}
                elif sig == b"NM" and body:
                    if not body[0] & 0x06:  # CURRENT/PARENT flags name "." and ".."
                        name_parts.append(body[1:].decode("utf-8", "surrogateescape"))
                elif sig == b"PX" and len(body) >= 4:
                    out.mode = struct.unpack_from("<I", body, 0)[0]
                elif sig == b"SL" and body:
                    continuing = self._symlink(body[1:], link, continuing)
                    out.link = link
                elif sig == b"RE":
                    out.relocated = True
                elif sig == b"CL" and len(body) >= 4:
                    out.child_link = struct.unpack_from("<I", body, 0)[0]
                elif sig == b"CE" and len(body) >= 24 and hops < 32:
                    hops += 1
                    block, offset, size = (struct.unpack_from("<I", body, n)[0] for n in (0, 8, 16))
                    # A continuation area lies within one logical block: mkisofs, xorriso and
                    # pycdlib write it so, and Linux's isofs and libarchive refuse a longer one.
                    # Trusting the length would read up to 4 GiB per hop. Refused, like a
                    # continuation past the end of the image, rather than skipped: skipping
                    # would quietly lose the Rock Ridge names and links it carries.
                    if offset + size > self._block:
                        raise MediaError(
                            f"{self.path}: corrupt ISO 9660 image (Rock Ridge continuation area "
                            f"of {size} bytes at offset {offset} overruns its "
                            f"{self._block}-byte block)"
                        )
                    # Each record may follow 32 hops of up to a block, and every record of a
                    # directory may point at the same chain: 64 KiB parsed per 34-byte record.
                    self._continued += size
                    if self._continued > self._size:
                        raise MediaError(
                            f"{self.path}: corrupt ISO 9660 image (Rock Ridge continuation "
                            f"areas add up to more than the image's {self._size} bytes: "
                            "they overlap or loop)"
                        )
                    pending.append(self._read(block * self._block + offset, size, "continuation"))
                elif sig == b"ST":
                    break
                i += length
        if name_parts:
            out.name = "".join(name_parts)
        return out

    @staticmethod
    def _symlink(body: bytes, link: list[str], continuing: bool) -> bool:
        i = 0
        while i + 2 <= len(body):
            flags, length = body[i], body[i + 1]
            text = body[i + 2 : i + 2 + length].decode("utf-8", "surrogateescape")
            if flags & _SL_ROOT:
                part = "/"
            elif flags & _SL_PARENT:
                part = ".."
            elif flags & _SL_CURRENT:
                part = "."
            else:
                part = text
            if continuing and link:
                link[-1] += part
            else:
                link.append(part)
            continuing = bool(flags & _SL_CONTINUE)
            i += 2 + length
        return continuing

    def _listing(self, directory: _Entry) -> dict[str, _Entry]:
        """Folded name -> entry for one directory, read once."""
        lba, length = directory.extents[0]
        cached = self._dirs.get(lba)
        if cached is not None:
            return cached
        if length > _MAX_DIRECTORY:
            raise MediaError(f"{self.path}: corrupt ISO 9660 image (directory of {length} bytes)")
        data = self._read(lba * self._block, length, "directory")
        entries: dict[str, _Entry] = {}
        pieces: list[tuple[int, int]] = []
        i = 0
        while i < len(data):
            size = data[i]
            if size == 0:  # records never cross a block: the rest of this block is padding
                i = (i // self._block + 1) * self._block
                continue
            if size < 34 or i + size > len(data) or 33 + data[i + 32] > size:
                raise MediaError(
                    f"{self.path}: corrupt ISO 9660 image (bad directory record at byte "
                    f"{lba * self._block + i})"
                )
            record = data[i : i + size]
            i += size
            name_len = record[32]
            raw = record[33 : 33 + name_len]
            if raw in (b"\x00", b"\x01"):  # "." and ".."
                continue
            flags = record[25]
            if flags & _FLAG_ASSOCIATED:
                continue
            pieces.append(
                (struct.unpack_from("<I", record, 2)[0], struct.unpack_from("<I", record, 10)[0])
            )
            if flags & _FLAG_MULTI_EXTENT:  # more of this file follows in the next record
                continue
            extents, pieces = tuple(pieces), []
            entry = self._entry(record, raw, extents, bool(flags & _FLAG_DIRECTORY))
            if entry is not None:
                # ECMA-119 sorts a name's versions highest first: the first spelling wins
                entries.setdefault(fold(entry.name), entry)
        self._dirs[lba] = entries
        return entries

    def _entry(
        self, record: bytes, raw: bytes, extents: tuple[tuple[int, int], ...], directory: bool
    ) -> _Entry | None:
        encoding = "utf-16-be" if self._joliet else "latin-1"
        name = local_name(raw.decode(encoding, "replace"))
        if not self._rock_ridge:
            return _Entry(name, extents, directory)
        name_len = record[32]
        use = self._system_use(record[33 + name_len + (1 - name_len % 2) :])
        if use.relocated:
            return None
        if use.child_link is not None:
            # a directory moved elsewhere to stay within 8 levels: its "." record has the size
            first = self._read(use.child_link * self._block, 34, "relocated directory")
            extents = ((use.child_link, struct.unpack_from("<I", first, 10)[0]),)
            directory = True
        link = tuple(use.link) if use.link is not None else None
        if use.mode is not None and stat.S_ISLNK(use.mode) and link is None:
            link = ()
        return _Entry(use.name or name, extents, directory, use.mode, link)

    # -- resolution ----------------------------------------------------------------------

    def _resolve(self, path: str) -> tuple[str, _Entry] | None:
        """(spelling, entry) for ``path``, following symlinks that stay inside the image.

        The spelling goes through the links, as on a folder (``Alias/Setup.exe``); reading it
        resolves them again.
        """
        found = self._follow(split_path(path, "media"), [0])
        return None if found is None else ("/".join(found[0]), found[2])

    def _follow(
        self, parts: list[str], hops: list[int]
    ) -> tuple[list[str], list[str], _Entry] | None:
        """(spelling, real path, entry); ``hops`` counts links followed, across recursion."""
        shown: list[str] = []
        real: list[str] = []
        current = self._root
        for part in parts:
            if not current.directory:
                return None
            entry = self._listing(current).get(fold(part))
            if entry is None:
                return None
            shown.append(entry.name)
            if entry.link is None:
                real.append(entry.name)
                current = entry
                continue
            where = self.display("/".join([*real, entry.name]))
            hops[0] += 1
            if hops[0] > _MAX_LINKS:
                raise MediaError(f"{where}: too many levels of symlinks")
            target = self._link_target(entry.link, real, where)
            followed = self._follow(target, hops)
            if followed is None:
                return None
            real, current = followed[1], followed[2]
        return shown, real, current

    @staticmethod
    def _link_target(link: tuple[str, ...], folder: list[str], where: str) -> list[str]:
        """A link's target as a path from the root, resolved by text; refused if it leaves."""
        if not link:
            raise MediaError(f"{where}: symlink without a target; refused")
        target = list(folder)
        for piece in link:
            if piece == "/" or (not target and piece == ".."):
                shown = "/".join(link).replace("//", "/")
                raise MediaError(
                    f"{where}: symlink points outside the media root ({shown}); refused"
                )
            if piece == "..":
                target.pop()
            elif piece not in ("", "."):
                target.append(piece)
        return target

    def _get(self, path: str) -> _Entry | None:
        found = self._resolve(path)
        return None if found is None else found[1]

    def find(self, path: str) -> str | None:
        found = self._resolve(path)
        return None if found is None else found[0]

    def is_dir(self, path: str) -> bool:
        entry = self._get(path) if path else self._root
        return entry is not None and entry.directory

    def listdir(self, path: str) -> list[str]:
        entry = self._get(path) if path else self._root
        if entry is None or not entry.directory:
            return []
        return sorted(e.name for e in self._listing(entry).values())

    def glob(self, pattern: str) -> list[str]:
        return glob_segments(self, pattern)

    def _file(self, path: str) -> _Entry:
        entry = self._get(path)
        if entry is None or entry.directory:
            what = "no such file" if entry is None else "a folder, not a file"
            raise MediaError(f"{self.display(path)}: {what} on the media")
        if entry.special:
            raise MediaError(
                f"{self.display(path)}: not a regular file (device or special file); refused"
            )
        if entry.size > self._size:
            # Overlapping multi-extent records can make a small image claim a file of terabytes:
            # read_bytes would exhaust memory and staging would fill the disk.
            raise MediaError(
                f"{self.display(path)}: corrupt ISO 9660 image (a file of {entry.size} bytes in "
                f"a {self._size}-byte image)"
            )
        return entry

    def read_bytes(self, path: str) -> bytes:
        with self.open(path) as fh:
            return fh.read()

    def open(self, path: str) -> BinaryIO:
        entry = self._file(path)
        return io.BufferedReader(_ExtentReader(self, entry, self.display(path)), 1 << 20)

    def walk(self, path: str) -> Iterator[tuple[str, int]]:
        found = self._resolve(path) if path else ("", self._root)
        if found is None or not found[1].directory:
            raise MediaError(f"{self.display(path)}: no such folder on the media")
        yield from self._walk(found[0], found[1], 0, {})

    def _walk(
        self, prefix: str, directory: _Entry, depth: int, visits: dict[Hashable, int]
    ) -> Iterator[tuple[str, int]]:
        if depth > _MAX_LINKS + 64:
            raise MediaError(f"{self.display(prefix)}: folders nested too deep (symlink loop?)")
        count_visit(visits, directory.extents[0][0], self.display(prefix))
        for entry in sorted(self._listing(directory).values(), key=lambda e: e.name):
            rel = f"{prefix}/{entry.name}" if prefix else entry.name
            target = entry
            if entry.link is not None:
                resolved = self._get(rel)  # refuses a link leaving the image
                if resolved is None:
                    raise MediaError(f"{self.display(rel)}: dangling symlink on the media")
                target = resolved
            if target.directory:
                yield from self._walk(rel, target, depth + 1, visits)
            elif target.special:
                raise MediaError(
                    f"{self.display(rel)}: not a regular file (device or special file); refused"
                )
            else:
                yield rel, target.size

    def display(self, path: str) -> str:
        return f"{self.location}!/{path.replace(chr(92), '/')}"

    def close(self) -> None:
        self._fh.close()
        self._dirs.clear()


class _ExtentReader(io.RawIOBase):
    """A file's bytes, straight from its extents in the image (its own handle: reads interleave)."""

    def __init__(self, image: IsoMedia, entry: _Entry, shown: str) -> None:
        super().__init__()
        self._fh = image.path.open("rb")
        self._block = image._block
        self._extents = list(entry.extents)
        self._shown = shown
        self._index = 0
        self._offset = 0  # within the current extent

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._index < len(self._extents):
            lba, length = self._extents[self._index]
            left = length - self._offset
            if left <= 0:
                self._index, self._offset = self._index + 1, 0
                continue
            want = min(left, len(buffer))
            self._fh.seek(lba * self._block + self._offset)
            got = self._fh.readinto(memoryview(buffer)[:want])
            if not got:
                raise MediaError(
                    f"{self._shown}: truncated ISO 9660 image (the file's data is past its end)"
                )
            self._offset += got
            return got
        return 0

    def close(self) -> None:
        self._fh.close()
        super().close()
