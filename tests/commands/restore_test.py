"""``restore RUN_ID``: the files a run backed up come back byte for byte, and nothing else moves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import filelock
import pytest
from helpers import Result, cli, cli_pty, tree_hash, world_args

from spdeploy.locking import lock_path
from spdeploy.sandbox.world import SP2, World, build_world
from spdeploy.store import Store

DXAMEX = "Connect/Exchconn/Dxamex"
TABLES = [f"{DXAMEX}/Domains.tbl", f"{DXAMEX}/Mapping.tbl", "Connect/Exchconn/Dxanotes/Mapping.tbl"]
# Every connector's SP copies Exchconn.ini first (Q232495); the sandbox SP leaves it alone, and
# the earliest copy in the run (the first connector's) is the one put back.
INI = {"component": "calcon", "path": "Connect/Exchconn/Exchconn.ini", "action": "unchanged"}


def _snapshot(target: Path) -> dict[str, tuple[bytes, int]]:
    return {rel: ((target / rel).read_bytes(), (target / rel).stat().st_mtime_ns) for rel in TABLES}


def _applied(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[World, str]:
    world = build_world(tmp_path)
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 0, res.err
    return world, res.json()["run_id"]


def _restore(
    capsys: pytest.CaptureFixture[str],
    world: World,
    *args: str,
    json_mode: bool = True,
    yes: bool = True,
) -> Result:
    """``restore ARGS``, with ``--yes`` as a script would (stdin is no terminal here)."""
    flags = ["--json"] if json_mode else []
    return cli(
        capsys, "--state", world.state, *flags, "restore", *args, *(["--yes"] if yes else [])
    )


def test_restore_brings_back_the_site_tables_and_keeps_everything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    before = _snapshot(world.target)
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 0, res.err
    run_id = res.json()["run_id"]
    # the sandbox SP overwrote the Dxamex tables, as SP1 did (Q195697)
    for rel in TABLES[:2]:
        assert b"edited by the site administrator" not in (world.target / rel).read_bytes()
        assert b"default mapping table" in (world.target / rel).read_bytes()
    sp_tables = {rel: (world.target / rel).read_bytes() for rel in TABLES[:2]}
    # after the run: a file the SP added (not backed up), one the admin deleted
    added = world.target / DXAMEX / "Added.tbl"
    added.write_text("added by the service pack\n")
    (world.target / TABLES[2]).unlink()
    connector = (world.target / "Connect/Exchconn/Lsmexout.exe").read_bytes()

    res = cli(capsys, "--state", world.state, "--json", "restore", run_id, "--yes")
    assert res.code == 0, res.err
    data = res.json()
    # the JSON contract
    assert set(data) == {"run_id", "target", "dry_run", "files", "saved_current_to", "warnings"}
    assert (data["run_id"], data["target"], data["dry_run"]) == (
        run_id,
        str(world.target.resolve()),
        False,
    )
    assert data["files"] == [
        INI,
        {"component": "ntsconn", "path": TABLES[0], "action": "overwrite"},
        {"component": "ntsconn", "path": TABLES[1], "action": "overwrite"},
        {"component": "ntsconn", "path": TABLES[2], "action": "recreate"},
    ]
    assert data["warnings"] == []
    # byte-identical, with the site's modification times
    assert _snapshot(world.target) == before
    # nothing deleted, nothing else touched
    assert added.read_text() == "added by the service pack\n"
    assert (world.target / "Connect/Exchconn/Lsmexout.exe").read_bytes() == connector
    # the overwritten current files were saved first
    saved = Path(data["saved_current_to"])
    assert saved.parent == world.state / "runs" / run_id
    assert saved.name.startswith("restore-") and saved.name.endswith("Z")
    kept = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file())
    assert kept == [f"ntsconn/{rel}" for rel in TABLES[:2]]
    for rel in TABLES[:2]:
        assert (saved / "ntsconn" / rel).read_bytes() == sp_tables[rel]


def test_a_second_restore_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    assert _restore(capsys, world, run_id).code == 0
    folders = sorted((world.state / "runs" / run_id).iterdir())
    before = tree_hash(world.target)
    res = _restore(capsys, world, run_id)
    assert res.code == 0
    assert {f["action"] for f in res.json()["files"]} == {"unchanged"}
    assert res.json()["saved_current_to"] is None
    assert tree_hash(world.target) == before
    assert sorted((world.state / "runs" / run_id).iterdir()) == folders


def test_dry_run_lists_the_actions_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    (world.target / TABLES[2]).unlink()
    target, run_dir = tree_hash(world.target), tree_hash(world.state / "runs")
    res = _restore(capsys, world, run_id, "--dry-run", json_mode=False)
    assert res.code == 0, res.err
    out = res.out
    assert f"restore {TABLES[1]} (overwrites the current file)" in out
    assert f"restore {TABLES[2]} (recreates a deleted file)" in out
    assert "nothing changed" in out
    assert (tree_hash(world.target), tree_hash(world.state / "runs")) == (target, run_dir)
    data = _restore(capsys, world, run_id, "--dry-run").json()
    assert data["dry_run"] is True and data["saved_current_to"] is None
    assert [f["action"] for f in data["files"]] == [
        "unchanged",
        "overwrite",
        "overwrite",
        "recreate",
    ]
    assert tree_hash(world.target) == target


def test_unchanged_files_are_listed_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    res = _restore(capsys, world, run_id, "--dry-run", json_mode=False)
    assert f"restore {TABLES[2]} (unchanged: identical)" in res.out


def test_unknown_run_id_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = cli(capsys, "--state", tmp_path / "state", "restore", "20991231T000000-beef")
    assert res.code == 2
    assert res.out == ""
    assert res.err.count("\n") == 1
    assert "run 20991231T000000-beef not found" in res.err and "spdeploy history" in res.err
    res = cli(capsys, "--state", tmp_path / "state", "restore", "--json", "nope")
    assert (res.code, res.json()["error"]["exit_code"]) == (2, 2)


def test_a_run_without_backups_has_nothing_to_restore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, installed={"server": SP2})
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 0, res.err
    run_id = res.json()["run_id"]
    res = _restore(capsys, world, run_id, json_mode=False)
    assert res.code == 0
    assert "nothing to restore" in res.out
    assert _restore(capsys, world, run_id).json()["files"] == []


@pytest.mark.parametrize(
    "evil", ["../escape.tbl", "Connect/../../escape.tbl", "/tmp/escape.tbl", "C:/escape.tbl"]
)
def test_a_tampered_manifest_cannot_write_outside_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], evil: str
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    backup = world.state / "runs" / run_id / "backup"
    manifest = backup / "ntsconn.manifest.json"
    data = json.loads(manifest.read_text())
    data["files"].append({"path": evil, "size": 7, "mtime": 0.0})
    manifest.write_text(json.dumps(data))
    (backup / "escape.tbl").write_text("hostile")
    (backup / "ntsconn" / "escape.tbl").write_text("hostile")
    before = tree_hash(world.root / "exchsrvr")
    res = _restore(capsys, world, run_id, json_mode=False)
    assert res.code == 2
    assert evil in res.err and "nothing restored" in res.err
    assert tree_hash(world.target) == before  # not even the good files: all is checked first
    assert not (world.root / "escape.tbl").exists()
    assert not Path("/tmp/escape.tbl").exists()


def test_a_manifest_cannot_read_through_a_symlink_out_of_the_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.tbl").write_text("not yours")
    backup = world.state / "runs" / run_id / "backup"
    (backup / "ntsconn/Connect/Exchconn/Evil").symlink_to(secret)
    manifest = backup / "ntsconn.manifest.json"
    data = json.loads(manifest.read_text())
    data["files"].append({"path": "Connect/Exchconn/Evil/key.tbl", "size": 9, "mtime": 0.0})
    manifest.write_text(json.dumps(data))
    before = tree_hash(world.target)
    res = _restore(capsys, world, run_id, json_mode=False)
    assert res.code == 2
    assert "outside the backup folder" in res.err
    assert tree_hash(world.target) == before


def test_a_symlink_leading_out_of_the_target_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    for table in (world.target / DXAMEX).iterdir():
        table.unlink()
    (world.target / DXAMEX).rmdir()
    (world.target / DXAMEX).symlink_to(outside)
    res = _restore(capsys, world, run_id, json_mode=False)
    assert res.code == 2
    assert "outside the target" in res.err
    assert list(outside.iterdir()) == []


def test_a_changed_backup_copy_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    copy = world.state / "runs" / run_id / "backup" / "ntsconn" / TABLES[0]
    copy.write_text("not what was backed up, and longer than it was\n")
    before = tree_hash(world.target)
    res = _restore(capsys, world, run_id, json_mode=False)
    assert res.code == 2
    assert "backup copy is missing or changed" in res.err
    assert tree_hash(world.target) == before


def test_a_backup_copy_changed_in_place_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same size, other bytes (bit rot, a stray edit): the manifest's SHA-256 catches it."""
    world, run_id = _applied(capsys, tmp_path)
    copy = world.state / "runs" / run_id / "backup" / "ntsconn" / TABLES[0]
    data = bytearray(copy.read_bytes())
    data[0] ^= 0xFF
    copy.write_bytes(bytes(data))
    before = tree_hash(world.target)
    res = _restore(capsys, world, run_id, json_mode=False)
    assert res.code == 2
    assert "the backup copy changed (its SHA-256 is not the manifest's)" in res.err
    assert tree_hash(world.target) == before


