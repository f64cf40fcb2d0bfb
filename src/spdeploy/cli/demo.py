"""``spdeploy demo``: a sandbox server and SP4 media; the trap, and the fix."""

from __future__ import annotations

from pathlib import Path

import click

from spdeploy.cliparts import (
    Given,
    global_options,
    settings_of,
)
from spdeploy.errors import BadInput


@click.command()
@click.argument(
    "directory",
    required=False,
    type=Given(
        "a folder for the sandbox, or none for a new temporary one",
        click.Path(path_type=Path, file_okay=False),
    ),
)
@click.option(
    "--media-format",
    type=click.Choice(["iso", "folder", "zip"]),
    default="iso",
    show_default=True,
    help="How the SP4 media is delivered: a CD image, a folder or a zip archive.",
)
@click.option(
    "--installers",
    type=click.Choice(["script", "exe"]),
    default=None,
    help="The stand-in installers: #!/bin/sh scripts, or real Windows executables (a launcher "
    "with a zip payload, as pip makes console scripts). Default: exe on Windows, script elsewhere.",
)
@global_options
@click.pass_context
def demo(
    ctx: click.Context,
    directory: Path | None,
    media_format: str,
    installers: str | None,
) -> int:
    """Build a sandbox Exchange 5.5 server and SP4 media in DIRECTORY; show the trap and the fix.

    DIRECTORY must be new, empty or an earlier demo's (default: a new temporary folder); the
    sandbox keeps its own history in DIRECTORY/state. Needs nothing but this package (and, for
    --installers script, a POSIX shell). Installers of a kind this system cannot run: the
    sandbox is built, then the demo stops (exit 2) before running anything.

    \b
    Example:  spdeploy demo
              spdeploy demo /tmp/sandbox --media-format zip
              spdeploy demo C:\\sandbox --installers exe

    Exit codes: 0 the demo ended compliant, 1 it did not, 2 bad input (also: installers that
    cannot run here).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.demo import holds_other_files, run_demo

    if directory is not None and holds_other_files(directory):
        raise BadInput(
            f"{directory}: not empty (expected a new or empty folder, or one an earlier "
            "`spdeploy demo` built)"
        )
    s = settings_of(ctx)
    return run_demo(directory, s.output(), media_format, installers)
