"""Argument parsing and dispatch only: no logic, no SQL, no subprocess.

The one error boundary is ``run()``: expected errors print one line and exit with their code;
Ctrl-C exits 130; a bug prints a short message and leaves the traceback in the state folder.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from spdeploy import __version__
from spdeploy.errors import (
    BadInput,
    Interrupted,
    NeedsTerminal,
    RunInterrupted,
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    """The global options, given before the command or after it (SPEC §4)."""

    profile: str
    state: Path | None
    json: bool
    quiet: bool
    verbose: bool
    profile_given: bool = False  # --profile was typed (apply --plan takes the file's otherwise)

    def state_dir(self) -> Path:
        from spdeploy.fsutil import default_state_dir

        return self.state or default_state_dir()

    def output(self) -> Any:
        from spdeploy.output import Output

        return Output(json_mode=self.json, quiet=self.quiet, verbose=self.verbose)


def _settings(ctx: click.Context, json_flag: bool) -> Settings:
    settings: Settings = ctx.find_object(Settings)  # type: ignore[assignment]
    if json_flag:
        settings.json = True
    return settings


def _report_settings(ctx: click.Context, json_flag: bool, fmt: str) -> tuple[Settings, bool, bool]:
    """status and report: (settings, whether --json itself was given, not only --format json,
    whether --format was given on the command line rather than left at its default)."""
    asked_json = json_flag or _settings(ctx, False).json
    s = _settings(ctx, json_flag or fmt == "json")
    if s.json and fmt not in ("table", "json"):
        raise click.UsageError(f"--json and --format {fmt} ask for two different outputs")
    explicit = ctx.get_parameter_source("fmt") == click.core.ParameterSource.COMMANDLINE
    return s, asked_json, explicit


class _Given(click.ParamType[Any]):
    """``inner``, but an empty value is bad input: ``--target ""`` would be the current folder."""

    def __init__(self, expected: str, inner: click.ParamType[Any] = click.STRING) -> None:
        self.expected = expected
        self.inner = inner
        self.name = inner.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "":
            self.fail(f"empty (expected {self.expected})", param, ctx)
        return self.inner.convert(value, param, ctx)


_A_FILE = "a file name"
_A_FOLDER = "a folder for the history"
_A_PROFILE = "a built-in profile name or a profile TOML file"
_A_RUN = "a run id from `spdeploy history`"
_A_TARGET = "the product's install folder"


def _set_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option given after the command's name: it sets what the group's would."""
    if value is None or value is False or ctx.resilient_parsing:
        return
    settings = ctx.find_object(Settings)
    if settings is None:  # `spdeploy help` builds contexts of its own
        return
    name = param.name or ""
    setattr(settings, name, value)
    if name == "profile":
        settings.profile_given = True
    if name == "state":
        _SEEN["state"] = value  # for the crash log


_PROFILE_HELP = "Built-in profile name or a profile TOML file (default: exchange55)."
_STATE_HELP = "History folder (default: $SPDEPLOY_STATE or the user data folder)."


def global_options(f: F) -> F:
    """``--profile``, ``--state``, ``--json``, ``-q``, ``-v`` on a command too, so they may
    follow its name as people type them (``spdeploy status ... --state S``)."""
    for opt in reversed(
        [
            click.option(
                "--profile",
                type=_Given(_A_PROFILE),
                metavar="NAME|FILE",
                expose_value=False,
                callback=_set_global,
                help=_PROFILE_HELP,
            ),
            click.option(
                "--state",
                type=_Given(_A_FOLDER, click.Path(path_type=Path, file_okay=False)),
                metavar="DIR",
                expose_value=False,
                callback=_set_global,
                help=_STATE_HELP,
            ),
            click.option(
                "--json", "json_flag", is_flag=True, help="Machine output on stdout, nothing else."
            ),
            click.option(
                "-q",
                "--quiet",
                is_flag=True,
                expose_value=False,
                callback=_set_global,
                help="Only results and errors.",
            ),
            click.option(
                "-v",
                "--verbose",
                is_flag=True,
                expose_value=False,
                callback=_set_global,
                help="Say more about each step.",
            ),
        ]
    ):
        f = opt(f)
    return f


def selectors(f: F) -> F:
    for opt in reversed(
        [
            click.option("--language", help="Language folder on the media (e.g. Eng)."),
            click.option("--platform", help="I386 or Alpha (default: this machine's)."),
            click.option("--only", metavar="ID[,ID]", help="Only these component ids."),
            click.option("--skip", metavar="ID[,ID]", help="Leave out these component ids."),
        ]
    ):
        f = opt(f)
    return f


