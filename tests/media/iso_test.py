"""ISO 9660 media read in place: level-1, Joliet and Rock Ridge names, lazily, never outside."""

from __future__ import annotations

import io
import os
import random
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pycdlib
import pytest
from helpers import require_tool

from spdeploy.errors import MediaError
from spdeploy.media import open_media
from spdeploy.media.iso import IsoMedia

INSTALLER = b"MZ" + b"\x90" * 3_000_000  # spans many sectors and read chunks


def _image(path: Path, *, joliet: bool = False, rock_ridge: bool = False) -> pycdlib.PyCdlib:
    iso = pycdlib.PyCdlib()
    iso.new(
        interchange_level=1, joliet=3 if joliet else None, rock_ridge="1.09" if rock_ridge else None
    )
    return iso


def _dir(iso: pycdlib.PyCdlib, iso_path: str, real: str, joliet: bool, rr: bool) -> None:
    iso.add_directory(
        iso_path,
        rr_name=real.rpartition("/")[2] if rr else None,
        joliet_path=real if joliet else None,
    )


def _file(
    iso: pycdlib.PyCdlib,
    iso_path: str,
    real: str,
    data: bytes,
    joliet: bool,
    rr: bool,
    mode: int | None = None,
) -> None:
    iso.add_fp(
        io.BytesIO(data),
        len(data),
        iso_path,
        rr_name=real.rpartition("/")[2] if rr else None,
        joliet_path=real if joliet else None,
        file_mode=mode if rr else None,
    )


def build(path: Path, *, joliet: bool = False, rr: bool = False) -> Path:
    """ENG/EXCHCONN/SETUP/I386/NTSCONN/{NTSCONN.EXE, README.TXT} with real names Eng/... ."""
    iso = _image(path, joliet=joliet, rock_ridge=rr)
    parts = [("ENG", "Eng"), ("EXCHCONN", "Exchconn"), ("SETUP", "Setup"), ("I386", "I386")]
    parts.append(("NTSCONN", "Ntsconn"))
    iso_path = real = ""
    for upper, name in parts:
        iso_path, real = f"{iso_path}/{upper}", f"{real}/{name}"
        _dir(iso, iso_path, real, joliet, rr)
    _file(iso, f"{iso_path}/NTSCONN.EXE;1", f"{real}/Ntsconn.exe", INSTALLER, joliet, rr, 0o100755)
    _file(iso, f"{iso_path}/README.TXT;1", f"{real}/Read me.txt", b"hello", joliet, rr)
    iso.write(str(path))
    iso.close()
    return path


def test_level1_names_match_case_insensitively_without_version(tmp_path: Path) -> None:
    media = open_media(build(tmp_path / "l1.iso"))
    assert isinstance(media, IsoMedia)
    assert (media.kind, media.names) == ("iso", "iso9660")
    want = "ENG/EXCHCONN/SETUP/I386/NTSCONN/NTSCONN.EXE"
    assert media.find(r"Eng\Exchconn\Setup\I386\Ntsconn\Ntsconn.exe") == want
    assert media.find("eng/exchconn/setup/i386/ntsconn/NTSCONN.EXE;1") == want
    assert media.find("Eng/Exchconn/Setup/Alpha") is None
    assert media.read_bytes(want) == INSTALLER
    assert media.glob("eng/*/setup/*/ntsconn/*.exe") == [want]
    assert sorted(media.walk("eng/exchconn")) == [
        (want, len(INSTALLER)),
        ("ENG/EXCHCONN/SETUP/I386/NTSCONN/README.TXT", 5),
    ]


def test_joliet_names_are_used_when_present(tmp_path: Path) -> None:
    media = open_media(build(tmp_path / "j.iso", joliet=True))
    assert media.names == "joliet"  # type: ignore[attr-defined]
    assert media.listdir("ENG/EXCHCONN/SETUP/I386/NTSCONN") == ["Ntsconn.exe", "Read me.txt"]
    assert media.find("ENG/EXCHCONN/SETUP/I386/NTSCONN/ntsconn.exe") == (
        "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe"
    )


def test_rock_ridge_names_are_preferred(tmp_path: Path) -> None:
    media = open_media(build(tmp_path / "rr.iso", joliet=True, rr=True))
    assert media.names == "rock-ridge"  # type: ignore[attr-defined]
    assert media.find("eng/exchconn/setup/i386/ntsconn/read me.txt") == (
        "Eng/Exchconn/Setup/I386/Ntsconn/Read me.txt"
    )


