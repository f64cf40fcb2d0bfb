"""``spdeploy demo``: the trap, the fix, the proof, from nothing but the package."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import cli_process

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
    # plain text on a pipe: no ANSI escapes, no box drawing
    assert "\x1b[" not in out and "━" not in out
    # every installed component is at SP4 on disk
    scan = cli_process("--json", "scan", "--target", tmp_path / "demo" / "exchsrvr")
    versions = {c["id"]: c["version"] for c in scan.json()["components"] if c["installed"]}
    assert versions == dict.fromkeys(["server", "calcon", "ntsconn", "gwxconn"], SP4)


def test_demo_json(tmp_path: Path) -> None:
    res = cli_process("--json", "demo", tmp_path / "d")
    assert res.code == 0, res.err
    data = res.json()
    assert data["trap"]["compliant"] is False and data["final"]["compliant"] is True
