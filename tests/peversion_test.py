"""The struct reader of a PE image's FileVersion (peversion.py) against pefile, its reference.

Wherever the reader answers, pefile gives the same answer; wherever it does not (Unusual),
``pe_file_version`` asks pefile. So a ``pe_version`` probe answers, and fails, as it did when
pefile read every image: on the sandbox's images, on real Windows programs (distlib's launchers,
built by a Microsoft linker, with their own version resources) and on damaged copies of both.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from pathlib import Path

import distlib
import pefile
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from properties import EXAMPLES, LONG, PROPERTY

from spdeploy.errors import ProbeError
from spdeploy.peversion import Unusual, file_version
from spdeploy.probes import pe_file_version
from spdeploy.sandbox.pe import MACHINES, build_pe

LAUNCHERS = sorted(Path(distlib.__file__).parent.glob("*.exe"))


def pefile_answer(data: bytes) -> str | None:
    """What ``pe_file_version`` answered when it always asked pefile (ProbeError: not PE)."""
    try:
        pe = pefile.PE(data=data, fast_load=True)
        pe.parse_data_directories(
            directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]]
        )
    except pefile.PEFormatError as exc:
        raise ProbeError(f"here: not a Windows PE file ({exc.value})") from None
    fixed = getattr(pe, "VS_FIXEDFILEINFO", None)
    if not fixed:
        return None
    ms, ls = fixed[0].FileVersionMS, fixed[0].FileVersionLS
    return f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"


def outcome(read: Callable[[bytes], str | None], data: bytes) -> tuple[str, str | None]:
    """("version", v) or ("error", message): what reading ``data`` gives."""
    try:
        return "version", read(data)
    except ProbeError as exc:
        return "error", exc.message


@pytest.mark.parametrize("machine", sorted(MACHINES))
@pytest.mark.parametrize("version", ["5.5.2448.0", "5.5.2653.0", "1.2", "65535.65535.65535.65535"])
@pytest.mark.parametrize("payload", [0, 5000])
def test_the_sandbox_images_are_read_without_pefile(
    machine: str, version: str, payload: int
) -> None:
    data = build_pe(version, machine=machine, payload_size=payload)
    assert file_version(data) == pefile_answer(data)
    assert file_version(data) == ".".join([*version.split("."), "0", "0"][:4])


def test_real_windows_programs_are_read_as_pefile_reads_them() -> None:
    assert LAUNCHERS, "distlib ships its Windows launchers"
    for path in LAUNCHERS:
        data = path.read_bytes()
        assert file_version(data) == pefile_answer(data) is not None, path.name


def test_an_image_without_resources_has_no_version() -> None:
    data = bytearray(build_pe("5.5.2653.0"))
    (nt,) = struct.unpack_from("<I", data, 0x3C)
    struct.pack_into("<II", data, nt + 24 + 96 + 16, 0, 0)  # the resource directory entry
    assert file_version(bytes(data)) is None
    assert pefile_answer(bytes(data)) is None


@pytest.mark.parametrize(
    "data", [b"", b"MZ", b"plain text, not an image\n" * 40, b"MZ" + bytes(200)]
)
def test_what_is_not_an_image_is_left_to_pefile_and_its_message(data: bytes) -> None:
    with pytest.raises(Unusual):
        file_version(data)
    with pytest.raises(ProbeError, match="not a Windows PE file") as caught:
        pe_file_version(data, "here")
    assert caught.value.message == outcome(pefile_answer, data)[1]


def _images() -> list[bytes]:
    return [build_pe("5.5.2653.0"), build_pe("5.5.2448.8", payload_size=3000)] + [
        p.read_bytes() for p in LAUNCHERS[:2]
    ]


IMAGES = _images()


def _regions(data: bytes) -> list[tuple[int, int]]:
    """Where damage tells readers apart: the headers and section table, the resource directory,
    the version block (file offsets, as pefile finds them)."""
    pe = pefile.PE(data=data, fast_load=True)
    nt = pe.DOS_HEADER.e_lfanew
    found = [(0, 64), (nt, nt + 24 + 240 + 40 * pe.FILE_HEADER.NumberOfSections)]
    resources = pe.OPTIONAL_HEADER.DATA_DIRECTORY[2]
    start = pe.get_offset_from_rva(resources.VirtualAddress)
    found.append((start, start + min(resources.Size, 512)))
    pe.parse_data_directories(directories=[2])
    for entry in pe.DIRECTORY_ENTRY_RESOURCE.entries:
        if entry.id == 16:
            leaf = entry.directory.entries[0].directory.entries[0].data.struct
            at = pe.get_offset_from_rva(leaf.OffsetToData)
            found.append((at, at + 96))
    return found


REGIONS = [_regions(data) for data in IMAGES]
_DAMAGE = st.one_of(
    st.integers(0, 255).map(lambda b: bytes([b])),
    st.sampled_from([0, 1, 6, 16, 0x200, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]).map(
        lambda v: struct.pack("<I", v)
    ),
)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    image = draw(st.integers(0, len(IMAGES) - 1))
    data = bytearray(IMAGES[image])
    for _ in range(draw(st.integers(1, 4))):
        start, end = draw(st.sampled_from(REGIONS[image]))
        at = draw(st.integers(start, min(end, len(data)) - 1))
        patch = draw(_DAMAGE)
        data[at : at + len(patch)] = patch
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))) :]
    return bytes(data)


@LONG
@settings(PROPERTY, max_examples=max(100, EXAMPLES // 5))  # pefile takes 10 ms an example
@given(damaged())
def test_a_damaged_image_reads_as_pefile_reads_it(data: bytes) -> None:
    expected = outcome(pefile_answer, data)
    with contextlib.suppress(Unusual):  # then pefile answers
        assert ("version", file_version(data)) == expected
    assert outcome(lambda d: pe_file_version(d, "here"), data) == expected