def test_a_manifest_without_hashes_is_checked_by_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Manifests written before hashes were recorded still restore."""
    world, run_id = _applied(capsys, tmp_path)
    manifest = world.state / "runs" / run_id / "backup" / "ntsconn.manifest.json"
    data = json.loads(manifest.read_text())
    for entry in data["files"]:
        del entry["sha256"]
    manifest.write_text(json.dumps(data))
    assert _restore(capsys, world, run_id).code == 0


def test_restore_waits_for_no_one_while_the_target_is_locked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    before = tree_hash(world.target)
    with filelock.FileLock(lock_path(Store(world.state), world.target)):
        res = _restore(capsys, world, run_id, json_mode=False)
    assert res.code == 4
    assert "lock" in res.err
    assert tree_hash(world.target) == before


def test_a_run_whose_folder_is_gone_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not "nothing to restore": that would hide that the backups were lost."""
    world, run_id = _applied(capsys, tmp_path)
    shutil.rmtree(Store(world.state).run_dir(run_id))
    before = tree_hash(world.target)
    res = _restore(capsys, world, run_id)
    assert res.code == 2
    message = res.json()["error"]["message"]
    assert message.startswith(f"run {run_id}: its folder ") and "is gone" in message
    assert tree_hash(world.target) == before


def test_target_gone_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world, run_id = _applied(capsys, tmp_path)
    world.target.rename(tmp_path / "moved")
    res = _restore(capsys, world, run_id)
    assert res.code == 2
    assert res.json()["error"]["code"] == "target"
    assert not world.target.exists()


