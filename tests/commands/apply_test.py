"""``apply`` end to end: what ran, in which order, what the history and the target show."""

from __future__ import annotations

import json
from pathlib import Path

import filelock
import pefile
import psutil
import pytest
from helpers import cli, cli_process, tree_hash, world_args

from spdeploy.locking import TARGET_LOCK, lock_path
from spdeploy.sandbox.world import SP2, SP4, Behaviour, World, build_world
from spdeploy.store import Store

UPDATED = ["calcon", "ntsconn", "gwxconn"]


def _apply(capsys, world: World, *extra: str | Path):
    return cli(capsys, *world_args(world, "apply", *extra))


def _ran(world: World) -> list[str]:
    marker = world.root / "spdeploy-sandbox-ran.txt"
    return [line.split()[0] for line in marker.read_text().splitlines()] if marker.exists() else []


def _pe(path: Path) -> pefile.PE:
    pe = pefile.PE(str(path), fast_load=True)
    pe.parse_data_directories(
        directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]]
    )
    return pe


def test_apply_brings_every_component_to_the_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    res = _apply(capsys, world)
    assert res.code == 0, res.err
    data = res.json()
    assert data["compliant"] is True and data["reboot_required"] is False
    # the Connectivity Controller, brought along by the connectors' runs (Q242250), last
    assert [s["id"] for s in data["steps"]] == ["server", *UPDATED, "coco"]
    assert {s["status"] for s in data["steps"]} == {"ok"}
    assert all((s["version_before"], s["version_after"]) == (SP2, SP4) for s in data["steps"])
    assert _ran(world) == ["server", *UPDATED]  # the server first (Q244473)
    # history has the run and every step, with a log file for each
    runs = Store(world.state).runs()
    assert [s.component for s in runs[0].steps] == ["server", *UPDATED, "coco"]
    assert runs[0].status == "ok" and runs[0].id == data["run_id"]
    assert all(Path(s.log or "").is_file() for s in runs[0].steps if s.component != "coco")
    assert runs[0].steps[-1].log is None  # coco: nothing of its own ran
    # data the SP overwrites was backed up first (Q195697); the setup logs were collected
    run_dir = world.state / "runs" / data["run_id"]
    backup = run_dir / "backup/ntsconn/Connect/Exchconn/Dxamex"
    assert backup.is_dir() and any(backup.iterdir())
    assert (run_dir / "logs/server/Exchange Server Setup.log").is_file()
    assert (run_dir / "logs/ntsconn/lmeilog.txt").is_file()
    # a second apply has nothing to do
    again = _apply(capsys, world)
    assert again.code == 0 and again.json()["steps"] == []


@pytest.mark.parametrize(("platform", "machine"), [("I386", 0x14C), ("Alpha", 0x184)])
def test_platform_installers_are_the_ones_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], platform: str, machine: int
) -> None:
    world = build_world(tmp_path)
    res = cli(
        capsys,
        *world_args(world, "apply", json_mode=False, platform=platform),
    )
    assert res.code == 0, res.err
    assert _pe(world.target / "bin/Store.exe").FILE_HEADER.Machine == machine
    assert _pe(world.target / "Connect/Exchconn/Lsmexout.exe").FILE_HEADER.Machine == machine


@pytest.mark.parametrize(
    "media_kwargs",
    [{"upper": True}, {"setup_level": True, "gw_folder": "Gwxcon"}, {"gw_folder": "Gwconn"}],
)
def test_media_variants_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], media_kwargs: dict[str, object]
) -> None:
    world = build_world(tmp_path, media_kwargs=media_kwargs)
    res = _apply(capsys, world)
    assert res.code == 0, res.err
    assert _ran(world) == ["server", *UPDATED]


def test_notes_from_english_on_german_media_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(
        tmp_path, media_kwargs={"languages": ("Ger", "Eng"), "notes_languages": ("Eng",)}
    )
    res = _apply(capsys, world, "--language", "Ger")
    assert res.code == 0, res.err
    assert res.json()["compliant"] is True


def test_missing_on_media_refuses_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, media_kwargs={"components": ("server", "calcon", "ntsconn")})
    before = tree_hash(world.target)
    res = _apply(capsys, world)
    assert res.code == 1
    assert "gwxconn" in res.json()["error"]["message"]
    assert _ran(world) == []
    assert tree_hash(world.target) == before


def test_success_without_version_change_is_a_failure_and_stops_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, media_kwargs={"behaviours": {"calcon": Behaviour(change=False)}})
    res = _apply(capsys, world)
    assert res.code == 1
    steps = {s["id"]: s for s in res.json()["steps"]}
    assert steps["calcon"]["status"] == "failed"
    assert "installer reported success but the version did not change" in steps["calcon"]["message"]
    assert steps["ntsconn"]["status"] == steps["gwxconn"]["status"] == "skipped"
    assert _ran(world) == ["server", "calcon"]
    assert [s.status for s in Store(world.state).runs()[0].steps] == [
        "ok",
        "failed",
        "skipped",
        "skipped",
        "skipped",  # coco: not brought along, its connectors did not all end ok
    ]


