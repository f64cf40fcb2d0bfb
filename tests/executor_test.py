"""Executor rules not covered end to end elsewhere: catalogs, resume, nothing run on refusal."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from helpers import cli, machine_booted, tree_hash, world_args

from spdeploy.sandbox.world import Behaviour, World, build_world
from spdeploy.store import Store


def _apply(capsys, world: World, *extra: str):  # type: ignore[no-untyped-def]
    return cli(capsys, *world_args(world, "apply", *extra))


def _catalog(media: Path) -> Path:
    lines = []
    for path in sorted(p for p in media.rglob("*") if p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(media).as_posix().upper()}")
    catalog = media / "SHA256SUMS"
    catalog.write_text("\n".join(lines) + "\n")
    return catalog


def test_good_catalog_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    _catalog(world.media)
    assert _apply(capsys, world).code == 0


def test_tampered_installer_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    _catalog(world.media)
    installer = world.media / "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe"
    installer.write_text(installer.read_text() + "\n# tampered\n")
    before = tree_hash(world.target)
    res = _apply(capsys, world)
    assert res.code == 1
    message = res.json()["error"]["message"]
    assert "Ntsconn.exe" in message and "SHA-256 mismatch" in message
    assert tree_hash(world.target) == before  # staging comes before the first installer
    assert Store(world.state).runs()[0].status == "refused"


def test_file_missing_from_catalog_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    catalog = _catalog(world.media)
    catalog.write_text(
        "".join(
            line + "\n" for line in catalog.read_text().splitlines() if "CALCON.EXE" not in line
        )
    )
    res = _apply(capsys, world)
    assert res.code == 1
    assert "not listed" in res.json()["error"]["message"]


def test_resume_continues_the_interrupted_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(
        tmp_path, media_kwargs={"behaviours": {"calcon": Behaviour(exit_code=3010)}}
    )
    first = _apply(capsys, world)
    assert first.code == 3
    machine_booted(monkeypatch)
    resumed = _apply(capsys, world, "--resume")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["run_id"] == first.json()["run_id"]
    (run,) = Store(world.state).runs()
    assert run.status == "ok"


def test_resume_without_an_interrupted_run_starts_a_new_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a reboot a playbook always says --resume: with nothing to resume it is an apply."""
    world = build_world(tmp_path)
    res = _apply(capsys, world, "--resume")
    assert res.code == 0, res.err
    assert res.json()["resumed"] is False and res.json()["compliant"] is True
    again = _apply(capsys, world, "--resume")
    assert again.code == 0 and again.json()["steps"] == []


def _hooked(world: World, component: str, pre: str = "true") -> Path:
    """A site profile whose ``component`` stops a "service" before and starts it after."""
    note = 'printf "%s\\n" "$1" >> "$0"'
    hooks = world.root / "hooks.txt"
    profile = world.root / "hooked.toml"
    profile.write_text(
        f'id = "hooked"\nname = "hooked"\nextends = "{world.profile}"\n\n[[component]]\n'
        f'id = "{component}"\n'
        f'pre = [["/bin/sh", "-c", {json.dumps(note)}, "{hooks}", "stop"], '
        f'["/bin/sh", "-c", "{pre}"]]\n'
        f'post = ["/bin/sh", "-c", {json.dumps(note)}, "{hooks}", "start"]\n'
    )
    return profile


def _hooks(world: World) -> list[str]:
    path = world.root / "hooks.txt"
    return path.read_text().split() if path.exists() else []


def test_pre_and_post_wrap_the_installer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    profile = _hooked(world, "ntsconn")
    res = cli(capsys, "--profile", profile, *world_args(world, "apply", profile=False))
    assert res.code == 0, res.err
    assert _hooks(world) == ["stop", "start"]
    assert (world.state / "runs" / res.json()["run_id"] / "logs/ntsconn.pre.log").exists()


