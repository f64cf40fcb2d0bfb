"""What each result looks like to a person: the lines and tables of every command's text
output, written to a :class:`~spdeploy.reports.sink.Sink`.

The terminal (``output.Output``: Rich, or plain columns on a pipe) is one sink; a ``.txt``
report is another (:class:`TextSink`). Renderers here take data records and never print, so the
reports never depend on the module that prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spdeploy.planner import ABSENT, CURRENT, MISSING, UPDATE, VANISHED, Plan
from spdeploy.reports import data
from spdeploy.reports.sink import Sink

if TYPE_CHECKING:  # types only: `status` must not pay for importing the executor
    from spdeploy.executor import ApplyResult
    from spdeploy.records import StepRecord
    from spdeploy.reports.fleet import Fleet

_LOG_LINES = 10  # of a failed step's log, under the run's table

ACTION_STYLE = {UPDATE: "yellow", CURRENT: "green", ABSENT: "dim", MISSING: "bold red"}
STATUS_STYLE = {
    "ok": "green",
    "failed": "bold red",
    "timeout": "bold red",
    "skipped": "dim",
    "reboot-required": "yellow",
}
VERDICT_STYLE = {
    "error": "bold red",
    "stale": "red",
    "not-compliant": "red",
    "reboot-required": "yellow",
    "compliant": "green",
}


def view_plan(out: Sink, plan: Plan, title: str = "Plan", *, always: bool = False) -> None:
    """``always``: ``plan`` itself, and before a confirmation; else -q shows no table."""
    _view_findings(out, plan)
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
    out.table(
        f"{title}: {plan.profile} on {plan.target} ({plan.language}, {plan.platform})",
        ["component", "installed", "media", "action", "note"],
        rows,
        [ACTION_STYLE.get(c.action) for c in plan.components],
        always=always,
    )
    if out.verbose:
        for c in plan.components:
            out.line(f"  {c.id}: {c.reason}", always=always)


def view_status(out: Sink, plan: Plan) -> None:
    view_plan(out, plan, "Compliance")
    view_verdict(out, plan)


def view_verdict(out: Sink, plan: Plan) -> None:
    """The one line a person reads last: compliant or not, and a reboot still owed."""
    pending = plan.reboot_pending
    if plan.compliant:
        if pending is None:
            out.line("COMPLIANT", "bold green", always=True)
        else:
            out.line(f"COMPLIANT, {_reboot_note(pending)}", "bold yellow", always=True)
        return
    behind = [c.id for c in plan.components if c.action in (UPDATE, MISSING)]
    vanished = [cid for f in plan.findings if f.code == VANISHED for cid in f.components]
    parts = [f"{', '.join(behind)} not at the media's level"] if behind else []
    parts += [f"{', '.join(vanished)} vanished during the run"] if vanished else []
    why = "; ".join(parts) or "see the findings"
    out.line(f"NOT COMPLIANT: {why}", "bold red", always=True)
    if pending is not None:
        out.line(_reboot_note(pending), "yellow", always=True)


def view_fleet(out: Sink, fleet: Fleet) -> None:
    """``report --from DIR``: one row per host, worst first, then the fleet's verdict."""
    from spdeploy.reports import fleet as report

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
    out.table(
        f"Fleet: {len(fleet.hosts)} host(s) in {fleet.directory}",
        ["host", "verdict", "age", "behind", "reboot", "error"],
        rows,
        [VERDICT_STYLE.get(h.verdict) for h in fleet.hosts],
    )
    style = "bold green" if fleet.compliant else "bold red"
    out.line(fleet.headline(), style, always=True)


def _view_findings(out: Sink, plan: Plan) -> None:
    for finding in plan.findings:
        out.line(f"FINDING [{finding.code}] {finding.message}", "bold red", always=True)
    for signal in plan.system_reboot_signals:
        out.line(
            f"warning: the system is waiting for a reboot of its own: {signal.describe()}",
            "yellow",
            always=True,
        )
        shown = signal.entries if out.verbose else signal.entries[:10]
        for entry in shown:
            out.line(f"  {entry}", "yellow", always=True)
        if len(signal.entries) > len(shown):
            more = len(signal.entries) - len(shown)
            out.line(f"  ... and {more} more (-v lists them)", "yellow", always=True)


def view_scan(out: Sink, inventory: Any) -> None:
    rows = [
        [c.id, "yes" if c.installed else "no", c.version or "-", c.source]
        for c in inventory.components
    ]
    out.table(
        f"Inventory of {inventory.target}",
        ["component", "installed", "version", "seen"],
        rows,
        always=True,
    )


