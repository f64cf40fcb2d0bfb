"""CD images and zips of a media folder, checked with pycdlib's reader and zipfile only."""

from __future__ import annotations

import io
import re
import stat
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pycdlib
import pytest
from helpers import require_tool

from spdeploy.sandbox.images import NAMES, TOOLS, write_iso, write_zip
from spdeploy.sandbox.world import build_media

SCRIPT = b"#!/bin/sh\nexit 0\n"
STORE = b"MZ" + bytes(range(256)) * 40  # a few sectors

# Every path under the source folder (below): real names, then the level-1 identifiers.
REAL = {
    "/Link",
    "/LongDirectoryName/",
    "/LongDirectoryName/Nested/",
    "/LongDirectoryName/Nested/deep.dat",
    "/LongFileName.text",
    "/Payload/",
    "/Payload/Store.exe",
    "/ReadMe.txt",
    "/Update.exe",
}
LEVEL1 = {
    "/LONGDIRE/",
    "/LONGDIRE/NESTED/",
    "/LONGDIRE/NESTED/DEEP.DAT;1",
    "/LONGFILE.TEX;1",
    "/PAYLOAD/",
    "/PAYLOAD/STORE.EXE;1",
    "/README.TXT;1",
    "/UPDATE.EXE;1",
}
_LEVEL1_FILE = re.compile(r"^[A-Z0-9_]{1,8}\.[A-Z0-9_]{0,3};1$")
_LEVEL1_DIR = re.compile(r"^[A-Z0-9_]{1,8}$")


def _source(root: Path) -> Path:
    (root / "Payload").mkdir(parents=True)
    (root / "LongDirectoryName/Nested").mkdir(parents=True)
    (root / "LongDirectoryName/Nested/deep.dat").write_bytes(b"deep")
    (root / "LongFileName.text").write_bytes(b"long")
    (root / "Payload/Store.exe").write_bytes(STORE)
    (root / "ReadMe.txt").write_bytes(b"read me")
    (root / "Update.exe").write_bytes(SCRIPT)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() or path.name == "Update.exe" else 0o644)
    (root / "Link").symlink_to("ReadMe.txt")
    return root


def _open(path: Path) -> pycdlib.PyCdlib:
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    return iso


def _name(record: Any, kind: str) -> str:
    if kind == "rr_path":
        return str(record.rock_ridge.name().decode())
    return str(record.file_identifier().decode("utf-16_be" if kind == "joliet_path" else "ascii"))


def _tree(iso: pycdlib.PyCdlib, kind: str, folder: str = "") -> dict[str, Any]:
    """Path (folders end in '/') -> directory record, in the ``kind`` tree."""
    found: dict[str, Any] = {}
    for record in iso.list_children(**{kind: folder or "/"}):
        if record.is_dot() or record.is_dotdot():
            continue
        path = f"{folder}/{_name(record, kind)}"
        if record.is_dir():
            found[path + "/"] = record
            found.update(_tree(iso, kind, path))
        else:
            found[path] = record
    return found


def _read(iso: pycdlib.PyCdlib, **path: str) -> bytes:
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, **path)
    return out.getvalue()


@pytest.mark.parametrize("names", NAMES)
@pytest.mark.parametrize("tool", TOOLS)
def test_iso_names_modes_and_symlinks(tmp_path: Path, tool: str, names: str) -> None:
    if tool != "pycdlib":
        require_tool(tool)
    out = write_iso(_source(tmp_path / "src"), tmp_path / "cd.iso", names=names, tool=tool)
    assert out == tmp_path / "cd.iso"
    joliet, rock_ridge = names in ("joliet", "both"), names in ("rockridge", "both")
    iso = _open(out)
    try:
        assert (iso.has_joliet(), iso.has_rock_ridge()) == (joliet, rock_ridge)
        level1 = _tree(iso, "iso_path")
        # Without Rock Ridge a symlink cannot be kept: every tool leaves it out.
        assert set(level1) == LEVEL1 | ({"/LINK.;1"} if rock_ridge else set())
        for path in level1:
            rule = _LEVEL1_DIR if path.endswith("/") else _LEVEL1_FILE
            assert rule.match(path.rstrip("/").rpartition("/")[2]), path
        assert _read(iso, iso_path="/PAYLOAD/STORE.EXE;1") == STORE

        if joliet:
            # genisoimage lists the symlink in Joliet too (as an empty file); the others do not.
            assert set(_tree(iso, "joliet_path")) - {"/Link"} == REAL - {"/Link"}
            assert _read(iso, joliet_path="/LongFileName.text") == b"long"

        if rock_ridge:
            rr = _tree(iso, "rr_path")
            assert set(rr) == REAL
            assert rr["/Update.exe"].rock_ridge.get_file_mode() == stat.S_IFREG | 0o755
            assert rr["/ReadMe.txt"].rock_ridge.get_file_mode() == stat.S_IFREG | 0o644
            assert stat.S_ISDIR(rr["/Payload/"].rock_ridge.get_file_mode())
            link = rr["/Link"].rock_ridge
            assert link.is_symlink()
            assert link.symlink_path() == b"ReadMe.txt"
            assert _read(iso, rr_path="/Payload/Store.exe") == STORE
    finally:
        iso.close()


