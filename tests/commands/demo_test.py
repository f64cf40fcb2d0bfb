"""``spdeploy demo``: the trap, the fix, the proof, from nothing but the package."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from helpers import cli, cli_process

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
