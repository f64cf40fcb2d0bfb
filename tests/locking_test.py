"""The target's lock: who holds it is named, another state folder is excluded, nothing is left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spdeploy.errors import LockHeld, TargetError
from spdeploy.locking import TARGET_LOCK, held_elsewhere, lock_path, target_lock
from spdeploy.store import Store


def test_a_loser_is_told_the_holders_run_and_pid(tmp_path: Path) -> None:
    store, target = Store(tmp_path / "state"), tmp_path / "target"
    target.mkdir()
    with target_lock(store, target) as announce:
        announce("20261125T170000-abcd")
        with pytest.raises(LockHeld) as info, target_lock(store, target):
            pass
    assert info.value.exit_code == 4
    assert f"(run 20261125T170000-abcd, pid {os.getpid()})" in info.value.message


def test_another_state_folder_is_locked_out_by_the_targets_own_lock(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    with target_lock(Store(tmp_path / "mine"), target):
        assert (target / TARGET_LOCK).is_file()
        theirs = target_lock(Store(tmp_path / "theirs"), target)
        with pytest.raises(LockHeld, match="from another state folder or user"), theirs:
            pass


def test_released_locks_leave_no_file_in_the_target_and_no_note(tmp_path: Path) -> None:
    store, target = Store(tmp_path / "state"), tmp_path / "target"
    target.mkdir()
    with target_lock(store, target) as announce:
        announce("r1")
    assert list(target.iterdir()) == []
    assert not lock_path(store, target).with_suffix(".holder").exists()
    with target_lock(store, target):  # and it can be taken again at once
        pass


def test_a_target_that_cannot_hold_a_lock_file_is_bad_input(tmp_path: Path) -> None:
    store, target = Store(tmp_path / "state"), tmp_path / "target"
    (target / TARGET_LOCK).mkdir(parents=True)
    refused = pytest.raises(TargetError, match="cannot create the target's lock file")
    with refused, target_lock(store, target):
        pass
    (target / TARGET_LOCK).rmdir()
    with target_lock(store, target):  # the state folder's lock was let go on the way out
        pass


def test_one_lock_per_folder_whatever_the_spelling_on_windows() -> None:
    """Windows names ignore case and take either slash: one folder, one lock."""
    from spdeploy.fsutil import path_key as lock_key

    same = [r"C:\Exchsrvr", "c:/EXCHSRVR", r"C:\exchsrvr"]
    assert len({lock_key(p, windows=True) for p in same}) == 1
    share = [r"\\Server\Share\exchsrvr", r"\\server\share\EXCHSRVR"]
    assert len({lock_key(p, windows=True) for p in share}) == 1
    assert lock_key(r"C:\exchsrvr", windows=True) != lock_key(r"D:\exchsrvr", windows=True)
    # POSIX names are case-sensitive: two folders
    assert lock_key("/srv/Exchsrvr", windows=False) != lock_key("/srv/exchsrvr", windows=False)


def test_held_elsewhere_finds_the_holder_without_writing(tmp_path: Path) -> None:
    """For a dry run, which must exit 4 as the real run would, and write nothing."""
    target = tmp_path / "target"
    target.mkdir()
    theirs = Store(tmp_path / "theirs")
    assert held_elsewhere(theirs, target) is None
    with target_lock(Store(tmp_path / "mine"), target):
        before = sorted(p.name for p in tmp_path.rglob("*"))
        held = held_elsewhere(theirs, target)
        assert held is not None and held.exit_code == 4
        assert "from another state folder or user" in held.message
        assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert held_elsewhere(theirs, target) is None


def test_a_dry_run_exits_4_while_an_apply_holds_the_target(tmp_path: Path) -> None:
    import json
    import signal
    import time

    from helpers import cli_process, cli_spawn, world_args

    from spdeploy.sandbox.world import Behaviour, build_world

    world = build_world(tmp_path, media_kwargs={"behaviours": {"server": Behaviour(delay_s=20)}})
    holder = cli_spawn(*world_args(world, "apply"))
    try:
        deadline = time.monotonic() + 60
        while not (world.root / "spdeploy-sandbox-ran.txt").exists():
            assert time.monotonic() < deadline and holder.poll() is None, holder.communicate()
            time.sleep(0.05)
        for state in (world.state, tmp_path / "another-state"):
            dry = cli_process(
                "--profile", world.profile, "--state", state, "--json", "apply", "--dry-run",
                "--media", world.media, "--target", world.target, "--platform", "I386",
            )  # fmt: skip
            assert dry.code == 4, dry
            assert json.loads(dry.out)["refusal"]["code"] == "locked"
    finally:
        holder.send_signal(signal.SIGINT)
        holder.communicate(timeout=60)
