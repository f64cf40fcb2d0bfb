"""The only module that prints: Rich on a terminal, plain columns on a pipe, JSON with --json.

Rich is imported only when a terminal will see it: piped runs and ``--json`` stay quick to start.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

from spdeploy.errors import SpdeployError
from spdeploy.planner import ABSENT, CURRENT, MISSING, UPDATE, VANISHED, Plan
from spdeploy.reports import data

if TYPE_CHECKING:  # types only: `status` must not pay for importing the executor
    from spdeploy.executor import ApplyResult, Command
    from spdeploy.reports.fleet import Fleet
    from spdeploy.store import StepRecord

_LOG_LINES = 10  # of a failed step's log, under the run's table

_ACTION_STYLE = {UPDATE: "yellow", CURRENT: "green", ABSENT: "dim", MISSING: "bold red"}
_STATUS_STYLE = {
    "ok": "green",
    "failed": "bold red",
    "timeout": "bold red",
    "skipped": "dim",
    "reboot-required": "yellow",
}
_VERDICT_STYLE = {
    "error": "bold red",
    "stale": "red",
    "not-compliant": "red",
    "reboot-required": "yellow",
    "compliant": "green",
}


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
            self.console.print(text, style=style, markup=False)
        else:
            self.stream.write(text + "\n")

    def heading(self, text: str) -> None:
        if self.rich:
            self.line()
            if not self.quiet:
                self.console.rule(text, style="cyan")
        else:
            self.line(f"\n== {text} ==")

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
                title=Text(title),
                title_justify="left",
                header_style="bold",
                box=box.SIMPLE_HEAD,
                pad_edge=False,
            )
            for col in columns:
                table.add_column(col, overflow="fold")
            for i, row in enumerate(rows):
                table.add_row(*map(Text, row), style=styles[i] if styles else None)
            self.console.print(table)
            return
        widths = [
            max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
            for i, c in enumerate(columns)
        ]
        self.stream.write(f"{title}\n")
        for row in (columns, *rows):
            cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
            self.stream.write("  ".join(cells).rstrip() + "\n")

    def error(self, exc: SpdeployError) -> None:
        if self.json_mode:
            self.json(
                {"error": {"code": exc.code, "message": exc.message, "exit_code": exc.exit_code}}
            )
        else:
            sys.stderr.write(f"spdeploy: error: {exc.message}\n")

    # -- results ----------------------------------------------------------------------------
    def plan(self, plan: Plan, title: str = "Plan", *, always: bool = False) -> None:
        """``always``: ``plan`` itself, and before a confirmation; else -q shows no table."""
        if self.json_mode:
            self.json(data.plan_dict(plan))
            return
        self._findings(plan)
        # Versions and levels in their own columns and the reason in a few words: six
        # components fit an 80-column terminal, one row each. -v adds the reasons in full.
        rows = [
            [
                c.id,
                _version(c.version, c.level),
                _version(c.media_version, c.media_level),
                c.action,
                c.note or c.action,
            ]
            for c in plan.components
        ]
        self.table(
            f"{title}: {plan.profile} on {plan.target} ({plan.language}, {plan.platform})",
            ["component", "installed", "media", "action", "note"],
            rows,
            [_ACTION_STYLE.get(c.action) for c in plan.components],
            always=always,
        )
        if self.verbose:
            for c in plan.components:
                self.line(f"  {c.id}: {c.reason}", always=always)

    def status(self, plan: Plan) -> None:
        if self.json_mode:
            self.json(data.status_dict(plan))
            return
        self.plan(plan, "Compliance")
        self.verdict(plan)

    def verdict(self, plan: Plan) -> None:
        """The one line a person reads last: compliant or not, and a reboot still owed."""
        pending = plan.reboot_pending
        if plan.compliant:
            if pending is None:
                self.line("COMPLIANT", "bold green", always=True)
            else:
                self.line(f"COMPLIANT, {_reboot_note(pending)}", "bold yellow", always=True)
            return
        behind = [c.id for c in plan.components if c.action in (UPDATE, MISSING)]
        vanished = [cid for f in plan.findings if f.code == VANISHED for cid in f.components]
        parts = [f"{', '.join(behind)} not at the media's level"] if behind else []
        parts += [f"{', '.join(vanished)} vanished during the run"] if vanished else []
        why = "; ".join(parts) or "see the findings"
        self.line(f"NOT COMPLIANT: {why}", "bold red", always=True)
        if pending is not None:
            self.line(_reboot_note(pending), "yellow", always=True)

    def fleet(self, fleet: Fleet) -> None:
        """``report --from DIR``: one row per host, worst first, then the fleet's verdict."""
        from spdeploy.reports import fleet as report

        if self.json_mode:
            self.json(report.to_dict(fleet))
            return
        rows = [
            [
                h.host,
                h.verdict,
                "-" if h.age_s is None else report.duration(h.age_s),
                ", ".join(h.behind) or "-",
                "yes" if h.reboot_required else "no",
                h.problem or "-",
            ]
            for h in fleet.hosts
        ]
        self.table(
            f"Fleet: {len(fleet.hosts)} host(s) in {fleet.directory}",
            ["host", "verdict", "age", "behind", "reboot", "error"],
            rows,
            [_VERDICT_STYLE.get(h.verdict) for h in fleet.hosts],
        )
        style = "bold green" if fleet.compliant else "bold red"
        self.line(fleet.headline(), style, always=True)

    def _findings(self, plan: Plan) -> None:
        for finding in plan.findings:
            self.line(f"FINDING [{finding.code}] {finding.message}", "bold red", always=True)
        for signal in plan.system_reboot_signals:
            self.line(
                f"warning: the system is waiting for a reboot of its own: {signal.describe()}",
                "yellow",
                always=True,
            )
            shown = signal.entries if self.verbose else signal.entries[:10]
            for entry in shown:
                self.line(f"  {entry}", "yellow", always=True)
            if len(signal.entries) > len(shown):
                more = len(signal.entries) - len(shown)
                self.line(f"  ... and {more} more (-v lists them)", "yellow", always=True)

    def scan(self, inventory: Any) -> None:
        if self.json_mode:
            self.json(data.scan_dict(inventory))
            return
        rows = [
            [c.id, "yes" if c.installed else "no", c.version or "-", c.source]
            for c in inventory.components
        ]
        self.table(
            f"Inventory of {inventory.target}",
            ["component", "installed", "version", "seen"],
            rows,
            always=True,
        )

    def media(self, report: Any) -> None:
        if self.json_mode:
            self.json(data.media_dict(report))
            return
        kind = report.format + (f", {report.names} names" if report.names else "")
        self.line(
            f"Media {report.media} ({kind}): languages {', '.join(report.languages)}; "
            f"platforms {', '.join(report.platforms)}",
            always=True,
        )
        for warning in report.warnings:
            self.line(f"warning: {warning}", "yellow")
        rows = [
            [c.id, c.installer or _no_installer(c.serviced_by), c.media_version or "-"]
            for c in report.components
        ]
        self.table(
            f"Installers for {report.language}/{report.platform}",
            ["component", "installer", "media version"],
            rows,
            always=True,
        )

        if report.verification is not None:
            self._verification(report.verification)

    def _verification(self, v: Any) -> None:
        if v.catalog is None:
            self.line(
                "No SHA256SUMS at the media root: nothing to verify.", "bold red", always=True
            )
            return
        summary = (
            f"{v.catalog}: {v.ok} of {v.listed} files verified, {len(v.mismatched)} mismatched, "
            f"{len(v.missing)} missing, {len(v.unlisted)} on the media but not listed"
        )
        self.line(summary, "green" if v.passed else "bold red", always=True)
        for m in v.mismatched:
            self.line(
                f"  MISMATCH {m.path}: catalog {m.expected}, file {m.actual}", "red", always=True
            )
        for path in v.missing:
            self.line(f"  MISSING  {path}", "red", always=True)
        for path in v.unlisted[:10] if not self.verbose else v.unlisted:
            self.line(f"  unlisted {path} (refused if it is ever staged)", "dim")
        if len(v.unlisted) > 10 and not self.verbose:
            self.line(f"  ... and {len(v.unlisted) - 10} more unlisted (-v lists them)", "dim")

    def apply(self, result: ApplyResult, *, show_final: bool = True) -> None:
        if self.json_mode:
            self.json(data.apply_dict(result))
            return
        if result.dry_run:
            self.plan(result.plan, "Plan (dry run)")
            self.line("Commands that would run (nothing was run):", always=True)
            for cmd in result.commands:
                mode = "  [interactive]" if cmd.interactive else ""
                self.line(f"  {cmd.id}: {_argv(cmd.argv)}{mode}", always=True)
            if not result.commands:
                self.line("  (none: nothing to update)", always=True)
            return
        if result.steps:
            rows = [
                [
                    s.component,
                    s.status,
                    _exit(s.exit_code),
                    f"{s.duration_s:.1f}s",
                    f"{s.version_before or '-'} -> {s.version_after or '-'}",
                    s.message,
                ]
                for s in result.steps
            ]
            self.table(
                f"Run {result.run_id}",
                ["component", "status", "exit", "took", "version", "note"],
                rows,
                [_STATUS_STYLE.get(s.status) for s in result.steps],
            )
            self._known_failures(result.steps)
        else:
            self.line("Nothing to do: every installed component is at the media's level.")
        self._failed_logs(result.steps)
        if result.plan.system_reboot_signals and result.steps:
            self.line(
                "warning: the installers ran while the system was waiting for a reboot of its "
                "own (--refuse-on-pending-reboot refuses that)",
                "yellow",
                always=True,
            )
        for todo in result.todo_after:
            self.line(f"To do after {todo.component} ({todo.article}): {todo.note}", always=True)
        if result.final is not None and show_final:
            final = result.final
            if result.reboot_required:  # said once, below
                final = replace(final, reboot_pending=None)
            self.status(final)
        if result.reboot_required:
            self.line(
                "Reboot required; then run `spdeploy apply --resume` to verify.",
                "yellow",
                always=True,
            )

    def _known_failures(self, steps: Sequence[StepRecord]) -> None:
        """Under a failure: what the articles say it was and how to fix it."""
        for step in steps:
            for hit in step.known_failures:
                self.line(
                    f"{step.component} {step.status}: known failure {hit.article} "
                    f"({hit.match!r} in {hit.where}): {hit.remedy}",
                    "red",
                    always=True,
                )

    def _failed_logs(self, steps: Sequence[StepRecord]) -> None:
        """Where a failed installer said why: its log's path and last lines, under the table."""
        from spdeploy.fsutil import tail_lines

        for step in steps:
            if step.status not in ("failed", "timeout") or not step.log:
                continue
            lines = tail_lines(step.log, _LOG_LINES)
            shown = f", its last {len(lines)} line(s):" if lines else " (empty)"
            self.line(f"{step.component} {step.status}; log {step.log}{shown}", always=True)
            for text in lines:
                self.line(f"  | {text}", "dim", always=True)

    def plan_saved(self, path: Any) -> None:
        self.line(f"Plan saved to {path}; carry it out with `spdeploy apply --plan {path}`.")

    def saved_apply(self, result: ApplyResult, check: Any) -> None:
        """``apply --plan``: the run (or dry run) and whether the saved plan still holds."""
        if self.json_mode:
            self.json({**data.apply_dict(result), "saved_plan": data.saved_plan_dict(check)})
            return
        self.apply(result)
        if check.holds:
            self.line(
                f"Saved plan {check.file} (saved {check.saved_at}) holds: media and target "
                "unchanged.",
                "green",
                always=True,
            )
            return
        self.line(
            f"Saved plan {check.file} (saved {check.saved_at}) no longer holds; apply --plan would "
            "refuse it:",
            "bold red",
            always=True,
        )
        for change in check.changes:
            self.line(f"  {change}", "red", always=True)

    def history(self, runs: Sequence[Any]) -> None:
        if self.json_mode:
            self.json({"runs": [data.run_dict(r) for r in runs]})
            return
        if not runs:
            self.line("No runs recorded.", always=True)
            return
        rows = []
        for run in runs:
            steps = ", ".join(f"{s.component}:{s.status}" for s in run.steps) or "-"
            rows.append(
                [
                    run.id,
                    data.run_dict(run)["started"],
                    run.status,
                    str(run.exit_code if run.exit_code is not None else "-"),
                    run.target,
                    steps,
                ]
            )
        columns = ["run", "started (UTC)", "status", "exit", "target", "steps"]
        self.table("History", columns, rows, always=True)

    def restore(self, report: Any, only: Sequence[str] = (), *, asking: bool = False) -> None:
        """``asking``: what a restore would do, shown before its question (not a dry run)."""
        if self.json_mode:
            self.json(data.restore_dict(report))
            return
        for warning in report.warnings:
            self.line(f"warning: {warning}", "yellow", always=True)
        if not report.files:
            of = f" of {', '.join(only)}" if only else ""
            self.line(
                f"Run {report.run_id} backed up no files{of}: nothing to restore.", always=True
            )
            return
        self.line(f"Restore of run {report.run_id} on {report.target}")
        notes = {
            "overwrite": "overwrites the current file",
            "recreate": "recreates a deleted file",
            "unchanged": "unchanged: identical",
        }
        for f in report.files:
            self.line(f"  restore {f.path} ({notes[f.action]})", always=report.dry_run)
        count = len(report.changed)
        if asking:
            return
        if report.dry_run:
            self.line(f"Dry run: nothing changed ({count} file(s) would be put back).", always=True)
            return
        self.line(f"{count} file(s) put back, timestamps kept.", "green", always=True)
        if report.saved_current_to:
            self.line(f"The files overwritten were saved in {report.saved_current_to}", always=True)

    def run_detail(self, run: Any) -> None:
        """``history --run``: one run in full."""
        if self.json_mode:
            self.json(data.run_dict(run))
            return
        shown = data.run_dict(run)
        self.line(f"Run {run.id}: {run.status} (exit {run.exit_code}) on {run.target}", always=True)
        self.line(
            f"  profile {run.profile}, media {run.media} ({run.language}, {run.platform})",
            always=True,
        )
        self.line(f"  started {shown['started']}, finished {shown['finished'] or '-'}", always=True)
        if run.message:
            self.line(f"  {run.message}", always=True)
        rows = [
            [
                s.component,
                s.status,
                _exit(s.exit_code),
                f"{s.version_before or '-'} -> {s.version_after or '-'}",
                f"{s.duration_s:.1f}s",
                s.message or "",
            ]
            for s in run.steps
        ]
        columns = ["component", "status", "exit", "versions", "took", "message"]
        self.table("Steps", columns, rows, always=True)
        self._known_failures(run.steps)
        for step in run.steps:
            if step.log:
                self.line(f"  log of {step.component}: {step.log}", always=True)
        for path in run.collected:
            self.line(f"  collected: {path}", always=True)
        for path in run.backups:
            self.line(f"  backup: {path} (spdeploy restore {run.id})", always=True)
        self.line(f"  folder: {run.folder}", always=True)

    def profiles(self, profiles: Sequence[Any]) -> None:
        if self.json_mode:
            self.json(
                {
                    "profiles": [
                        {"id": p.id, "name": p.name, "components": [c.id for c in p.components]}
                        for p in profiles
                    ]
                }
            )
            return
        self.table(
            "Built-in profiles",
            ["id", "name", "components"],
            [[p.id, p.name, ", ".join(c.id for c in p.components)] for p in profiles],
            always=True,
        )

    def profile(self, profile: Any, checked: bool = False) -> None:
        if self.json_mode:
            self.json(
                {"valid": True, **data.profile_dict(profile)}
                if checked
                else data.profile_dict(profile)
            )
            return
        if checked:
            self.line(f"{profile.source}: OK ({len(profile.components)} components)", always=True)
            return
        self.line(f"{profile.id}: {profile.name}  [{profile.source}]", always=True)
        rows = [
            [
                c.id,
                c.name,
                ", ".join(c.after) or "-",
                "yes" if c.interactive else "no",
                c.installer[0] if c.installer else _no_installer(c.serviced_by),
            ]
            for c in profile.ordered()
        ]
        self.table(
            "Components (execution order)",
            ["id", "name", "after", "interactive", "first installer candidate"],
            rows,
            always=True,
        )
        for c in profile.ordered():
            self._component_detail(c, profile)

    def _component_detail(self, c: Any, profile: Any) -> None:
        """What ``profiles show`` says per component beyond the table, as the articles do."""
        from spdeploy.versions import level_name

        lines = [f"detected by {c.installed.describe()}"]
        if c.version is not None:
            lines.append(f"version from {c.version.describe()}")
        if c.serviced_by:
            lines.append(f"no installer of its own: serviced by {', '.join(c.serviced_by)}")
        lines += [
            f"requires {cid} {_version(v, level_name(profile.levels_for(cid), v))} or later"
            for cid, v in c.requires.items()
        ]
        if c.backup:
            lines.append(f"backs up {', '.join(c.backup)}")
        if c.logs:
            lines.append(f"collects {', '.join(c.logs)}")
        lines += [f"known failure {r.article}: {r.remedy}" for r in c.known_failures]
        lines += [f"to do after ({t.article}): {t.note}" for t in c.todo_after]
        if c.notes:
            lines.append(c.notes)
        self.line(f"{c.id}:", always=True)
        for text in lines:
            self.line(f"  {text}", always=True)

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
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.out.console,
                transient=not self.out.verbose,
            )
            self._bar.start()
        self._task = self._bar.add_task(description, total=total_bytes)

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
        text = f"{step}: running {command.id} ({name}): {_argv(command.argv)}"
        if self.out.rich and not command.interactive:
            if self.out.verbose:
                self.out.line(text)
            # the installer's name, not its whole command line: the elapsed time must fit
            text = f"{step}: {command.id} ({name}): {_basename(command.argv[0])}"
            # a spinner with the time elapsed: installers can take many minutes in silence
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._status = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self.out.console,
                transient=True,
            )
            self._status.add_task(text, total=None)
            self._status.start()
        else:
            self.out.line(text)

    def step_finished(self, step: StepRecord) -> None:
        self._stop_spinner()
        if step.status != "skipped":
            self.out.line(
                f"  {step.component}: {step.status} ({step.duration_s:.1f}s)"
                + (f" - {step.message}" if step.message else ""),
                _STATUS_STYLE.get(step.status),
            )


