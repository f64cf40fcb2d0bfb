"""A reboot a run asked for: pending until the machine boots after that run ended."""

from __future__ import annotations

from pathlib import Path

import pytest

from spdeploy import reboot


def test_pending_until_a_boot_after_the_request(tmp_path: Path) -> None:
    target = tmp_path / "exchsrvr"
    target.mkdir()
    assert reboot.pending(tmp_path / "state", target, boot_time=lambda: 0.0) is None
    reboot.record(tmp_path / "state", target, "run-1", at=1000.0)
    found = reboot.pending(tmp_path / "state", target, boot_time=lambda: 999.0)
    assert found == reboot.RebootPending("run-1", 1000.0)
    assert reboot.pending(tmp_path / "state", target, boot_time=lambda: 1001.0) is None
    # another target of the same state folder is not this one's business
    other = tmp_path / "other"
    other.mkdir()
    assert reboot.pending(tmp_path / "state", other, boot_time=lambda: 0.0) is None


def test_a_later_request_replaces_the_earlier(tmp_path: Path) -> None:
    reboot.record(tmp_path, tmp_path, "run-1", at=1000.0)
    reboot.record(tmp_path, tmp_path, "run-2", at=2000.0)
    assert reboot.pending(tmp_path, tmp_path, boot_time=lambda: 1500.0) == reboot.RebootPending(
        "run-2", 2000.0
    )


def test_the_target_is_named_the_same_however_it_is_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "exchsrvr").mkdir()
    reboot.record(tmp_path / "state", tmp_path / "exchsrvr", "run-1", at=1000.0)
    monkeypatch.chdir(tmp_path)
    assert reboot.pending(tmp_path / "state", Path("exchsrvr"), boot_time=lambda: 0.0)


def test_a_damaged_record_counts_as_none(tmp_path: Path) -> None:
    reboot.record(tmp_path, tmp_path, "run-1", at=1000.0)
    (record,) = (tmp_path / "reboot").iterdir()
    record.write_text("{not json")
    assert reboot.pending(tmp_path, tmp_path, boot_time=lambda: 0.0) is None


def test_the_boot_time_is_the_machines_unless_a_sandbox_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psutil

    monkeypatch.delenv(reboot.BOOT_TIME_ENV, raising=False)
    assert abs(reboot.machine_boot_time() - psutil.boot_time()) <= 1
    monkeypatch.setenv(reboot.BOOT_TIME_ENV, "1234.5")
    assert reboot.machine_boot_time() == 1234.5
    monkeypatch.setenv(reboot.BOOT_TIME_ENV, "soon")  # garbled: the real one, never an error
    assert abs(reboot.machine_boot_time() - psutil.boot_time()) <= 1