def test_pycdlib_level1_names_are_8_3_and_unique(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("LongDirectoryOne", "LongDirectoryTwo"):
        (source / name).mkdir()
    names = ["LongFileName.text", "LongFileNameToo.text", "A.txt", "a.txt", "SHA256SUMS"]
    names += ["README.TXT", "my.file.tar.gz", ".profile", "Ünïcode name.txt"]
    for name in names:
        (source / name).write_text(name)

    def level1(out: Path) -> set[str]:
        iso = _open(write_iso(source, out, names="level1"))
        try:
            return set(_tree(iso, "iso_path"))
        finally:
            iso.close()

    assert level1(tmp_path / "a.iso") == {
        "/A.TXT;1",
        "/A1.TXT;1",  # 'a.txt' comes after 'A.txt' in the sorted walk
        "/LONGDIRE/",
        "/LONGDIR1/",
        "/LONGFILE.TEX;1",
        "/LONGFIL1.TEX;1",
        "/MY_FILE_.GZ;1",
        "/PROFILE.;1",
        "/README.TXT;1",
        "/SHA256SU.;1",
        "/_N_CODE_.TXT;1",
    }
    assert level1(tmp_path / "b.iso") == level1(tmp_path / "a.iso")


@pytest.mark.parametrize("tool", ["xorriso", "genisoimage"])
def test_sandbox_media_gets_the_same_level1_names_from_every_tool(
    tmp_path: Path, tool: str
) -> None:
    require_tool(tool)
    media = build_media(tmp_path / "SP4CD")
    trees = []
    for maker in ("pycdlib", tool):
        iso = _open(write_iso(media, tmp_path / f"{maker}.iso", names="level1", tool=maker))
        try:
            trees.append(set(_tree(iso, "iso_path")))
        finally:
            iso.close()
    assert trees[0] == trees[1]
    assert "/ENG/EXCHCONN/SETUP/I386/NTSCONN/PAYLOAD/LSMEXOUT.EXE;1" in trees[0]
    assert "/README.TXT;1" in trees[0]


@pytest.mark.parametrize("tool", ["pycdlib", "genisoimage"])
def test_folders_too_deep_for_level1_are_an_error_not_a_loss(tmp_path: Path, tool: str) -> None:
    if tool != "pycdlib":
        require_tool(tool)
    source = tmp_path / "src"
    deep = source / "a/b/c/d/e/f/g"
    deep.mkdir(parents=True)
    (deep / "file.txt").write_bytes(b"deep")
    with pytest.raises(RuntimeError, match=tool):
        write_iso(source, tmp_path / "l1.iso", names="level1", tool=tool)
    assert not (tmp_path / "l1.iso").exists()
    # Rock Ridge moves the folder aside in the ISO 9660 tree and keeps the real tree whole.
    iso = _open(write_iso(source, tmp_path / "rr.iso", tool=tool))
    try:
        assert _read(iso, rr_path="/a/b/c/d/e/f/g/file.txt") == b"deep"
    finally:
        iso.close()


def test_missing_tool_and_bad_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(tmp_path / "src")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="xorriso is not installed"):
        write_iso(source, tmp_path / "x.iso", tool="xorriso")
    with pytest.raises(ValueError, match="names must be one of"):
        write_iso(source, tmp_path / "x.iso", names="udf")
    with pytest.raises(NotADirectoryError):
        write_iso(source / "ReadMe.txt", tmp_path / "x.iso")


def test_zip_keeps_names_modes_and_symlinks(tmp_path: Path) -> None:
    source = _source(tmp_path / "src")
    out = write_zip(source, tmp_path / "cd.zip")
    assert out == tmp_path / "cd.zip"
    with zipfile.ZipFile(out) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        assert list(infos) == sorted(infos, key=lambda n: n.rstrip("/").split("/"))
        assert {"/" + name for name in infos} == REAL
        modes = {name: info.external_attr >> 16 for name, info in infos.items()}
        assert modes["Update.exe"] == stat.S_IFREG | 0o755
        assert modes["ReadMe.txt"] == stat.S_IFREG | 0o644
        assert modes["Payload/"] == stat.S_IFDIR | 0o755
        assert infos["Payload/"].is_dir()
        assert stat.S_ISLNK(modes["Link"])
        assert archive.read("Link") == b"ReadMe.txt"
        assert archive.read("Payload/Store.exe") == STORE
        assert infos["Payload/Store.exe"].compress_type == zipfile.ZIP_DEFLATED
        assert {info.date_time for info in infos.values()} == {(1980, 1, 1, 0, 0, 0)}
    assert write_zip(source, tmp_path / "again.zip").read_bytes() == out.read_bytes()


def test_zip_extracts_with_bsdtar(tmp_path: Path) -> None:
    bsdtar = require_tool("bsdtar")
    out = write_zip(_source(tmp_path / "src"), tmp_path / "cd.zip")
    (tmp_path / "x").mkdir()
    subprocess.run([bsdtar, "-xpf", str(out), "-C", str(tmp_path / "x")], check=True)
    assert (tmp_path / "x/Link").readlink() == Path("ReadMe.txt")
    assert (tmp_path / "x/Link").read_bytes() == b"read me"
    assert (tmp_path / "x/Update.exe").stat().st_mode & 0o777 == 0o755