def test_open_reads_in_chunks_across_sectors(tmp_path: Path) -> None:
    media = open_media(build(tmp_path / "l1.iso"))
    got = bytearray()
    with media.open("eng/exchconn/setup/i386/ntsconn/ntsconn.exe") as fh:
        while chunk := fh.read(65_537):
            got += chunk
    assert bytes(got) == INSTALLER


def test_only_the_directories_on_the_path_are_read(tmp_path: Path) -> None:
    """Lazy: 40 sibling folders, one looked up; the others' directory records are never read."""
    iso = _image(tmp_path)
    for n in range(40):
        iso.add_directory(f"/D{n:02}")
        iso.add_fp(io.BytesIO(b"x"), 1, f"/D{n:02}/F.EXE;1")
    iso.write(str(tmp_path / "many.iso"))
    iso.close()
    media = IsoMedia(tmp_path / "many.iso")
    assert media.find("d17/f.exe") == "D17/F.EXE"
    assert len(media._dirs) == 2  # the root and D17


def _symlinks(path: Path, links: dict[str, str]) -> Path:
    iso = _image(path, rock_ridge=True)
    iso.add_directory("/ENG", rr_name="Eng")
    iso.add_directory("/ENG/SUB", rr_name="Sub")
    iso.add_fp(io.BytesIO(b"inside"), 6, "/ENG/SUB/A.EXE;1", rr_name="a.exe")
    for n, (name, target) in enumerate(sorted(links.items())):
        iso.add_symlink(f"/ENG/L{n}.;1", rr_symlink_name=name, rr_path=target)
    iso.write(str(path))
    iso.close()
    return path


def test_rock_ridge_symlink_inside_is_followed(tmp_path: Path) -> None:
    media = open_media(_symlinks(tmp_path / "s.iso", {"alias": "Sub", "up": "../Eng/Sub/a.exe"}))
    assert media.find("eng/alias/a.exe") == "Eng/alias/a.exe"  # spelled through the link
    assert media.read_bytes("eng/alias/a.exe") == b"inside"
    assert media.read_bytes("eng/up") == b"inside"
    assert sorted(media.walk("eng")) == [
        ("Eng/Sub/a.exe", 6),
        ("Eng/alias/a.exe", 6),
        ("Eng/up", 6),
    ]


@pytest.mark.parametrize("target", ["/etc", "../../etc", "Sub/../../../etc/passwd"])
def test_rock_ridge_symlink_escape_is_refused(tmp_path: Path, target: str) -> None:
    media = open_media(_symlinks(tmp_path / "s.iso", {"evil": target}))
    with pytest.raises(MediaError, match=r"symlink points outside the media root .*; refused"):
        media.find("eng/evil/passwd")
    with pytest.raises(MediaError, match="outside the media root"):
        list(media.walk("eng"))


def test_device_files_are_listed_but_never_read(tmp_path: Path) -> None:
    iso = _image(tmp_path, rock_ridge=True)
    iso.add_directory("/ENG", rr_name="Eng")
    iso.add_fp(io.BytesIO(b""), 0, "/ENG/TTY.;1", rr_name="tty", file_mode=0o020644)
    iso.write(str(tmp_path / "dev.iso"))
    iso.close()
    media = open_media(tmp_path / "dev.iso")
    assert media.listdir("eng") == ["tty"]
    with pytest.raises(MediaError, match="not a regular file"):
        media.read_bytes("eng/tty")
    with pytest.raises(MediaError, match="not a regular file"):
        list(media.walk("eng"))


def test_truncated_image_is_one_clear_error(tmp_path: Path) -> None:
    data = build(tmp_path / "l1.iso").read_bytes()
    cut = tmp_path / "cut.iso"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"truncated ISO 9660 image \(declares \d+ bytes"):
        open_media(cut)
    cut.write_bytes(data[: 16 * 2048 + 100])  # the descriptors' start survives, little else
    with pytest.raises(MediaError, match="truncated"):
        open_media(cut)


def test_random_bytes_named_iso_are_not_media(tmp_path: Path) -> None:
    path = tmp_path / "random.iso"
    path.write_bytes(os.urandom(200_000))
    with pytest.raises(MediaError, match="not a folder, an ISO 9660 image or a zip archive"):
        open_media(path)


def test_corrupt_directory_record_is_one_clear_error(tmp_path: Path) -> None:
    path = build(tmp_path / "l1.iso")
    media = IsoMedia(path)
    lba = media._root.extents[0][0]
    media.close()
    data = bytearray(path.read_bytes())
    first = lba * 2048
    second = first + data[first]  # skip "."; then ".."; damage the record after them
    third = second + data[second]
    data[third] = 20  # shorter than any directory record
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="corrupt ISO 9660 image"):
        IsoMedia(path).find("eng/exchconn")


