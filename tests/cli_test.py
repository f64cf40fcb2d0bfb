"""The one error boundary: one line or one JSON envelope per error, stable codes, exit codes;
Ctrl-C recorded and 130; a bug is 70 with its traceback in the state folder."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import filelock
import pytest
from helpers import cli, world_args

from spdeploy.executor import lock_path
from spdeploy.sandbox.world import Behaviour, World, build_world
from spdeploy.store import Store


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path)


def _envelope(
    capsys: pytest.CaptureFixture[str], *args: str | Path
) -> tuple[int, dict[str, object]]:
    res = cli(capsys, *args)
    assert res.err == "", "with --json, errors too go to stdout as JSON"
    error = res.json()["error"]
    assert set(error) >= {"code", "message", "exit_code"} and error["exit_code"] == res.code
    assert "\n" not in str(error["message"])
    return res.code, error


def test_error_envelopes_are_pinned(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scripts branch on ``code``: these values are part of the contract."""
    nothing = tmp_path / "nothing"
    common = ["--profile", str(world.profile), "--state", str(world.state), "--json", "plan"]
    cases = {
        "usage": [*world_args(world, "plan", "--bogus")],
        "profile": ["--json", "profiles", "check", str(nothing / "p.toml")],
        "media": [*common, "--media", str(nothing), "--target", str(world.target)],
        "target": [*common, "--media", str(world.media), "--target", str(nothing)],
    }
    expected = {"usage": 2, "profile": 2, "media": 2, "target": 2}
    for code, args in cases.items():
        exit_code, error = _envelope(capsys, *args)
        assert (error["code"], exit_code) == (code, expected[code]), (code, error)
    with filelock.FileLock(lock_path(Store(world.state), world.target), timeout=0):
        exit_code, error = _envelope(capsys, *world_args(world, "apply"))
    assert (error["code"], exit_code) == ("locked", 4)


def test_a_bug_is_exit_70_with_the_traceback_in_the_state_folder(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spdeploy.commands import plan

    def broken(*_args: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(plan, "make_plan", broken)
    res = cli(capsys, *world_args(world, "status", json_mode=False))
    assert res.code == 70
    assert res.err.count("\n") == 1 and "Traceback" not in res.err
    assert "internal error: RuntimeError: simulated bug" in res.err
    crash = world.state / "crash.log"
    assert f"(traceback in {crash})" in res.err
    assert "Traceback (most recent call last)" in crash.read_text()
    assert "RuntimeError: simulated bug" in crash.read_text()
    code, error = _envelope(capsys, *world_args(world, "status"))
    assert (code, error["code"]) == (70, "internal")


def test_ctrl_c_is_recorded_and_exits_130(tmp_path: Path) -> None:
    slow = Behaviour(delay_s=30)
    world = build_world(tmp_path, media_kwargs={"behaviours": {"calcon": slow}})
    proc = subprocess.Popen(
        [sys.executable, "-m", "spdeploy", *world_args(world, "apply", json_mode=False)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while "calcon ran" not in _marker(world) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert err.strip().endswith("spdeploy: error: interrupted")
    (run,) = Store(world.state).runs()
    assert run.status == "interrupted" and run.exit_code == 130
    assert [(s.component, s.status) for s in run.steps] == [
        ("server", "ok"),
        ("calcon", "interrupted"),
    ]


def _marker(world: World) -> str:
    path = world.root / "spdeploy-sandbox-ran.txt"
    return path.read_text() if path.exists() else ""


def test_history_run_shows_one_run_in_full(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = cli(capsys, *world_args(world, "apply")).json()["run_id"]
    detail = cli(capsys, "--state", world.state, "--json", "history", "--run", run_id)
    assert detail.code == 0
    data = detail.json()
    assert data["run_id"] == run_id and data["steps"][0]["id"] == "server"
    assert data["backups"] and data["collected_logs"]
    text = cli(capsys, "--state", world.state, "history", "--run", run_id)
    assert f"spdeploy restore {run_id}" in text.out and "lmeilog.txt" in text.out
    missing = cli(capsys, "--state", world.state, "history", "--run", "nope")
    assert missing.code == 2 and "run nope not found" in missing.err