def _no_installer(serviced_by: Sequence[str]) -> str:
    if serviced_by:
        return f"(none of its own: serviced by {', '.join(serviced_by)})"
    return "(not on the media)"


def _reboot_note(pending: Any) -> str:
    shown = data.reboot_dict(pending)
    assert shown is not None
    return (
        f"REBOOT PENDING: run {shown['run_id']} asked for a reboot ({shown['requested_at']}) and "
        "the machine has not booted since; reboot, then run `spdeploy apply --resume` to verify"
    )


def _version(version: str | None, level: str | None) -> str:
    if version is None:
        return "-"
    return f"{version} {level}" if level else version


def _basename(path: str) -> str:
    return path.replace("\\", "/").rpartition("/")[2]


def _argv(argv: Sequence[str]) -> str:
    """The command as this system runs it (on Windows, the command line CreateProcess gets)."""
    from spdeploy.process import command_line

    return command_line(argv)


def _exit(code: int | None) -> str:
    from spdeploy.exitcodes import short

    return short(code)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def write_atomic(
    path: Any,
    text: str,
    *,
    what: str = "the report here",
    error: type[SpdeployError] | None = None,
) -> None:
    """:func:`spdeploy.fsutil.write_atomic`, creating the parent folder first."""
    from spdeploy.fsutil import write_atomic as write

    write(path, text, what=what, error=error, make_parents=True)
