"""A reboot a run asked for: pending until the machine boots after that run ended."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli, world_args

from spdeploy import reboot
from spdeploy.errors import TargetError
from spdeploy.sandbox.world import build_world
from spdeploy.store import Store


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


@pytest.mark.parametrize("damage", ["garbled", "no-run-id", "deep", "a-folder"])
def test_a_record_that_cannot_be_read_is_an_error_naming_it(tmp_path: Path, damage: str) -> None:
    """It counted as no reboot: a status said "compliant" (exit 0) without knowing."""
    reboot.record(tmp_path, tmp_path, "run-1", at=1000.0)
    (record,) = (tmp_path / "reboot").iterdir()
    if damage == "a-folder":  # unreadable as a file, whoever runs the test (root reads all)
        record.unlink()
        record.mkdir()
    else:
        damaged = {"garbled": "{not json", "deep": "[" * 100_000, "no-run-id": '{"at": 1}'}
        record.write_text(damaged[damage])
    with pytest.raises(TargetError, match="whether a reboot is pending on this target is unknown"):
        reboot.pending(tmp_path, tmp_path, boot_time=lambda: 0.0)
    # another target's missing record is still simply none
    assert reboot.pending(tmp_path, tmp_path / "other", boot_time=lambda: 0.0) is None


def test_status_and_apply_refuse_on_a_damaged_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    reboot.record(world.state, world.target, "run-1", at=1000.0)
    (record,) = (world.state / "reboot").iterdir()
    record.write_text("{not json")
    for command, extra in (("status", ()), ("apply", ("--dry-run",)), ("apply", ("--yes",))):
        done = cli(capsys, *world_args(world, command, *extra, json_mode=False))
        assert done.code == 2, (command, extra, done)
        said = done.out + done.err  # a dry run shows its refusal under the plan
        assert str(record) in said and "delete it" in said
    assert not (world.target.parent / "spdeploy-sandbox-ran.txt").exists()  # no installer ran
    assert Store(world.state).runs() == []  # and no run was begun


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
