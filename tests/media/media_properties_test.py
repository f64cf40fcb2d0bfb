"""Properties of the media and target readers (``media/``): random folders, zip archives and ISO
images, hostile and damaged ones, and random targets, through ``plan`` and ``media --verify``
(the harness and what it checks: ``properties.py``; the strategies: ``strategies.py``), and the
reproducers of the bugs they found."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from properties import LONG, PROPERTY, Harness, check_plan, envelope, plan_args, run_plan
from strategies import (
    MediaSpec,
    TargetSpec,
    media_specs,
    one_in,
    pe_image,
    target_specs,
    write_media,
    write_outside,
    write_target,
)

from spdeploy.sandbox.world import World, build_world


@pytest.fixture
def world(harness: Harness) -> World:
    """The sandbox's world, built once per test, before the first example takes its snapshot."""
    return build_world(harness.root / "world")


# -- the property ----------------------------------------------------------------------------------
# A plain function of one example, so that it can also be driven by hand.


def media_example(
    harness: Harness,
    world: World,
    media: MediaSpec,
    target: TargetSpec,
    site: bool,
    platform: str | None,
    verify: bool,
) -> None:
    with harness.example() as ex:
        outside = write_outside(ex)
        m = write_media(ex, media, outside)
        t = write_target(ex, target, outside)
        state = ex / "state"
        profile = ["--profile", world.profile] if site else []
        check_plan(harness.call(state, *profile, *plan_args(state, m, t, platform)))
        if verify:  # `media --verify` walks every folder: links, FIFOs, hostile entries
            res = harness.call(state, "--state", state, "--json", "media", "--media", m, "--verify")
            assert res.code in (0, 1, 2), res.err
            if res.code == 2:
                envelope(res)


@LONG
@PROPERTY
@given(
    media=media_specs(),
    target=target_specs(),
    site=st.booleans(),
    platform=st.sampled_from(["I386", "I386", None, "Alpha"]),
    verify=one_in(8),
)
def test_random_media_and_targets(
    harness: Harness,
    world: World,
    media: MediaSpec,
    target: TargetSpec,
    site: bool,
    platform: str | None,
    verify: bool,
) -> None:
    media_example(harness, world, media, target, site, platform, verify)


# -- bugs the property found -----------------------------------------------------------------------
# Each test is the minimised reproducer of one bug class, with what it did before the fix in the
# comment above it. (They were xfail(strict=True) while the bug was open; see KNOWN_BUGS.)


# Was: exit 70, FileNotFoundError (dangling) or OSError [Errno 40] Too many levels of symbolic
# links (loop) from the unguarded Path.stat() in FolderTree._path.
@pytest.mark.parametrize("where", ["media-dangling", "media-loop", "target-dangling"])
def test_found_dangling_or_looping_symlink(tmp_path: Path, where: str) -> None:
    media, target = tmp_path / "media", tmp_path / "target"
    installer = media / "Eng" / "Server" / "Setup" / "I386" / "Update.exe"
    installer.parent.mkdir(parents=True)
    (target / "bin").mkdir(parents=True)
    if where == "target-dangling":
        installer.write_bytes(pe_image("5.5.2653.0"))
        (target / "bin" / "Store.exe").symlink_to("no-such-file")
    else:
        installer.symlink_to("no-such-file" if where == "media-dangling" else "Update.exe")
    res = run_plan(tmp_path, None, media, target)  # the built-in exchange55 profile
    assert res.code == 2, res.out
    error = envelope(res)  # the link is named, as media or as target (it was "media" for both)
    assert error["code"] == where.split("-")[0], error
    assert re.search(r"(Update|Store)\.exe: broken symlink \(.+\); refused$", error["message"])


# Was: exit 70, UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff, from zipfile.ZipFile.open
# (the local header's name) in ZipMedia._member, which caught BadZipFile/zlib/EOF/OS errors only.
def test_found_zip_local_header_name_not_utf8(tmp_path: Path) -> None:
    media = tmp_path / "media.zip"
    with zipfile.ZipFile(media, "w") as zf:
        zf.writestr("Eng/Server/Setup/I386/Update.exe", pe_image("5.5.2653.0"))
    data = bytearray(media.read_bytes())
    assert data[:4] == b"PK\x03\x04"
    data[7] |= 0x08  # general purpose flag bit 11: the name is UTF-8
    data[30] = 0xFF  # ...and its first byte is not
    media.write_bytes(bytes(data))
    (tmp_path / "target").mkdir()
    res = run_plan(tmp_path, None, media, tmp_path / "target")
    assert res.code == 2, res.out
    error = envelope(res)
    assert error["code"] == "media", error
    assert "media.zip!/Eng/Server/Setup/I386/Update.exe: damaged zip member" in error["message"]
