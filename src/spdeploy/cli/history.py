"""``spdeploy history`` and ``spdeploy restore``: past runs, and putting back what one backed up."""

from __future__ import annotations

import click

from spdeploy.cliparts import (
    A_RUN,
    A_TARGET,
    Given,
    asker,
    global_options,
    ids,
    settings_of,
)


@click.command()
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Most recent N runs."
)
@click.option("--target", metavar="T", type=Given(A_TARGET), help="Only runs on this target.")
@click.option(
    "--run",
    "run_id",
    metavar="RUN_ID",
    type=Given(A_RUN),
    help="One run in full: each step's message and log, the collected setup logs, the backups.",
)
@global_options
@click.pass_context
def history(ctx: click.Context, limit: int, target: str | None, run_id: str | None) -> int:
    """Past runs and their steps, newest first (from the --state folder).

    \b
    Example:  spdeploy history --target C:\\exchsrvr --limit 5
              spdeploy history --run 20261125T170847-2d7c

    Exit codes: 0 listed (none recorded is not an error), 2 bad input (an unknown --run).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.history import history as read_history

    s = settings_of(ctx)
    runs = read_history(s.state_dir(), target=target, limit=limit, run_id=run_id)
    if run_id is not None:
        s.output().show("run", runs[0])
    else:
        s.output().show("history", runs)
    return 0


@click.command()
@click.argument("run_id", metavar="RUN_ID", type=Given(A_RUN))
@click.option("--dry-run", is_flag=True, help="List what would be put back; change nothing.")
@click.option("--only", metavar="ID[,ID]", help="Only these component ids.")
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Do not ask for confirmation. Required without a terminal on stdin.",
)
@global_options
@click.pass_context
def restore(
    ctx: click.Context,
    run_id: str,
    dry_run: bool,
    only: str | None,
    yes: bool,
) -> int:
    """Put back the files run RUN_ID backed up before its installers ran (profile `backup`).

    Shows what it will put back and asks first (--yes skips the question; without a terminal
    it is required). Each current file about to be overwritten is first saved in the run's
    folder (restore-<time>/); nothing is ever deleted. Takes the target's lock, as apply does.

    \b
    Example:  spdeploy restore 20261125T170847-2d7c --dry-run
              spdeploy restore 20261125T170847-2d7c --only ntsconn

    Exit codes: 0 put back (or nothing to), 1 a file could not be put back or not confirmed, 2
    bad input (an unknown run, a backup that no longer matches its manifest, no terminal and
    no --yes), 4 an apply holds the lock.
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.restore import restore as run_restore
    from spdeploy.store import Store

    s = settings_of(ctx)
    chosen = ids(only, "--only")
    ask = asker(
        s,
        yes,
        lambda shown, preview: shown.show("restore", preview, only=chosen, asking=True),
        lambda preview: f"{len(preview.changed)} file(s) would be put back in {preview.target}",
        lambda preview: f"Put back {len(preview.changed)} file(s) in {preview.target}?",
    )
    report = run_restore(Store(s.state_dir()), run_id, dry_run, chosen, ask)
    s.output().show("restore", report, only=chosen)
    return 0