def timeout_option(f: F) -> F:
    """Only where an installer can run."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=3600.0,
        show_default=True,
        help="Seconds per installer before its process tree is killed.",
    )(f)


def media_option(f: F, required: bool = True) -> F:
    return click.option(
        "--media",
        "media",
        required=required,
        metavar="M",
        type=_Given("the service pack: a folder, an ISO 9660 image or a zip archive"),
        help="The service pack: a folder, an ISO 9660 image or a zip archive (told apart by "
        "content, read in place)." + ("" if required else " Default: the one --plan FILE saw."),
    )(f)


def target_option(f: F, required: bool = True) -> F:
    return click.option(
        "--target",
        "target",
        required=required,
        metavar="T",
        type=_Given(_A_TARGET),
        help="The installed product's root folder (e.g. C:\\exchsrvr)."
        + ("" if required else " Default: the one --plan FILE saw."),
    )(f)


def saved_plan_locations(f: F) -> F:
    """``apply``'s --media and --target: optional, since ``--plan FILE`` records both."""
    return media_option(target_option(f, required=False), required=False)


def _ids(text: str | None, option: str) -> tuple[str, ...]:
    """The ids of a comma list; a list given with none in it (``--only ,``) is bad input, not
    "every component"."""
    if text is None:
        return ()
    ids = tuple(p.strip() for p in text.split(",") if p.strip())
    if not ids:
        raise click.BadParameter(
            f"no component id in {text!r} (expected ID[,ID])", param_hint=f"'{option}'"
        )
    return ids


def _only_skip(only: str | None, skip: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    chosen, left_out = _ids(only, "--only"), _ids(skip, "--skip")
    both = [cid for cid in chosen if cid in left_out]
    if both:
        raise click.UsageError(
            f"'--only' and '--skip' both name {', '.join(both)}; name each component in one of them"
        )
    return chosen, left_out


def _selection(media: str | None, target: str | None, kw: dict[str, Any]) -> Any:
    from spdeploy.session import Selection

    only, skip = _only_skip(kw.get("only"), kw.get("skip"))
    return Selection(media, target, kw.get("language"), kw.get("platform"), only, skip)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.option(
    "--profile",
    type=_Given(_A_PROFILE),
    default="exchange55",
    show_default=True,
    metavar="NAME|FILE",
    help=_PROFILE_HELP,
)
@click.option(
    "--state",
    type=_Given(_A_FOLDER, click.Path(path_type=Path, file_okay=False)),
    metavar="DIR",
    help=_STATE_HELP,
)
@click.option("--json", "json_flag", is_flag=True, help="Machine output on stdout, nothing else.")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Say more about each step.")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _version(ctx, value),  # eager: before --json is read
    help="Show the version and exit.",
)
@click.pass_context
def main(
    ctx: click.Context,
    profile: str,
    state: Path | None,
    json_flag: bool,
    quiet: bool,
    verbose: bool,
) -> None:
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
    given = ctx.get_parameter_source("profile") != click.core.ParameterSource.DEFAULT
    ctx.obj = Settings(profile, state, json_flag, quiet, verbose, profile_given=given)
    _SEEN["state"] = state  # for the crash log, written after click has unwound
    _require_command(ctx)


def _version(ctx: click.Context, value: bool) -> None:
    """--version, as JSON under --json (given before or after it: this option is eager)."""
    if not value or ctx.resilient_parsing:
        return
    if _SEEN["json"]:
        import json

        click.echo(json.dumps({"version": __version__}))
    else:
        click.echo(f"spdeploy, version {__version__}")
    ctx.exit(0)