def test_an_incomplete_backup_is_skipped_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    (world.state / "runs" / run_id / "backup" / "ntsconn.manifest.json").unlink()
    before = tree_hash(world.target)
    res = _restore(capsys, world, run_id, json_mode=False)
    assert res.code == 0
    assert "ntsconn" in res.err + res.out and "incomplete" in res.out
    assert tree_hash(world.target) == before
    res = _restore(capsys, world, run_id, "--only", "ntsconn")
    assert res.code == 2
    assert "incomplete" in res.json()["error"]["message"]


def test_only_selects_components(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world, run_id = _applied(capsys, tmp_path)
    res = _restore(capsys, world, run_id, "--only", "ntsconn", "--dry-run")
    assert res.code == 0
    assert {f["component"] for f in res.json()["files"]} == {"ntsconn"}
    res = _restore(capsys, world, run_id, "--only", "server")  # a step with nothing to back up
    assert (res.code, res.json()["files"]) == (0, [])
    res = _restore(capsys, world, run_id, "--only", "ovvconn")  # not installed: no step
    assert res.code == 2
    assert "not a step of run" in res.json()["error"]["message"]


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"path": "Connect/Exchconn/Dxamex/Map\x00ping.tbl", "size": 7}, "a NUL byte"),
        ({"path": "x" * 300 + "/Mapping.tbl", "size": 7}, "a name too long for the disk"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than the JSON parser recurses"),
    ],
)
def test_a_corrupt_manifest_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: object, why: str
) -> None:
    """These were internal errors (exit 70, a traceback in crash.log), not a refusal."""
    world, run_id = _applied(capsys, tmp_path)
    manifest = world.state / "runs" / run_id / "backup" / "ntsconn.manifest.json"
    if isinstance(entry, str):
        manifest.write_text(entry)
    else:
        data = json.loads(manifest.read_text())
        data["files"].append({**entry, "mtime": 0.0})  # type: ignore[dict-item]
        manifest.write_text(json.dumps(data))
    before = tree_hash(world.target)
    for dry_run in ((), ("--dry-run",)):
        res = _restore(capsys, world, run_id, *dry_run, json_mode=False)
        assert res.code == 2, (why, res.err)
        assert res.err.count("\n") == 1 and "nothing restored" in res.err, why
        assert "internal error" not in res.err
    assert tree_hash(world.target) == before


