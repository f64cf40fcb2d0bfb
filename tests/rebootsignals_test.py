"""The system's own pending reboot: Windows registry signals (faked) and Debian's marker file."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FakeWinreg

from spdeploy.rebootsignals import (
    CBS_REBOOT_PENDING,
    PENDING_RENAMES,
    SESSION_MANAGER,
    WU_REBOOT_REQUIRED,
    Signal,
    pending,
)
from spdeploy.winsys import Windows

W = FakeWinreg


def test_windows_signals_with_the_pending_renames_listed() -> None:
    renames = [
        r"\??\C:\Windows\Temp\av-driver.sys",
        "",
        r"\??\C:\exchsrvr\bin\new.dll",
        r"!\??\C:\exchsrvr\bin\store.dll",
        "",
    ]
    registry = FakeWinreg().add_key(CBS_REBOOT_PENDING).add_key(WU_REBOOT_REQUIRED)
    registry.set(SESSION_MANAGER, PENDING_RENAMES, renames, W.REG_MULTI_SZ)
    found = pending(windows=Windows(registry))
    assert [s.name for s in found] == [
        "Component Based Servicing RebootPending",
        "Windows Update RebootRequired",
        "PendingFileRenameOperations",
    ]
    assert found[0].path.endswith(r"Component Based Servicing\RebootPending")
    assert found[2].entries == (
        r"\??\C:\Windows\Temp\av-driver.sys (delete)",
        r"\??\C:\exchsrvr\bin\new.dll -> !\??\C:\exchsrvr\bin\store.dll",
    )
    assert found[2].as_dict()["path"] == rf"{SESSION_MANAGER}\{PENDING_RENAMES}"


def test_windows_without_signals() -> None:
    empty = FakeWinreg().set(SESSION_MANAGER, PENDING_RENAMES, [""], W.REG_MULTI_SZ)
    assert pending(windows=Windows(empty)) == ()
    assert pending(windows=Windows(FakeWinreg())) == ()


def test_debian_marker_and_its_packages(tmp_path: Path) -> None:
    assert pending(root=tmp_path) == ()
    run = tmp_path / "var/run"
    run.mkdir(parents=True)
    (run / "reboot-required").write_text("*** System restart required ***\n")
    assert pending(root=tmp_path) == (Signal("reboot-required", str(run / "reboot-required")),)
    (run / "reboot-required.pkgs").write_text("linux-image-amd64\nlibc6\nlibc6\n\n")
    (signal,) = pending(root=tmp_path)
    assert signal.entries == ("linux-image-amd64", "libc6")


def test_the_root_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "var/run").mkdir(parents=True)
    (tmp_path / "var/run/reboot-required").write_text("")
    monkeypatch.setenv("SPDEPLOY_SYSTEM_ROOT", str(tmp_path))
    assert [s.name for s in pending()] == ["reboot-required"]