def view_media(out: Sink, report: Any) -> None:
    kind = report.format + (f", {report.names} names" if report.names else "")
    out.line(
        f"Media {report.media} ({kind}): languages {', '.join(report.languages)}; "
        f"platforms {', '.join(report.platforms)}",
        always=True,
    )
    for warning in report.warnings:
        out.line(f"warning: {warning}", "yellow")
    rows = [
        [c.id, c.installer or _no_installer(c.serviced_by), c.media_version or "-"]
        for c in report.components
    ]
    out.table(
        f"Installers for {report.language}/{report.platform}",
        ["component", "installer", "media version"],
        rows,
        always=True,
    )

    if report.verification is not None:
        _view_verification(out, report.verification)


def _view_verification(out: Sink, v: Any) -> None:
    if v.catalog is None:
        out.line("No SHA256SUMS at the media root: nothing to verify.", "bold red", always=True)
        return
    summary = (
        f"{v.catalog}: {v.ok} of {v.listed} files verified, {len(v.mismatched)} mismatched, "
        f"{len(v.missing)} missing, {len(v.unlisted)} on the media but not listed"
    )
    out.line(summary, "green" if v.passed else "bold red", always=True)
    for m in v.mismatched:
        out.line(f"  MISMATCH {m.path}: catalog {m.expected}, file {m.actual}", "red", always=True)
    for path in v.missing:
        out.line(f"  MISSING  {path}", "red", always=True)
    for path in v.unlisted[:10] if not out.verbose else v.unlisted:
        out.line(f"  unlisted {path} (refused if it is ever staged)", "dim")
    if len(v.unlisted) > 10 and not out.verbose:
        out.line(f"  ... and {len(v.unlisted) - 10} more unlisted (-v lists them)", "dim")


def view_apply(out: Sink, result: ApplyResult, *, show_final: bool = True) -> None:
    if result.dry_run:
        view_plan(out, result.plan, "Plan (dry run)")
        out.line("Commands that would run (nothing was run):", always=True)
        for cmd in result.commands:
            mode = "  [interactive]" if cmd.interactive else ""
            out.line(f"  {cmd.id}: {command_text(cmd.argv)}{mode}", always=True)
        if not result.commands:
            out.line("  (none: nothing to update)", always=True)
        if result.refusal is not None:
            out.line(
                f"The real run would refuse before running anything (exit "
                f"{result.refusal.exit_code}): {result.refusal.message}",
                "bold red",
                always=True,
            )
        elif result.reboot_pending is not None:
            out.line(_reboot_note(result.reboot_pending), "yellow", always=True)
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
        out.table(
            f"Run {result.run_id}",
            ["component", "status", "exit", "took", "version", "note"],
            rows,
            [STATUS_STYLE.get(s.status) for s in result.steps],
        )
        _view_known_failures(out, result.steps)
    else:
        out.line("Nothing to do: every installed component is at the media's level.")
    _view_failed_logs(out, result.steps)
    if result.plan.system_reboot_signals and result.steps:
        out.line(
            "warning: the installers ran while the system was waiting for a reboot of its "
            "own (--refuse-on-pending-reboot refuses that)",
            "yellow",
            always=True,
        )
    for todo in result.todo_after:
        out.line(f"To do after {todo.component} ({todo.article}): {todo.note}", always=True)
    if result.final is not None and show_final:
        final = result.final
        if result.reboot_required:  # said once, below
            final = final._replace(reboot_pending=None)
        view_status(out, final)
    if result.reboot_required:
        out.line(
            "Reboot required; then run `spdeploy apply --resume` to verify.",
            "yellow",
            always=True,
        )


def _view_known_failures(out: Sink, steps: Sequence[StepRecord]) -> None:
    """Under a failure: what the articles say it was and how to fix it."""
    for step in steps:
        for hit in step.known_failures:
            out.line(
                f"{step.component} {step.status}: known failure {hit.article} "
                f"({hit.match!r} in {hit.where}): {hit.remedy}",
                "red",
                always=True,
            )


def _view_failed_logs(out: Sink, steps: Sequence[StepRecord]) -> None:
    """Where a failed installer said why: its log's path and last lines, under the table."""
    from spdeploy.fsutil import tail_lines

    for step in steps:
        if step.status not in ("failed", "timeout") or not step.log:
            continue
        lines = tail_lines(step.log, _LOG_LINES)
        shown = f", its last {len(lines)} line(s):" if lines else " (empty)"
        out.line(f"{step.component} {step.status}; log {step.log}{shown}", always=True)
        for text in lines:
            out.line(f"  | {text}", "dim", always=True)


