"""Argument parsing and dispatch only: no logic, no SQL, no subprocess.

The group is here; each command's options and help are in the module of this package named in
``COMMANDS``, imported only when that command runs (or ``--help`` lists them all): making every
command's click options on each start cost ``spdeploy status`` about 3 ms of its start-up.

The one error boundary is ``run()``: expected errors print one line and exit with their code;
Ctrl-C exits 130; a bug prints a short message and leaves the traceback in the state folder.
"""

from __future__ import annotations

import itertools

import click

from spdeploy.cliparts import (
    SEEN,
    LazyGroup,
    Settings,
    global_options,
    help_command,
    require_command,
    version_flag,
)
from spdeploy.errors import BadInput, Interrupted

# command name -> "module:function" (the module under spdeploy.cli)
COMMANDS = {
    "apply": "apply:apply",
    "demo": "demo:demo",
    "history": "history:history",
    "media": "media:media",
    "plan": "plan:plan",
    "profiles": "profiles:profiles",
    "report": "report:report",
    "restore": "history:restore",
    "scan": "media:scan",
    "status": "status:status",
}


@click.group(
    cls=LazyGroup,
    lazy={name: f"{__name__}.{where}" for name, where in COMMANDS.items()},
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
)
@global_options
@version_flag
@click.pass_context
def main(ctx: click.Context) -> None:
    """Bring every component of a server product to the service-pack level, prove it, record it.

    Exchange Server 5.5's Update.exe updates the server only; each connector needs its own
    installer (KB Q242250). spdeploy finds them all on the media, runs them in order and checks.

    \b
    Try it:      spdeploy demo
    Typical:     spdeploy plan  --media D:\\ --target C:\\exchsrvr
                 spdeploy apply --media D:\\ --target C:\\exchsrvr
                 spdeploy status --media D:\\ --target C:\\exchsrvr

    Exit codes: 0 ok/compliant, 1 not compliant or a step failed, 2 bad input,
    3 at the level but a reboot is pending, 4 another apply holds the target's lock,
    70 a bug (traceback in crash.log), 130 interrupted.
    """
    ctx.ensure_object(Settings)
    require_command(ctx)


main.add_command(help_command)


def run(argv: list[str]) -> int:
    """Entry point: parse, dispatch, and turn every outcome into an exit code.

    Errors reach the user at one boundary (:mod:`spdeploy.error_handler`). Output that goes
    away (a closed pipe, ``| head``, a dropped terminal session) is switched off, and the
    command goes on to its end: a service pack is never stopped half-way because nobody is
    reading.
    """
    from spdeploy import streams
    from spdeploy.error_handler import error_handler

    json_mode = (
        "--json" in argv
        or "--format=json" in argv
        or any(pair == ("--format", "json") for pair in itertools.pairwise(argv))
    )
    SEEN["state"], SEEN["json"] = None, json_mode
    with streams.guarded(), error_handler(argv, json_mode, lambda: SEEN["state"]) as outcome:
        outcome.exit_code = _dispatch(argv)
    return outcome.exit_code


def _dispatch(argv: list[str]) -> int:
    """click's own outcomes as ours: its usage errors are bad input, its Abort is Ctrl-C."""
    try:
        code = main.main(args=argv, prog_name="spdeploy", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        raise BadInput(exc.format_message()) from None
    except click.exceptions.Abort:
        raise Interrupted("interrupted") from None
    return int(code or 0)
