"""Plan and apply straight from CD images and zip archives, and refuse hostile or damaged ones.

The images are made the way real ones are: by pycdlib, and by Debian's xorriso and genisoimage
(installed by ./scripts/test). Level-1 images carry only upper-case 8.3 names and no permissions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from helpers import cli, require_tool, tree_hash, world_args

from spdeploy.sandbox.images import write_iso, write_zip
from spdeploy.sandbox.world import SP2, SP4, World, build_world, write_catalog
from spdeploy.store import Store

UPDATED = ["server", "calcon", "ntsconn", "gwxconn"]


def _ran(world: World) -> list[str]:
    marker = world.root / "spdeploy-sandbox-ran.txt"
    return [line.split()[0] for line in marker.read_text().splitlines()] if marker.exists() else []


def _image(world: World, tool: str, names: str) -> World:
    """The world's media folder as an image made by ``tool``; the folder itself is removed, so
    nothing can be read from it by mistake."""
    if tool != "pycdlib":
        require_tool(tool)
    image = write_iso(world.media, world.root / "SP4.iso", names=names, tool=tool)  # type: ignore[arg-type]
    shutil.rmtree(world.media)
    return dataclasses.replace(world, media=image)


def _media_args(world: World, *extra: str, json_mode: bool = True) -> list[str]:
    """``spdeploy media`` (which takes no --target) for the world's media."""
    args = ["--profile", str(world.profile), "--state", str(world.state)]
    args += ["--json"] if json_mode else []
    return [*args, "media", "--media", str(world.media), "--platform", "I386", *extra]


def _outside_state(world: World) -> dict[str, str]:
    """Every file of the world except the history folder: a refusal must change none of them."""
    return {
        str(p.relative_to(world.root)): tree_hash(p) if p.is_dir() else p.read_bytes().hex()
        for p in world.root.iterdir()
        if p != world.state
    }


@pytest.mark.parametrize("platform", ["I386", "Alpha"])
@pytest.mark.parametrize("names", ["level1", "joliet", "rockridge"])
@pytest.mark.parametrize("tool", ["pycdlib", "xorriso", "genisoimage"])
def test_iso_plans_and_applies_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tool: str, names: str, platform: str
) -> None:
    world = _image(build_world(tmp_path), tool, names)
    plan = cli(capsys, *world_args(world, "plan", platform=platform))
    assert plan.code == 0, plan.err
    rows = {c["id"]: c for c in plan.json()["components"]}
    # the Connectivity Controller is behind too, brought along by the connectors (Q242250)
    assert [c for c in rows if rows[c]["action"] == "update"] == ["server", "coco", *UPDATED[1:]]
    installer = rows["ntsconn"]["installer"]
    assert installer.casefold() == f"eng/exchconn/setup/{platform}/ntsconn/ntsconn.exe".casefold()
    if names == "level1":
        assert installer == installer.upper() and ";" not in installer
    applied = cli(capsys, *world_args(world, "apply", platform=platform))
    assert applied.code == 0, applied.err
    data = applied.json()
    assert [s["id"] for s in data["steps"]] == [*UPDATED, "coco"]
    assert all((s["version_before"], s["version_after"]) == (SP2, SP4) for s in data["steps"])
    assert _ran(world) == UPDATED
    status = cli(capsys, *world_args(world, "status", platform=platform))
    assert status.code == 0 and status.json()["compliant"] is True


def test_genisoimage_level1_cd_with_upper_case_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's acceptance case: a real CD image, plain ISO 9660 names, nothing else."""
    world = _image(build_world(tmp_path), "genisoimage", "level1")
    media = cli(capsys, *_media_args(world))
    assert media.code == 0, media.err
    data = media.json()
    assert (data["format"], data["names"]) == ("iso", "iso9660")
    assert data["languages"] == ["ENG"] or data["languages"] == ["Eng"]
    applied = cli(capsys, *world_args(world, "apply"))
    assert applied.code == 0, applied.err
    assert _ran(world) == UPDATED


