"""FileVersion of a well-formed PE image, read without pefile.

pefile stays the reader of record: :func:`spdeploy.probes.pe_file_version` asks it whenever this
module declines. But importing pefile costs about 20 ms (it loads OpenSSL through ``hashlib``
for hashes spdeploy never asks for), an eighth of ``spdeploy status``; this reader answers the
common case, an image whose headers, sections and resource tree are all in order, and declines
(``None``) at the first thing it would have to interpret: an overlap, a misalignment, a second
version resource, a field out of bounds. Where it answers, it answers as pefile does (the first
RT_VERSION resource's VS_FIXEDFILEINFO, found at the same offsets by the same rules):
``tests/peversion_test.py`` holds it to that on real launchers built by a compiler, on the
sandbox's images, and on hundreds of damaged ones per run (a hostile review tried some
100,000 more, built to find a difference: the three it found are declined now).

It reads only at offsets it has checked, loops only over tables whose size it has bounded (at
most 96 sections and 2,048 resource entries, about 10 ms at worst), and never follows an offset
twice: a hostile image costs it little, and makes it decline. Where pefile stumbles on its own
(a zeroed section header ends its section list, a section named PAGE makes it parse the
imports, its alignment wraps at 4 GiB), this reader declines.
"""

from __future__ import annotations

import bisect
import struct

_RT_VERSION = 16
_PE32, _PE32_PLUS = 0x10B, 0x20B
_MAX_SECTIONS = 96  # the Windows loader's limit
# entries in the whole resource tree: a version-stamped binary has tens to hundreds; pefile
# takes up to 0x8000, and reads a tree this reader declines
_MAX_ENTRIES = 2048
_MAX_RVA = 0x80000000
_FIXED_SIGNATURE = 0xFEEF04BD
_KEY = "VS_VERSION_INFO\0".encode("utf-16-le")


class _Decline(Exception):
    """Something this reader does not interpret: pefile decides."""


def file_version(data: bytes) -> str | None:
    """``"a.b.c.d"`` from the image's fixed version info, or None: not answered here."""
    try:
        return _Image(data).file_version()
    except _Decline:
        return None


def dotted(high: int, low: int) -> str:
    """``"a.b.c.d"`` from VS_FIXEDFILEINFO's FileVersionMS and FileVersionLS."""
    return f"{high >> 16}.{high & 0xFFFF}.{low >> 16}.{low & 0xFFFF}"


def _unpack(fmt: str, data: bytes, offset: int) -> tuple[int, ...]:
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise _Decline
    return struct.unpack_from(fmt, data, offset)


def _power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


