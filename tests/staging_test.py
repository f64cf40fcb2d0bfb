"""Staging: the installer's whole folder, hashed while copied, executable, ';1' names dropped."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from spdeploy.errors import MediaError, Refused
from spdeploy.media.base import fold_path
from spdeploy.media.folder import FolderTree
from spdeploy.staging import read_catalog, stage


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "cd" / "ENG" / "NTSCONN"
    (folder / "SUB").mkdir(parents=True)
    (folder / "NTSCONN.EXE;1").write_bytes(b"installer")
    (folder / "NTSCONN.EXE;1").chmod(0o644)
    (folder / "SUB" / "DATA.BIN;1").write_bytes(b"d" * 3_000_000)
    return tmp_path / "cd"


def test_stages_the_folder_with_hashes(media: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    staged = stage(
        FolderTree(media), "ntsconn", "ENG/NTSCONN/NTSCONN.EXE;1", tmp_path / "s", None, seen.append
    )
    assert staged.installer == tmp_path / "s" / "NTSCONN.EXE"
    assert (tmp_path / "s" / "SUB" / "DATA.BIN").read_bytes() == b"d" * 3_000_000
    assert staged.hashes["ENG/NTSCONN/NTSCONN.EXE;1"] == hashlib.sha256(b"installer").hexdigest()
    assert sum(seen) == 3_000_000 + len(b"installer")
    if os.name == "posix":
        assert os.access(staged.installer, os.X_OK)


def test_catalog_parsing(media: Path) -> None:
    digest = hashlib.sha256(b"installer").hexdigest()
    (media / "SHA256SUMS").write_text(f"{digest} *./eng/ntsconn/ntsconn.exe\n\n")
    assert read_catalog(FolderTree(media)) == {"eng/ntsconn/ntsconn.exe": digest}
    (media / "SHA256SUMS").write_text("garbage\n")
    with pytest.raises(MediaError, match="line 1"):
        read_catalog(FolderTree(media))
    (media / "SHA256SUMS").unlink()
    assert read_catalog(FolderTree(media)) is None


def test_catalog_cut_to_8_3_is_read_only_when_the_full_name_is_absent(media: Path) -> None:
    """A level-1 CD (or a folder copied from one) calls the catalog SHA256SU."""
    digest = hashlib.sha256(b"installer").hexdigest()
    (media / "SHA256SU.;1").write_text(f"{digest}  ENG/NTSCONN/NTSCONN.EXE\n")
    assert read_catalog(FolderTree(media)) == {"eng/ntsconn/ntsconn.exe": digest}
    (media / "SHA256SUMS").write_text(f"{'0' * 64}  ENG/NTSCONN/NTSCONN.EXE\n")
    assert read_catalog(FolderTree(media)) == {"eng/ntsconn/ntsconn.exe": "0" * 64}


def test_catalog_mismatch_names_both_hashes(media: Path, tmp_path: Path) -> None:
    catalog = {"eng/ntsconn/ntsconn.exe": "0" * 64, "eng/ntsconn/sub/data.bin": "1" * 64}
    with pytest.raises(Refused, match=r"catalog 0{64}, file [0-9a-f]{64}"):
        stage(FolderTree(media), "n", "ENG/NTSCONN/NTSCONN.EXE;1", tmp_path / "s", catalog)


def test_an_installer_at_the_root_of_a_zip_stages(tmp_path: Path) -> None:
    """Readers of images cannot seek: the size comes from reading, not from seek()."""
    import zipfile

    from spdeploy.media.zipmedia import ZipMedia

    archive = tmp_path / "sp.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("UPDATE.EXE", b"u" * 5000)
    staged = stage(ZipMedia(archive), "server", "UPDATE.EXE", tmp_path / "s", None)
    assert staged.installer.read_bytes() == b"u" * 5000


def test_names_that_are_not_plain_names_everywhere_are_refused(tmp_path: Path) -> None:
    """``D:evil.exe`` is a drive-relative path on Windows: never a staged name."""
    import zipfile

    from spdeploy.media.zipmedia import ZipMedia

    archive = tmp_path / "sp.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ENG/NTSCONN/NTSCONN.EXE", b"x")
        zf.writestr("ENG/NTSCONN/D:evil.exe", b"y")
    with pytest.raises(MediaError, match="cannot be staged safely"):
        stage(ZipMedia(archive), "ntsconn", "ENG/NTSCONN/NTSCONN.EXE", tmp_path / "s", None)
    assert not (tmp_path / "s").exists()


def test_the_staged_installer_is_made_executable_where_modes_exist(tmp_path: Path) -> None:
    from spdeploy.staging import make_executable

    exe = tmp_path / "Update.exe"
    exe.write_bytes(b"MZ")
    exe.chmod(0o644)
    make_executable(exe, windows=True)  # Windows runs any .exe it may read: nothing to change
    assert exe.stat().st_mode & 0o777 == 0o644
    if os.name == "posix":
        make_executable(exe, windows=False)
        assert exe.stat().st_mode & 0o777 == 0o755


@pytest.mark.skipif(os.name != "posix", reason="names with a backslash or a newline: POSIX only")
@pytest.mark.parametrize("tag", [False, True], ids=["plain", "tag"])
def test_the_catalog_is_read_as_sha256sum_writes_it(tmp_path: Path, tag: bool) -> None:
    """What `sha256sum` (and `--tag`) writes, made by sha256sum itself: a name holding a
    backslash or a newline gets a leading backslash and escapes; PowerShell 5 adds a BOM."""
    import shutil
    import subprocess

    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (coreutils) not installed")
    folder = tmp_path / "cd" / "Eng"
    folder.mkdir(parents=True)
    names = ["Setup.exe", "back\\slash.dll", "new\nline.cab"]
    for name in names:
        (folder / name).write_bytes(name.encode())
    listing = subprocess.run(
        ["sha256sum", *(["--tag"] if tag else []), *(f"Eng/{n}" for n in names)],
        cwd=tmp_path / "cd",
        capture_output=True,
        check=True,
    ).stdout
    # keyed as staging looks files up (either slash separates, case folded)
    expected = {fold_path(f"Eng/{n}"): hashlib.sha256(n.encode()).hexdigest() for n in names}
    for bom in (b"", b"\xef\xbb\xbf"):
        (tmp_path / "cd" / "SHA256SUMS").write_bytes(bom + listing)
        assert read_catalog(FolderTree(tmp_path / "cd")) == expected
