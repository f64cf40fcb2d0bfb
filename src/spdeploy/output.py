"""How results and errors reach the terminal: Rich on a terminal, plain columns on a pipe, the
JSON envelope with --json. Every command's result and every expected error is shown through
:class:`Output`; the views of each result live in ``reports/views.py``, which writes to a sink
(this module's terminal, or a ``.txt`` report), and this is the only module importing Rich.

Others write to stdout or stderr too, each for a reason of its own:

- ``cliparts.py`` (through click): ``--version``, help, the confirmation prompt, and the
  ``status``/``report`` formats a renderer makes whole (JUnit, Prometheus, HTML);
- ``error_handler.py``: one plain line when showing an error through this module fails;
- ``streams.py``: wraps stdout and stderr so that a closed pipe or a lost terminal cannot stop a
  run (it writes what it is given, nothing of its own);
- ``process.py`` does not, but an interactive installer it starts writes to the console;
- ``sandbox/fleet.py`` and ``sandbox/installer_main.py``: programs of their own (the sandbox
  fleet's builder, the stand-in installers), not parts of the ``spdeploy`` command.

Rich is imported only when a terminal will see it: piped runs and ``--json`` stay quick to start.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

from spdeploy.errors import SpdeployError
from spdeploy.reports import data, views
from spdeploy.reports.sink import plain_table, printable

if TYPE_CHECKING:  # types only: `status` must not pay for importing the executor
    from spdeploy.executor import Command
    from spdeploy.store import StepRecord


class Output:
    def __init__(
        self,
        *,
        json_mode: bool = False,
        quiet: bool = False,
        verbose: bool = False,
        stream: IO[str] | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.rich = not json_mode and _isatty(self.stream) and os.environ.get("TERM") != "dumb"
        self._console: Any = None

    def silent(self) -> Output:
        """An Output that shows nothing: for the steps of a command whose JSON comes at the end."""
        import io

        return Output(quiet=True, stream=io.StringIO())

    # -- primitives -------------------------------------------------------------------------
    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
        return self._console

    def json(self, payload: Any) -> None:
        self.stream.write(json.dumps(payload, indent=2) + "\n")
        self.stream.flush()

    def line(self, text: str = "", style: str | None = None, *, always: bool = False) -> None:
        if self.json_mode or (self.quiet and not always):
            return
        if self.rich:
            self.console.print(printable(text), style=style, markup=False)
        else:
            self.stream.write(printable(text) + "\n")

    def heading(self, text: str) -> None:
        if self.rich:
            self.line()
            if not self.quiet:
                self.console.rule(printable(text), style="cyan")
        else:
            self.line()
            self.line(f"== {text} ==")

    def table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        styles: Sequence[str | None] | None = None,
        *,
        always: bool = False,
    ) -> None:
        """``always``: the table is the command's result, shown with -q too (like ``line``)."""
        if self.json_mode or (self.quiet and not always):
            return
        if self.rich:
            from rich import box
            from rich.table import Table
            from rich.text import Text

            # Text, not markup: a path or a host's message may hold "[/]" (MarkupError) or "[b]".
            # No vertical rules: the columns, not the borders, get an 80-column terminal's width.
            table = Table(
                title=Text(printable(title)),
                title_justify="left",
                header_style="bold",
                box=box.SIMPLE_HEAD,
                pad_edge=False,
            )
            for col in columns:
                table.add_column(col, overflow="fold")
            for i, row in enumerate(rows):
                cells = [Text(printable(cell)) for cell in row]
                table.add_row(*cells, style=styles[i] if styles else None)
            self.console.print(table)
            return
        self.stream.write(plain_table(title, columns, rows))

    def error(self, exc: SpdeployError) -> None:
        if self.json_mode:
            self.json(
                {"error": {"code": exc.code, "message": exc.message, "exit_code": exc.exit_code}}
            )
        else:
            sys.stderr.write(f"spdeploy: error: {printable(exc.message)}\n")

    # -- results ----------------------------------------------------------------------------
    def show(self, kind: str, result: Any, **options: Any) -> None:
        """The one door for a command's result: its JSON under ``--json``, else its view
        (``reports/views.py``). ``kind`` names the result: plan, status, apply, ..."""
        to_json, view = _KINDS[kind]
        if self.json_mode:
            self.json(to_json(result, **options))
        else:
            view(self, result, **options)

    def progress(self) -> StepPrinter:
        return StepPrinter(self)


