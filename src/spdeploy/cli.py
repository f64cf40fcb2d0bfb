"""Argument parsing and dispatch only: no logic, no SQL, no subprocess.

The one error boundary is ``run()``: expected errors print one line and exit with their code;
Ctrl-C exits 130; a bug prints a short message and leaves the traceback in the state folder.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import click

from spdeploy.cliparts import (
    A_FILE,
    A_PROFILE,
    A_RUN,
    A_TARGET,
    SEEN,
    Given,
    Settings,
    asker,
    global_options,
    help_command,
    ids,
    media_option,
    only_skip,
    report_settings,
    require_command,
    resumable,
    saved_plan_locations,
    selection,
    selectors,
    settings_of,
    target_option,
    timeout_option,
    to_stdout,
    version_flag,
)
from spdeploy.errors import BadInput, Interrupted


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
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


@main.command()
@media_option
@selectors
@click.option(
    "--verify",
    is_flag=True,
    help="Hash every file the media's SHA256SUMS lists; exit 1 on a mismatch, a missing file "
    "or no catalog at all.",
)
@global_options
@click.pass_context
def media(ctx: click.Context, /, media: str, verify: bool, **kw: Any) -> int:
    """What the media holds: languages, platforms, each component's installer and version.

    \b
    Example:  spdeploy media --media D:\\
              spdeploy media --media SP4CD.iso --verify

    Exit codes: 0 read (and, with --verify, every file matches SHA256SUMS), 1 --verify found a
    mismatch, a missing file or no catalog, 2 bad input (media, profile, selectors).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.media import media as media_report

    s = settings_of(ctx)
    out = s.output()
    bar = out.progress()
    try:
        report = media_report(
            s.profile,
            selection(media, None, kw),
            verify=verify,
            progress=bar.staged_bytes,
            total=lambda n: bar.bytes_task("verifying", n),
        )
    finally:
        bar.staging_done()
    out.show("media", report)
    return 1 if report.verification is not None and not report.verification.passed else 0


@main.command()
@target_option
@click.option("--only", metavar="ID[,ID]", help="Only these component ids.")
@click.option("--skip", metavar="ID[,ID]", help="Leave out these component ids.")
@global_options
@click.pass_context
def scan(ctx: click.Context, target: str, only: str | None, skip: str | None) -> int:
    """Which components are installed on the target, at which version.

    \b
    Example:  spdeploy scan --target C:\\exchsrvr

    Exit codes: 0 scanned (whatever is installed), 2 bad input (target, profile, selectors).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.scan import scan_target

    s = settings_of(ctx)
    s.output().show("scan", scan_target(s.profile, target, *only_skip(only, skip)))
    return 0


@main.command()
@media_option
@target_option
@selectors
@click.option(
    "--save",
    "save_file",
    type=Given(A_FILE, click.Path(path_type=Path)),
    metavar="FILE",
    help="Also write the plan, the installers' SHA-256 fingerprints and the inventory to FILE, "
    "for `spdeploy apply --plan FILE`.",
)
@global_options
@click.pass_context
def plan(
    ctx: click.Context,
    /,
    media: str,
    target: str,
    save_file: Path | None,
    **kw: Any,
) -> int:
    """One action per component, in execution order, with the reason.

    \b
    Example:  spdeploy plan --media D:\\ --target C:\\exchsrvr
              spdeploy plan --media D:\\ --target C:\\exchsrvr --save approved.json

    Exit codes: 0 every installed component can be brought to the level, 1 the media lacks an
    installer for one (missing-on-media), 2 bad input (media, target, profile, selectors).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.plan import make_plan, plan_exit_code

    s = settings_of(ctx)
    result = make_plan(s.profile, selection(media, target, kw), save_file)
    out = s.output()
    out.show("plan", result, always=True)
    if save_file is not None:
        from spdeploy.reports.views import view_plan_saved

        view_plan_saved(out, save_file)
    return plan_exit_code(result)


@main.command()
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


