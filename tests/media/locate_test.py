"""Installer location: candidates in order, language fallback, globs, platform choice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spdeploy.errors import BadInput, MediaError
from spdeploy.media.folder import FolderTree
from spdeploy.media.locate import choose, discover, find_installer, locate, machine_platform
from spdeploy.probes import AnyOf, PeVersion, Text
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
        "Eng/Exchconn/Setup/I386/Ntsconn/Other.exe",
        "Eng/Exchconn/Setup/I386/Setup/Ntsconn/Ntsconn.exe",
    )
    found = find_installer(media, PROFILE.component("ntsconn"), "Eng", "I386")
    assert found == "Eng/Exchconn/Setup/I386/Setup/Ntsconn/Ntsconn.exe"


def test_no_calendar_connector_under_an_extra_setup_level(tmp_path: Path) -> None:
    # No article puts Calcon there (Q244473 gives <Language>\Exchconn\Setup\<Platform>\Calcon)
    media = _touch(tmp_path, "Eng/Exchconn/Setup/I386/Setup/Calcon/Calcon.exe")
    assert find_installer(media, PROFILE.component("calcon"), "Eng", "I386") is None


@pytest.mark.parametrize(
    ("cid", "path"),
    [
        ("server", "Sp4/Eng/Server/Setup/I386/Update.exe"),  # Q324332
        ("gwxconn", "Ex55sp3yk/Eng/Exchconn/Setup/I386/Gwxcon/Gwxcon.exe"),  # Q247785
        ("calcon", "Ex55sp3yk/Eng/Exchconn/Setup/I386/Calcon/Calcon.exe"),  # Q247785
    ],
)
def test_a_top_folder_before_the_language(tmp_path: Path, cid: str, path: str) -> None:
    media = _touch(tmp_path, path)
    assert find_installer(media, PROFILE.component(cid), "Eng", "I386") == path
    assert discover(PROFILE, media) == {"Eng": ["I386"]}
    assert choose(PROFILE, media, None, "I386") == ("Eng", "I386")


@pytest.mark.parametrize(
    ("cid", "path"),
    [
        ("ntsconn", "Exchconn/Setup/I386/Ntsconn/Ntsconn.exe"),  # Q286559
        ("gwxconn", "Exchconn/Setup/I386/Gwxconn/Gwxconn.exe"),  # Q244473, Q222186
        ("snaconn", "Exchconn/Setup/I386/Snaconn/Snaconn.exe"),  # Q239122
    ],
)
def test_connector_paths_with_no_language_folder(tmp_path: Path, cid: str, path: str) -> None:
    media = _touch(tmp_path, "Eng/Server/Setup/I386/Update.exe", path)
    assert find_installer(media, PROFILE.component(cid), "Eng", "I386") == path
    # Exchconn is not a language folder: the media holds one language, Eng
    assert discover(PROFILE, media) == {"Eng": ["I386"]}


def test_the_language_folder_comes_before_the_lower_priority_candidates(tmp_path: Path) -> None:
    media = _touch(
        tmp_path,
        "Exchconn/Setup/I386/Ntsconn/Ntsconn.exe",
        "SP4/Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe",
        "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe",
    )
    found = find_installer(media, PROFILE.component("ntsconn"), "Eng", "I386")
    assert found == "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe"


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


def test_whether_the_media_version_needs_the_installer_is_what_its_probe_fills_in(
    tmp_path: Path,
) -> None:
    """With no installer on the media, a media_version probe that fills in {installer} has
    nothing to read; any other is read. Escaped braces are a file's own name, not a
    placeholder, though the probe's description shows them."""
    (tmp_path / "Eng").mkdir()
    (tmp_path / "Eng" / "Version {installer}.txt").write_text("5.5.2653.0\n")
    version = Text("{language}/Version {{installer}}.txt", re.compile(r"(\S+)"))
    needs = PeVersion("{installer}")
    for probe, expected in [(version, "5.5.2653.0"), (needs, None), (AnyOf((needs,)), None)]:
        comp = PROFILE.component("calcon")._replace(media_version=probe)
        got = locate(FolderTree(tmp_path), comp, "Eng", "I386", {})
        assert (got.installer, got.media_version) == (None, expected), probe
