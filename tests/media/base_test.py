"""The ``Media`` protocol: what every reader (folder, ISO, zip) answers, and ``with`` closes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import held_open

from spdeploy.media import open_media
from spdeploy.sandbox.images import write_iso, write_zip
from spdeploy.sandbox.pe import write_pe

UPDATE = "Eng/Server/Setup/I386/Update.exe"


@pytest.fixture(params=["folder", "iso", "zip"])
def media_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    folder = tmp_path / "cd"
    write_pe(folder / UPDATE, "5.5.2653.0")
    if request.param == "iso":
        return write_iso(folder, tmp_path / "sp4.iso")
    if request.param == "zip":
        return write_zip(folder, tmp_path / "sp4.zip")
    return folder


def test_every_reader_declares_what_the_protocol_names(media_path: Path) -> None:
    with open_media(media_path) as media:
        assert media.kind == {".iso": "iso", ".zip": "zip"}.get(media_path.suffix, "folder")
        assert media.location == str(media_path)
        assert media.hostile == ()
        assert media.names == ("rock-ridge" if media.kind == "iso" else None)
        assert media.find(UPDATE.upper()) == UPDATE


def test_with_closes_the_image_or_the_archive(media_path: Path) -> None:
    with open_media(media_path) as media:
        assert media.read_bytes(UPDATE)[:2] == b"MZ"
        if media_path.is_file():
            assert held_open(media_path) != []
    assert held_open(media_path) == []