LONG_NAME = "Long name " + "x" * 230 + ".exe"  # too long for its record: spills into a CE area


def _continued(path: Path) -> Path:
    """A Rock Ridge image whose ENG/LONG.EXE has its name in a continuation (CE) area."""
    iso = _image(path, rock_ridge=True)
    iso.add_directory("/ENG", rr_name="Eng")
    iso.add_fp(io.BytesIO(b"inside"), 6, "/ENG/LONG.EXE;1", rr_name=LONG_NAME)
    iso.write(str(path))
    iso.close()
    return path


@pytest.mark.parametrize("claim", ["past-the-end", "rest-of-the-image"])
def test_oversized_continuation_area_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, claim: str
) -> None:
    path = _continued(tmp_path / "ce.iso")
    media = IsoMedia(path)
    assert media.find(f"ENG/{LONG_NAME}") == f"Eng/{LONG_NAME}"  # read through its CE area
    lba = media._listing(media._root)["eng"].extents[0][0]
    media.close()
    data = bytearray(path.read_bytes())
    ce = data.find(b"CE\x1c\x01", lba * 2048, (lba + 1) * 2048)  # the file's, in ENG's directory
    assert ce > 0
    block, offset = (
        struct.unpack_from("<I", data, ce + 4)[0],
        struct.unpack_from("<I", data, ce + 12)[0],
    )
    # a length the file could satisfy (several blocks, read whole before) or could not (4 GiB)
    size = 0xFFFF_FFFF if claim == "past-the-end" else len(data) - block * 2048 - offset
    assert size > 2048
    struct.pack_into("<I", data, ce + 20, size)  # both-endian field: little-, then big-endian
    struct.pack_into(">I", data, ce + 24, size)
    path.write_bytes(bytes(data))
    reads: list[tuple[str, int]] = []
    real_read = IsoMedia._read

    def spy(self: IsoMedia, at: int, length: int, what: str) -> bytes:
        reads.append((what, length))
        return real_read(self, at, length, what)

    monkeypatch.setattr(IsoMedia, "_read", spy)
    damaged = IsoMedia(path)
    with pytest.raises(MediaError) as refused:
        damaged.find(f"eng/{LONG_NAME}")
    assert str(refused.value) == (
        f"{path}: corrupt ISO 9660 image (Rock Ridge continuation area of {size} bytes at "
        f"offset {offset} overruns its 2048-byte block)"
    )
    assert max(length for what, length in reads if what == "continuation") <= 2048


def test_relocated_deep_directories_are_found(tmp_path: Path) -> None:
    """Rock Ridge moves folders deeper than 8 levels to rr_moved; CL/RE entries put them back."""
    tool = require_tool("genisoimage")
    deep = tmp_path / "src" / "a/b/c/d/e/f/g/h/i/j"
    deep.mkdir(parents=True)
    (deep / "Deep.exe").write_bytes(b"deep")
    image = tmp_path / "deep.iso"
    subprocess.run([tool, "-quiet", "-R", "-o", str(image), str(tmp_path / "src")], check=True)
    media = open_media(image)
    assert media.find("A/B/C/D/E/F/G/H/I/J/deep.EXE") == "a/b/c/d/e/f/g/h/i/j/Deep.exe"
    assert media.read_bytes("a/b/c/d/e/f/g/h/i/j/Deep.exe") == b"deep"
    assert [path for path, _ in media.walk("a")] == ["a/b/c/d/e/f/g/h/i/j/Deep.exe"]


def test_names_and_sizes_agree_with_pycdlib(tmp_path: Path) -> None:
    """Cross-check the hand-written reader against pycdlib's full parse of the same image."""
    tool = require_tool("xorriso")
    src = tmp_path / "src"
    for rel, size in [("Eng/Server/Setup/I386/Update.exe", 70_000), ("Eng/Long name.txt", 3)]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(b"u" * size)
    image = tmp_path / "x.iso"
    cmd = [tool, "-as", "mkisofs", "-quiet", "-J", "-R", "-o", str(image), str(src)]
    subprocess.run(cmd, check=True, capture_output=True)
    ours = sorted(open_media(image).walk(""))
    reference = pycdlib.PyCdlib()
    reference.open(str(image))
    theirs = []
    for base, _dirs, files in reference.walk(rr_path="/"):
        for name in files:
            rec = reference.get_record(rr_path=f"{base.rstrip('/')}/{name}")
            theirs.append((f"{base.rstrip('/')}/{name}".lstrip("/"), rec.get_data_length()))
    reference.close()
    assert ours == sorted(theirs)


