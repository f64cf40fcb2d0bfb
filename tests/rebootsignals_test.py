"""The system's own pending reboot: Windows registry signals (faked) and Debian's marker file."""

from __future__ import annotations

from pathlib import Path

import pytest

from spdeploy.rebootsignals import (
    CBS_REBOOT_PENDING,
    PENDING_RENAMES,
    SESSION_MANAGER,
    WU_REBOOT_REQUIRED,
    Signal,
    pending,
)


class FakeRegistry:
    def __init__(self, keys: set[str], values: dict[tuple[str, str], list[str]]) -> None:
        self.keys = keys
        self.values = values

    def key_exists(self, key: str) -> bool:
        return key in self.keys

    def strings(self, key: str, value: str) -> list[str] | None:
        return self.values.get((key, value))


def test_windows_signals_with_the_pending_renames_listed() -> None:
    renames = [
        r"\??\C:\Windows\Temp\av-driver.sys",
        "",
        r"\??\C:\exchsrvr\bin\new.dll",
        r"!\??\C:\exchsrvr\bin\store.dll",
        "",
    ]
    registry = FakeRegistry(
        {CBS_REBOOT_PENDING, WU_REBOOT_REQUIRED},
        {(SESSION_MANAGER, PENDING_RENAMES): renames},
    )
    found = pending(registry=registry, windows=True)
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
    empty = FakeRegistry(set(), {(SESSION_MANAGER, PENDING_RENAMES): [""]})
    assert pending(registry=empty, windows=True) == ()


def test_debian_marker_and_its_packages(tmp_path: Path) -> None:
    assert pending(root=tmp_path, windows=False) == ()
    run = tmp_path / "var/run"
    run.mkdir(parents=True)
    (run / "reboot-required").write_text("*** System restart required ***\n")
    assert pending(root=tmp_path, windows=False) == (
        Signal("reboot-required", str(run / "reboot-required")),
    )
    (run / "reboot-required.pkgs").write_text("linux-image-amd64\nlibc6\nlibc6\n\n")
    (signal,) = pending(root=tmp_path, windows=False)
    assert signal.entries == ("linux-image-amd64", "libc6")


def test_the_root_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "var/run").mkdir(parents=True)
    (tmp_path / "var/run/reboot-required").write_text("")
    monkeypatch.setenv("SPDEPLOY_SYSTEM_ROOT", str(tmp_path))
    assert [s.name for s in pending(windows=False)] == ["reboot-required"]
