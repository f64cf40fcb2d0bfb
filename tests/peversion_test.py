"""The quick version reader answers as pefile does, or not at all.

pefile is the oracle throughout: on launchers a compiler built (pip's vendored distlib ships
them, PE32 and PE32+, x86 and ARM64), on the sandbox's images, and on images damaged at random.
Wherever ``peversion`` gives a version, pefile must give the same one from the same bytes.
"""

from __future__ import annotations

import os
import struct
from importlib.util import find_spec
from pathlib import Path

import pefile
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spdeploy import peversion
from spdeploy.errors import ProbeError
from spdeploy.probes import pe_file_version
from spdeploy.sandbox.pe import MACHINES, build_pe

_RESOURCE = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]


def _pefile(data: bytes) -> str | None:
    """What spdeploy read before peversion: pefile's first fixed version info."""
    pe = pefile.PE(data=data, fast_load=True)
    pe.parse_data_directories(directories=[_RESOURCE])
    fixed = getattr(pe, "VS_FIXEDFILEINFO", None)
    if not fixed:
        return None
    ms, ls = fixed[0].FileVersionMS, fixed[0].FileVersionLS
    return f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"


def _launchers() -> list[Path]:
    """Real executables with a version resource, shipped inside this environment's pip."""
    spec = find_spec("pip")
    if spec is None or spec.origin is None:
        return []
    return sorted((Path(spec.origin).parent / "_vendor" / "distlib").glob("*.exe"))


def _agrees(data: bytes) -> str | None:
    """peversion's answer, after checking that pefile gives the same one."""
    quick = peversion.file_version(data)
    if quick is not None:
        assert _pefile(data) == quick
    return quick


def test_real_launchers_read_as_pefile_reads_them() -> None:
    launchers = _launchers()
    if not launchers:
        if os.environ.get("CI") == "true":  # CI's venv has pip: the oracle must not go quiet
            pytest.fail("this environment's pip ships no launchers")
        pytest.skip("this environment's pip ships no launchers")
    answered = {path.name: _agrees(path.read_bytes()) for path in launchers}
    versioned = {p.name for p in launchers if _pefile(p.read_bytes()) is not None}
    # a well-formed compiler-built image is answered here, without pefile
    assert versioned and all(answered[name] is not None for name in versioned), answered


@pytest.mark.parametrize("machine", sorted(MACHINES))
@pytest.mark.parametrize("version", ["5.5.2448.0", "5.5.2653.0", "65535.0.1.65535", "0.0.0.0"])
def test_sandbox_images(version: str, machine: str) -> None:
    data = build_pe(version, machine=machine, payload_size=100)
    assert _agrees(data) == version


def _set(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def test_what_it_declines_pefile_still_reads() -> None:
    """A section alignment under a page: pefile maps it by the loader's special rule; the quick
    reader declines, and the probe's answer comes from pefile, unchanged."""
    data = build_pe("5.5.2653.0")
    small = _set(data, 0x40 + 24 + 32, "<I", 0x200)  # SectionAlignment = FileAlignment
    assert peversion.file_version(small) is None
    assert _pefile(small) == "5.5.2653.0"
    assert pe_file_version(small, "small.exe") == "5.5.2653.0"


def _two_languages(data: bytes) -> bytes:
    """The sandbox image with its version resource listed under two languages."""
    rsrc, rva = 0x200, 0x1000  # the sandbox image's one section, in the file and in memory
    at, size = struct.unpack_from("<II", data, rsrc + 72)
    info = data[rsrc + at - rva : rsrc + at - rva + size]
    tree = (
        struct.pack("<IIHHHHII", 0, 0, 0, 0, 0, 1, 16, 0x80000000 | 24)
        + struct.pack("<IIHHHHII", 0, 0, 0, 0, 0, 1, 1, 0x80000000 | 48)
        + struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 2)
        + struct.pack("<IIII", 0x409, 80, 0x407, 96)
        + struct.pack("<IIII", rva + 0x80, size, 0, 0) * 2
    ).ljust(0x80, b"\0")
    out = bytearray(data)
    out[rsrc : rsrc + 0x80 + size] = tree + info
    return bytes(out)