def _require_command(ctx: click.Context) -> None:
    """One line naming the commands, the same with every click version (8.2 made the whole help
    an error message; 8.1 printed it and exited 0)."""
    if ctx.invoked_subcommand is None:
        group: Any = ctx.command
        names = ", ".join(group.list_commands(ctx))
        raise click.UsageError(
            f"missing command: expected one of {names} (`{ctx.command_path} --help` says more)"
        )


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
def media(ctx: click.Context, /, media: str, verify: bool, json_flag: bool, **kw: Any) -> int:
    """What the media holds: languages, platforms, each component's installer and version.

    \b
    Example:  spdeploy media --media D:\\
              spdeploy media --media SP4CD.iso --verify

    Exit codes: 0 read (and, with --verify, every file matches SHA256SUMS), 1 --verify found a
    mismatch, a missing file or no catalog, 2 bad input (media, profile, selectors).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.media import media as media_report

    s = _settings(ctx, json_flag)
    out = s.output()
    bar = out.progress()
    try:
        report = media_report(
            s.profile,
            _selection(media, None, kw),
            verify=verify,
            progress=bar.staged_bytes,
            total=lambda n: bar.bytes_task("verifying", n),
        )
    finally:
        bar.staging_done()
    out.media(report)
    return 1 if report.verification is not None and not report.verification.passed else 0


@main.command()
@target_option
@click.option("--only", metavar="ID[,ID]", help="Only these component ids.")
@click.option("--skip", metavar="ID[,ID]", help="Leave out these component ids.")
@global_options
@click.pass_context
def scan(
    ctx: click.Context, target: str, only: str | None, skip: str | None, json_flag: bool
) -> int:
    """Which components are installed on the target, at which version.

    \b
    Example:  spdeploy scan --target C:\\exchsrvr

    Exit codes: 0 scanned (whatever is installed), 2 bad input (target, profile, selectors).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.scan import scan_target

    s = _settings(ctx, json_flag)
    s.output().scan(scan_target(s.profile, target, *_only_skip(only, skip)))
    return 0


