"""The stand-in binaries must read back through pefile exactly as spdeploy reads real ones."""

from __future__ import annotations

from pathlib import Path

import pefile
import pytest

from spdeploy.sandbox.pe import MACHINES, build_pe, write_pe

_RESOURCE = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]


def _parse(data: bytes) -> pefile.PE:
    pe = pefile.PE(data=data, fast_load=True)
    pe.parse_data_directories(directories=[_RESOURCE])
    return pe


def _file_version(pe: pefile.PE) -> tuple[int, int, int, int]:
    fixed = pe.VS_FIXEDFILEINFO[0]
    ms, ls = fixed.FileVersionMS, fixed.FileVersionLS
    return ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF


def _strings(pe: pefile.PE) -> dict[str, str]:
    out: dict[str, str] = {}
    for info in pe.FileInfo[0]:
        for table in getattr(info, "StringTable", []):
            out.update({k.decode(): v.decode() for k, v in table.entries.items()})
    return out


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("5.5.2448.0", (5, 5, 2448, 0)),
        ("5.5.2653.0", (5, 5, 2653, 0)),
        ("5.5.1960.8", (5, 5, 1960, 8)),
        ("5.5", (5, 5, 0, 0)),
        ("5", (5, 0, 0, 0)),
        ("65535.0.0.65535", (65535, 0, 0, 65535)),
    ],
)
def test_fixed_file_info_round_trips(version: str, expected: tuple[int, int, int, int]) -> None:
    pe = _parse(build_pe(version))
    assert _file_version(pe) == expected
    fixed = pe.VS_FIXEDFILEINFO[0]
    assert fixed.Signature == 0xFEEF04BD
    assert (fixed.ProductVersionMS, fixed.ProductVersionLS) == (
        fixed.FileVersionMS,
        fixed.FileVersionLS,
    )
    assert _strings(pe)["FileVersion"] == ".".join(map(str, expected))


def test_string_file_info_entries() -> None:
    pe = _parse(
        build_pe(
            "5.5.2653.0",
            description="Microsoft Exchange Information Store",
            original_filename="STORE.EXE",
        )
    )
    assert _strings(pe) == {
        "CompanyName": "Microsoft Corporation",
        "FileDescription": "Microsoft Exchange Information Store",
        "FileVersion": "5.5.2653.0",
        "OriginalFilename": "STORE.EXE",
        "ProductName": "Microsoft Exchange",
        "ProductVersion": "5.5.2653.0",
    }
    tables = [t for info in pe.FileInfo[0] for t in getattr(info, "StringTable", [])]
    assert [t.LangID for t in tables] == [b"040904B0"]
    translations = [v.entry for info in pe.FileInfo[0] for v in getattr(info, "Var", [])]
    assert translations == [{b"Translation": "0x0409 0x04b0"}]


def test_non_ascii_strings_and_custom_product() -> None:
    pe = _parse(build_pe("5.5", description="Größe – Ü", product="Exchange Server"))
    strings = _strings(pe)
    assert strings["FileDescription"] == "Größe – Ü"
    assert strings["ProductName"] == "Exchange Server"


def test_headers_are_sane() -> None:
    data = build_pe("5.5.2653.0")
    pe = _parse(data)
    assert data[:2] == b"MZ"
    assert pe.FILE_HEADER.Machine == MACHINES["I386"] == 0x14C
    assert pe.FILE_HEADER.TimeDateStamp == 0
    assert pe.FILE_HEADER.IMAGE_FILE_EXECUTABLE_IMAGE
    assert pe.FILE_HEADER.IMAGE_FILE_32BIT_MACHINE
    opt = pe.OPTIONAL_HEADER
    assert opt.Magic == 0x10B
    assert (opt.FileAlignment, opt.SectionAlignment) == (0x200, 0x1000)
    assert opt.NumberOfRvaAndSizes == 16
    assert opt.SizeOfImage % opt.SectionAlignment == 0
    assert opt.SizeOfHeaders % opt.FileAlignment == 0
    [section] = pe.sections
    assert section.Name.rstrip(b"\0") == b".rsrc"
    assert section.VirtualAddress + section.Misc_VirtualSize <= opt.SizeOfImage
    assert section.PointerToRawData + section.SizeOfRawData == len(data)
    [rt_version] = pe.DIRECTORY_ENTRY_RESOURCE.entries
    assert rt_version.id == pefile.RESOURCE_TYPE["RT_VERSION"]
    [name] = rt_version.directory.entries
    [lang] = name.directory.entries
    assert (name.id, lang.id) == (1, 0x0409)
    assert pe.VS_VERSIONINFO[0].Length == lang.data.struct.Size


def test_alpha_machine() -> None:
    pe = _parse(build_pe("5.5.2653.0", machine="Alpha"))
    assert pe.FILE_HEADER.Machine == 0x184
    assert _file_version(pe) == (5, 5, 2653, 0)


def test_payload_grows_file_and_still_parses() -> None:
    small = build_pe("5.5.2653.0")
    big = build_pe("5.5.2653.0", payload_size=3_000_000)
    assert len(big) == len(small) + 3_000_000
    assert big.startswith(small)
    pe = _parse(big)
    assert _file_version(pe) == (5, 5, 2653, 0)
    assert pe.get_overlay_data_start_offset() == len(small)
    assert pe.get_warnings() == []


def test_deterministic() -> None:
    first = build_pe("5.5.2653.0", description="Directory", original_filename="DSAMAIN.EXE")
    again = build_pe("5.5.2653.0", description="Directory", original_filename="DSAMAIN.EXE")
    assert first == again
    assert build_pe("5.5.2653.0") != build_pe("5.5.2448.0")


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_no_pefile_warnings(machine: str) -> None:
    data = build_pe(
        "5.5.2653.0", description="Store", original_filename="STORE.EXE", machine=machine
    )
    assert _parse(data).get_warnings() == []
    # A full load also counts byte frequencies; padding makes these files mostly zeros, and
    # that statistical hint is the only thing it may report.
    full = pefile.PE(data=data)
    assert all(w.startswith("Byte 0x00 makes up") for w in full.get_warnings())
    assert _file_version(full) == (5, 5, 2653, 0)


@pytest.mark.parametrize(
    "version",
    ["", "5.5.2653.0.1", "5..1", "5.5.", "5.x", "-1.0", "5.65536", "+5", " 5", "1_0", "٥.٥"],
)
def test_bad_versions_raise(version: str) -> None:
    with pytest.raises(ValueError, match="version"):
        build_pe(version)


def test_bad_machine_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"MIPS.*I386.*Alpha"):
        build_pe("5.5", machine="MIPS")


def test_negative_payload_raises() -> None:
    with pytest.raises(ValueError, match="payload_size"):
        build_pe("5.5", payload_size=-1)


def test_write_pe_creates_parent_folders(tmp_path: Path) -> None:
    target = tmp_path / "exchsrvr" / "bin" / "store.exe"
    write_pe(target, "5.5.2653.0", description="Store", machine="Alpha", payload_size=10)
    assert target.read_bytes() == build_pe(
        "5.5.2653.0", description="Store", machine="Alpha", payload_size=10
    )
    as_str = tmp_path / "media" / "alpha" / "x.dll"
    write_pe(str(as_str), "5.5")
    assert _file_version(_parse(as_str.read_bytes())) == (5, 5, 0, 0)
