"""``spdeploy apply``: run every needed installer in order, verify each, record each."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from spdeploy.cliparts import (
    A_FILE,
    Given,
    asker,
    global_options,
    resumable,
    saved_plan_locations,
    selection,
    selectors,
    settings_of,
    timeout_option,
)


@click.command()
@saved_plan_locations
@selectors
@timeout_option
@click.option(
    "--plan",
    "plan_file",
    type=Given(A_FILE, click.Path(path_type=Path)),
    metavar="FILE",
    help="Apply a plan saved with `plan --save FILE`; refused (exit 1) if the media or the "
    "target changed since. Profile, media, target and selectors default to the file's.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan and the exact commands; run nothing.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the last interrupted run on this target (after a crash or a reboot): "
    "re-probe, skip what is done, rerun what was cut off. With nothing to resume, a new run.",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Do not ask for confirmation. Required without a terminal on stdin (cron, a pipe, "
    "a script): there the question cannot be asked, so apply refuses (exit 2).",
)
@click.option(
    "--ignore-order",
    is_flag=True,
    help="Let --only/--skip leave out a component that another one runs after (the profile's "
    "`after`, e.g. the server before its connectors) though it is below the level; refused "
    "otherwise. Recorded in the history.",
)
@click.option(
    "--refuse-on-pending-reboot",
    is_flag=True,
    help="Refuse (exit 1, nothing run) while the system itself waits for a reboot (Windows: "
    "CBS RebootPending, Windows Update RebootRequired, PendingFileRenameOperations; Linux: "
    "/var/run/reboot-required). Without it apply warns and goes on.",
)
@click.option(
    "--args",
    "args",
    multiple=True,
    metavar='ID="SWITCHES"',
    help="Switches for one component's installer (repeatable). Never guessed.",
)
@global_options
@click.pass_context
def apply(
    ctx: click.Context,
    /,
    media: str | None,
    target: str | None,
    plan_file: Path | None,
    dry_run: bool,
    resume: bool,
    yes: bool,
    ignore_order: bool,
    refuse_on_pending_reboot: bool,
    args: tuple[str, ...],
    **kw: Any,
) -> int:
    """Run every needed installer in order, verify each, record each.

    Shows the plan and asks first (--yes skips the question; without a terminal it is
    required). Refuses before anything runs when an installed component has no installer on the
    media, when an interactive installer would run without a terminal, when --only/--skip
    leave out a prerequisite below the level (--ignore-order overrides), when an update's
    prerequisite level is not met (profile `requires`), or, with --refuse-on-pending-reboot, while
    the system itself waits for a reboot.

    \b
    Example:  spdeploy apply --media D:\\ --target C:\\exchsrvr --dry-run
              spdeploy apply --media D:\\ --target C:\\exchsrvr
              spdeploy apply --plan approved.json

    Exit codes: 0 every component at the level, 1 a step failed or apply refused (missing-on-media,
    a prerequisite level not met, a pending system reboot with --refuse-on-pending-reboot,
    SHA256SUMS mismatch, a saved plan that no longer holds, not confirmed), 2 bad input (also:
    no terminal and no --yes, an interactive installer and no terminal, a prerequisite left
    out), 3 at the level but a reboot is pending (this run's or an earlier one's: reboot, then
    apply --resume), 4 another apply holds the target's lock, 130 interrupted (the message says
    how to resume).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.apply import run_apply
    from spdeploy.executor import ApplyOptions
    from spdeploy.switches import parse_args_overrides

    for name, value in (("--media", media), ("--target", target)):
        if value is None and plan_file is None:
            raise click.UsageError(f"Missing option '{name}' (or --plan FILE, which records it).")
    s = settings_of(ctx)
    out = s.output()
    person = sys.stdin.isatty()
    options = ApplyOptions(
        timeout=kw["timeout"],
        dry_run=dry_run,
        resume=resume,
        args=parse_args_overrides(args),
        # an interactive installer on the console would write into --json's stdout
        has_terminal=person and not s.json,
        ignore_order=ignore_order,
        refuse_on_pending_reboot=refuse_on_pending_reboot,
    )
    ask = asker(
        s,
        yes,
        lambda shown, plan: shown.show("plan", plan, always=True),
        lambda plan: f"{len(plan.updates)} installer(s) would run on {plan.target}",
        lambda plan: f"Run {len(plan.updates)} installer(s) on {plan.target}?",
    )
    if plan_file is not None:
        from spdeploy.commands.apply import run_saved_plan, saved_plan_exit_code

        with out.progress() as bar, resumable(ctx, kw, args):
            result, check = run_saved_plan(
                s.profile if s.profile_given else None,
                plan_file,
                selection(media, target, kw),
                s.state_dir(),
                options,
                ask,
                bar,
            )
        out.show("saved-apply", (result, check))
        return saved_plan_exit_code(result, check)
    with out.progress() as bar, resumable(ctx, kw, args):
        sel = selection(media, target, kw)
        result = run_apply(s.profile, sel, s.state_dir(), options, ask, bar)
    out.show("apply", result)
    return result.exit_code