def test_zip_media_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    archive = write_zip(world.media, tmp_path / "SP4.zip")
    shutil.rmtree(world.media)
    world = dataclasses.replace(world, media=archive)
    applied = cli(capsys, *world_args(world, "apply"))
    assert applied.code == 0, applied.err
    assert _ran(world) == UPDATED
    assert cli(capsys, *world_args(world, "status")).code == 0


def test_media_is_told_apart_by_content_not_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = _image(build_world(tmp_path), "pycdlib", "joliet")
    disguised = world.media.rename(tmp_path / "sp4.zip")
    args = ["--profile", str(world.profile), "--json", "media", "--media", str(disguised)]
    res = cli(capsys, *args, "--platform", "I386")
    assert res.code == 0, res.err
    assert res.json()["format"] == "iso"


# -- integrity -------------------------------------------------------------------------------


def _as(world: World, media_format: str) -> World:
    if media_format == "folder":
        return world
    if media_format == "zip":
        archive = write_zip(world.media, world.root / "SP4.zip")
        shutil.rmtree(world.media)
        return dataclasses.replace(world, media=archive)
    if media_format == "iso-level1":  # 8.3 names only: the catalog is SHA256SU there
        return _image(world, "pycdlib", "level1")
    return _image(world, "pycdlib", "both")


@pytest.mark.parametrize("media_format", ["folder", "iso", "iso-level1", "zip"])
def test_good_catalog_verifies_and_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], media_format: str
) -> None:
    world = build_world(tmp_path)
    write_catalog(world.media)
    world = _as(world, media_format)
    verify = cli(capsys, *_media_args(world, "--verify"))
    assert verify.code == 0, verify.err
    summary = verify.json()["verify"]
    assert summary["passed"] is True and summary["ok"] == summary["listed"] > 20
    assert summary["mismatched"] == summary["missing"] == summary["unlisted"] == []
    if media_format == "iso-level1":
        assert summary["catalog"].endswith("!/SHA256SU")
    assert cli(capsys, *world_args(world, "apply")).code == 0


@pytest.mark.parametrize("media_format", ["folder", "iso", "iso-level1", "zip"])
def test_tampered_installer_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], media_format: str
) -> None:
    world = build_world(tmp_path)
    write_catalog(world.media)
    gw = world.media / "Eng/Exchconn/Setup/I386/Gwxconn/Gwxconn.exe"
    good = hashlib.sha256(gw.read_bytes()).hexdigest()
    gw.write_text(gw.read_text().replace("exit 0", "rm -rf / ; exit 0"))
    bad = hashlib.sha256(gw.read_bytes()).hexdigest()
    world = _as(world, media_format)
    before = _outside_state(world)
    res = cli(capsys, *world_args(world, "apply", json_mode=False))
    assert res.code == 1
    assert f"catalog {good}, file {bad}" in res.err and "gwxconn.exe" in res.err.casefold()
    assert _ran(world) == []  # not even the server, whose installer was fine
    assert _outside_state(world) == before
    assert not (world.state / "runs").exists() or not any((world.state / "runs").rglob("*.exe"))
    assert Store(world.state).runs()[0].status == "refused"
    verify = cli(capsys, *_media_args(world, "--verify"))
    assert verify.code == 1
    assert verify.json()["verify"]["mismatched"][0]["actual"] == bad


def test_installer_missing_from_the_catalog_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    catalog = write_catalog(world.media)
    lines = catalog.read_text().splitlines()
    catalog.write_text("".join(f"{x}\n" for x in lines if "I386/Calcon/Calcon.exe" not in x))
    world = _as(world, "iso")
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 1
    error = res.json()["error"]
    assert error["code"] == "refused" and "not listed in the media's SHA256SUMS" in error["message"]
    assert _ran(world) == []


def test_verify_without_a_catalog_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    res = cli(capsys, "--profile", world.profile, "media", "--media", world.media, "--verify")
    assert res.code == 1
    assert "No SHA256SUMS at the media root" in res.out


# -- hostile and damaged media ---------------------------------------------------------------


def test_zip_slip_entry_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    archive = write_zip(world.media, tmp_path / "SP4.zip")
    shutil.rmtree(world.media)
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("Eng/Exchconn/Setup/I386/Ntsconn/../../../../../../../../evil.sh", "boom")
    world = dataclasses.replace(world, media=archive)
    before = _outside_state(world)
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 2
    assert "leave the media root" in res.json()["error"]["message"]
    assert _ran(world) == [] and _outside_state(world) == before
    assert not (tmp_path.parent / "evil.sh").exists()


