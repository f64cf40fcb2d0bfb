"""The parts of the command line its commands share: the global options (before or after the
command) and the settings they make, the selectors, the question asked before anything
changes, and the message that says how to resume an interrupted run. click lives here and in
the ``cli`` package only; :class:`LazyGroup` imports a command's module when it is named.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from spdeploy import __version__
from spdeploy.errors import Interrupted, NeedsTerminal, RunInterrupted

F = TypeVar("F", bound=Callable[..., Any])


class LazyGroup(click.Group):
    """A group whose commands are imported when they are named, not when the group is made
    (click's "lazily loading subcommands" pattern): ``lazy`` maps a command's name to
    ``"module:function"``."""

    def __init__(self, *args: Any, lazy: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, name = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), name)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # read first: for a word like an option, click parses ``args`` again, emptying it
        name = click.utils.make_str(args[0]) if args else ""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            known = self.list_commands(ctx)
            if not name or name.startswith("-") or name in known:
                raise
            # click suggests from the commands made so far: suggest from all of them, in its
            # own words where it has them (8.4 and later)
            no_such = getattr(click.exceptions, "NoSuchCommand", None)
            if no_such is not None:
                raise no_such(name, possibilities=known, ctx=ctx) from None
            import difflib  # deferred: only a mistyped command needs it

            close = difflib.get_close_matches(name, known, n=1)
            if not close:
                raise
            raise click.UsageError(
                f"No such command {name!r}. Did you mean {close[0]!r}?", ctx
            ) from None


class Settings:
    """The global options, given before the command or after it (SPEC §4); each one's callback
    sets it as it is parsed."""

    __slots__ = ("json", "profile", "profile_given", "quiet", "state", "verbose")

    def __init__(self) -> None:
        self.profile = "exchange55"
        self.state: Path | None = None
        self.json = False
        self.quiet = False
        self.verbose = False
        self.profile_given = False  # --profile was typed (apply --plan takes the file's otherwise)

    def state_dir(self) -> Path:
        from spdeploy.fsutil import default_state_dir

        return self.state or default_state_dir()

    def output(self) -> Any:
        from spdeploy.output import Output

        return Output(json_mode=self.json, quiet=self.quiet, verbose=self.verbose)


def settings_of(ctx: click.Context) -> Settings:
    """The run's settings, the global options given before or after the command."""
    return ctx.find_root().ensure_object(Settings)


def report_settings(ctx: click.Context, fmt: str) -> tuple[Settings, bool, bool]:
    """status and report: (settings, whether --json itself was given, not only --format json,
    whether --format was given on the command line rather than left at its default)."""
    s = settings_of(ctx)
    asked_json = s.json
    s.json = s.json or fmt == "json"
    if s.json and fmt not in ("table", "json"):
        raise click.UsageError(f"--json and --format {fmt} ask for two different outputs")
    explicit = ctx.get_parameter_source("fmt") == click.core.ParameterSource.COMMANDLINE
    return s, asked_json, explicit


class Given(click.ParamType[Any]):
    """``inner``, but an empty value is bad input: ``--target ""`` would be the current folder."""

    def __init__(self, expected: str, inner: click.ParamType[Any] = click.STRING) -> None:
        self.expected = expected
        self.inner = inner
        self.name = inner.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value == "":
            self.fail(f"empty (expected {self.expected})", param, ctx)
        return self.inner.convert(value, param, ctx)


A_FILE = "a file name"


A_FOLDER = "a folder for the history"


A_PROFILE = "a built-in profile name or a profile TOML file"


A_RUN = "a run id from `spdeploy history`"


A_TARGET = "the product's install folder"


def _set_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option, given before the command or after it: the one Settings of the run,
    made by whichever is parsed first."""
    if value is None or value is False or ctx.resilient_parsing:
        return
    settings = ctx.find_root().ensure_object(Settings)
    name = param.name or ""
    setattr(settings, name, value)
    if name == "profile":
        settings.profile_given = True
    if name == "state":
        SEEN["state"] = value  # for the crash log


PROFILE_HELP = "Built-in profile name or a profile TOML file (default: exchange55)."


STATE_HELP = "History folder (default: $SPDEPLOY_STATE or the user data folder)."


# One of each, shared by every command's copy of the global options: click names a path type
# through gettext, which looks for message catalogs on disk each time (a millisecond of every
# start when each command made its own).
_PROFILE_TYPE = Given(A_PROFILE)
_STATE_TYPE = Given(A_FOLDER, click.Path(path_type=Path, file_okay=False))


def global_options(f: F) -> F:
    """``--profile``, ``--state``, ``--json``, ``-q``, ``-v`` on a command too, so they may
    follow its name as people type them (``spdeploy status ... --state S``)."""
    for opt in reversed(
        [
            click.option(
                "--profile",
                type=_PROFILE_TYPE,
                metavar="NAME|FILE",
                expose_value=False,
                callback=_set_global,
                help=PROFILE_HELP,
            ),
            click.option(
                "--state",
                type=_STATE_TYPE,
                metavar="DIR",
                expose_value=False,
                callback=_set_global,
                help=STATE_HELP,
            ),
            click.option(
                "--json",
                "json",
                is_flag=True,
                expose_value=False,
                callback=_set_global,
                help="Machine output on stdout, nothing else.",
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
        type=Given("the service pack: a folder, an ISO 9660 image or a zip archive"),
        help="The service pack: a folder, an ISO 9660 image or a zip archive (told apart by "
        "content, read in place)." + ("" if required else " Default: the one --plan FILE saw."),
    )(f)


def target_option(f: F, required: bool = True) -> F:
    return click.option(
        "--target",
        "target",
        required=required,
        metavar="T",
        type=Given(A_TARGET),
        help="The installed product's root folder (e.g. C:\\exchsrvr)."
        + ("" if required else " Default: the one --plan FILE saw."),
    )(f)


def saved_plan_locations(f: F) -> F:
    """``apply``'s --media and --target: optional, since ``--plan FILE`` records both."""
    return media_option(target_option(f, required=False), required=False)


def ids(text: str | None, option: str) -> tuple[str, ...]:
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


def only_skip(only: str | None, skip: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    chosen, left_out = ids(only, "--only"), ids(skip, "--skip")
    both = [cid for cid in chosen if cid in left_out]
    if both:
        raise click.UsageError(
            f"'--only' and '--skip' both name {', '.join(both)}; name each component in one of them"
        )
    return chosen, left_out


def selection(media: str | None, target: str | None, kw: dict[str, Any]) -> Any:
    from spdeploy.session import Selection

    only, skip = only_skip(kw.get("only"), kw.get("skip"))
    return Selection(media, target, kw.get("language"), kw.get("platform"), only, skip)


def asker(
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
        try:
            return click.confirm(question(subject), default=False, err=s.json)
        except click.exceptions.Abort as exc:
            # end of input (Ctrl-D) is an answer, as in apt and git: no. Ctrl-C stays Ctrl-C.
            if isinstance(exc.__cause__ or exc.__context__, EOFError):
                return False
            raise

    return confirm


@contextlib.contextmanager
def resumable(ctx: click.Context, kw: dict[str, Any], args: tuple[str, ...]) -> Iterator[None]:
    """Ctrl-C during a run: say which run stopped and the exact command that continues it."""
    try:
        yield
    except RunInterrupted as exc:
        from spdeploy.process import command_line

        s = settings_of(ctx)
        # apply --plan FILE: the file chose the profile and the selection, not the command line
        from_file = ctx.params.get("plan_file") is not None and exc.selection
        saved = dict(exc.selection) if from_file else None
        words = ["spdeploy"]
        if saved is not None:
            words += ["--profile", saved["--profile"]]
        elif s.profile_given:
            words += ["--profile", s.profile]
        if s.state is not None:
            words += ["--state", str(s.state)]
        words += ["apply", "--resume", "--media", exc.media, "--target", exc.target]
        if saved is not None:
            for name in ("--language", "--platform", "--only"):
                if saved.get(name):
                    words += [name, saved[name]]
        else:
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


SEEN: dict[str, Any] = {"state": None, "json": False}


def version_option(ctx: click.Context, value: bool) -> None:
    """--version, as JSON under --json (given before or after it: this option is eager)."""
    if not value or ctx.resilient_parsing:
        return
    if SEEN["json"]:
        import json

        click.echo(json.dumps({"version": __version__}))
    else:
        click.echo(f"spdeploy, version {__version__}")
    ctx.exit(0)


def require_command(ctx: click.Context) -> None:
    """One line naming the commands, the same with every click version (8.2 made the whole help
    an error message; 8.1 printed it and exited 0)."""
    if ctx.invoked_subcommand is None:
        group: Any = ctx.command
        names = ", ".join(group.list_commands(ctx))
        raise click.UsageError(
            f"missing command: expected one of {names} (`{ctx.command_path} --help` says more)"
        )


def to_stdout(
    s: Settings,
    kind: str,
    result: Any,
    fmt: str,
    wrote_files: bool,
    asked_json: bool,
    runs: Any = (),
) -> None:
    """status and report: the result on stdout. With --output files, nothing more unless
    --json was given (SPEC §4: --json is machine output on stdout, files or not); else the
    table or JSON through the output, another format as its renderer writes it."""
    if wrote_files:
        if asked_json:
            s.output().show(kind, result)
        return
    if fmt in ("table", "json"):
        s.output().show(kind, result)
        return
    from spdeploy.reports.render import render_fleet, render_status

    text = render_status(fmt, result, runs) if kind == "status" else render_fleet(fmt, result)
    click.echo(text, nl=False)


def version_flag(f: F) -> F:
    """--version; eager, so that it answers before anything else is read (--json included)."""
    return click.option(
        "--version",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=lambda ctx, _param, value: version_option(ctx, value),
        help="Show the version and exit.",
    )(f)


@click.command("help")
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
