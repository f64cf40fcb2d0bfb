"""Zip media: case-insensitive, implied folders, hostile entries refused, damage is one line."""

from __future__ import annotations

import random
import re
import stat
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from spdeploy.errors import MediaError
from spdeploy.media.zipmedia import ZipMedia, is_zip

NTSCONN = "ENG/EXCHCONN/SETUP/I386/NTSCONN"
SLIP = "Eng/Exchconn/Setup/I386/Ntsconn/../../../../../../tmp/evil"


def special(name: str, mode: int) -> zipfile.ZipInfo:
    """An entry carrying a Unix file type, as Info-ZIP stores symlinks and devices."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (mode | 0o777) << 16
    return info


def link(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    return special(name, stat.S_IFLNK), target.encode()


def make_zip(
    path: Path,
    entries: list[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


@pytest.fixture
def sp(tmp_path: Path) -> Path:
    return make_zip(
        tmp_path / "sp.zip",
        [
            (f"{NTSCONN}/NTSCONN.EXE;1", b"x" * 10),
            (f"{NTSCONN}/SUPPORT.DLL;1", b"y" * 5),
            ("ENG/SERVER/SETUP/I386/UPDATE.EXE;1", b"z" * 3),
        ],
    )


def test_case_insensitive_with_iso_suffixes(sp: Path) -> None:
    media = ZipMedia(sp)
    want = f"{NTSCONN}/NTSCONN.EXE;1"
    assert (media.kind, media.location) == ("zip", str(sp))
    assert media.find(r"Eng\Exchconn\Setup\I386\Ntsconn\Ntsconn.exe") == want
    assert media.find("eng/exchconn/setup/i386/ntsconn/ntsconn.exe;1") == want
    assert media.find("Eng/Exchconn/Setup/Alpha/Ntsconn/Ntsconn.exe") is None
    assert media.find("Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe/more") is None
    assert media.read_bytes(want.lower()) == b"x" * 10
    assert media.display(want) == f"{sp}!/{want}"


def test_implied_folders_and_backslash_names(tmp_path: Path) -> None:
    media = ZipMedia(
        make_zip(
            tmp_path / "win.zip",
            [("Eng\\Exchconn\\Setup.exe", b"s"), ("Docs/", b""), ("./Readme.txt", b"r")],
        )
    )
    assert media.listdir("") == ["Docs", "Eng", "Readme.txt"]
    assert media.is_dir("eng") and media.is_dir("ENG/EXCHCONN") and media.is_dir("docs")
    assert media.listdir("docs") == []
    assert media.listdir("eng") == ["Exchconn"]
    assert not media.is_dir("eng/exchconn/setup.exe")
    assert media.find("ENG/EXCHCONN/SETUP.EXE") == "Eng/Exchconn/Setup.exe"
    assert media.read_bytes("eng\\exchconn\\setup.exe") == b"s"


def test_names_differing_only_in_case_resolve_to_the_sorted_first(tmp_path: Path) -> None:
    media = ZipMedia(
        make_zip(
            tmp_path / "case.zip",
            [("eng/b.exe", b"b"), ("ENG/x.exe", b"lower"), ("ENG/X.EXE", b"upper")],
        )
    )
    assert media.listdir("") == ["ENG"]  # one folder, not two
    assert media.listdir("eng") == ["X.EXE", "b.exe"]
    assert media.find("Eng/B.exe") == "ENG/b.exe"
    assert media.read_bytes("eng/x.exe") == b"upper"


def test_listdir_glob_and_walk(sp: Path) -> None:
    media = ZipMedia(sp)
    assert media.listdir("eng") == ["EXCHCONN", "SERVER"]
    assert media.listdir("nowhere") == []
    assert media.glob("Eng/*/Setup/I386/*/*.exe") == [f"{NTSCONN}/NTSCONN.EXE;1"]
    assert media.glob("eng/*/setup/i386/*.exe") == ["ENG/SERVER/SETUP/I386/UPDATE.EXE;1"]
    assert sorted(media.walk("eng/exchconn/setup/i386/ntsconn")) == [
        (f"{NTSCONN}/NTSCONN.EXE;1", 10),
        (f"{NTSCONN}/SUPPORT.DLL;1", 5),
    ]
    assert len(list(media.walk(""))) == 3
    with pytest.raises(MediaError, match="no such folder"):
        list(media.walk(f"{NTSCONN}/NTSCONN.EXE"))
    with pytest.raises(MediaError, match="no such file"):
        media.read_bytes("eng/missing.exe")
    with pytest.raises(MediaError, match="a folder, not a file"):
        media.read_bytes("eng")


def test_open_reads_in_chunks(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(300_000)
    media = ZipMedia(make_zip(tmp_path / "big.zip", [("BIG.BIN", data), ("SMALL.TXT", b"s")]))
    chunks: list[bytes] = []
    with media.open("big.bin") as fh, media.open("small.txt") as other:
        while chunk := fh.read(65536):
            assert len(chunk) <= 65536
            chunks.append(chunk)
            assert other.read(1) in (b"s", b"")  # two members open at once share the archive
    assert b"".join(chunks) == data
    assert media.read_bytes("BIG.BIN") == data


def test_an_index_that_fails_leaves_the_archive_closed(
    sp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[zipfile.ZipFile] = []
    real_init = zipfile.ZipFile.__init__

    def remember(zf: zipfile.ZipFile, *args: object, **kwargs: object) -> None:
        real_init(zf, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(zf)

    def fails(self: ZipMedia, infos: object) -> None:
        raise MemoryError("an index too big")

    monkeypatch.setattr(zipfile.ZipFile, "__init__", remember)
    monkeypatch.setattr(ZipMedia, "_index", fails)
    with pytest.raises(MemoryError):
        ZipMedia(sp)
    assert len(opened) == 1 and opened[0].fp is None  # closed, not left to the collector


def test_the_central_directory_is_read_once(sp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = zipfile.ZipFile._RealGetContents  # type: ignore[attr-defined]

    def counting(zf: zipfile.ZipFile) -> None:
        reads.append(1)
        real(zf)

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", counting)
    media = ZipMedia(sp)
    for _ in range(6):
        assert media.find(f"{NTSCONN}/ntsconn.exe") is not None
        assert media.read_bytes(f"{NTSCONN}/support.dll") == b"y" * 5
    assert len(reads) == 1
    media.close()


@pytest.mark.parametrize("path", ["../etc/passwd", "Eng/../../x", "/etc/passwd", "C:\\x"])
def test_paths_leaving_the_root_are_refused(sp: Path, path: str) -> None:
    with pytest.raises(MediaError, match="not allowed"):
        ZipMedia(sp).find(path)


def test_zip_slip_entry_is_refused_in_walk_and_absent_from_find(tmp_path: Path) -> None:
    media = ZipMedia(
        make_zip(
            tmp_path / "slip.zip",
            [(f"{NTSCONN}/NTSCONN.EXE", b"x"), ("ENG/OTHER/A.TXT", b"a"), (SLIP, b"evil")],
        )
    )
    assert media.hostile == (SLIP,)
    refused = f"zip entry '{SLIP}' would leave the media root; refused"
    for folder in ("eng/exchconn/setup/i386/ntsconn", "Eng", ""):
        with pytest.raises(MediaError, match=re.escape(refused)):
            list(media.walk(folder))
    assert list(media.walk("eng/other")) == [("ENG/OTHER/A.TXT", 1)]
    assert media.find("tmp/evil") is None
    assert media.listdir("") == ["ENG"]
    assert media.listdir(NTSCONN) == ["NTSCONN.EXE"]


def test_absolute_and_parent_entries_are_kept_out(tmp_path: Path) -> None:
    hostile = ["/etc/evil", "C:\\evil.exe", "\\\\server\\share\\evil.exe", "../../evil.exe"]
    media = ZipMedia(
        make_zip(tmp_path / "abs.zip", [("ENG/OK.EXE", b"ok"), *((h, b"evil") for h in hostile)])
    )
    assert media.hostile == tuple(hostile)
    assert media.listdir("") == ["ENG"]
    assert media.find("etc/evil") is None
    assert media.find("server/share/evil.exe") is None
    with pytest.raises(MediaError, match=re.escape("zip entry '/etc/evil' would leave")):
        list(media.walk(""))
    assert list(media.walk("eng")) == [("ENG/OK.EXE", 2)]


def test_symlinks_inside_the_archive_are_followed(tmp_path: Path) -> None:
    media = ZipMedia(
        make_zip(
            tmp_path / "links.zip",
            [
                ("ENG/EXCHCONN/SETUP.EXE", b"setup"),
                link("ALIAS", "eng/exchconn"),
                link("ENG/LATEST.EXE", "EXCHCONN/SETUP.EXE"),
                link("ENG/EXCHCONN/SAME.EXE", "../../ENG/./EXCHCONN/SETUP.EXE"),
                link("ENG/GONE.EXE", "NOWHERE.EXE"),
            ],
        )
    )
    assert media.find("alias/setup.exe") == "ALIAS/SETUP.EXE"
    assert media.is_dir("alias") and media.listdir("Alias") == ["SAME.EXE", "SETUP.EXE"]
    assert media.read_bytes("eng/latest.exe") == b"setup"
    assert media.read_bytes("eng/exchconn/same.exe") == b"setup"
    assert media.glob("alias/*.exe") == ["ALIAS/SAME.EXE", "ALIAS/SETUP.EXE"]
    assert list(media.walk("alias")) == [("ALIAS/SAME.EXE", 5), ("ALIAS/SETUP.EXE", 5)]
    assert media.find("eng/gone.exe") is None
    with pytest.raises(MediaError, match="dangling symlink"):
        list(media.walk("eng"))


def test_symlinks_that_fan_out_are_refused_not_walked_for_ever(tmp_path: Path) -> None:
    """Two links in each folder to the next: 2**30 paths, and no loop to stop them."""
    entries: list[tuple[str | zipfile.ZipInfo, bytes]] = []
    for k in range(30):
        entries.append((f"D{k}/FILE.TXT", b"x"))
        if k < 29:
            entries += [link(f"D{k}/{name}", f"../D{k + 1}") for name in ("A", "B")]
    media = ZipMedia(make_zip(tmp_path / "fan.zip", entries))
    with pytest.raises(MediaError, match="reached by more than 64 paths"):
        list(media.walk("d0"))


def test_symlink_loops_are_refused(tmp_path: Path) -> None:
    media = ZipMedia(make_zip(tmp_path / "loop.zip", [link("A", "B"), link("B", "A")]))
    with pytest.raises(MediaError, match="too many levels of symlinks"):
        media.find("a/x.exe")
    media = ZipMedia(make_zip(tmp_path / "up.zip", [("ENG/X.EXE", b"x"), link("ENG/UP", "..")]))
    assert media.find("eng/up/eng/x.exe") == "ENG/UP/ENG/X.EXE"
    for folder in ("eng", ""):
        with pytest.raises(MediaError, match=r"!/ENG/UP: symlink loop"):
            list(media.walk(folder))
    media = ZipMedia(
        make_zip(
            tmp_path / "pair.zip",
            [("A/X.EXE", b"x"), link("A/TO_B", "../B"), ("B/Y.EXE", b"y"), link("B/TO_A", "../A")],
        )
    )
    with pytest.raises(MediaError, match=r"!/A/TO_B/TO_A: symlink loop"):
        list(media.walk("a"))


@pytest.mark.parametrize("target", ["../../outside", "/etc/passwd", "X/../../..", "C:\\Windows"])
def test_symlink_escaping_the_root_is_refused(tmp_path: Path, target: str) -> None:
    media = ZipMedia(
        make_zip(tmp_path / "esc.zip", [("ENG/OK.EXE", b"ok"), link("ENG/LINK", target)])
    )
    refused = f"!/ENG/LINK: symlink points outside the media root ({target}); refused"
    with pytest.raises(MediaError, match=re.escape(refused)):
        media.find("eng/link/evil.exe")
    with pytest.raises(MediaError, match=re.escape(refused)):
        media.open("eng/link")
    with pytest.raises(MediaError, match="outside the media root"):
        list(media.walk("eng"))


@pytest.mark.parametrize("mode", [stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK])
def test_device_entries_are_listed_but_never_read(tmp_path: Path, mode: int) -> None:
    media = ZipMedia(make_zip(tmp_path / "dev.zip", [(special("ENG/NUL", mode), b"")]))
    assert media.find("eng/nul") == "ENG/NUL"
    for attempt in (
        lambda: media.read_bytes("eng/nul"),
        lambda: media.open("eng/nul"),
        lambda: list(media.walk("eng")),
    ):
        with pytest.raises(MediaError, match=r"not a regular file \(device or special file\)"):
            attempt()


def test_encrypted_entry_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "enc.zip", [("ENG/SECRET.EXE", b"s")], zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 8] |= 0x01  # general purpose flag bit 0: encrypted
    path.write_bytes(bytes(raw))
    with pytest.raises(MediaError, match=r"SECRET\.EXE: encrypted; spdeploy cannot read it"):
        ZipMedia(path).read_bytes("eng/secret.exe")


def test_unsupported_compression_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "d64.zip", [("ENG/SETUP.EXE", b"setup")], zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        raw[raw.index(signature) + offset] = 9  # Deflate64, as Windows Explorer writes big files
    path.write_bytes(bytes(raw))
    with pytest.raises(MediaError, match=r"SETUP\.EXE: compressed with a method spdeploy cannot"):
        ZipMedia(path).read_bytes("eng/setup.exe")


def test_damaged_symlink_is_one_line(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "l.zip", [link("ALIAS", "ENG"), ("ENG/X", b"x")], zipfile.ZIP_STORED)
    path.write_bytes(path.read_bytes().replace(b"ALIASENG", b"ALIASENH", 1))  # the link's data
    with pytest.raises(MediaError, match=r"l\.zip!/ALIAS: damaged zip member \(Bad CRC-32"):
        ZipMedia(path).find("alias/x")


@pytest.mark.parametrize("damage", ["truncated", "random", "empty", "missing"])
def test_unreadable_archive_is_one_line(sp: Path, damage: str) -> None:
    whole = sp.read_bytes()
    if damage == "truncated":
        sp.write_bytes(whole[: len(whole) // 2])
    elif damage == "random":
        sp.write_bytes(random.Random(2).randbytes(4096))
    elif damage == "empty":
        sp.write_bytes(b"")
    else:
        sp.unlink()
    with pytest.raises(MediaError, match="not a readable zip archive") as caught:
        ZipMedia(sp)
    assert caught.value.message.startswith(f"{sp}: ")
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_corrupted_member_fails_on_read(tmp_path: Path, compression: int) -> None:
    data = b"service pack 4 " * 2000
    path = make_zip(tmp_path / "crc.zip", [("ENG/SETUP.EXE", data)], compression)
    with zipfile.ZipFile(path) as zf:
        size = zf.getinfo("ENG/SETUP.EXE").compress_size
    raw = bytearray(path.read_bytes())
    # the member is first: its data follows a 30-byte header and its name (no extra field)
    raw[30 + len("ENG/SETUP.EXE") + size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    media = ZipMedia(path)
    with pytest.raises(MediaError, match=r"SETUP.EXE: damaged zip member \(") as caught:
        media.read_bytes("eng/setup.exe")
    assert "\n" not in caught.value.message
    with pytest.raises(MediaError, match="damaged zip member"), media.open("eng/setup.exe") as fh:
        while fh.read(1000):
            pass


def test_damaged_local_header_fails_on_open(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "hdr.zip", [("ENG/SETUP.EXE", b"setup")])
    path.write_bytes(path.read_bytes().replace(b"PK\x03\x04", b"XX\x03\x04", 1))
    media = ZipMedia(path)
    assert media.find("eng/setup.exe") == "ENG/SETUP.EXE"
    with pytest.raises(MediaError, match="damaged zip member"):
        media.open("eng/setup.exe")


def test_is_zip_by_content_not_name(tmp_path: Path, sp: Path) -> None:
    data = sp.read_bytes()
    renamed = sp.rename(tmp_path / "sp.bin")
    (tmp_path / "notes.zip").write_text("hello")
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])  # end record gone, header kept
    (tmp_path / "sfx.exe").write_bytes(b"MZ" + b"\0" * 500 + data)  # a self-extractor's shape
    assert is_zip(renamed)
    assert is_zip(tmp_path / "cut.bin")
    assert is_zip(tmp_path / "sfx.exe")
    assert not is_zip(tmp_path / "notes.zip")


def _lying_about_its_size(path: Path, compression: int, inflated: int, declared: bytes) -> Path:
    """A zip bomb: one member whose headers declare ``declared`` (size and CRC) while its data
    inflates to ``inflated`` zero bytes, of which ``declared`` is the start."""
    make_zip(path, [("ENG/SHA256SUMS", b"\0" * inflated)], compression)
    raw = bytearray(path.read_bytes())
    for signature, crc_at, size_at in ((b"PK\x03\x04", 14, 22), (b"PK\x01\x02", 16, 24)):
        at = raw.index(signature)
        raw[at + crc_at : at + crc_at + 4] = zlib.crc32(declared).to_bytes(4, "little")
        raw[at + size_at : at + size_at + 4] = len(declared).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    return path


def test_deflate_bomb_is_read_in_bounded_memory(tmp_path: Path) -> None:
    bomb = _lying_about_its_size(tmp_path / "bomb.zip", zipfile.ZIP_DEFLATED, 64 << 20, b"\0" * 6)
    media = ZipMedia(bomb)
    tracemalloc.start()
    try:
        assert media.read_bytes("eng/sha256sums") == b"\0" * 6  # cut at the declared size
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"reading a 6-byte member took {peak} bytes"
    with media.open("eng/sha256sums") as fh:
        assert fh.read(1 << 20) == b"\0" * 6


@pytest.mark.parametrize(
    ("compression", "name"), [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")]
)
def test_bzip2_and_lzma_members_are_refused_before_inflating(
    tmp_path: Path, compression: int, name: str
) -> None:
    bomb = _lying_about_its_size(tmp_path / "bomb.zip", compression, 64 << 20, b"\0" * 6)
    media = ZipMedia(bomb)
    assert media.find("eng/sha256sums") == "ENG/SHA256SUMS"  # listed: only reading is refused
    tracemalloc.start()
    try:
        for attempt in (
            lambda: media.read_bytes("eng/sha256sums"),
            lambda: media.open("eng/sha256sums"),
        ):
            with pytest.raises(MediaError, match=rf"!/ENG/SHA256SUMS: compressed with {name},"):
                attempt()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_archive_needing_a_newer_zip_version_is_one_line(sp: Path) -> None:
    raw = bytearray(sp.read_bytes())
    raw[raw.index(b"PK\x01\x02") + 6] = 80  # "version needed to extract": 8.0, beyond zipfile's
    sp.write_bytes(bytes(raw))
    with pytest.raises(MediaError, match=r"not a readable zip archive \(zip file version 8\.0\)"):
        ZipMedia(sp)