# -- hostile images (found by fuzzing the reader; each raised something other than MediaError,
# or never finished) ----------------------------------------------------------------------


def _both_endian(data: bytearray, at: int, value: int) -> None:
    struct.pack_into("<I", data, at, value)
    struct.pack_into(">I", data, at + 4, value)


def _records(data: bytes, lba: int, length: int) -> dict[bytes, int]:
    """Raw identifier -> byte offset of each directory record in one directory extent."""
    found, i = {}, 0
    while i < length:
        size = data[lba * 2048 + i]
        if size == 0:
            i = (i // 2048 + 1) * 2048
            continue
        at = lba * 2048 + i
        found[bytes(data[at + 33 : at + 33 + data[at + 32]])] = at
        i += size
    return found


def test_root_extent_shorter_than_its_record_is_one_clear_error(tmp_path: Path) -> None:
    """The primary descriptor says the root directory is 20 bytes: less than its "." record."""
    path = build(tmp_path / "l1.iso")
    data = bytearray(path.read_bytes())
    _both_endian(data, 16 * 2048 + 156 + 10, 20)  # was an IndexError
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match=r"corrupt ISO 9660 image \(bad root directory record\)"):
        open_media(path)


def _fan_of_records(path: Path, levels: int) -> Path:
    """Folders D0..Dn at the root; each Dk holds A and B, both records pointing at D(k+1)."""
    iso = _image(path)
    for n in range(levels + 1):
        for sub in ("", "/A", "/B"):
            iso.add_directory(f"/D{n}{sub}")
    iso.write(str(path))
    iso.close()
    media = IsoMedia(path)
    top = media._listing(media._root)
    media.close()
    data = bytearray(path.read_bytes())
    for n in range(levels):
        lba, length = top[f"d{n + 1}"].extents[0]
        records = _records(data, *top[f"d{n}"].extents[0])
        for name in (b"A", b"B"):
            _both_endian(data, records[name] + 2, lba)
            _both_endian(data, records[name] + 10, length)
    path.write_bytes(bytes(data))
    return path


def _fan_of_symlinks(path: Path, levels: int) -> Path:
    """A valid Rock Ridge image: D0..Dn, each Dk with links l0..l3 to ../D(k+1)."""
    iso = _image(path, rock_ridge=True)
    for n in range(levels + 1):
        iso.add_directory(f"/D{n}", rr_name=f"D{n}")
        for k in range(4 if n < levels else 0):
            iso.add_symlink(f"/D{n}/L{k}.;1", rr_symlink_name=f"l{k}", rr_path=f"../D{n + 1}")
    iso.add_fp(io.BytesIO(b"x"), 1, f"/D{levels}/F.;1", rr_name="f")
    iso.write(str(path))
    iso.close()
    return path


@pytest.mark.parametrize(
    ("fan", "levels", "deep"),
    [(_fan_of_records, 30, "D0/B/A/B/A/B"), (_fan_of_symlinks, 15, "D13/l3/l2/f")],
)
def test_folder_reached_by_exponentially_many_paths_is_refused(
    tmp_path: Path, fan: Callable[[Path, int], Path], levels: int, deep: str
) -> None:
    """No loop, so the depth limit never fired: 2**30 (or 4**15) paths, a walk without end."""
    media = open_media(fan(tmp_path / "fan.iso", levels))
    with pytest.raises(MediaError, match="the same folder is reached by more than 64 paths"):
        list(media.walk(""))
    assert media.find(deep) == deep  # looking one path up still works


def test_folder_behind_many_symlinks_is_still_walked(tmp_path: Path) -> None:
    """The bound on paths to one folder leaves room for real media: 40 links to one folder."""
    links = {f"alias{n:02}": "Sub" for n in range(40)}
    media = open_media(_symlinks(tmp_path / "s.iso", links))
    walked = list(media.walk("eng"))
    assert len(walked) == 41 and ("Eng/alias39/a.exe", 6) in walked


