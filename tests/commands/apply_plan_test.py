"""``plan --save FILE`` then ``apply --plan FILE`` end to end: it runs only what was approved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import Result, cli, cli_spawn, tree_hash, world_args

from spdeploy import savedplan
from spdeploy.media import open_media
from spdeploy.sandbox.pe import write_pe
from spdeploy.sandbox.world import SP2, SP4, World, build_target, build_world
from spdeploy.staging import folder_fingerprint

UPDATED = ["server", "calcon", "ntsconn", "gwxconn"]
NTSCONN = "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe"


def _ran(world: World) -> list[str]:
    marker = world.root / "spdeploy-sandbox-ran.txt"
    return [line.split()[0] for line in marker.read_text().splitlines()] if marker.exists() else []


def _save(capsys: pytest.CaptureFixture[str], world: World, *extra: str) -> Path:
    path = world.root / "approved.json"
    res = cli(capsys, *world_args(world, "plan", "--save", path, *extra))
    assert res.code == 0, res.err
    return path


def _apply_plan(
    capsys: pytest.CaptureFixture[str], world: World, plan: Path, *extra: str | Path
) -> Result:
    """``apply --plan FILE --yes``: profile, media, target, platform from the file."""
    return cli(capsys, "--state", world.state, "--json", "apply", "--plan", plan, "--yes", *extra)


def _refused_untouched(world: World, res: Result, before: str) -> str:
    assert res.code == 1, res.err
    error = res.json()["error"]
    assert error["code"] == "plan-changed"
    assert error["message"].startswith(f"refusing the saved plan {world.root / 'approved.json'}: ")
    assert _ran(world) == []
    assert tree_hash(world.target) == before
    assert not list(world.state.rglob("staged"))  # nothing copied from the media either
    message: str = error["message"]
    return message


def test_save_then_apply_runs_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    plan = _save(capsys, world)
    res = _apply_plan(capsys, world, plan)
    assert res.code == 0, res.err
    data = res.json()
    assert [s["id"] for s in data["steps"]] == [*UPDATED, "coco"]  # brought along (Q242250)
    assert data["compliant"] is True
    assert data["saved_plan"] == {
        "file": str(plan),
        "saved_at": json.loads(plan.read_text())["saved_at"],
        "holds": True,
        "changes": [],
    }
    assert _ran(world) == UPDATED


def test_apply_plan_in_text_mode_says_it_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    plan = _save(capsys, world)
    res = cli(capsys, "--state", world.state, "apply", "--plan", plan, "--yes")
    assert res.code == 0, res.err
    assert f"Saved plan {plan} (saved " in res.out and "holds" in res.out
    assert _ran(world) == UPDATED


def test_a_tampered_installer_refuses_naming_both_fingerprints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    plan = _save(capsys, world)
    saved = json.loads(plan.read_text())["fingerprints"]["ntsconn"]
    with (world.media / NTSCONN).open("a") as fh:
        fh.write("# one more line\n")
    now = folder_fingerprint(open_media(world.media), NTSCONN)
    before = tree_hash(world.target)
    message = _refused_untouched(world, _apply_plan(capsys, world, plan), before)
    assert "ntsconn: installer folder changed on the media" in message
    assert saved[:16] in message and now[:16] in message


def test_a_changed_version_on_the_target_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    plan = _save(capsys, world)
    write_pe(world.target / "Connect/Calcon/Calcon.exe", SP4)  # someone updated it by hand
    before = tree_hash(world.target)
    message = _refused_untouched(world, _apply_plan(capsys, world, plan), before)
    assert f"calcon: installed version changed {SP2} -> {SP4}" in message


def test_a_newly_installed_component_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, installed={"server": SP2, "ntsconn": SP2})
    plan = _save(capsys, world)
    build_target(world.target, installed={"calcon": SP2})
    before = tree_hash(world.target)
    message = _refused_untouched(world, _apply_plan(capsys, world, plan), before)
    assert "calcon: installed since the plan was saved" in message


def test_every_change_is_listed_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    plan = _save(capsys, world)
    for name in ("Gw2mex.exe", "Mex2gw.exe", "Gwrouter.exe"):  # the GroupWise connector's files
        (world.target / "Connect/Exchconn" / name).unlink()
    (world.media / "Eng/Server/Setup/I386/Update.exe").write_text("#!/bin/sh\nexit 0\n")
    res = cli(capsys, "--state", world.state, "apply", "--plan", plan, "--platform", "I386")
    assert res.code == 1
    assert len(res.err.strip().splitlines()) == 1
    assert "server: installer folder changed" in res.err
    assert "gwxconn: uninstalled since the plan was saved" in res.err
    assert _ran(world) == []


def test_media_changed_between_the_check_and_staging_is_caught_by_the_executor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window after the check: the executor compares each staged folder again."""
    world = build_world(tmp_path)
    plan = _save(capsys, world)
    with (world.media / NTSCONN).open("a") as fh:
        fh.write("# swapped after the check\n")
    monkeypatch.setattr(savedplan, "changes", lambda *_: [])
    res = _apply_plan(capsys, world, plan)
    assert res.code == 1
    assert (
        "ntsconn: the installer folder changed since the plan was saved"
        in res.json()["error"]["message"]
    )
    assert _ran(world) == []


