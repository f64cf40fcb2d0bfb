"""A PE image's FileVersion, read with ``struct`` the way pefile reads it.

pefile stays the reference for ``pe_version`` probes (:func:`spdeploy.probes.pe_file_version`),
but importing it, with the OpenSSL it loads, cost ``status`` a tenth of its run, and parsing each
image another millisecond. This reader answers for images laid out as linkers write them. It
walks the structures pefile walks, in the same order (``pefile.PE(data=..., fast_load=True)``,
then the resource directory), and takes the answer pefile gives: the fixed file info of the first
language of the first name under the RT_VERSION type. Wherever pefile would take a turn of its
own (a header or a section out of the ordinary, a named resource, a directory leading back up, a
structure that does not lie whole in its section's raw data, a version block not as written), it
does not guess: it raises :class:`Unusual`, and the caller asks pefile. The tests hold the two to
the same answer on the sandbox's images, on real Windows programs and on damaged copies of both.
"""

from __future__ import annotations

import itertools
import struct

__all__ = ["Unusual", "file_version"]

_RT_VERSION = 16
_KEY = b"V\0S\0_\0V\0E\0R\0S\0I\0O\0N\0_\0I\0N\0F\0O\0\0\0"  # "VS_VERSION_INFO", UTF-16, ended
# pefile's limits: past them it stops reading (MAX_RESOURCE_DEPTH, MAX_RESOURCE_ENTRIES)
_MAX_DEPTH = 32
_MAX_IN_DIRECTORY = 4096
_MAX_ENTRIES = 0x8000
_MAX_SECTIONS = 96  # the loader's limit; pefile reads up to 2048
_WRITE_EXECUTE = 0xA0000000  # IMAGE_SCN_MEM_WRITE | IMAGE_SCN_MEM_EXECUTE: pefile asks more
# Magic -> the optional header's size without its data directories (pefile's formats)
_OPTIONAL_SIZES = {0x10B: 96, 0x20B: 112}

# (first RVA, end RVA, size of raw data, offset of raw data): pefile's view of a section
_Section = tuple[int, int, int, int]
# (ID, entries under it or None, its data entry or None): one resource directory entry
_Entry = tuple[int, "list[_Entry] | None", bytes | None]


class Unusual(Exception):
    """The image is not laid out as this reader knows: only pefile can say what it holds."""


def file_version(data: bytes) -> str | None:
    """The FileVersion pefile reads from ``data`` (``5.5.2653.0``); None when the image has no
    version resource. Unusual when this reader cannot be sure of pefile's answer, including
    for anything that is not a PE image at all (pefile's error message says why)."""
    sections, resources = _headers(data)
    if not resources:  # no resource directory: pefile reads none
        return None
    entries = _directory(data, sections, resources, resources, 0, (resources,), [0])
    versions = [entry for entry in entries if entry[0] == _RT_VERSION]
    if not versions:
        return None
    if len(versions) > 1:
        raise Unusual("two RT_VERSION types")
    names = versions[0][1]
    langs = names[0][1] if names else None
    if not langs or langs[0][2] is None:
        raise Unusual("an RT_VERSION type without a language under its first name")
    return _fixed_version(data, sections, langs[0][2])