@main.command()
@media_option
@target_option
@selectors
@click.option(
    "--save",
    "save_file",
    type=_Given(_A_FILE, click.Path(path_type=Path)),
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
    json_flag: bool,
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

    s = _settings(ctx, json_flag)
    result = make_plan(s.profile, _selection(media, target, kw), save_file)
    out = s.output()
    out.plan(result, always=True)
    if save_file is not None:
        out.plan_saved(save_file)
    return plan_exit_code(result)


@main.command()
@saved_plan_locations
@selectors
@timeout_option
@click.option(
    "--plan",
    "plan_file",
    type=_Given(_A_FILE, click.Path(path_type=Path)),
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
    json_flag: bool,
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
    s = _settings(ctx, json_flag)
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
    ask = _asker(
        s,
        yes,
        lambda shown, plan: shown.plan(plan, always=True),
        lambda plan: f"{len(plan.updates)} installer(s) would run on {plan.target}",
        lambda plan: f"Run {len(plan.updates)} installer(s) on {plan.target}?",
    )
    if plan_file is not None:
        from spdeploy.commands.apply import run_saved_plan, saved_plan_exit_code

        with out.progress() as bar, _resumable(ctx, kw, args):
            result, check = run_saved_plan(
                s.profile if s.profile_given else None,
                plan_file,
                _selection(media, target, kw),
                s.state_dir(),
                options,
                ask,
                bar,
            )
        out.saved_apply(result, check)
        return saved_plan_exit_code(result, check)
    with out.progress() as bar, _resumable(ctx, kw, args):
        sel = _selection(media, target, kw)
        result = run_apply(s.profile, sel, s.state_dir(), options, ask, bar)
    out.apply(result)
    return result.exit_code


def _asker(
    s: Settings,
    yes: bool,
    show: Callable[[Any, Any], None],
    what: Callable[[Any], str],
    question: Callable[[Any], str],
) -> Callable[[Any], bool] | None:
    """The confirmation apply and restore ask before they change anything: ``show`` the subject
    (the plan, the files), then ``question``. None with --yes. Without a terminal on stdin no
    question can be asked, so, as apt does, nothing is done: NeedsTerminal (exit 2)."""
    if yes:
        return None
    person = sys.stdin.isatty()

    def confirm(subject: Any) -> bool:
        if not person:
            raise NeedsTerminal(
                f"{what(subject)}, and there is no terminal on stdin to confirm it; review "
                "with --dry-run, then run again with --yes"
            )
        from spdeploy.output import Output

        # -q too: never ask about what was not shown; under --json, on stderr (stdout is JSON's)
        shown = s.output() if not s.json else Output(stream=sys.stderr, verbose=s.verbose)
        show(shown, subject)
        return click.confirm(question(subject), default=False, err=s.json)

    return confirm


@contextlib.contextmanager
def _resumable(ctx: click.Context, kw: dict[str, Any], args: tuple[str, ...]) -> Iterator[None]:
    """Ctrl-C during a run: say which run stopped and the exact command that continues it."""
    try:
        yield
    except RunInterrupted as exc:
        from spdeploy.process import command_line

        s = _settings(ctx, False)
        words = ["spdeploy"]
        if s.profile_given:
            words += ["--profile", s.profile]
        if s.state is not None:
            words += ["--state", str(s.state)]
        words += ["apply", "--resume", "--media", exc.media, "--target", exc.target]
        for name in ("language", "platform", "only", "skip"):
            if kw.get(name):
                words += [f"--{name}", str(kw[name])]
        if ctx.get_parameter_source("timeout") != click.core.ParameterSource.DEFAULT:
            words += ["--timeout", f"{kw['timeout']:g}"]
        for value in args:
            words += ["--args", value]
        raise Interrupted(
            f"interrupted: run {exc.run_id} stopped and is recorded as interrupted; continue "
            f"it with: {command_line(words)}"
        ) from None


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
    type=_Given(_A_FILE, click.Path(path_type=Path, dir_okay=False)),
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
    json_flag: bool,
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
    from spdeploy.commands.plan import make_status, status_exit_code
    from spdeploy.reports import FORMATS, NEEDS_HISTORY, output_format, render_status

    s, asked_json, explicit = _report_settings(ctx, json_flag, fmt)
    fmt = "json" if s.json else fmt
    if explicit and len(output_files) > 1:
        raise click.UsageError(
            "--format applies to one --output; with several, each file's extension says its format"
        )
    # --json is what stdout holds; a file's format is --format's, else its extension's; every
    # file is checked before the target is probed, so a bad one writes nothing at all
    chosen = fmt if explicit else None
    outputs = [(path, output_format(path, chosen, FORMATS)) for path in output_files]
    result = make_status(s.profile, _selection(media, target, kw), s.state_dir())
    runs = []
    if any(f in NEEDS_HISTORY for f in [fmt, *(f for _, f in outputs)]):
        from spdeploy.commands.history import history as read_history

        runs = read_history(s.state_dir(), target=result.target, limit=10)
    if outputs:
        from spdeploy.fsutil import write_atomic

        for path, written in outputs:
            write_atomic(path, render_status(written, result, runs))
        if asked_json:  # SPEC §4: --json is machine output on stdout, files or not
            s.output().status(result)
    elif fmt in ("table", "json"):
        s.output().status(result)
    else:
        click.echo(render_status(fmt, result, runs), nl=False)
    return status_exit_code(result)


@main.command()
@click.option(
    "--from",
    "directory",
    required=True,
    type=_Given("a folder of <host>.json results", click.Path(path_type=Path)),
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
    type=_Given(_A_FILE, click.Path(path_type=Path, dir_okay=False)),
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
    json_flag: bool,
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
    from spdeploy.reports import fleet, output_format

    s, asked_json, explicit = _report_settings(ctx, json_flag, fmt)
    oldest = fleet.parse_duration(max_age, "--max-age")
    chosen = None
    if output_file is not None:  # checked before anything is read: a bad one writes nothing
        chosen = output_format(output_file, fmt if explicit else None, fleet.FORMATS)
    hosts = fleet.load(directory, max_age=oldest)
    if output_file is not None and chosen is not None:
        from spdeploy.fsutil import write_atomic

        write_atomic(output_file, fleet.render(chosen, hosts))
        if asked_json:  # SPEC §4: --json is machine output on stdout, files or not
            s.output().fleet(hosts)
        return hosts.exit_code
    fmt = "json" if s.json else fmt
    if fmt in ("table", "json"):
        s.output().fleet(hosts)
    else:
        click.echo(fleet.render(fmt, hosts), nl=False)
    return hosts.exit_code


@main.command()
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Most recent N runs."
)
@click.option("--target", metavar="T", type=_Given(_A_TARGET), help="Only runs on this target.")
@click.option(
    "--run",
    "run_id",
    metavar="RUN_ID",
    type=_Given(_A_RUN),
    help="One run in full: each step's message and log, the collected setup logs, the backups.",
)
@global_options
@click.pass_context
def history(
    ctx: click.Context, limit: int, target: str | None, run_id: str | None, json_flag: bool
) -> int:
    """Past runs and their steps, newest first (from the --state folder).

    \b
    Example:  spdeploy history --target C:\\exchsrvr --limit 5
              spdeploy history --run 20261125T170847-2d7c

    Exit codes: 0 listed (none recorded is not an error), 2 bad input (an unknown --run).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.history import history as read_history

    s = _settings(ctx, json_flag)
    runs = read_history(s.state_dir(), target=target, limit=limit, run_id=run_id)
    if run_id is not None:
        s.output().run_detail(runs[0])
    else:
        s.output().history(runs)
    return 0


@main.command()
@click.argument("run_id", metavar="RUN_ID", type=_Given(_A_RUN))
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
    json_flag: bool,
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

    s = _settings(ctx, json_flag)
    chosen = _ids(only, "--only")
    ask = _asker(
        s,
        yes,
        lambda shown, preview: shown.restore(preview, only=chosen, asking=True),
        lambda preview: f"{len(preview.changed)} file(s) would be put back in {preview.target}",
        lambda preview: f"Put back {len(preview.changed)} file(s) in {preview.target}?",
    )
    report = run_restore(Store(s.state_dir()), run_id, dry_run, chosen, ask)
    s.output().restore(report, only=chosen)
    return 0


@main.command("help")
@click.argument("words", nargs=-1, metavar="[COMMAND [SUBCOMMAND]]")
@click.pass_context
def help_command(ctx: click.Context, words: tuple[str, ...]) -> int:
    """A command's help, as COMMAND --help shows it; with none, the commands.

    \b
    Example:  spdeploy help apply
              spdeploy help profiles check
    """
    here = ctx.find_root()
    command: click.Command = here.command
    for word in words:
        group = command if isinstance(command, click.Group) else None
        found = group.get_command(here, word) if group is not None else None
        if group is None or found is None:
            known = ", ".join(group.list_commands(here)) if group is not None else "none"
            raise click.UsageError(
                f"no such command: {' '.join(words)} (expected one of {known} after "
                f"'{here.command_path}')"
            )
        here = click.Context(found, info_name=word, parent=here)
        command = found
    click.echo(command.get_help(here))
    return 0


@main.group(invoke_without_command=True)
@click.pass_context
def profiles(ctx: click.Context) -> None:
    """Built-in profiles; show one; validate a profile file."""
    _require_command(ctx)


@profiles.command("list")
@global_options
@click.pass_context
def profiles_list(ctx: click.Context, json_flag: bool) -> int:
    """The built-in profiles.

    \b
    Example:  spdeploy profiles list

    Exit codes: 0 listed, 2 bad input.
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.profiles import list_profiles

    _settings(ctx, json_flag).output().profiles(list_profiles())
    return 0


@profiles.command("show")
@click.argument("name", type=_Given(_A_PROFILE))
@global_options
@click.pass_context
def profiles_show(ctx: click.Context, name: str, json_flag: bool) -> int:
    """A profile's components in execution order (NAME or FILE).

    \b
    Example:  spdeploy profiles show exchange55
              spdeploy profiles show site.toml

    Exit codes: 0 shown, 2 bad input (no such profile, or an invalid one).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.profiles import show

    _settings(ctx, json_flag).output().profile(show(name))
    return 0


@profiles.command("check")
@click.argument("file", type=_Given("a profile TOML file"))
@global_options
@click.pass_context
def profiles_check(ctx: click.Context, file: str, json_flag: bool) -> int:
    """Validate a profile file; errors name the file, the component and the key.

    \b
    Example:  spdeploy profiles check site.toml

    Exit codes: 0 valid, 2 bad input: invalid or unreadable (the message names the file, the
    component and the key).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.profiles import check

    _settings(ctx, json_flag).output().profile(check(file), checked=True)
    return 0


@main.command()
@click.argument(
    "directory",
    required=False,
    type=_Given(
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
    json_flag: bool,
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
    from spdeploy.commands.demo import run_demo

    if directory is not None and _holds_other_files(directory):
        raise BadInput(
            f"{directory}: not empty (expected a new or empty folder, or one an earlier "
            "`spdeploy demo` built)"
        )
    s = _settings(ctx, json_flag)
    return run_demo(directory, s.output(), media_format, installers)


def _holds_other_files(directory: Path) -> bool:
    """A folder the demo would write its fake server and CD into, over what is there."""
    if not directory.is_dir() or (directory / "exchange55-sandbox.toml").is_file():
        return False
    return any(directory.iterdir())


_SEEN: dict[str, Any] = {"state": None, "json": False}


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
    _SEEN["state"], _SEEN["json"] = None, json_mode
    with streams.guarded(), error_handler(argv, json_mode, lambda: _SEEN["state"]) as outcome:
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
