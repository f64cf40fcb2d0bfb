"""What a person sees: a progress bar on a terminal, none on a pipe, only JSON with --json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import cli, cli_process, cli_pty, world_args

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
        r"step 3 of 4: ntsconn \(Microsoft Exchange Connector for Lotus Notes\).*0:00:0\d", res.out
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


def test_quiet_still_prints_what_a_query_command_is_for(tmp_path: Path) -> None:
    """`-q scan`, `-q history`, `-q profiles list` printed nothing at all."""
    world = build_world(tmp_path)
    state = ["--profile", str(world.profile), "--state", str(world.state), "-q"]
    assert cli_process(*world_args(world, "apply")).code == 0
    cases = {
        ("scan", "--target", str(world.target)): "5.5.2653.0",
        ("media", "--media", str(world.media), "--platform", "I386"): "Ntsconn.exe",
        ("plan", *world_args(world, "plan", json_mode=False)[5:]): "current",
        ("history",): "ntsconn:ok",
        ("profiles", "list"): "exchange55",
        ("profiles", "show", "exchange55"): "ntsconn",
    }
    for args, shown in cases.items():
        res = cli_process(*state, *args)
        assert res.code == 0 and shown in res.out, (args, res)
    status = cli_process(*state, *world_args(world, "status", json_mode=False)[4:])
    assert status.out == "COMPLIANT\n"  # status and apply: the verdict only


def test_a_path_that_is_not_utf8_never_crashes_the_output(tmp_path: Path) -> None:
    """With a strict stdout encoding (e.g. LANG=en_US.UTF-8), printing a path made of other
    bytes was a raw traceback, and so was writing that traceback to the crash log."""
    import os

    world = build_world(tmp_path / os.fsdecode(b"w\xff"))
    strict = {"PYTHONIOENCODING": "utf-8:strict", "SPDEPLOY_STATE": str(world.state)}
    res = cli_process("scan", "--target", world.target, env=strict)
    assert res.code == 0 and "Traceback" not in res.err, res
    assert "w\\udcff" in res.out  # shown as stderr shows it
    res = cli_process("--json", "scan", "--target", world.target, env=strict)
    assert res.code == 0 and json.loads(res.out)["target"] == str(world.target)


def test_a_crash_with_a_path_that_is_not_utf8_is_still_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from spdeploy.commands import scan

    def broken(*args: object) -> None:
        raise RuntimeError(f"simulated bug on {args[1]}")

    monkeypatch.setattr(scan, "scan_target", broken)
    state = tmp_path / "state"
    res = cli(capsys, "--state", state, "scan", "--target", tmp_path / os.fsdecode(b"t\xff"))
    assert res.code == 70 and res.err.count("\n") == 1, res
    assert "RuntimeError: simulated bug" in (state / "crash.log").read_text()


def test_restore_of_a_component_without_backups_names_it(tmp_path: Path) -> None:
    """It said the run "backed up no files" when only the chosen component had none."""
    world = build_world(tmp_path)
    run_id = json.loads(cli_process(*world_args(world, "apply")).out)["run_id"]
    res = cli_process("--state", world.state, "restore", run_id, "--only", "server", "--dry-run")
    assert res.code == 0 and "backed up no files:" not in res.out, res
    assert f"Run {run_id} backed up no files of server" in res.out, res.out


def test_the_plan_fits_an_80_column_terminal(tmp_path: Path) -> None:
    """Six components, one row each, at 80 columns: the reasons in a few words, versions and
    levels in their own columns; -v adds the full reasons below."""
    world = build_world(
        tmp_path,
        installed={"server": "5.5.2653.0", "calcon": "5.5.2448.0", "ntsconn": "5.5.2448.0"},
        media_kwargs={"languages": ("Ger", "Eng"), "notes_languages": ("Eng",)},
    )
    args = world_args(world, "plan", "--language", "Ger", json_mode=False)
    res = cli_pty(*args, env={"COLUMNS": "80"})
    assert res.code == 0, res.out
    lines = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", res.out).splitlines()
    rows = [line for line in lines if line.split()[:1] in (["server"], ["calcon"], ["ntsconn"],
            ["gwxconn"], ["ovvconn"], ["snaconn"])]  # fmt: skip
    assert len(rows) == 6, lines  # one line per component: nothing folded
    assert all(len(line.rstrip()) <= 80 for line in lines)
    row = {line.split()[0]: line.split() for line in rows}
    assert row["calcon"][1:6] == ["5.5.2448.0", "SP2", "5.5.2653.0", "SP4", "update"]
    assert row["ntsconn"][-2:] == ["Eng", "installer"]  # Q286559's fallback, said shortly
    verbose = cli_pty("-v", *args, env={"COLUMNS": "80"})
    assert "calcon: installed 5.5.2448.0 is older than the media's 5.5.2653.0" in verbose.out


_WRITES = re.compile(r"\bsys\.std(?:out|err)\b|\bprint\(|\bclick\.(?:echo|secho|confirm|prompt)\(")


def test_the_docstring_names_every_other_module_that_writes_to_the_terminal() -> None:
    """output.py is the door for results and errors, not the only writer: its docstring says
    which other modules write to stdout or stderr, and why."""
    import spdeploy
    from spdeploy import output

    package = Path(spdeploy.__file__).parent
    writers = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if path.name != "output.py" and _WRITES.search(path.read_text(encoding="utf-8"))
    )
    assert writers  # the pattern finds them
    doc = output.__doc__ or ""
    assert [w for w in writers if f"``{w}``" not in doc] == []
    assert "only module that prints" not in doc


def test_a_hostile_name_cannot_rewrite_the_terminal(tmp_path: Path) -> None:
    """A name on the media or the target (here the folders') is shown, never obeyed: an escape
    sequence that retitles the terminal and erases the line, a carriage return and a newline
    that forge the commands `apply --dry-run` lists before the question."""
    evil = "w\x1b]0;PWNED\x07\x1b[2K\rcalcon fine\nnext"
    world = build_world(tmp_path / evil)
    spelt = "w\\x1b]0;PWNED\\x07\\x1b[2K\\x0dcalcon fine\\x0anext"
    for run in (cli_process, cli_pty):  # a pipe, then a terminal (Rich)
        res = run(*world_args(world, "apply", "--dry-run", json_mode=False))
        assert res.code == 0, res
        out = re.sub(r"\x1b\[[0-9;]*m", "", res.out)  # Rich's own colours
        assert "PWNED\x07" not in out and "\x1b]" not in out and "\x1b[2K" not in out
        assert spelt in out.replace("\r\n", "\n").replace("\n", ""), out


def test_a_step_whose_installer_name_looks_like_markup_is_shown_as_it_is() -> None:
    """The spinner read its text as Rich markup: an installer named ``Setup[b]x.exe`` on the
    media was shown as ``Setupx.exe`` in bold (a closing tag cannot be in a file's name, or it
    would have been a MarkupError, exit 70)."""
    import io

    from spdeploy.output import Output, StepPrinter
    from spdeploy.preflight import Command

    screen = io.StringIO()
    out = Output(stream=screen)
    out.rich = True  # a terminal
    from rich.console import Console

    out._console = Console(file=screen, force_terminal=True, width=100)
    with StepPrinter(out) as printer:
        printer.step_started(Command("calcon", ("/s/Setup[b]x.exe", "/t"), False), "Calcon", 1, 1)
        printer.bytes_task("staging [b]x", 10)
    assert "Setup[b]x.exe" in screen.getvalue()
