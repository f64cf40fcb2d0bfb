"""``spdeploy demo``: the trap, the fix, the proof, from nothing but the package."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from helpers import cli, cli_process, held_open, keep_media_readers

from spdeploy.sandbox.world import SP4


def test_demo_ends_compliant_at_sp4(tmp_path: Path) -> None:
    res = cli_process("demo", tmp_path / "demo")
    assert res.code == 0, res.err
    out = res.out
    # the trap: Update.exe alone leaves the connectors behind and status fails
    assert "FINDING [core-updated-components-behind]" in out
    assert "(status exit code 1)" in out
    # the fix and the proof
    assert out.rstrip().count("COMPLIANT") >= 2
    assert "(status exit code 0)" in out
    assert re.search(r"calcon:ok, ntsconn:ok, gwxconn:ok", out)
    # the default media is a CD image, read in place: no folder copy of it exists
    assert "as a CD image)" in out and "SP4CD.iso!/Eng/Server/Setup/I386/Update.exe" in out
    assert (tmp_path / "demo" / "SP4CD.iso").is_file()
    assert not (tmp_path / "demo" / "SP4CD").exists()
    # plain text on a pipe: no ANSI escapes, no box drawing
    assert "\x1b[" not in out and "━" not in out
    # every installed component is at SP4 on disk
    scan = cli_process("--json", "scan", "--target", tmp_path / "demo" / "exchsrvr")
    versions = {c["id"]: c["version"] for c in scan.json()["components"] if c["installed"]}
    assert versions == dict.fromkeys(["server", "coco", "calcon", "ntsconn", "gwxconn"], SP4)


def test_demo_json(tmp_path: Path) -> None:
    res = cli_process("--json", "demo", tmp_path / "d")
    assert res.code == 0, res.err
    data = res.json()
    assert data["trap"]["compliant"] is False and data["final"]["compliant"] is True


@pytest.mark.parametrize("media_format", ["folder", "zip"])
def test_demo_other_media_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], media_format: str
) -> None:
    res = cli(capsys, "demo", tmp_path / "d", "--media-format", media_format)
    assert res.code == 0, res.err
    media = tmp_path / "d" / ("SP4CD" if media_format == "folder" else "SP4CD.zip")
    assert f"as a {'folder' if media_format == 'folder' else 'zip archive'})" in res.out
    assert f"{media}" in res.out and not (tmp_path / "d" / "SP4CD.iso").exists()


def test_demo_closes_the_image_it_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    readers = keep_media_readers(monkeypatch)
    res = cli(capsys, "--json", "demo", tmp_path / "d")
    assert res.code == 0, res.err
    assert len(readers) >= 4  # the trap, the plan after it, the apply, the proof
    assert held_open(tmp_path / "d" / "SP4CD.iso") == []


def test_installers_that_cannot_run_here_build_the_world_then_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spdeploy.sandbox.installers import cannot_run

    kind = "script" if sys.platform == "win32" else "exe"
    res = cli(capsys, "demo", tmp_path / "d", "--installers", kind)
    assert res.code == 2
    assert res.out == ""
    assert res.err.count("\n") == 1 and f"--installers {kind}:" in res.err
    assert f"({cannot_run(kind)})" in res.err and "Traceback" not in res.err
    world = tmp_path / "d"
    assert (world / "exchsrvr/bin/Store.exe").is_file() and (world / "SP4CD.iso").is_file()
    assert (world / "exchange55-sandbox.toml").is_file()
    assert not (world / "spdeploy-sandbox-ran.txt").exists()  # nothing ran
    assert not (world / "state").exists()
    again = cli(capsys, "--json", "demo", world, "--installers", kind)  # an earlier demo's folder
    assert again.code == 2 and again.json()["error"]["code"] == "usage"


def test_installers_option_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = cli(capsys, "demo", tmp_path / "d", "--installers", "msi")
    assert res.code == 2 and "'msi' is not one of 'script', 'exe'" in res.err
    assert not (tmp_path / "d").exists()


def test_the_demo_leaves_work_to_do_and_says_how(tmp_path: Path) -> None:
    """After the demo, the reader types the four commands it prints, on an untouched copy."""
    import shlex

    from helpers import cli_pty

    res = cli_process("demo", tmp_path / "d")
    assert res.code == 0, res.err
    typed = [line for line in res.out.splitlines() if line.startswith("spdeploy ")]
    assert [shlex.split(line)[1:3] for line in typed] == [
        ["plan", "--media"],
        ["apply", "--dry-run"],
        ["apply", "--media"],
        ["status", "--media"],
    ]
    plan, dry_run, apply, status = (shlex.split(line)[1:] for line in typed)
    planned = cli_process(*plan, "--json")
    assert planned.code == 0
    assert [c["id"] for c in planned.json()["components"] if c["action"] == "update"] == [
        "server",
        "coco",  # the Connectivity Controller, brought along by the connectors (Q242250)
        "calcon",
        "ntsconn",
        "gwxconn",
    ]
    assert cli_process(*dry_run).code == 0
    assert cli_process(*status).code == 1  # not yet
    applied = cli_pty(*apply, input_text="y\n")  # at a terminal: it shows the plan and asks
    assert applied.code == 0, applied.out
    assert cli_process(*status).code == 0
    # the demo's own history is not the copy's
    assert (tmp_path / "d" / "try" / "state" / "history.sqlite3").is_file()


def test_a_demo_again_in_another_format_leaves_one_media(tmp_path: Path) -> None:
    assert cli_process("demo", tmp_path / "d").code == 0
    assert cli_process("demo", tmp_path / "d", "--media-format", "zip").code == 0
    assert (tmp_path / "d" / "SP4CD.zip").is_file()
    assert not (tmp_path / "d" / "SP4CD.iso").exists()
    history = cli_process("--state", tmp_path / "d" / "state", "--json", "history")
    assert len(history.json()["runs"]) == 1  # a fresh sandbox, not the earlier one's history
