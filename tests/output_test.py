"""What a person sees: a progress bar on a terminal, none on a pipe, only JSON with --json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import cli_process, cli_pty, world_args

from spdeploy.sandbox.world import build_world


def test_staging_shows_a_byte_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    world = build_world(tmp_path, media_format="iso")
    res = cli_pty(*world_args(world, "apply", "--yes", json_mode=False))
    assert res.code == 0, res.out
    for component in ("server", "calcon", "ntsconn", "gwxconn"):
        # "staging ntsconn ━━━━ 2.8/2.8 kB": a bar in bytes, one per staged installer folder
        assert re.search(rf"staging {component}\s.*\d/\d+\.\d kB", res.out), res.out
    assert "\x1b[" in res.out  # drawn with terminal escapes


def test_no_progress_bar_on_a_pipe(tmp_path: Path) -> None:
    world = build_world(tmp_path, media_format="iso")
    res = cli_process(*world_args(world, "apply", json_mode=False))
    assert res.code == 0, res.err
    assert "staging" not in res.out + res.err and "\x1b[" not in res.out + res.err
    assert "COMPLIANT" in res.out


def test_json_on_a_terminal_is_only_json(tmp_path: Path) -> None:
    world = build_world(tmp_path, media_format="iso")
    res = cli_pty(*world_args(world, "apply"))
    assert res.code == 0, res.out
    assert "staging" not in res.out and "\x1b[" not in res.out
    assert json.loads(res.out)["compliant"] is True