def test_symlink_escape_in_a_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the cache")
    (world.media / "Eng/Exchconn/Setup/I386/Ntsconn/support").symlink_to(outside)
    before = _outside_state(world)
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 2
    assert "symlink points outside the media root" in res.json()["error"]["message"]
    assert _ran(world) == [] and _outside_state(world) == before
    assert not list(world.state.rglob("secret.txt"))


def test_symlink_escape_in_a_rock_ridge_iso_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = "xorriso" if shutil.which("xorriso") else "pycdlib"
    world = build_world(tmp_path)
    (world.media / "Eng/Exchconn/Setup/I386/Ntsconn/etc").symlink_to("/etc")
    world = _image(world, tool, "rockridge")
    before = _outside_state(world)
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 2
    assert "symlink points outside the media root (/etc)" in res.json()["error"]["message"]
    assert _ran(world) == [] and _outside_state(world) == before
    assert not list(world.state.rglob("passwd"))


@pytest.mark.parametrize("damage", ["truncated-iso", "random-iso", "truncated-zip"])
def test_damaged_media_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    world = build_world(tmp_path)
    if damage == "truncated-zip":
        archive = write_zip(world.media, tmp_path / "SP4.zip")
        archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    elif damage == "truncated-iso":
        archive = write_iso(world.media, tmp_path / "SP4.iso")
        archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    else:
        archive = tmp_path / "SP4.iso"
        archive.write_bytes(os.urandom(1 << 20))
    shutil.rmtree(world.media)
    world = dataclasses.replace(world, media=archive)
    before = _outside_state(world)
    for args in (
        _media_args(world, json_mode=False),
        world_args(world, "plan", json_mode=False),
        world_args(world, "apply", json_mode=False),
    ):
        res = cli(capsys, *args)
        assert res.code == 2, (args, res.err)
        assert res.err.count("\n") == 1 and "Traceback" not in res.err
        assert str(archive) in res.err
    assert _outside_state(world) == before
    assert _ran(world) == []


def _rezip(archive: Path, name: str, damage: str) -> None:
    """Rewrite ``archive`` with entry ``name`` (case-insensitive) damaged or odd as ``damage``."""
    with zipfile.ZipFile(archive) as zf:
        entries = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(archive, "w") as zf:
        for info, data in entries:
            if info.filename.casefold() == name.casefold() and damage == "bzip2":
                info.compress_type = zipfile.ZIP_BZIP2
            zf.writestr(info, data)
    if damage in ("bad-crc", "newer-version"):
        raw = bytearray(archive.read_bytes())
        at = -1
        while True:  # the entry's central directory header: its name follows 46 fixed bytes
            at = raw.index(b"PK\x01\x02", at + 1)
            length = int.from_bytes(raw[at + 28 : at + 30], "little")
            if raw[at + 46 : at + 46 + length].decode().casefold() == name.casefold():
                break
        if damage == "bad-crc":
            raw[at + 16] ^= 0xFF
        else:
            raw[at + 6] = 80  # version needed to extract 8.0: newer than any zipfile reads
        archive.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["bad-crc", "bzip2", "newer-version"])
def test_zip_member_that_cannot_be_read_safely_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    world = build_world(tmp_path)
    archive = write_zip(world.media, tmp_path / "SP4.zip")
    shutil.rmtree(world.media)
    _rezip(archive, "Eng/Exchconn/Setup/I386/Gwxconn/Gwxconn.exe", damage)
    world = dataclasses.replace(world, media=archive)
    before = _outside_state(world)
    res = cli(capsys, *world_args(world, "apply", json_mode=False))
    assert res.code == 2, res.err
    assert res.err.count("\n") == 1 and "Traceback" not in res.err
    assert str(archive) in res.err
    if damage != "newer-version":
        assert "Gwxconn.exe" in res.err
    assert _ran(world) == [] and _outside_state(world) == before
    assert not (world.state / "runs").exists() or not any((world.state / "runs").rglob("*.exe"))