def test_a_component_fallen_behind_after_the_check_is_refused_by_the_executor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same window on the target: an update the saved plan never listed is not run."""
    installed = {"server": SP2, "calcon": SP4, "ntsconn": SP2, "gwxconn": SP2}
    world = build_world(tmp_path, installed=installed)
    plan = _save(capsys, world)
    write_pe(world.target / "Connect/Calcon/Calcon.exe", SP2)  # rolled back after the check
    monkeypatch.setattr(savedplan, "changes", lambda *_: [])
    res = _apply_plan(capsys, world, plan)
    assert res.code == 1
    error = res.json()["error"]
    assert error["code"] == "plan-changed"
    assert error["message"].startswith("calcon: needs an update the saved plan did not list")
    assert _ran(world) == []
    assert not list(world.state.rglob("staged"))


def test_dry_run_shows_whether_the_plan_still_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    plan = _save(capsys, world)
    res = _apply_plan(capsys, world, plan, "--dry-run")
    assert res.code == 0, res.err
    data = res.json()
    assert data["dry_run"] is True and data["saved_plan"]["holds"] is True
    assert [c["id"] for c in data["commands"]] == UPDATED
    write_pe(world.target / "Connect/Calcon/Calcon.exe", "5.5.2650.0")
    res = _apply_plan(capsys, world, plan, "--dry-run")
    assert res.code == 1
    assert res.json()["saved_plan"]["changes"] == [
        f"calcon: installed version changed {SP2} -> 5.5.2650.0"
    ]
    text = cli(capsys, "--state", world.state, "apply", "--plan", plan, "--dry-run")
    assert text.code == 1
    assert "no longer holds" in text.out and "calcon: installed version changed" in text.out
    assert _ran(world) == []


def test_plan_file_gives_media_target_profile_and_selectors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved with relative paths from one folder, applied from another with no options."""
    world = build_world(tmp_path / "site")
    monkeypatch.chdir(tmp_path / "site")
    args = ["--profile", world.profile.name, "--state", "state", "--json", "plan"]
    args += ["--media", "SP4CD", "--target", "exchsrvr", "--platform", "I386", "--skip", "gwxconn"]
    res = cli(capsys, *args, "--save", "approved.json")
    assert res.code == 0, res.err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    res = cli(capsys, "--json", "apply", "--plan", tmp_path / "site/approved.json", "--yes")
    assert res.code == 0, res.err
    assert res.json()["profile"] == "exchange55-sandbox"
    assert [s["id"] for s in res.json()["steps"]] == ["server", "calcon", "ntsconn", "coco"]
    assert _ran(world) == ["server", "calcon", "ntsconn"]


def test_options_given_on_the_command_line_are_checked_against_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    plan = _save(capsys, world)
    other = build_target(tmp_path / "other")
    res = _apply_plan(capsys, world, plan, "--target", other, "--platform", "Alpha")
    assert res.code == 1
    message = res.json()["error"]["message"]
    assert f"target changed: {world.target.absolute()} -> {other}" in message
    assert "platform changed: I386 -> Alpha" in message
    res = cli(capsys, "--profile", "exchange55", "--json", "apply", "--plan", plan)
    assert res.code == 1
    assert "profile changed: exchange55-sandbox -> exchange55" in res.json()["error"]["message"]
    assert _ran(world) == []