@main.command()
@media_option
@target_option
@selectors
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "junit", "prometheus", "html"]),
    default="table",
    show_default=True,
    help="table (people at a console), json (scripts), junit (CI servers), prometheus "
    "(node_exporter's textfile collector), html (one self-contained page).",
)
@click.option(
    "--output",
    "output_files",
    type=Given(A_FILE, click.Path(path_type=Path, dir_okay=False)),
    metavar="FILE",
    multiple=True,
    help="Write the report to FILE (atomically: readers never see half a file) instead of "
    "stdout. Repeat it to write several formats from one probe of the target, each told by its "
    "extension: .txt table, .json, .xml JUnit, .prom Prometheus, .html.",
)
@global_options
@click.pass_context
def status(
    ctx: click.Context,
    /,
    media: str,
    target: str,
    fmt: str,
    output_files: tuple[Path, ...],
    **kw: Any,
) -> int:
    """Compliance report: exit 0 when every installed component is at the media's level.

    \b
    Example:  spdeploy status --media D:\\ --target C:\\exchsrvr
              spdeploy status --media D:\\ --target C:\\exchsrvr --output s.html

    Exit codes: 0 compliant, 1 not compliant (a component behind or missing-on-media), 2 bad
    input (media, target, profile, selectors, an --output that cannot be written), 3 compliant
    but a reboot a run on this target asked for has not happened yet.
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.status import status as make_report

    s, asked_json, explicit = report_settings(ctx, fmt)
    fmt = "json" if s.json else fmt
    if explicit and len(output_files) > 1:
        raise click.UsageError(
            "--format applies to one --output; with several, each file's extension says its format"
        )
    # --json is what stdout holds; a file's format is --format's, else its extension's
    report = make_report(
        s.profile,
        selection(media, target, kw),
        s.state_dir(),
        stdout_format=fmt,
        file_format=fmt if explicit else None,
        outputs=output_files,
    )
    to_stdout(s, "status", report.plan, fmt, bool(output_files), asked_json, report.runs)
    return report.exit_code


@main.command()
@click.option(
    "--from",
    "directory",
    required=True,
    type=Given("a folder of <host>.json results", click.Path(path_type=Path)),
    metavar="DIR",
    help="The folder of per-host results, <host>.json (the Ansible module's report_dir).",
)
@click.option(
    "--max-age",
    "max_age",
    default="7d",
    show_default=True,
    metavar="DURATION",
    help="A result older than this (30d, 12h, 90m) is stale: not compliant, whatever it says.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "html"]),
    default="table",
    show_default=True,
    help="table (one row per host), json (scripts), html (hosts x components, then each host's "
    "status report, on one self-contained page).",
)
@click.option(
    "--output",
    "output_file",
    type=Given(A_FILE, click.Path(path_type=Path, dir_okay=False)),
    metavar="FILE",
    help="Write the report to FILE (atomically: readers never see half a file) instead of "
    "stdout; its format is --format's, else its extension's: .txt table, .json, .html.",
)
@global_options
@click.pass_context
def report(
    ctx: click.Context,
    directory: Path,
    max_age: str,
    fmt: str,
    output_file: Path | None,
) -> int:
    """Fleet report: every host's result in DIR, worst first.

    \b
    Example:  spdeploy report --from results/
              spdeploy report --from results/ --max-age 24h --output fleet.html

    Exit codes: 0 every host at the media's level with no error and a recent result (a pending
    reboot is shown, not failed), 1 otherwise (an unreadable result file is that host's error,
    an old one is stale), 2 bad input (DIR missing or without <host>.json files, a bad
    --max-age or --output).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.report import report as make_report

    s, asked_json, explicit = report_settings(ctx, fmt)
    file_format = fmt if explicit else None
    hosts = make_report(directory, max_age=max_age, output=output_file, file_format=file_format)
    fmt = "json" if s.json else fmt
    to_stdout(s, "fleet", hosts, fmt, output_file is not None, asked_json)
    return hosts.exit_code


@main.command()
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


@main.command()
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


@main.group(invoke_without_command=True)
@click.pass_context
def profiles(ctx: click.Context) -> None:
    """Built-in profiles; show one; validate a profile file."""
    require_command(ctx)


@profiles.command("list")
@global_options
@click.pass_context
def profiles_list(ctx: click.Context) -> int:
    """The built-in profiles.

    \b
    Example:  spdeploy profiles list

    Exit codes: 0 listed, 2 bad input.
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.profiles import list_profiles

    settings_of(ctx).output().show("profiles", list_profiles())
    return 0


@profiles.command("show")
@click.argument("name", type=Given(A_PROFILE))
@global_options
@click.pass_context
def profiles_show(ctx: click.Context, name: str) -> int:
    """A profile's components in execution order (NAME or FILE).

    \b
    Example:  spdeploy profiles show exchange55
              spdeploy profiles show site.toml

    Exit codes: 0 shown, 2 bad input (no such profile, or an invalid one).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.profiles import show

    settings_of(ctx).output().show("profile", show(name))
    return 0


@profiles.command("check")
@click.argument("file", type=Given("a profile TOML file"))
@global_options
@click.pass_context
def profiles_check(ctx: click.Context, file: str) -> int:
    """Validate a profile file; errors name the file, the component and the key.

    \b
    Example:  spdeploy profiles check site.toml

    Exit codes: 0 valid, 2 bad input: invalid or unreadable (the message names the file, the
    component and the key).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.profiles import check

    settings_of(ctx).output().show("profile", check(file), checked=True)
    return 0


@main.command()
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
