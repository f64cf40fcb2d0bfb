"""The one error boundary: one line or one JSON envelope per error, stable codes, exit codes;
Ctrl-C recorded and 130; a bug is 70 with its traceback in the state folder."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import filelock
import pytest
from helpers import cli, cli_spawn, held_open, keep_media_readers, world_args

from spdeploy import cli as spdeploy_cli
from spdeploy.locking import lock_path
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


def test_a_bug_while_reporting_an_error_still_leaves_a_crash_log(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error reporter itself fails (as a closed stderr once made it): still exit 70, a
    crash log, and a plain line, never a traceback."""
    from spdeploy.output import Output

    def broken(*_args: object) -> None:
        raise RuntimeError("reporter broke")

    monkeypatch.setattr(Output, "error", broken)
    res = cli(capsys, *world_args(world, "status", "--only", "nosuch", json_mode=False))
    assert res.code == 70
    assert res.err.startswith("spdeploy: error: internal error: RuntimeError: reporter broke")
    assert "Traceback" not in res.err
    assert "RuntimeError: reporter broke" in (world.state / "crash.log").read_text()


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_is_recorded_and_exits_130(tmp_path: Path, sent: signal.Signals) -> None:
    """SIGTERM (systemd, Ansible's timeout, `timeout`) as Ctrl-C: it was a silent exit 143 that
    left the run "running" in the history and no command to resume it."""
    slow = Behaviour(delay_s=30)
    world = build_world(tmp_path, media_kwargs={"behaviours": {"calcon": slow}})
    proc = cli_spawn(*world_args(world, "apply", json_mode=False))
    deadline = time.monotonic() + 30
    while "calcon ran" not in _marker(world) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # calcon has worked a while: the history must say how long
    proc.send_signal(sent)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    (run,) = Store(world.state).runs()
    assert run.status == "interrupted" and run.exit_code == 130
    assert [(s.component, s.status) for s in run.steps] == [
        ("server", "ok"),
        ("calcon", "interrupted"),
    ]
    # the message names the run and the exact command that continues it
    (line,) = err.strip().splitlines()
    assert line.startswith(f"spdeploy: error: interrupted: run {run.id} stopped"), line
    words = shlex.split(line.split("continue it with: ", 1)[1])
    assert words == [
        "spdeploy",
        "--profile",
        str(world.profile),
        "--state",
        str(world.state),
        "apply",
        "--resume",
        "--media",
        str(world.media),
        "--target",
        str(world.target),
        "--platform",
        "I386",
    ]
    # the history says it plainly, and how long the cut-off step had run
    assert run.message.startswith("interrupted by Ctrl-C"), run.message
    assert "KeyboardInterrupt" not in run.message
    assert run.steps[1].duration_s >= 0.4


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


