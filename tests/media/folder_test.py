"""Folder media: case-insensitive, either slash, never outside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spdeploy.errors import MediaError, TargetError
from spdeploy.media import open_media, open_target
from spdeploy.media.folder import FolderTree


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "cd"
    (root / "ENG/EXCHCONN/SETUP/I386/NTSCONN").mkdir(parents=True)
    (root / "ENG/EXCHCONN/SETUP/I386/NTSCONN/NTSCONN.EXE").write_bytes(b"x" * 10)
    (root / "ENG/EXCHCONN/SETUP/I386/NTSCONN/SUPPORT.DLL").write_bytes(b"y" * 5)
    return root


def test_case_insensitive_with_either_slash(media: Path) -> None:
    tree = FolderTree(media)
    want = "ENG/EXCHCONN/SETUP/I386/NTSCONN/NTSCONN.EXE"
    assert tree.find(r"Eng\Exchconn\Setup\I386\Ntsconn\Ntsconn.exe") == want
    assert tree.find("eng/exchconn/setup/i386/ntsconn/ntsconn.exe") == want
    assert tree.find("Eng/Exchconn/Setup/Alpha/Ntsconn/Ntsconn.exe") is None
    assert tree.read_bytes(want.lower()) == b"x" * 10


def test_glob_and_walk(media: Path) -> None:
    tree = FolderTree(media)
    assert tree.glob("Eng/Exchconn/Setup/I386/Ntsconn/*.exe") == [
        "ENG/EXCHCONN/SETUP/I386/NTSCONN/NTSCONN.EXE"
    ]
    assert sorted(tree.walk("eng/exchconn/setup/i386/ntsconn")) == [
        ("ENG/EXCHCONN/SETUP/I386/NTSCONN/NTSCONN.EXE", 10),
        ("ENG/EXCHCONN/SETUP/I386/NTSCONN/SUPPORT.DLL", 5),
    ]


@pytest.mark.parametrize("path", ["../etc/passwd", "Eng/../../x", "/etc/passwd", "C:\\x"])
def test_paths_leaving_the_root_are_refused(media: Path, path: str) -> None:
    with pytest.raises(MediaError, match="not allowed"):
        FolderTree(media).find(path)


def test_symlink_escape_is_refused(media: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.exe").write_text("x")
    (media / "ENG/LINK").symlink_to(outside)
    with pytest.raises(MediaError, match="outside the media root"):
        FolderTree(media).find("Eng/Link/evil.exe")


def test_symlink_inside_is_followed(media: Path) -> None:
    (media / "ALIAS").symlink_to(media / "ENG/EXCHCONN")
    assert FolderTree(media).find("alias/setup") == "ALIAS/SETUP"


def test_open_media_and_target_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="media not found"):
        open_media(tmp_path / "nope")
    (tmp_path / "f.iso").write_bytes(b"\0" * 10)
    with pytest.raises(MediaError, match="not a folder, an ISO 9660 image or a zip archive"):
        open_media(tmp_path / "f.iso")
    with pytest.raises(TargetError, match="target not found"):
        open_target(tmp_path / "nope")


def test_a_path_the_system_cannot_ask_about_is_one_line(tmp_path: Path) -> None:
    too_long = tmp_path / ("x" * 300)  # one name past NAME_MAX: stat raises, not "not found"
    with pytest.raises(MediaError, match="cannot read it"):
        open_media(too_long)
    with pytest.raises(TargetError, match="cannot read it"):
        open_target(too_long)


def test_symlinks_that_fan_out_are_refused_not_walked_for_ever(tmp_path: Path) -> None:
    """Two links in each folder to the next: 2**30 paths and no loop for the OS to stop."""
    for k in range(30):
        (tmp_path / f"D{k}").mkdir()
        (tmp_path / f"D{k}" / "file.txt").write_text("x")
    for k in range(29):
        for link in ("a", "b"):
            (tmp_path / f"D{k}" / link).symlink_to(f"../D{k + 1}")
    with pytest.raises(MediaError, match="reached by more than 64 paths"):
        list(FolderTree(tmp_path).walk("D0"))


def test_a_folder_behind_a_few_symlinks_is_still_walked(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "file.txt").write_text("x")
    for n in range(40):
        (tmp_path / f"link{n}").symlink_to("shared")
    assert len(list(FolderTree(tmp_path).walk(""))) == 41


def test_special_files_are_never_read(media: Path) -> None:
    """A FIFO (or a device) in an installer's folder would hang or leak a read: refused."""
    os.mkfifo(media / "ENG/EXCHCONN/SETUP/I386/NTSCONN/PIPE")
    tree = FolderTree(media)
    with pytest.raises(MediaError, match="not a regular file"):
        list(tree.walk("eng/exchconn/setup/i386/ntsconn"))
    with pytest.raises(MediaError, match="not a regular file"):
        tree.read_bytes("eng/exchconn/setup/i386/ntsconn/pipe")


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_broken_symlinks_are_one_clear_error(media: Path, kind: str) -> None:
    link = media / "ENG/EXCHCONN/SETUP/I386/NTSCONN/BROKEN.DLL"
    link.symlink_to(link if kind == "loop" else media / "nowhere")
    with pytest.raises(MediaError, match="broken symlink"):
        list(FolderTree(media).walk("eng/exchconn/setup/i386/ntsconn"))


@pytest.mark.parametrize(("what", "error"), [("media", MediaError), ("target", TargetError)])
def test_a_folder_that_cannot_be_read_is_an_error_not_an_empty_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, error: type[Exception]
) -> None:
    # An installer staged from it ran without its payload (as root loses its bypass under
    # setpriv, or as a user without the right): the folder was taken for an empty one.
    (tmp_path / "Setup" / "payload").mkdir(parents=True)
    (tmp_path / "Setup" / "payload" / "data.cab").write_bytes(b"x")
    real = os.listdir

    def listdir(path: str | os.PathLike[str]) -> list[str]:
        if Path(path).name == "payload":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "listdir", listdir)
    tree = FolderTree(tmp_path, what=what)
    assert tree.find("setup") == "Setup"  # the readable part reads as before
    with pytest.raises(error, match=r"payload: cannot read this folder \(Permission denied\)"):
        tree.find("setup/payload/data.cab")
    # gone or not a folder is still nothing to list
    assert tree.find("setup/missing/data.cab") is None
    assert tree.find("setup/payload.txt/x") is None