def view_plan_saved(out: Sink, path: Any) -> None:
    out.line(f"Plan saved to {path}; carry it out with `spdeploy apply --plan {path}`.")


def view_saved_apply(out: Sink, result: ApplyResult, check: Any) -> None:
    """``apply --plan``: the run (or dry run) and whether the saved plan still holds."""
    view_apply(out, result)
    if check.holds:
        out.line(
            f"Saved plan {check.file} (saved {check.saved_at}) holds: media and target unchanged.",
            "green",
            always=True,
        )
        return
    out.line(
        f"Saved plan {check.file} (saved {check.saved_at}) no longer holds; apply --plan would "
        "refuse it:",
        "bold red",
        always=True,
    )
    for change in check.changes:
        out.line(f"  {change}", "red", always=True)


def view_history(out: Sink, runs: Sequence[Any]) -> None:
    if not runs:
        out.line("No runs recorded.", always=True)
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
    out.table("History", columns, rows, always=True)


def view_restore(out: Sink, report: Any, only: Sequence[str] = (), *, asking: bool = False) -> None:
    """``asking``: what a restore would do, shown before its question (not a dry run)."""
    for warning in report.warnings:
        out.line(f"warning: {warning}", "yellow", always=True)
    if not report.files:
        of = f" of {', '.join(only)}" if only else ""
        out.line(f"Run {report.run_id} backed up no files{of}: nothing to restore.", always=True)
        return
    out.line(f"Restore of run {report.run_id} on {report.target}")
    notes = {
        "overwrite": "overwrites the current file",
        "recreate": "recreates a deleted file",
        "unchanged": "unchanged: identical",
    }
    for f in report.files:
        out.line(f"  restore {f.path} ({notes[f.action]})", always=report.dry_run)
    count = len(report.changed)
    if asking:
        return
    if report.dry_run:
        out.line(f"Dry run: nothing changed ({count} file(s) would be put back).", always=True)
        return
    out.line(f"{count} file(s) put back, timestamps kept.", "green", always=True)
    if report.saved_current_to:
        out.line(f"The files overwritten were saved in {report.saved_current_to}", always=True)


def view_run_detail(out: Sink, run: Any) -> None:
    """``history --run``: one run in full."""
    shown = data.run_dict(run)
    out.line(f"Run {run.id}: {run.status} (exit {run.exit_code}) on {run.target}", always=True)
    out.line(
        f"  profile {run.profile}, media {run.media} ({run.language}, {run.platform})",
        always=True,
    )
    out.line(f"  started {shown['started']}, finished {shown['finished'] or '-'}", always=True)
    if run.message:
        out.line(f"  {run.message}", always=True)
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
    out.table("Steps", columns, rows, always=True)
    _view_known_failures(out, run.steps)
    for step in run.steps:
        if step.log:
            out.line(f"  log of {step.component}: {step.log}", always=True)
    for path in run.collected:
        out.line(f"  collected: {path}", always=True)
    for path in run.backups:
        out.line(f"  backup: {path} (spdeploy restore {run.id})", always=True)
    out.line(f"  folder: {run.folder}", always=True)


def view_profiles(out: Sink, profiles: Sequence[Any]) -> None:
    out.table(
        "Built-in profiles",
        ["id", "name", "components"],
        [[p.id, p.name, ", ".join(c.id for c in p.components)] for p in profiles],
        always=True,
    )


def view_profile(out: Sink, profile: Any, checked: bool = False) -> None:
    if checked:
        out.line(f"{profile.source}: OK ({len(profile.components)} components)", always=True)
        return
    out.line(f"{profile.id}: {profile.name}  [{profile.source}]", always=True)
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
    out.table(
        "Components (execution order)",
        ["id", "name", "after", "interactive", "first installer candidate"],
        rows,
        always=True,
    )
    for c in profile.ordered():
        _view_component_detail(out, c, profile)


def _view_component_detail(out: Sink, c: Any, profile: Any) -> None:
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
    out.line(f"{c.id}:", always=True)
    for text in lines:
        out.line(f"  {text}", always=True)


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


def command_text(argv: Sequence[str]) -> str:
    """The command as this system runs it (on Windows, the command line CreateProcess gets)."""
    from spdeploy.process import command_line

    return command_line(argv)


def _exit(code: int | None) -> str:
    from spdeploy.exitcodes import short

    return short(code)