def _one_line_usage_error(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    """Exit 2, one line on stderr, nothing on stdout, and the same as a JSON ``usage`` envelope."""
    res = cli(capsys, *args)
    assert (res.code, res.out) == (2, ""), res
    assert res.err.count("\n") == 1 and "Traceback" not in res.err, res.err
    code, error = _envelope(capsys, "--json", *args)
    assert (code, error["code"]) == (2, "usage"), error
    return res.err


def test_an_empty_path_or_id_is_bad_input_naming_the_option(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--target ""` was the current folder: `status` called it COMPLIANT (exit 0), and
    `demo ""` built its sandbox there."""
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    state = ["--state", str(world.state)]
    located = ["--media", str(world.media), "--target", str(world.target), "--platform", "I386"]
    cases = {
        "--target": [*state, "status", "--media", str(world.media), "--target", ""],
        "--media": [*state, "plan", "--media", "", "--target", str(world.target)],
        "--state": ["--state", "", "history"],
        "--profile": ["--profile", "", *state, "scan", "--target", str(world.target)],
        "--save": [*state, "plan", *located, "--save", ""],
        "--plan": [*state, "apply", "--plan", ""],
        "--output": [*state, "status", *located, "--output", ""],
        "--from": [*state, "report", "--from", ""],
        "--run": [*state, "history", "--run", ""],
        "RUN_ID": [*state, "restore", ""],
        "NAME": [*state, "profiles", "show", ""],
        "FILE": [*state, "profiles", "check", ""],
        "DIRECTORY": [*state, "demo", ""],
    }
    for name, args in cases.items():
        err = _one_line_usage_error(capsys, *args)
        assert (f"'{name}'" in err or f"'[{name}]'" in err) and "empty" in err, (name, err)
    assert not any(here.iterdir())


def test_a_state_folder_that_is_a_file_is_bad_input(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`history` said "No runs recorded." (exit 0) and `apply` was an internal error (exit 70)."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    for args in (["history"], world_args(world, "apply", json_mode=False)[4:]):
        err = _one_line_usage_error(capsys, "--profile", world.profile, "--state", afile, *args)
        assert "'--state'" in err and str(afile) in err, err


def test_demo_refuses_a_file_or_a_folder_it_did_not_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`demo FILE` was exit 70; `demo DIR` wrote its fake server into whatever DIR held."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    err = _one_line_usage_error(capsys, "--state", tmp_path / "s", "demo", afile)
    assert "'[DIRECTORY]'" in err and "is a file" in err, err
    busy = tmp_path / "busy"
    (busy / "exchsrvr" / "bin").mkdir(parents=True)
    (busy / "exchsrvr" / "bin" / "Store.exe").write_text("the real one")
    err = _one_line_usage_error(capsys, "--state", tmp_path / "s", "demo", busy)
    assert str(busy) in err and "not empty" in err, err
    assert (busy / "exchsrvr" / "bin" / "Store.exe").read_text() == "the real one"
    again = tmp_path / "again"
    assert cli(capsys, "--state", tmp_path / "s", "-q", "demo", again).code == 0
    assert cli(capsys, "--state", tmp_path / "s", "-q", "demo", again).code == 0  # its own: fine


def test_version_is_json_under_json(capsys: pytest.CaptureFixture[str]) -> None:
    from spdeploy import __version__

    assert cli(capsys, "--version").out == f"spdeploy, version {__version__}\n"
    for argv in (["--json", "--version"], ["--version", "--json"]):
        res = cli(capsys, *argv)
        assert res.code == 0 and res.json() == {"version": __version__}


def test_a_missing_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The whole help used to be squeezed into one error line, its line breaks as "\\n"."""
    err = _one_line_usage_error(capsys)
    assert "missing command" in err and "status" in err and "\\n" not in err, err
    err = _one_line_usage_error(capsys, "profiles")
    assert "missing command" in err and "check, list, show" in err and "\\n" not in err, err


def test_only_and_skip_that_leave_nothing_are_bad_input(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status --only server --skip server` checked nothing and said COMPLIANT (exit 0);
    `--only ,` checked everything."""
    both = _one_line_usage_error(
        capsys,
        *world_args(world, "status", "--only", "server", "--skip", "server", json_mode=False),
    )
    assert "'--only'" in both and "'--skip'" in both and "server" in both, both
    empty = _one_line_usage_error(
        capsys, *world_args(world, "plan", "--only", " , ", json_mode=False)
    )
    assert "'--only'" in empty and "component id" in empty, empty


def test_every_command_help_has_an_example_and_its_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = [
        ["demo"],
        ["media"],
        ["scan"],
        ["plan"],
        ["apply"],
        ["status"],
        ["history"],
        ["restore"],
        ["report"],
        ["profiles", "list"],
        ["profiles", "show"],
        ["profiles", "check"],
    ]
    for command in commands:
        res = cli(capsys, *command, "--help")
        assert res.code == 0, res
        text = " ".join(res.out.split())
        assert f"spdeploy {' '.join(command)} " in text.split("Options:")[0], (command, res.out)
        assert "Exit codes: 0" in text and "2 bad input" in text, (command, res.out)


def test_json_does_not_choose_the_format_of_output_files(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--json status --output s.prom` wrote JSON into the node_exporter textfile."""
    prom, html = tmp_path / "s.prom", tmp_path / "s.html"
    res = cli(capsys, *world_args(world, "status", "--output", prom))
    assert res.code == 1 and res.err == ""
    assert prom.read_text().startswith("# HELP spdeploy_compliant")
    assert res.json()["compliant"] is False  # and stdout still holds the JSON --json asked for
    res = cli(capsys, *world_args(world, "status", "--output", prom, json_mode=False))
    assert res.code == 1 and res.out == ""  # without --json the report goes to the file only
    res = cli(capsys, *world_args(world, "status", "--output", prom, "--output", html))
    assert res.code == 1 and html.read_text().startswith("<!DOCTYPE html>")
    code, error = _envelope(
        capsys, *world_args(world, "status", "--output", prom, "--output", tmp_path / "s.bin")
    )
    assert (code, error["code"]) == (2, "usage") and "s.bin" in str(error["message"])


@pytest.mark.skipif(sys.platform == "win32", reason="these paths may exist on Windows")
@pytest.mark.parametrize(
    ("option", "path", "what"),
    [
        ("--media", r"\\server\share\SP4", "media not found"),
        ("--media", "D:\\", "media not found"),
        ("--target", r"C:\exchsrvr", "target not found"),
        ("--target", r"\\server\share\exchsrvr", "target not found"),
    ],
)
def test_windows_paths_that_are_not_here_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, path: str, what: str
) -> None:
    world = build_world(tmp_path)
    given = {"--media": str(world.media), "--target": str(world.target), option: path}
    res = cli(capsys, "plan", "--media", given["--media"], "--target", given["--target"])
    assert res.code == 2
    # off Windows these are relative names (the target is shown made absolute)
    assert res.err.startswith("spdeploy: error: ") and f"{path}: {what} (expected " in res.err
    assert res.err.count("\n") == 1


def _unc(path: Path) -> Path:
    """``C:\\x`` as the administrative share ``\\\\localhost\\C$\\x``."""
    drive, rest = str(path).split(":", 1)
    return Path(f"\\\\localhost\\{drive}${rest}")


@pytest.mark.skipif(sys.platform != "win32", reason="UNC paths are Windows paths")
def test_unc_media_and_target_on_windows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    media, target = _unc(world.media), _unc(world.target)
    if not target.is_dir():
        pytest.skip(f"the administrative share {target} cannot be reached here")
    res = cli(
        capsys,
        *("--profile", world.profile, "--state", world.state, "--json", "plan"),
        *("--media", media, "--target", target, "--platform", "I386"),
    )
    assert res.code == 0, res.err
    assert res.json()["media"] == str(media)
    actions = {c["id"]: c["action"] for c in res.json()["components"]}
    assert actions["server"] == "update"


def test_global_options_after_the_command(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """As people type them: ``spdeploy status --media M --target T --profile P --state S``."""
    where = ["--media", world.media, "--target", world.target, "--platform", "I386"]
    after = [*where, "--profile", world.profile, "--state", world.state]
    res = cli(capsys, "apply", *after, "--yes", "-q", "--json")
    assert res.code == 0, res.err
    run_id = res.json()["run_id"]
    res = cli(capsys, "status", *after, "-v")
    assert res.code == 0 and "COMPLIANT" in res.out
    res = cli(capsys, "history", "--state", world.state, "--json")
    assert [r["run_id"] for r in res.json()["runs"]] == [run_id]
    # before the command, as ever; the same answer
    assert cli(capsys, "--state", world.state, "--json", "history").json() == res.json()


COMMANDS = [
    ["media"],
    ["scan"],
    ["plan"],
    ["apply"],
    ["status"],
    ["report"],
    ["history"],
    ["restore"],
    ["demo"],
    ["profiles", "list"],
    ["profiles", "show"],
    ["profiles", "check"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_help_lists_the_global_options_and_every_exit_code(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    res = cli(capsys, *command, "--help")
    assert res.code == 0
    for option in ("--profile NAME|FILE", "--state DIR", "--json", "-q, --quiet", "-v, --verbose"):
        assert option in res.out, option
    text = " ".join(res.out.split())
    assert "Exit codes: 0" in text and "70 a bug" in text and "130 interrupted" in text
    # `spdeploy help COMMAND` is the same page
    assert cli(capsys, "help", *command).out == res.out
    # --timeout only where an installer can run
    assert ("--timeout" in res.out) == (command == ["apply"])


def test_help_of_an_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    res = cli(capsys, "help", "aply")
    assert res.code == 2 and "no such command: aply" in res.err and "apply" in res.err


def test_a_mistyped_command_gets_the_closest_name() -> None:
    # a fresh process: the commands are imported only when named, and the suggestion must still
    # know all of them, not only those made so far
    for typed, meant in (("statu", "status"), ("aply", "apply"), ("restor", "restore")):
        done = subprocess.run(
            [sys.executable, "-m", "spdeploy", typed], capture_output=True, text=True, check=False
        )
        assert done.returncode == 2 and f"No such command {typed!r}." in done.stderr
        assert "Did you mean" in done.stderr and repr(meant) in done.stderr


def test_an_option_after_double_dash_is_one_line_of_bad_input() -> None:
    # click parses an option-like name again, emptying the arguments the group looks at: this
    # was an internal error (exit 70, IndexError) once commands were imported when named
    for words, said in ((["--", "-x"], "No such option '-x'"), (["--", "-q"], "No such command")):
        done = subprocess.run(
            [sys.executable, "-m", "spdeploy", *words], capture_output=True, text=True, check=False
        )
        assert done.returncode == 2 and said in done.stderr
        assert len(done.stderr.splitlines()) == 1


def test_without_clicks_own_suggestions_the_closest_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # click before 8.4 has no NoSuchCommand and suggested nothing: the group still does
    monkeypatch.delattr(click.exceptions, "NoSuchCommand", raising=False)
    res = cli(capsys, "statu")
    assert res.code == 2 and "No such command 'statu'. Did you mean 'status'?" in res.err


def test_every_command_is_listed_and_made_when_named(capsys: pytest.CaptureFixture[str]) -> None:
    listed = cli(capsys, "--help").out.split("Commands:", 1)[1]
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    assert names == sorted([*spdeploy_cli.COMMANDS, "help"])
    for name in spdeploy_cli.COMMANDS:
        command = spdeploy_cli.main.get_command(click.Context(spdeploy_cli.main), name)
        assert command is not None and command.name == name


@pytest.mark.parametrize("media_format", ["iso", "zip"])
@pytest.mark.parametrize(
    "command",
    [
        ["plan"],
        ["plan", "--save", "{tmp}/saved.json"],
        ["status"],
        ["status", "--output", "{tmp}/status.html"],
        ["media", "--verify"],
        ["apply", "--dry-run"],
        ["apply"],
        ["apply", "--plan", "{tmp}/saved.json"],
    ],
    ids=" ".join,
)
def test_the_cli_closes_the_media_it_opens(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    media_format: str,
    command: list[str],
) -> None:
    """No image or archive stays open once a command is done: a long-lived caller, or Windows,
    which cannot delete or replace a file held open, would see it."""
    world = build_world(tmp_path / "w", media_format=media_format)
    name, *extra = (word.format(tmp=tmp_path) for word in command)
    if "--plan" in extra:
        assert cli(capsys, *world_args(world, "plan", "--save", tmp_path / "saved.json")).code == 0
    readers = keep_media_readers(monkeypatch)
    args = world_args(world, name, *extra)
    if name == "media":
        args.remove("--target")
        args.remove(str(world.target))
    res = cli(capsys, *args)
    assert res.code in (0, 1), res.err
    assert readers
    assert held_open(world.media) == [], f"spdeploy {' '.join(command)} left the media open"
