"""What a person sees: a progress bar on a terminal, none on a pipe, only JSON with --json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import cli_process, cli_pty, world_args

from spdeploy.sandbox.world import Behaviour, build_world


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


def test_steps_show_a_spinner_with_elapsed_time_on_a_terminal(tmp_path: Path) -> None:
    slow = {c: Behaviour(delay_s=0.3) for c in ("server", "calcon", "ntsconn", "gwxconn")}
    world = build_world(tmp_path, media_kwargs={"behaviours": slow})
    res = cli_pty(*world_args(world, "apply", "--yes", json_mode=False))
    assert res.code == 0, res.out
    assert re.search(
        r"running ntsconn \(Microsoft Exchange Connector for Lotus Notes\).*0:00:0\d", res.out
    )


def test_no_color_is_honoured(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    coloured = cli_pty(*world_args(world, "status", json_mode=False))
    plain = cli_pty(*world_args(world, "status", json_mode=False), env={"NO_COLOR": "1"})
    assert coloured.code == plain.code == 1
    sgr = re.compile(r"\x1b\[[0-9;]*m")  # colour and style escapes
    assert sgr.search(coloured.out)
    assert not [
        m
        for m in sgr.findall(plain.out)
        if m not in ("\x1b[0m", "\x1b[1m", "\x1b[3m", "\x1b[2m", "\x1b[22m", "\x1b[23m")
    ]


def test_quiet_prints_only_the_verdict_and_errors(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    quiet = cli_process("-q", *world_args(world, "apply", json_mode=False))
    loud = cli_process(*world_args(world, "status", json_mode=False))
    assert quiet.code == 0 and loud.code == 0
    assert len(quiet.out.splitlines()) < len(loud.out.splitlines())
    assert "running" not in quiet.out