class _Image:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.seen: set[int] = set()  # resource offsets followed: each once
        self.entries = 0
        if data[:2] != b"MZ":
            raise _Decline
        (pe,) = _unpack("<I", data, 0x3C)
        if data[pe : pe + 4] != b"PE\0\0":
            raise _Decline
        sections, optional_size = _unpack("<2xH12xH2x", data, pe + 4)
        optional = pe + 24
        (magic,) = _unpack("<H", data, optional)
        if magic not in (_PE32, _PE32_PLUS):
            raise _Decline
        section_align, file_align = _unpack("<II", data, optional + 32)
        # pefile moves sections that are not aligned, and maps small alignments its own way
        if not (_power_of_two(file_align) and 0x200 <= file_align <= 0x10000):
            raise _Decline
        if not (_power_of_two(section_align) and section_align >= max(file_align, 0x1000)):
            raise _Decline
        count_at = optional + (92 if magic == _PE32 else 108)
        (directories,) = _unpack("<I", data, count_at)
        if not 3 <= directories <= 16 or count_at + 4 + 8 * directories > optional + optional_size:
            raise _Decline
        self.resource_rva, resource_size = _unpack("<II", data, count_at + 4 + 2 * 8)
        if not self.resource_rva or not resource_size:
            raise _Decline
        if not 1 <= sections <= _MAX_SECTIONS:
            raise _Decline
        table = optional + optional_size
        self.sections: list[tuple[int, int, int]] = []  # (address, raw size, raw offset)
        end = 0
        for header in range(table, table + 40 * sections, 40):
            virtual_size, address, raw_size, raw_at = _unpack("<8xIIII16x", data, header)
            # pefile stops its section list at a header of zeros, and parses the import table
            # (which may fail) for a section named PAGE
            if (
                not any(data[header : header + 40])
                or data[header : header + 8].rstrip(b"\0") == b"PAGE"
            ):
                raise _Decline
            # in order, apart, aligned and whole in the file: the one section pefile would
            # choose for an address is then the one that holds it
            if address < end or address % section_align or raw_at % file_align:
                raise _Decline
            if raw_at + raw_size > len(data):
                raise _Decline
            end = address + max(virtual_size, raw_size)
            self.sections.append((address, raw_size, raw_at))
        self.addresses = [address for address, _, _ in self.sections]

    def offset(self, rva: int, length: int) -> int:
        """File offset of ``length`` bytes at ``rva``, all inside one section's file data.
        Below 2 GiB: pefile's ``dword_align`` wraps at 4 GiB and would read elsewhere."""
        i = bisect.bisect_right(self.addresses, rva) - 1
        if i < 0 or rva + length > _MAX_RVA:
            raise _Decline
        address, raw_size, raw_at = self.sections[i]
        if rva + length > address + raw_size:
            raise _Decline
        return raw_at + rva - address

    def follow(self, relative: int, length: int) -> int:
        """File offset of ``length`` bytes at ``relative`` in the resources, never followed
        before: a tree that leads back into itself is declined."""
        if relative in self.seen:
            raise _Decline
        self.seen.add(relative)
        return self.offset(self.resource_rva + relative, length)

    def directory(self, relative: int) -> list[tuple[int, int]]:
        """(name, offset) of every entry of the resource directory at ``relative``: at least
        one, each named one's name inside the resources, after the one before it."""
        at = self.follow(relative, 16)
        named, numbered = _unpack("<12xHH", self.data, at)
        count = named + numbered
        self.entries += count
        if not count or self.entries > _MAX_ENTRIES:
            raise _Decline
        start = self.offset(self.resource_rva + relative + 16, 8 * count)
        entries: list[tuple[int, int]] = [
            struct.unpack_from("<II", self.data, start + 8 * i) for i in range(count)
        ]  # inside the file: offset() said so
        name_end = 0
        for name, _ in entries:
            if name & 0x80000000:  # a counted UTF-16 string, laid out after the last one
                name_at = self.resource_rva + (name & 0x7FFFFFFF)
                (length,) = _unpack("<H", self.data, self.offset(name_at, 2))
                self.offset(name_at + 2, 2 * length)
                if name_at < name_end:
                    raise _Decline
                name_end = name_at + 2 + 2 * length
        return entries

    def file_version(self) -> str:
        found: list[int] = []
        # the whole tree, three levels (type, name, language): pefile reads all of it, and a
        # damaged branch anywhere could stop it before the version
        for type_name, type_at in self.directory(0):
            # pefile takes the low 16 bits of any entry's name for its type
            if type_name & 0xFFFF == _RT_VERSION != type_name or not type_at & 0x80000000:
                raise _Decline
            for _name, name_at in self.directory(type_at & 0x7FFFFFFF):
                if not name_at & 0x80000000:
                    raise _Decline
                for _language, data_at in self.directory(name_at & 0x7FFFFFFF):
                    if data_at & 0x80000000:
                        raise _Decline
                    entry = self.follow(data_at, 16)
                    if type_name == _RT_VERSION:
                        found.append(entry)
        if len(found) != 1:
            raise _Decline
        rva, size = _unpack("<II", self.data, found[0])
        at = self.offset(rva, size)
        # VS_VERSIONINFO: three words, the key, then VS_FIXEDFILEINFO on a 32-bit boundary of
        # the address (pefile's dword_align)
        fixed = ((6 + len(_KEY) + rva + 3) & ~3) - (rva & ~3)
        if self.data[at + 6 : at + 6 + len(_KEY)] != _KEY or fixed + 52 > size:
            raise _Decline
        signature, _, high, low = _unpack("<4I", self.data, at + fixed)
        if signature != _FIXED_SIGNATURE:
            raise _Decline
        return dotted(high, low)