def test_file_of_overlapping_extents_larger_than_the_image_is_refused(tmp_path: Path) -> None:
    """Multi-extent records, each covering the whole image: a 64 KiB image claims a huge file."""
    path = tmp_path / "multi.iso"
    iso = _image(path)
    for n in range(200):
        iso.add_fp(io.BytesIO(b"x"), 1, f"/F{n:03}.;1")
    iso.write(str(path))
    iso.close()
    media = IsoMedia(path)
    lba, length = media._root.extents[0]
    media.close()
    data = bytearray(path.read_bytes())
    records = sorted(at for name, at in _records(data, lba, length).items() if len(name) > 1)
    for at in records:
        _both_endian(data, at + 2, 0)
        _both_endian(data, at + 10, len(data))
        data[at + 25] |= 0x80  # multi-extent: the next record continues this file...
    data[records[-1] + 25] &= ~0x80  # ...up to the last: one file of 200 images
    path.write_bytes(bytes(data))
    media = open_media(path)
    assert list(media.walk("")) == [("F199", 200 * len(data))]  # listed as the image says
    with pytest.raises(MediaError, match=rf"a file of {200 * len(data)} bytes in a {len(data)}-"):
        media.read_bytes("F199")  # was read whole into memory


def test_continuation_areas_pointing_at_one_loop_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every record's CE points at one block whose CE points at itself: 32 hops of 2 KiB each,
    64 KiB parsed per 34-byte record; a few MiB of directory took minutes."""
    path = tmp_path / "ce.iso"
    iso = _image(path, rock_ridge=True)
    iso.add_directory("/ENG", rr_name="Eng")
    for n in range(100):
        iso.add_fp(io.BytesIO(b""), 0, f"/ENG/F{n:03}.;1", rr_name=f"{LONG_NAME}{n}")
    iso.write(str(path))
    iso.close()
    media = IsoMedia(path)
    lba, length = media._listing(media._root)["eng"].extents[0]
    media.close()
    data = bytearray(path.read_bytes())
    loop = len(data) // 2048  # one block appended: entries of 4 bytes, then a CE to itself
    area = bytearray(b"XX\x04\x01" * 505) + b"CE\x1c\x01" + bytes(24)
    for at, value in ((2024, loop), (2032, 0), (2040, 2048)):  # block, offset, length
        _both_endian(area, at, value)
    data += area
    _both_endian(data, 16 * 2048 + 80, len(data) // 2048)  # the volume space grows by a block
    start, end, patched = lba * 2048, (lba * 2048) + length, 0
    while (ce := data.find(b"CE\x1c\x01", start, end)) > 0:
        _both_endian(data, ce + 4, loop)
        _both_endian(data, ce + 12, 0)
        _both_endian(data, ce + 20, 2048)
        start, patched = ce + 28, patched + 1
    assert patched == 100
    path.write_bytes(bytes(data))
    parsed: list[int] = []
    real_read = IsoMedia._read

    def spy(self: IsoMedia, at: int, size: int, what: str) -> bytes:
        if what == "continuation":
            parsed.append(size)
        return real_read(self, at, size, what)

    monkeypatch.setattr(IsoMedia, "_read", spy)
    with pytest.raises(MediaError, match=r"continuation areas add up to more than the image's"):
        open_media(path).listdir("eng")
    assert sum(parsed) <= len(data)  # was 100 records x 32 hops x 2 KiB


def _mutant(clean: bytes, rng: random.Random, directories: list[tuple[int, int]]) -> bytes:
    data = bytearray(clean)
    for _ in range(rng.randint(1, 4)):
        lba, length = rng.choice(directories)
        at = rng.choice(
            [
                16 * 2048 + rng.randrange(2048),  # the primary volume descriptor
                16 * 2048 + 156 + rng.randrange(34),  # its root directory record
                lba * 2048 + rng.randrange(length),  # a directory's records
            ]
        )
        if rng.random() < 0.5:
            data[at] ^= 1 << rng.randrange(8)
        elif at + 8 <= len(data):
            value = rng.choice([0, 1, 33, 34, 2048, lba, 0xFFFF_FFFF, rng.randrange(1 << 32)])
            _both_endian(data, at, value)
    return bytes(data)


def test_seeded_corruptions_raise_only_media_errors(tmp_path: Path) -> None:
    """A short, fixed slice of the fuzzing that found the cases above (the full run is ad hoc)."""
    clean = _symlinks(tmp_path / "clean.iso", {"alias": "Sub", "up": "../Eng/Sub/a.exe"})
    media = IsoMedia(clean)
    list(media.walk(""))
    directories = [(lba, 2048) for lba in media._dirs]
    media.close()
    rng = random.Random(9660)
    path = tmp_path / "mutant.iso"
    for _ in range(600):
        path.write_bytes(_mutant(clean.read_bytes(), rng, directories))
        try:
            media = open_media(path)
            list(media.walk(""))
            for name in ("eng/sub/a.exe", "eng/alias/a.exe", "eng/up"):
                media.read_bytes(name)
        except MediaError:
            pass