def _manifest_edited(world: World, run_id: str, edit: Any) -> Path:
    manifest = world.state / "runs" / run_id / "backup" / "ntsconn.manifest.json"
    data = json.loads(manifest.read_text())
    edit(data)
    manifest.write_text(json.dumps(data))
    return manifest


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: d.pop("files"), "not a backup manifest ($.files: missing)"),
        (
            lambda d: d["files"][1].update(size=True),  # true is no size
            "not a backup manifest ($.files[1].size: expected int, got true)",
        ),
        (
            lambda d: d["files"][0].pop("path"),
            "not a backup manifest ($.files[0].path: missing)",
        ),
        (
            lambda d: d["files"][0].update(sha256="ABC"),
            "not a backup manifest ($.files[0].sha256: is not a SHA-256 (64 lowercase hex "
            'digits): "ABC")',
        ),
        (lambda d: d.update(component="calcon"), "names component 'calcon', expected 'ntsconn'"),
    ],
)
def test_a_mistyped_manifest_names_the_place_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any, problem: str
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    manifest = _manifest_edited(world, run_id, edit)
    before = tree_hash(world.target)
    res = _restore(capsys, world, run_id)
    assert res.code == 2
    assert res.json()["error"]["message"] == f"{manifest}: {problem}; nothing restored"
    assert tree_hash(world.target) == before


def test_keys_a_manifest_reader_does_not_know_are_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A later spdeploy may add keys (additive changes only): this one still restores."""
    world, run_id = _applied(capsys, tmp_path)
    _manifest_edited(world, run_id, lambda d: d.update(taken_by="spdeploy 9", paths=None))
    assert _restore(capsys, world, run_id).code == 0


def test_a_manifest_that_is_not_json_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    manifest = world.state / "runs" / run_id / "backup" / "ntsconn.manifest.json"
    manifest.write_text('{"component": "ntsconn",\n  "files": [NaN]}')
    res = _restore(capsys, world, run_id)
    assert res.code == 2
    assert res.json()["error"]["message"] == (
        f"{manifest}: not a readable backup manifest (not valid JSON: line 2, column 13: NaN is "
        "not a number JSON allows); nothing restored"
    )


def test_a_planted_temporary_symlink_cannot_redirect_the_restore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The copy went through a symlink named like the restore's temporary file: it wrote the
    site table outside the target, then renamed the symlink over the table."""
    world, run_id = _applied(capsys, tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("not the target's\n")
    table = world.target / TABLES[1]
    (table.parent / f".{table.name}.spdeploy-restore").symlink_to(outside)
    res = _restore(capsys, world, run_id, json_mode=False)
    assert res.code == 0, res.err
    assert outside.read_text() == "not the target's\n"
    assert not table.is_symlink()
    assert b"edited by the site administrator" in table.read_bytes()
    assert not (table.parent / f".{table.name}.spdeploy-restore").exists()


def test_a_file_with_a_long_name_is_put_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 250-character name is legal; its temporary copy's name (plus a suffix) was not, so the
    restore failed half-way (exit 1) on every attempt."""
    world = build_world(tmp_path)
    long_table = world.target / DXAMEX / ("L" * 246 + ".tbl")
    long_table.write_text("site table with a long name\n")
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 0, res.err
    long_table.write_text("changed by the service pack\n")
    res = _restore(capsys, world, res.json()["run_id"])
    assert res.code == 0, res.err
    assert long_table.read_text() == "site table with a long name\n"
    assert [p.name for p in long_table.parent.iterdir() if "spdeploy" in p.name] == []


def test_restore_asks_first_and_needs_yes_without_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, run_id = _applied(capsys, tmp_path)
    before = _snapshot(world.target)
    res = _restore(capsys, world, run_id, json_mode=False, yes=False)
    assert res.code == 2
    assert "would be put back" in res.err and "--yes" in res.err and "no terminal" in res.err
    assert _snapshot(world.target) == before
    # a person at a terminal sees the files, and a no changes nothing
    args = ["--state", world.state, "restore", run_id]
    said_no = cli_pty(*args, input_text="n\n")
    assert said_no.code == 1, said_no.out
    assert f"restore {TABLES[0]} (overwrites the current file)" in said_no.out
    assert "Put back 2 file(s) in" in said_no.out  # the Dxamex tables the SP overwrote
    assert _snapshot(world.target) == before
    said_yes = cli_pty(*args, input_text="y\n")
    assert said_yes.code == 0, said_yes.out
    assert "2 file(s) put back" in said_yes.out
    assert _snapshot(world.target) != before