def _headers(data: bytes) -> tuple[list[_Section], int]:
    """The sections, and the resource directory's RVA (0: none), of an image whose headers
    pefile reads without a warning that changes what it reads."""
    size = len(data)
    if size < 64 or data[:2] != b"MZ":
        raise Unusual("no DOS header")
    (nt,) = struct.unpack_from("<I", data, 0x3C)
    optional = nt + 24  # after the signature and the file header
    if optional + 2 > size or data[nt : nt + 4] != b"PE\0\0":
        raise Unusual("no PE signature")
    (count,) = struct.unpack_from("<H", data, nt + 6)
    (optional_size,) = struct.unpack_from("<H", data, nt + 20)
    (magic,) = struct.unpack_from("<H", data, optional)
    fixed = _OPTIONAL_SIZES.get(magic)
    if fixed is None or optional + fixed + 24 > size:  # through the resource directory entry
        raise Unusual("an optional header pefile reads its own way")
    section_alignment, file_alignment = struct.unpack_from("<II", data, optional + 32)
    (directories,) = struct.unpack_from("<I", data, optional + fixed - 4)
    if directories & 0x7FFFFFFF < 3:
        raise Unusual("no resource directory entry")
    (resources,) = struct.unpack_from("<I", data, optional + fixed + 16)
    table = optional + optional_size
    if not 0 < count <= _MAX_SECTIONS or table + 40 * count > size:
        raise Unusual("a section table pefile reads its own way")
    alignment = section_alignment if section_alignment >= 0x1000 else file_alignment
    sections = []
    for at in range(table, table + 40 * count, 40):
        header = data[at : at + 40]
        virtual_size, address, raw_size, raw_at = struct.unpack_from("<IIII", header, 8)
        (flags,) = struct.unpack_from("<I", header, 36)
        if (
            not any(header)  # pefile ends the table there
            or raw_at % 0x200  # pefile rounds raw data down to 512 bytes
            or (alignment and address % alignment)  # and addresses down to the alignment
            or raw_at + raw_size > size
            or virtual_size > 0x10000000
            or address > 0x10000000
            or flags & _WRITE_EXECUTE == _WRITE_EXECUTE
        ):
            raise Unusual("a section pefile reads its own way")
        sections.append((address, address + max(raw_size, virtual_size), raw_size, raw_at))
    sections.sort()
    for before, after in itertools.pairwise(sections):
        if before[1] > after[0] or before[0] == after[0]:
            raise Unusual("sections that overlap")  # pefile clips them
    return sections, resources


def _section(sections: list[_Section], rva: int) -> _Section:
    for section in sections:
        if section[0] <= rva < section[1]:
            return section
    raise Unusual("an address outside every section")


def _read(data: bytes, sections: list[_Section], rva: int, length: int) -> bytes:
    """``length`` bytes at ``rva``, all of them in its section's raw data."""
    start, _, raw_size, raw_at = _section(sections, rva)
    if rva - start + length > raw_size:
        raise Unusual("a structure past its section's raw data")
    return data[raw_at + rva - start : raw_at + rva - start + length]


def _directory(
    data: bytes,
    sections: list[_Section],
    base: int,
    rva: int,
    level: int,
    above: tuple[int, ...],
    total: list[int],
) -> list[_Entry]:
    """Every entry of the resource directory at ``rva``, and below it: pefile reads them all,
    and one it cannot read ends its reading there."""
    if level > _MAX_DEPTH:
        raise Unusual("resources nested too deep")
    named, numbered = struct.unpack_from("<HH", _read(data, sections, rva, 16), 12)
    count = named + numbered
    total[0] += count
    if count > _MAX_IN_DIRECTORY or total[0] > _MAX_ENTRIES:
        raise Unusual("too many resources")
    entries: list[_Entry] = []
    for at in range(rva + 16, rva + 16 + 8 * count, 8):
        name, target = struct.unpack("<II", _read(data, sections, at, 8))
        if name > 0xFFFF:  # a name string, or an ID pefile cuts to 16 bits
            raise Unusual("a named resource")
        below = base + (target & 0x7FFFFFFF)
        if not target & 0x80000000:
            entries.append((name, None, _read(data, sections, below, 16)))
        elif below in above:
            raise Unusual("a resource directory inside itself")
        else:
            inner = _directory(data, sections, base, below, level + 1, (*above, below), total)
            entries.append((name, inner, None))
    return entries


def _fixed_version(data: bytes, sections: list[_Section], entry: bytes) -> str:
    """The FileVersion of VS_FIXEDFILEINFO in the version block that data entry points to."""
    at, size = struct.unpack_from("<II", entry)
    start, _, _, raw_at = _section(sections, at)
    block = data[raw_at + at - start : raw_at + at - start + size]
    if len(block) < 6 or _read(data, sections, at + 6, len(_KEY)) != _KEY:
        raise Unusual("a version block without its VS_VERSION_INFO key")
    # after the 6-byte header and the key, aligned as pefile aligns it (dword_align)
    fixed = ((at + 6 + len(_KEY) + 3) & 0xFFFFFFFC) - (at & 0xFFFFFFFC)
    if len(block) < fixed + 52:
        raise Unusual("a version block too short for its fixed file info")
    ms, ls = struct.unpack_from("<II", block, fixed + 8)
    return f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"