def test_iso_media(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path, media_format="iso")
    plan = _save(capsys, world)
    res = _apply_plan(capsys, world, plan)
    assert res.code == 0, res.err
    assert _ran(world) == UPDATED


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "saved plan not found"),
        ("{not json", "not valid JSON"),
        ("{}", '"format"'),
        ("[" * 100_000, "nested too deeply"),  # was an internal error (exit 70)
        ("9" * 5000, "integer value out of range"),  # likewise
    ],
)
def test_a_missing_or_corrupt_plan_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, needle: str
) -> None:
    world = build_world(tmp_path)
    plan = tmp_path / "approved.json"
    if content is not None:
        plan.write_text(content)
    res = cli(capsys, "--state", world.state, "apply", "--plan", plan)
    assert res.code == 2
    assert needle in res.err and str(plan) in res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    res = cli(capsys, "--state", world.state, "--json", "apply", "--plan", plan)
    assert res.code == 2 and res.json()["error"]["code"] == "plan-file"
    assert _ran(world) == []


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d["selection"].update(target=d["selection"]["target"] + "\x00"), "NUL"),
        (lambda d: d["fingerprints"].pop("calcon"), '$.fingerprints: has no "calcon"'),
        # the message names the place in the file (msgspec's path), as the issue asked
        (
            lambda d: d["selection"].update(media=12),
            "approved.json: $.selection.media: expected str, got 12",
        ),
    ],
)
def test_a_damaged_plan_is_exit_2_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any, needle: str
) -> None:
    """Once an internal error (exit 70: a NUL in the target's path), once a plan that
    ``--dry-run`` said held and ``apply`` refused as changed (an update without a fingerprint)."""
    world = build_world(tmp_path)
    plan = _save(capsys, world)
    doc = json.loads(plan.read_text())
    edit(doc)
    plan.write_text(json.dumps(doc))
    for extra in ((), ("--dry-run",)):
        res = _apply_plan(capsys, world, plan, *extra)
        assert res.code == 2, res.out
        error = res.json()["error"]
        assert error["code"] == "plan-file" and needle in error["message"]
        assert str(plan) in error["message"] and "\n" not in error["message"]
    assert _ran(world) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["apply", "--target", "{target}"], "Missing option '--media'"),
        (["apply", "--media", "{media}"], "Missing option '--target'"),
        (["apply", "--plan", "{plan}", "--resume"], "--resume"),
    ],
)
def test_apply_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    world = build_world(tmp_path)
    plan = _save(capsys, world)
    filled = [a.format(media=world.media, target=world.target, plan=plan) for a in args]
    res = cli(capsys, "--profile", world.profile, "--state", world.state, *filled)
    assert res.code == 2
    assert needle in res.err and len(res.err.strip().splitlines()) == 1
    assert _ran(world) == []


def test_args_cannot_change_a_saved_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spdeploy.sandbox.world import build_world as _build

    world = _build(tmp_path)
    saved = tmp_path / "plan.json"
    assert cli(capsys, *world_args(world, "plan", "--save", saved)).code == 0
    res = cli(
        capsys,
        "--profile",
        world.profile,
        "--state",
        world.state,
        "--json",
        "apply",
        "--plan",
        saved,
        "--args",
        'server="/x"',
    )
    assert (
        res.code == 2 and "--plan cannot be combined with --args" in res.json()["error"]["message"]
    )


def test_ctrl_c_during_a_saved_plan_names_the_files_profile_and_selection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command that resumes an `apply --plan FILE` cut off by Ctrl-C: it named neither the
    file's profile nor its platform, so run as printed it took the built-in profile (installers
    that need a person: exit 2)."""
    import shlex
    import signal
    import time

    from spdeploy.sandbox.world import Behaviour

    slow = {"behaviours": {"calcon": Behaviour(delay_s=3)}}  # long enough to be cut off
    world = build_world(tmp_path, media_kwargs=slow)
    plan = _save(capsys, world, "--only", "server,calcon")
    proc = cli_spawn("--state", world.state, "apply", "--plan", plan, "--yes")
    deadline = time.monotonic() + 60
    while "calcon" not in _ran(world) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    words = shlex.split(err.strip().split("continue it with: ", 1)[1])
    assert words[:3] == ["spdeploy", "--profile", str(world.profile)]
    assert words[words.index("--platform") + 1] == "I386"
    assert words[words.index("--only") + 1] == "server,calcon"
    resumed = cli(capsys, *words[1:], "--yes", "--json")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["resumed"] is True
