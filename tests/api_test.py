"""``spdeploy.api``: the library face the Ansible module uses, against sandbox worlds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import cli, machine_booted, tree_hash, world_args

from spdeploy import api
from spdeploy.errors import BadInput, LockHeld, MediaError, Refused, SpdeployError
from spdeploy.locking import lock_path
from spdeploy.sandbox.world import SP2, SP4, Behaviour, World, build_media, build_world
from spdeploy.store import Store

UPDATED = ["server", "calcon", "ntsconn", "gwxconn"]
# planned updates: the Connectivity Controller is brought along by the connectors (Q242250)
BEHIND = ["server", "coco", "calcon", "ntsconn", "gwxconn"]


def _ran(world: World) -> list[str]:
    marker = world.root / "spdeploy-sandbox-ran.txt"
    return [line.split()[0] for line in marker.read_text().splitlines()] if marker.exists() else []


def _apply(world: World, **kw: Any) -> dict[str, Any]:
    return api.apply(world.media, world.target, profile=str(world.profile), platform="I386", **kw)


def test_check_is_the_status_json_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path / "w")
    report = api.check(
        world.media,
        world.target,
        profile=str(world.profile),
        platform="I386",
        state_dir=world.state,
    )
    status = cli(capsys, *world_args(world, "status"))
    assert report == status.json()  # the same SPEC §5 shape as `status --json`
    assert report["compliant"] is False
    assert [c["id"] for c in report["components"] if c["action"] == "update"] == BEHIND
    assert {c["version"] for c in report["components"] if c["installed"]} == {SP2}
    assert _ran(world) == [] and not world.state.exists()


def test_apply_brings_every_component_to_the_level(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w")
    result = _apply(world, state_dir=world.state)
    assert result["compliant"] is True and result["reboot_required"] is False
    assert [s["id"] for s in result["steps"]] == [*UPDATED, "coco"]
    assert all((s["version_before"], s["version_after"]) == (SP2, SP4) for s in result["steps"])
    assert {"run_id", "steps", "reboot_required", "components", "resumed"} <= set(result)
    assert Store(world.state).runs()[0].id == result["run_id"]
    assert _ran(world) == UPDATED
    again = _apply(world, state_dir=world.state)
    assert again["steps"] == [] and again["compliant"] is True


def test_state_dir_defaults_to_spdeploy_state(
    tmp_path: Path, dont_write_to_user_data: Path
) -> None:
    world = build_world(tmp_path / "w")
    result = _apply(world)
    assert Store(dont_write_to_user_data).runs()[0].id == result["run_id"]


def test_apply_after_a_reboot_resumes_the_same_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(tmp_path / "w", media_kwargs={"behaviours": {"calcon": Behaviour(3010)}})
    first = _apply(world, state_dir=world.state)
    assert first["reboot_required"] is True and first["resumed"] is False
    statuses = {s["id"]: s["status"] for s in first["steps"]}
    assert statuses["calcon"] == "reboot-required"
    assert first["reboot_pending"]["run_id"] == first["run_id"]
    # after the reboot, the same call: it continues that run
    machine_booted(monkeypatch)
    second = _apply(world, state_dir=world.state)
    assert second["resumed"] is True and second["run_id"] == first["run_id"]
    assert second["compliant"] is True and second["reboot_required"] is False
    assert Store(world.state).runs()[0].status == "ok"
    # resume=False starts a new run instead
    third = _apply(world, state_dir=world.state, resume=False)
    assert third["run_id"] != first["run_id"] and third["resumed"] is False


def test_a_failed_step_is_a_result_not_an_exception(tmp_path: Path) -> None:
    behaviours = {"ntsconn": Behaviour(1603, change=False)}
    world = build_world(tmp_path / "w", media_kwargs={"behaviours": behaviours})
    result = _apply(world, state_dir=world.state)
    assert result["compliant"] is False
    statuses = {s["id"]: s["status"] for s in result["steps"]}
    assert statuses == {
        "server": "ok",
        "calcon": "ok",
        "ntsconn": "failed",
        "gwxconn": "skipped",
        "coco": "skipped",  # not brought along: its connectors did not all end ok
    }


def test_interactive_installers_need_args(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w")
    with pytest.raises(BadInput, match="needs a person") as info:
        api.apply(world.media, world.target, platform="I386", state_dir=world.state)
    assert info.value.exit_code == 2 and info.value.code == "needs-terminal"
    assert _ran(world) == []
    # switches as a string (split like a shell) or as a list make them unattended
    args = {"server": "{target}", "calcon": ["{target}"], "ntsconn": "'{target}'"}
    result = api.apply(
        world.media,
        world.target,
        platform="I386",
        state_dir=world.state,
        args=args,
        skip=["gwxconn"],
    )
    assert _ran(world) == ["server", "calcon", "ntsconn"]
    assert {c["id"]: c["argv"][1:] for c in result["commands"]} == {
        c: [str(world.target)] for c in args
    }


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"args": {"nosuch": "/q"}}, "args: unknown component 'nosuch'"),
        ({"args": {"server": "'unclosed"}}, "args server="),
        ({"args": {"server": 3}}, "expected a string of switches or a list"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"only": ["nosuch"]}, "only: unknown component 'nosuch'"),
        ({"skip": "server,"}, "skip: an empty component id"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(
    tmp_path: Path, kw: dict[str, object], message: str
) -> None:
    world = build_world(tmp_path / "w")
    with pytest.raises(BadInput, match=message) as info:
        _apply(world, state_dir=world.state, **kw)
    assert info.value.exit_code == 2
    assert _ran(world) == []


def test_only_and_skip_take_a_comma_list_too(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w")
    report = api.check(
        world.media, world.target, profile=str(world.profile), platform="I386", only="server,calcon"
    )
    assert [c["id"] for c in report["components"]] == ["server", "calcon"]


def test_errors_carry_code_message_and_exit_code(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w")
    with pytest.raises(MediaError) as info:
        api.check(tmp_path / "nothing", world.target, profile=str(world.profile))
    err: SpdeployError = info.value
    assert (err.code, err.exit_code) == ("media", 2) and "nothing" in err.message

    media = build_media(tmp_path / "short-media", components=("server", "calcon"))
    with pytest.raises(Refused, match="cannot be updated"):
        api.apply(
            media,
            world.target,
            profile=str(world.profile),
            platform="I386",
            state_dir=world.state,
        )


def test_a_dry_run_refuses_as_the_real_run_would_and_writes_nothing(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w")
    before = tree_hash(world.root)
    with pytest.raises(BadInput, match="server, calcon, ntsconn, gwxconn: installer needs a"):
        api.apply(world.media, world.target, platform="I386", state_dir=world.state, dry_run=True)
    short = build_media(tmp_path / "short-media", components=("server", "calcon"))
    with pytest.raises(Refused, match="cannot be updated"):
        _apply(replace(world, media=short), state_dir=world.state, dry_run=True)
    plan = _apply(world, state_dir=world.state, dry_run=True)
    assert plan == api.check(world.media, world.target, profile=str(world.profile), platform="I386")
    assert [c["id"] for c in plan["components"] if c["action"] == "update"] == BEHIND
    assert tree_hash(world.root) == before and not world.state.exists()
    assert _ran(world) == []


def test_a_held_lock_is_exit_4(tmp_path: Path) -> None:
    import filelock

    world = build_world(tmp_path / "w")
    lock_file = lock_path(Store(world.state), world.target)
    lock_file.parent.mkdir(parents=True)
    with filelock.FileLock(lock_file), pytest.raises(LockHeld) as info:
        _apply(world, state_dir=world.state)
    assert info.value.exit_code == 4


def test_apply_refuses_on_a_pending_system_reboot_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "host"
    (root / "var/run").mkdir(parents=True)
    (root / "var/run/reboot-required").write_text("")
    monkeypatch.setenv("SPDEPLOY_SYSTEM_ROOT", str(root))
    world = build_world(tmp_path / "w")
    with pytest.raises(Refused, match="waiting for a reboot of its own"):
        _apply(world, state_dir=world.state, refuse_on_pending_reboot=True)
    assert _ran(world) == []
    result = _apply(world, state_dir=world.state)  # by default: reported, and it goes on
    assert [s["name"] for s in result["system_reboot_signals"]] == ["reboot-required"]
    assert result["compliant"] is True
