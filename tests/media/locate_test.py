"""Installer location: candidates in order, language fallback, globs, platform choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from spdeploy.errors import BadInput, MediaError
from spdeploy.media.folder import FolderTree
from spdeploy.media.locate import choose, discover, find_installer, locate, machine_platform
from spdeploy.profile import load_profile
from spdeploy.sandbox.pe import write_pe

PROFILE = load_profile("exchange55")


def _touch(root: Path, *paths: str) -> FolderTree:
    for path in paths:
        write_pe(root / path, "5.5.2653.0")
    return FolderTree(root)


def test_first_existing_candidate_wins(tmp_path: Path) -> None:
    media = _touch(
        tmp_path,
        "Eng/Exchconn/Setup/I386/Calcon/Other.exe",
        "Eng/Exchconn/Setup/I386/Setup/Calcon/Calcon.exe",
    )
    found = find_installer(media, PROFILE.component("calcon"), "Eng", "I386")
    assert found == "Eng/Exchconn/Setup/I386/Setup/Calcon/Calcon.exe"


def test_a_glob_matching_two_files_is_an_error(tmp_path: Path) -> None:
    media = _touch(
        tmp_path, "Eng/Exchconn/Setup/I386/Calcon/A.exe", "Eng/Exchconn/Setup/I386/Calcon/B.exe"
    )
    with pytest.raises(MediaError, match="matches 2 files"):
        find_installer(media, PROFILE.component("calcon"), "Eng", "I386")


def test_language_fallback_and_media_version(tmp_path: Path) -> None:
    media = _touch(
        tmp_path, "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe", "Ger/Server/Setup/I386/Update.exe"
    )
    got = locate(media, PROFILE.component("ntsconn"), "Ger", "I386", {})
    assert (got.language, got.media_version) == ("Eng", "5.5.2653.0")
    assert "Eng installer" in got.note
    none = locate(media, PROFILE.component("calcon"), "Ger", "I386", {})
    assert (none.installer, none.media_version) == (None, None)


def test_discover_and_choose(tmp_path: Path) -> None:
    media = _touch(tmp_path, "Eng/Server/Setup/Alpha/Update.exe")
    assert discover(PROFILE, media) == {"Eng": ["Alpha"]}
    assert choose(PROFILE, media, None, "alpha") == ("Eng", "Alpha")
    with pytest.raises(BadInput, match="--platform"):
        choose(PROFILE, media, None, None)  # this machine is not an Alpha


def test_machine_platform() -> None:
    assert machine_platform(PROFILE, "AMD64") == "I386"
    assert machine_platform(PROFILE, "i686") == "I386"
    assert machine_platform(PROFILE, "alpha") == "Alpha"
    assert machine_platform(PROFILE, "aarch64") is None


def test_empty_media_says_what_it_looked_for(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no installer of profile 'exchange55'"):
        choose(PROFILE, FolderTree(tmp_path), None, None)