def test_post_runs_after_a_failed_installer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Q234293: a failed setup can leave services stopped; post starts them again."""
    world = build_world(tmp_path, media_kwargs={"behaviours": {"ntsconn": Behaviour(1603)}})
    profile = _hooked(world, "ntsconn")
    res = cli(capsys, "--profile", profile, *world_args(world, "apply", profile=False))
    assert res.code == 1
    assert _hooks(world) == ["stop", "start"]


def test_failing_pre_skips_the_installer_but_not_post(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    profile = _hooked(world, "ntsconn", pre="exit 5")
    res = cli(capsys, "--profile", profile, *world_args(world, "apply", profile=False))
    assert res.code == 1
    ntsconn = next(s for s in res.json()["steps"] if s["id"] == "ntsconn")
    assert ntsconn["status"] == "failed" and "pre command failed" in ntsconn["message"]
    assert "exited 5" in ntsconn["message"]
    assert _hooks(world) == ["stop", "start"]
    marker = (world.root / "spdeploy-sandbox-ran.txt").read_text()
    assert "ntsconn" not in marker


def test_a_backup_that_cannot_be_taken_fails_the_step_before_its_installer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    mapping = world.target / "Connect/Exchconn/Dxanotes"
    shutil.rmtree(mapping)
    mapping.symlink_to(world.target / "no-such-folder")  # dangling: nothing to copy
    res = _apply(capsys, world)
    assert res.code == 1, res.err
    steps = {s["id"]: s for s in res.json()["steps"]}
    assert steps["ntsconn"]["status"] == "failed"
    assert steps["ntsconn"]["message"].startswith("backup failed, not run: ")
    assert steps["gwxconn"]["status"] == "skipped"
    marker = (world.root / "spdeploy-sandbox-ran.txt").read_text()
    assert "ntsconn" not in marker and "gwxconn" not in marker


def test_logs_of_one_name_from_two_folders_are_both_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    other = world.target / "Connect/Exchconn/Old/lmeilog.txt"
    other.parent.mkdir(parents=True)
    other.write_text("the log of an earlier setup\n")
    text = world.profile.read_text(encoding="utf-8")
    text = text.replace(
        'id = "ntsconn"\n',
        'id = "ntsconn"\n'
        'logs = ["Connect/Exchconn/Setup/lmeilog.txt", "Connect/Exchconn/Old/lmeilog.txt"]\n',
    )
    world.profile.write_text(text, encoding="utf-8")
    run_id = _apply(capsys, world).json()["run_id"]
    folder = Store(world.state).run_dir(run_id) / "logs" / "ntsconn"
    assert sorted(p.name for p in folder.iterdir()) == ["lmeilog-2.txt", "lmeilog.txt"]
    assert (folder / "lmeilog-2.txt").read_text() == "the log of an earlier setup\n"


def test_staging_starts_from_an_empty_folder(tmp_path: Path) -> None:
    """A resumed run stages into its own folder again: nothing of an earlier attempt stays."""
    from spdeploy.executor import ApplyOptions, Silent, _stage_all
    from spdeploy.session import Selection, prepare
    from spdeploy.steps import RunLog

    world = build_world(tmp_path)
    prep = prepare(str(world.profile), Selection(str(world.media), str(world.target), None, "I386"))
    stale = tmp_path / "staged" / "ntsconn" / "left-by-an-earlier-attempt.dll"
    stale.parent.mkdir(parents=True)
    stale.write_text("stale")
    log = RunLog(tmp_path / "run.log")
    staged = _stage_all(prep, prep.plan(), tmp_path / "staged", ApplyOptions(), Silent(), log)
    assert not stale.exists()
    assert (staged["ntsconn"].folder / "Ntsconn.exe").is_file()


def test_history_json_lists_collected_logs_and_backups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    run_id = _apply(capsys, world).json()["run_id"]
    res = cli(capsys, "--state", world.state, "--json", "history")
    (run,) = res.json()["runs"]
    assert run["run_id"] == run_id
    names = sorted(Path(p).relative_to(run["folder"]).as_posix() for p in run["collected_logs"])
    assert "logs/ntsconn/lmeilog.txt" in names and "logs/server/Exchange Server Setup.log" in names
    # every connector's SP copies Exchconn.ini first (Q232495); Notes its mapping tables too
    assert [Path(p).name for p in run["backups"]] == [
        "calcon.manifest.json",
        "gwxconn.manifest.json",
        "ntsconn.manifest.json",
    ]
    assert all(Path(p).is_file() for p in run["collected_logs"] + run["backups"])


def test_a_backup_interrupted_by_ctrl_c_is_taken_afresh_on_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resumed copy went over the first one: copytree cannot copy a symlink over the one
    copied before the interrupt, so every ``--resume`` died with an internal error (exit 70)."""
    world = build_world(tmp_path)
    tables = world.target / "Connect/Exchconn/Dxamex"
    (tables / "Current.tbl").symlink_to("Mapping.tbl")
    copytree = shutil.copytree

    def interrupted(src: Path, *args: object, **kw: object) -> object:
        if Path(src).name == "Dxanotes":  # Dxamex, its symlink included, is already copied
            raise KeyboardInterrupt
        return copytree(src, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(shutil, "copytree", interrupted)
    assert _apply(capsys, world).code == 130
    (run,) = Store(world.state).runs()
    assert not (Store(world.state).run_dir(run.id) / "backup/ntsconn.manifest.json").exists()
    monkeypatch.setattr(shutil, "copytree", copytree)
    res = _apply(capsys, world, "--resume")
    assert res.code == 0, res.out + res.err
    assert res.json()["run_id"] == run.id
    manifest = Store(world.state).run_dir(run.id) / "backup/ntsconn.manifest.json"
    assert [f["path"] for f in json.loads(manifest.read_text())["files"]] == [
        "Connect/Exchconn/Dxamex/Domains.tbl",
        "Connect/Exchconn/Dxamex/Mapping.tbl",
        "Connect/Exchconn/Dxanotes/Mapping.tbl",
        "Connect/Exchconn/Exchconn.ini",
    ]


def test_nested_backup_paths_are_copied_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A backup path inside another one was copied twice; the second copy of a symlink failed
    (internal error, exit 70) before the installer, so such a profile could never apply."""
    world = build_world(tmp_path)
    (world.target / "Connect/Exchconn/Dxamex/Current.tbl").symlink_to("Mapping.tbl")
    text = world.profile.read_text(encoding="utf-8")
    text = text.replace(
        'id = "ntsconn"\n',
        'id = "ntsconn"\nbackup = ["Connect/Exchconn/Dxamex", "Connect/Exchconn"]\n',
    )
    world.profile.write_text(text, encoding="utf-8")
    res = _apply(capsys, world)
    assert res.code == 0, res.out + res.err
    backup = Store(world.state).run_dir(res.json()["run_id"]) / "backup/ntsconn"
    assert (backup / "Connect/Exchconn/Dxamex/Current.tbl").is_symlink()
    assert (backup / "Connect/Exchconn/Lsmexout.exe").is_file()