def test_two_version_resources_are_left_to_pefile() -> None:
    """pefile reads the first of several; the quick reader does not guess which that is."""
    data = _two_languages(build_pe("5.5.2653.0"))
    assert _pefile(data) == "5.5.2653.0"
    assert peversion.file_version(data) is None
    assert pe_file_version(data, "two.exe") == "5.5.2653.0"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"MZ",
        b"ZM" + bytes(200),
        build_pe("5.5.2653.0")[:0x300],
        b"MZ" + bytes(0x3A) + b"\xff" * 4,
    ],
    ids=["empty", "two-bytes", "not-mz", "truncated", "header-past-end"],
)
def test_not_answered(data: bytes) -> None:
    assert peversion.file_version(data) is None


def _damaged(draw: st.DrawFn) -> bytes:
    base = draw(st.sampled_from(_BASES))
    data = bytearray(base)
    # most damage where the reader looks: the headers and the resource tree
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, min(len(data), 0x400) - 1) | st.integers(0, len(data) - 1))
        data[where] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


_BASES = [build_pe("5.5.2653.0"), build_pe("1.2.3.4", machine="Alpha", payload_size=0x400)]
_BASES += [p.read_bytes() for p in _launchers()[:2]]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.composite(_damaged)())
def test_damaged_images_are_answered_as_pefile_answers_or_not_at_all(data: bytes) -> None:
    quick = peversion.file_version(data)
    if quick is not None:
        assert _pefile(data) == quick  # and pefile does not refuse it either


def _page_section(data: bytes) -> bytes:
    """A second section named PAGE, writable and executable, and an import directory."""
    out = bytearray(data)
    table = 0x40 + 24 + 224
    out[table + 40 : table + 80] = struct.pack(
        "<8sIIIIIIHHI", b"PAGE", 0x1000, 0x2000, 0, 0, 0, 0, 0, 0, 0xA0000000
    )
    struct.pack_into("<H", out, 0x40 + 6, 2)  # NumberOfSections
    struct.pack_into("<II", out, 0x40 + 24 + 96 + 8, 0x1000, 0x14)
    return bytes(out)


def test_an_image_pefile_trips_on_is_unreadable_not_a_crash() -> None:
    """pefile raises AttributeError here (it checks a driver's imports mid-way through its
    section list): the quick reader declines, and the probe says the file cannot be read
    (installed, version unknown) instead of spdeploy stopping with an internal error."""
    data = _page_section(build_pe("5.5.2653.0"))
    assert peversion.file_version(data) is None
    with pytest.raises(ProbeError, match=r"page\.exe: pefile cannot read it"):
        pe_file_version(data, "page.exe")


@pytest.mark.parametrize("damage", ["zeroed-header", "high-address"])
def test_what_pefile_reads_otherwise_is_declined(damage: str) -> None:
    """Found by a hostile review: pefile stops its section list at a header of zeros, and its
    dword_align wraps at 4 GiB; in both, the quick reader had answered where pefile did not."""
    data = bytearray(build_pe("5.5.2653.0"))
    table = 0x40 + 24 + 224
    if damage == "zeroed-header":
        data[table : table + 80] = bytes(40) + data[table : table + 40]
        struct.pack_into("<H", data, 0x40 + 6, 2)
    else:  # the one section, and the resources in it, moved just under 4 GiB
        struct.pack_into("<I", data, table + 12, 0xFFFFF000)
        struct.pack_into("<I", data, 0x40 + 24 + 96 + 16, 0xFFFFF000)
        struct.pack_into("<I", data, 0x200 + 72, 0xFFFFF000 + 0x60)
    assert peversion.file_version(bytes(data)) is None
