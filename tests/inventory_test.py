"""``{target}`` and ``{drive}``: where the install drive is, on Windows and on offline copies."""

from __future__ import annotations

from pathlib import PureWindowsPath

import pytest

from spdeploy.inventory import drive_of
from spdeploy.profile import load_profile
from spdeploy.templates import render


@pytest.mark.parametrize(
    ("target", "drive"),
    [
        (r"C:\exchsrvr", "C:"),
        (r"C:\Program Files\Exchsrvr", "C:"),
        ("E:\\", "E:"),
        (r"\\server\share\exchsrvr", r"\\server\share"),
        (r"\\server\share", r"\\server\share"),
    ],
)
def test_drive_on_windows(target: str, drive: str) -> None:
    assert drive_of(target, windows=True) == drive


def test_drive_of_an_offline_copy_is_its_parent() -> None:
    assert drive_of("/mnt/copies/exchsrvr", windows=False) == "/mnt/copies"
    assert drive_of("/exchsrvr", windows=False) == "/"


@pytest.mark.parametrize(
    ("target", "log"),
    [
        (r"C:\exchsrvr", r"C:\Exchange Server Setup.log"),
        (r"D:\Apps\Exch Srvr", r"D:\Exchange Server Setup.log"),
        (r"\\server\share\exchsrvr", r"\\server\share\Exchange Server Setup.log"),
    ],
)
def test_the_server_log_is_in_the_root_of_the_install_drive(target: str, log: str) -> None:
    """The built-in profile's ``{drive}/Exchange Server Setup.log`` (Q182518), on Windows."""
    (template,) = load_profile("exchange55").component("server").logs
    rendered = render(template, {"drive": drive_of(target, windows=True)})
    assert PureWindowsPath(rendered) == PureWindowsPath(log)
    assert PureWindowsPath(rendered).is_absolute()
