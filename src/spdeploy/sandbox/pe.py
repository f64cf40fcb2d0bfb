"""Minimal PE32 writer for version-stamped stand-in binaries.

The sandbox simulates an Exchange Server 5.5 install tree and service-pack media without
shipping any Microsoft files. spdeploy decides what is installed by reading each binary's
VS_VERSIONINFO resource (``peversion``, or ``pefile`` where that declines), so the stand-ins
have to be real PE images whose only content is that resource. Generating them here, with
nothing but ``struct``, keeps the fixtures tiny, fast to build (tests create hundreds) and
byte-for-byte reproducible.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path

__all__ = ["MACHINES", "build_pe", "write_pe"]

MACHINES: dict[str, int] = {"I386": 0x14C, "Alpha": 0x184}

_FILE_ALIGN = 0x200
_SECTION_ALIGN = 0x1000
_RSRC_RVA = _SECTION_ALIGN  # the only section starts at the first page after the headers
_PE_OFFSET = 0x40  # no DOS stub: nothing will ever run these under DOS
_HEADERS_END = _PE_OFFSET + 4 + 20 + 224 + 40  # signature, COFF, PE32 optional, one section
_SIZE_OF_HEADERS = -(-_HEADERS_END // _FILE_ALIGN) * _FILE_ALIGN

_RT_VERSION = 16
_LANG_EN_US = 0x0409
_CODEPAGE_UNICODE = 0x04B0
_DATA_OFFSET = 0x60  # three one-entry directories (3 * 24) + one data entry (16), rounded up


def _align(value: int, boundary: int) -> int:
    return -(-value // boundary) * boundary


def _parse_version(version: str) -> tuple[int, int, int, int]:
    parts = version.split(".")
    if not 1 <= len(parts) <= 4:
        raise ValueError(f"version {version!r} must have 1 to 4 dot-separated parts")
    numbers: list[int] = []
    for part in parts:
        # int() alone would also accept "+1", " 1", "1_0" and non-ASCII digits.
        if not (part.isascii() and part.isdecimal()) or not 0 <= int(part) <= 0xFFFF:
            raise ValueError(f"version {version!r}: part {part!r} is not an integer in 0..65535")
        numbers.append(int(part))
    numbers += [0] * (4 - len(numbers))
    return numbers[0], numbers[1], numbers[2], numbers[3]


def _node(
    key: str, value: bytes = b"", *, text: bool = True, children: Sequence[bytes] = ()
) -> bytes:
    """One VS_VERSIONINFO-family block: header, key, padding, value, padded children."""
    out = bytearray(6)  # wLength, wValueLength, wType: known only once the block is complete
    out += key.encode("utf-16-le") + b"\0\0"
    out += bytes(-len(out) % 4)
    out += value
    for child in children:
        out += bytes(-len(out) % 4)
        out += child
    # Text values are measured in UTF-16 code units (terminator included), binary ones in bytes.
    value_length = len(value) // 2 if text else len(value)
    struct.pack_into("<HHH", out, 0, len(out), value_length, int(text))
    return bytes(out)


def _string(key: str, value: str) -> bytes:
    return _node(key, value.encode("utf-16-le") + b"\0\0")


def _version_info(numbers: tuple[int, int, int, int], strings: dict[str, str]) -> bytes:
    major, minor, build, revision = numbers
    ms, ls = (major << 16) | minor, (build << 16) | revision
    fixed = b"".join(
        (
            struct.pack("<II", 0xFEEF04BD, 0x00010000),  # signature, structure version 1.0
            struct.pack("<IIII", ms, ls, ms, ls),  # file and product version agree here
            struct.pack("<II", 0x3F, 0),  # VS_FFI_FILEFLAGSMASK, no debug/prerelease flags
            struct.pack("<II", 0x00040004, 0x1),  # VOS_NT_WINDOWS32, VFT_APP
            bytes(12),  # subtype and file date: unused, and a date would break determinism
        )
    )
    table = _node(
        f"{_LANG_EN_US:04X}{_CODEPAGE_UNICODE:04X}",
        children=[_string(key, value) for key, value in strings.items()],
    )
    translation = _node(
        "Translation", struct.pack("<HH", _LANG_EN_US, _CODEPAGE_UNICODE), text=False
    )
    return _node(
        "VS_VERSION_INFO",
        fixed,
        text=False,
        children=[
            _node("StringFileInfo", children=[table]),
            _node("VarFileInfo", children=[translation]),
        ],
    )


def _resource_section(version_info: bytes) -> bytes:
    def directory(entry_id: int, target: int) -> bytes:
        # Characteristics, TimeDateStamp, version, 0 named + 1 id entry, then that entry.
        return struct.pack("<IIHHHHII", 0, 0, 0, 0, 0, 1, entry_id, target)

    subdirectory = 0x80000000
    tree = (
        directory(_RT_VERSION, subdirectory | 24)
        + directory(1, subdirectory | 48)
        + directory(_LANG_EN_US, 72)
        # Unlike the directory offsets above, a data entry holds an RVA, not a section offset.
        + struct.pack("<IIII", _RSRC_RVA + _DATA_OFFSET, len(version_info), 0, 0)
    )
    return tree.ljust(_DATA_OFFSET, b"\0") + version_info


def build_pe(
    version: str,
    *,
    description: str = "",
    product: str = "Microsoft Exchange",
    original_filename: str = "",
    machine: str = "I386",
    payload_size: int = 0,
) -> bytes:
    """Return the bytes of a PE32 image whose only content is a version resource."""
    numbers = _parse_version(version)
    if machine not in MACHINES:
        raise ValueError(f"unknown machine {machine!r}; choose one of {', '.join(MACHINES)}")
    if payload_size < 0:
        raise ValueError(f"payload_size must be >= 0, got {payload_size}")
    dotted = ".".join(map(str, numbers))
    rsrc = _resource_section(
        _version_info(
            numbers,
            {
                "CompanyName": "Microsoft Corporation",
                "FileDescription": description,
                "FileVersion": dotted,
                "OriginalFilename": original_filename,
                "ProductName": product,
                "ProductVersion": dotted,
            },
        )
    )
    raw_size = _align(len(rsrc), _FILE_ALIGN)
    image_size = _RSRC_RVA + _align(len(rsrc), _SECTION_ALIGN)

    # Relocations stripped | executable image | 32-bit machine; timestamp 0 for determinism.
    coff = struct.pack("<4sHHIIIHH", b"PE\0\0", MACHINES[machine], 1, 0, 0, 0, 224, 0x0103)
    optional = b"".join(
        (
            struct.pack("<HBB", 0x10B, 6, 0),  # PE32, linker 6.0 as in the Exchange 5.5 era
            struct.pack("<III", 0, raw_size, 0),  # code, initialized, uninitialized data
            # Never executed, but pefile warns about an entry point inside the headers.
            struct.pack("<I", _RSRC_RVA),
            struct.pack("<II", 0, _RSRC_RVA),  # BaseOfCode, BaseOfData
            struct.pack("<III", 0x400000, _SECTION_ALIGN, _FILE_ALIGN),
            struct.pack("<HHHHHH", 4, 0, 0, 0, 4, 0),  # OS, image, subsystem versions (NT 4)
            struct.pack("<III", 0, image_size, _SIZE_OF_HEADERS),
            struct.pack("<I", 0),  # CheckSum: the loader verifies it only for drivers
            struct.pack("<HH", 2, 0),  # IMAGE_SUBSYSTEM_WINDOWS_GUI, no DLL characteristics
            struct.pack("<IIII", 0x100000, 0x1000, 0x100000, 0x1000),  # stack, heap
            struct.pack("<II", 0, 16),  # LoaderFlags, NumberOfRvaAndSizes
            bytes(2 * 8),  # export and import directories: none
            struct.pack("<II", _RSRC_RVA, len(rsrc)),  # IMAGE_DIRECTORY_ENTRY_RESOURCE
            bytes(13 * 8),
        )
    )
    section = b"".join(
        (
            struct.pack("<8sIIII", b".rsrc", len(rsrc), _RSRC_RVA, raw_size, _SIZE_OF_HEADERS),
            bytes(12),  # no relocations or line numbers
            struct.pack("<I", 0x40000040),  # initialized data, readable
        )
    )
    dos = b"MZ".ljust(0x3C, b"\0") + struct.pack("<I", _PE_OFFSET)
    headers = dos + coff + optional + section
    return b"".join(
        (headers.ljust(_SIZE_OF_HEADERS, b"\0"), rsrc.ljust(raw_size, b"\0"), bytes(payload_size))
    )


def write_pe(
    path: os.PathLike[str] | str,
    version: str,
    *,
    description: str = "",
    product: str = "Microsoft Exchange",
    original_filename: str = "",
    machine: str = "I386",
    payload_size: int = 0,
) -> None:
    """build_pe + write the file (parent folders created)."""
    data = build_pe(
        version,
        description=description,
        product=product,
        original_filename=original_filename,
        machine=machine,
        payload_size=payload_size,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