def test_failing_exit_code_is_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path, media_kwargs={"behaviours": {"server": Behaviour(exit_code=43)}})
    res = _apply(capsys, world)
    assert res.code == 1
    assert res.json()["steps"][0]["exit_code"] == 43
    assert _ran(world) == ["server"]


def test_reboot_required_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # POSIX keeps 8 bits of an exit status: 3010 arrives as 194, mapped by the site profile.
    world = build_world(
        tmp_path, media_kwargs={"behaviours": {"ntsconn": Behaviour(exit_code=3010)}}
    )
    res = _apply(capsys, world)
    assert res.code == 3
    data = res.json()
    assert data["reboot_required"] is True
    assert {s["id"]: s["status"] for s in data["steps"]}["ntsconn"] == "reboot-required"
    assert Store(world.state).runs()[0].status == "reboot-required"


def test_hung_installer_and_its_children_are_killed_at_the_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, media_kwargs={"behaviours": {"calcon": Behaviour(hang=True)}})
    res = _apply(capsys, world, "--timeout", "2")
    assert res.code == 1
    steps = {s["id"]: s for s in res.json()["steps"]}
    assert steps["calcon"]["status"] == "timeout"
    assert steps["ntsconn"]["status"] == "skipped"
    pids = [int(p) for p in (world.root / "spdeploy-sandbox-pids.txt").read_text().split()]
    assert len(pids) == 2  # a child and a grandchild
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_locked_target_exits_4(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    lock = filelock.FileLock(lock_path(Store(world.state), world.target))
    lock_path(Store(world.state), world.target).parent.mkdir(parents=True)
    with lock:
        res = cli_process(
            *world_args(world, "apply", json_mode=False),
        )
    assert res.code == 4, res.err
    assert "lock" in res.err
    assert _ran(world) == []


def test_a_damaged_history_refuses_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    world.state.mkdir()
    (world.state / "history.sqlite3").write_bytes(b"garbage\n" * 100)
    before = tree_hash(world.target)
    res = _apply(capsys, world)
    assert res.code == 2
    assert "history.sqlite3: not a usable spdeploy history" in res.json()["error"]["message"]
    assert _ran(world) == [] and tree_hash(world.target) == before


def test_args_for_an_unknown_component_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    res = _apply(capsys, world, "--args", "nosuch=/q")
    assert res.code == 2
    assert res.json()["error"]["message"].startswith("--args: unknown component 'nosuch' (profile")
    assert _ran(world) == []


def test_a_target_where_no_lock_can_be_made_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    (world.target / TARGET_LOCK).mkdir()  # in the way: the lock file cannot be created
    res = _apply(capsys, world)
    assert res.code == 2
    error = res.json()["error"]
    assert error["code"] == "target"
    assert f"{world.target / TARGET_LOCK}: cannot create the target's lock file" in error["message"]
    assert _ran(world) == []


def test_a_finished_apply_leaves_no_lock_file_in_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    assert _apply(capsys, world).code == 0
    assert not (world.target / TARGET_LOCK).exists()


def test_dry_run_changes_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    before = tree_hash(world.root)
    res = cli(
        capsys,
        *world_args(world, "apply", "--dry-run", json_mode=False),
    )
    assert res.code == 0
    assert "Commands that would run" in res.out
    assert "Ntsconn.exe" in res.out and str(world.target) in res.out
    assert tree_hash(world.root) == before


def test_interactive_installer_without_terminal_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    before = tree_hash(world.target)
    res = cli(
        capsys,
        *world_args(world, "apply", json_mode=False, profile=False),
    )
    assert res.code == 2
    assert "needs a person" in res.err and "--args" in res.err
    assert tree_hash(world.target) == before


def test_args_on_the_command_line_make_it_unattended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    res = cli(
        capsys,
        *world_args(world, "apply", "--only", "server", "--args", "server={target}", profile=False),
    )
    step = res.json()["steps"][0]
    assert (step["status"], step["version_after"]) == ("ok", SP4)
    # The sandbox installer is a script, not a PE file: the built-in profile cannot read the
    # media's version, so compliance stays unproven (exit 1) rather than assumed.
    assert res.code == 1


def test_history_lists_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    run_id = _apply(capsys, world).json()["run_id"]
    res = cli(capsys, "--state", world.state, "history", "--json", "--target", world.target)
    runs = res.json()["runs"]
    assert [r["run_id"] for r in runs] == [run_id]
    assert [s["id"] for s in runs[0]["steps"]] == ["server", *UPDATED, "coco"]
    res = cli(capsys, "--state", world.state, "history", "--target", tmp_path / "other")
    assert "No runs" in res.out


def test_default_reboot_codes_map_without_a_site_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows installers exit 3010/1641 for real; POSIX cannot, so the exit is simulated."""
    from spdeploy import process

    real_run = process.run

    def run_then_report(argv, **kw):  # type: ignore[no-untyped-def]
        done = real_run(argv, **kw)
        return process.ProcessResult(
            done.argv, 1641 if "Ntsconn" in argv[0] else 3010, False, done.duration_s, done.log_path
        )

    monkeypatch.setattr(process, "run", run_then_report)
    world = build_world(tmp_path)
    site = tmp_path / "plain.toml"
    site.write_text(world.profile.read_text().replace("194 = ", "1 = ").replace("105 = ", "2 = "))
    res = cli(
        capsys,
        "--profile",
        site,
        *world_args(world, "apply", profile=False),
    )
    assert res.code == 3
    statuses = {s["id"]: s["status"] for s in res.json()["steps"]}
    # 1641 means the machine is rebooting now: nothing else may start
    assert statuses == {
        "server": "reboot-required",
        "calcon": "reboot-required",
        "ntsconn": "reboot-required",
        "gwxconn": "skipped",
        "coco": "ok",  # Lsmexout.exe already shows the new build
    }


def test_whole_run_through_a_real_subprocess(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    res = cli_process(
        *world_args(world, "apply"),
    )
    assert res.code == 0, res.err
    assert json.loads(res.out)["compliant"] is True


def test_relative_paths_everywhere(tmp_path: Path) -> None:
    """Staged installers run in their own folder: a relative --state must still find them."""
    build_world(tmp_path / "w")
    relative = World(
        root=Path("w"),
        target=Path("w/exchsrvr"),
        media=Path("w/SP4CD"),
        profile=Path("w/exchange55-sandbox.toml"),
        state=Path("s"),
    )
    res = cli_process(*world_args(relative, "apply"), cwd=tmp_path)
    assert res.code == 0, res.err
    assert (tmp_path / "s" / "history.sqlite3").is_file()


def test_dry_run_shows_a_refusal_without_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, media_kwargs={"components": ("server", "calcon", "ntsconn")})
    res = cli(capsys, *world_args(world, "apply", "--dry-run", json_mode=False))
    assert res.code == 1
    assert "missing-on-media" in res.out
    assert _ran(world) == []


def test_switches_keep_windows_backslashes() -> None:
    from spdeploy.switches import parse_args_overrides

    parsed = parse_args_overrides(('server=/d:C:\\exchsrvr\\bin "/log:C:\\Program Files\\sp.log"',))
    assert parsed == {"server": ("/d:C:\\exchsrvr\\bin", "/log:C:\\Program Files\\sp.log")}


def test_timeout_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    for bad in ("0", "-5"):
        res = cli(capsys, *world_args(world, "apply", "--timeout", bad))
        assert res.code == 2 and res.json()["error"]["code"] == "usage"
    assert not (world.root / "spdeploy-sandbox-ran.txt").exists()


def test_a_refused_resume_leaves_the_run_resumable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    never = Behaviour(3010, change=False)  # asks for a reboot; still behind after it
    world = build_world(tmp_path, media_kwargs={"behaviours": {"calcon": never}})
    first = _apply(capsys, world)
    assert first.code == 3
    catalog = world.media / "SHA256SUMS"  # a catalog that refuses calcon's installer
    catalog.write_text(f"{'0' * 64}  Eng/Exchconn/Setup/I386/Calcon/Calcon.exe\n")
    assert _apply(capsys, world, "--resume").code == 1
    catalog.unlink()
    resumed = _apply(capsys, world, "--resume")
    assert resumed.json()["resumed"] is True
    assert resumed.json()["run_id"] == first.json()["run_id"]


def test_resume_with_other_media_starts_a_new_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, media_kwargs={"behaviours": {"calcon": Behaviour(3010)}})
    first = _apply(capsys, world)
    assert first.code == 3
    other = world.media.rename(tmp_path / "SP4-copy")
    moved = World(world.root, world.target, other, world.profile, world.state)
    again = _apply(capsys, moved, "--resume")
    assert again.json()["resumed"] is False and again.json()["run_id"] != first.json()["run_id"]


def test_a_malformed_args_example_guesses_no_switch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Update.exe's /r is its recovery mode (the profile says so): never the example."""
    world = build_world(tmp_path)
    res = _apply(capsys, world, "--args", "server")
    assert res.code == 2
    message = res.json()["error"]["message"]
    assert 'expected ID="SWITCHES"' in message and "/r" not in message