class StepPrinter:
    """Tells the user what runs now; a Rich spinner on a terminal, a line each on a pipe."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self._status: Any = None
        self._bar: Any = None  # a Rich progress bar while staging, on a terminal only
        self._task: Any = None

    def __enter__(self) -> StepPrinter:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Whatever ends the run (Ctrl-C, an error) ends the spinner and the bar first, so the
        message that follows starts on a line of its own."""
        self._stop_spinner()
        self.staging_done()

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def staging(self, component: str, total_bytes: int) -> None:
        self.bytes_task(f"staging {component}", total_bytes)

    def bytes_task(self, description: str, total_bytes: int) -> None:
        """Start a progress bar in bytes (a terminal only); ``staged_bytes`` advances it."""
        if self.out.json_mode or self.out.quiet:
            return
        if not self.out.rich:
            if self.out.verbose:
                self.out.line(f"{description} ({total_bytes} bytes)")
            return
        if self._bar is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.out.console,
                transient=not self.out.verbose,
            )
            self._bar.start()
        self._task = self._bar.add_task(printable(description), total=total_bytes)

    def staged_bytes(self, count: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, count)

    def staging_done(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def waiting(self, component: str, pid: int) -> None:
        self.out.line(
            f"waiting for {component}'s installer (pid {pid}), left running by the interrupted run"
        )

    def step_started(self, command: Command, name: str, number: int, total: int) -> None:
        if self.out.json_mode or self.out.quiet:
            return
        step = f"step {number} of {total}"
        text = f"{step}: running {command.id} ({name}): {views.command_text(command.argv)}"
        if self.out.rich and not command.interactive:
            if self.out.verbose:
                self.out.line(text)
            # the installer's name, not its whole command line: the elapsed time must fit
            text = f"{step}: {command.id} ({name}): {_basename(command.argv[0])}"
            # a spinner with the time elapsed: installers can take many minutes in silence
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._status = Progress(
                SpinnerColumn(),
                # not markup: a file name on the media may hold "[/]" (a MarkupError) or "[b]"
                TextColumn("{task.description}", markup=False),
                TimeElapsedColumn(),
                console=self.out.console,
                transient=True,
            )
            self._status.add_task(printable(text), total=None)
            self._status.start()
        else:
            self.out.line(text)

    def step_finished(self, step: StepRecord) -> None:
        self._stop_spinner()
        if step.status != "skipped":
            self.out.line(
                f"  {step.component}: {step.status} ({step.duration_s:.1f}s)"
                + (f" - {step.message}" if step.message else ""),
                views.STATUS_STYLE.get(step.status),
            )


def _basename(path: str) -> str:
    return path.replace("\\", "/").rpartition("/")[2]


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _fleet_json(fleet: Any) -> Any:
    from spdeploy.reports.fleet import to_dict

    return to_dict(fleet)


def _profiles_json(profiles: Sequence[Any]) -> Any:
    return {
        "profiles": [
            {"id": p.id, "name": p.name, "components": [c.id for c in p.components]}
            for p in profiles
        ]
    }


def _profile_json(profile: Any, checked: bool = False) -> Any:
    shown = data.profile_dict(profile)
    return {"valid": True, **shown} if checked else shown


def _saved_apply_json(pair: tuple[Any, Any]) -> Any:
    """``apply --plan``: the run, and whether the saved plan still held."""
    result, check = pair
    return {**data.apply_dict(result), "saved_plan": data.saved_plan_dict(check)}


def _saved_apply_view(out: Output, pair: tuple[Any, Any]) -> None:
    views.view_saved_apply(out, *pair)


def _history_json(runs: Sequence[Any]) -> Any:
    return {"runs": [data.run_dict(r) for r in runs]}


def _plain(build: Callable[[Any], Any]) -> Callable[..., Any]:
    """A JSON builder that takes none of the view's options (a title, -q's ``always``)."""
    return lambda result, **_options: build(result)


# kind -> (its JSON under --json, its view): the shapes of SPEC §5 and what people read
_KINDS: dict[str, tuple[Callable[..., Any], Callable[..., None]]] = {
    "plan": (_plain(data.plan_dict), views.view_plan),
    "status": (_plain(data.status_dict), views.view_status),
    "apply": (_plain(data.apply_dict), views.view_apply),
    "saved-apply": (_plain(_saved_apply_json), _saved_apply_view),
    "scan": (_plain(data.scan_dict), views.view_scan),
    "media": (_plain(data.media_dict), views.view_media),
    "fleet": (_plain(_fleet_json), views.view_fleet),
    "history": (_plain(_history_json), views.view_history),
    "run": (_plain(data.run_dict), views.view_run_detail),
    "restore": (_plain(data.restore_dict), views.view_restore),
    "profiles": (_plain(_profiles_json), views.view_profiles),
    "profile": (_profile_json, views.view_profile),
}
