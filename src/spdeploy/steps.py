"""One step of a run: back up, pre commands, the installer, post commands, verify, judge.

Every step is in the history before it acts (the journal), and rewritten when it ends. A
component that keeps asking for reboots, or is started three times in one run, is stopped
instead of looping (the loop breaker).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from spdeploy import exitcodes, knownfailures, process
from spdeploy.backup import take_backup
from spdeploy.inventory import probe_component
from spdeploy.media import open_target
from spdeploy.planner import Plan, PlannedComponent
from spdeploy.preflight import ApplyOptions, Command, common_variables, render, step_variables
from spdeploy.probes import ProbeContext
from spdeploy.profile import Component
from spdeploy.records import RunRecord, StepRecord, StepStatus
from spdeploy.session import Prepared
from spdeploy.staging import (
    Staged,
)
from spdeploy.store import Store
from spdeploy.versions import Version, is_version


class Progress(Protocol):
    """What the executor tells the user interface; ``output`` implements it."""

    def staging(self, component: str, total_bytes: int) -> None: ...

    def staged_bytes(self, count: int) -> None: ...

    def staging_done(self) -> None: ...

    def waiting(self, component: str, pid: int) -> None: ...

    def step_started(self, command: Command, name: str, number: int, total: int) -> None: ...

    def step_finished(self, step: StepRecord) -> None: ...


class Silent:
    def staging(self, component: str, total_bytes: int) -> None:
        pass

    def staged_bytes(self, count: int) -> None:
        pass

    def staging_done(self) -> None:
        pass

    def waiting(self, component: str, pid: int) -> None:
        pass

    def step_started(self, command: Command, name: str, number: int, total: int) -> None:
        pass

    def step_finished(self, step: StepRecord) -> None:
        pass


class RunLog:
    """``runs/<id>/run.log``: what the run did, line by line, whatever became of the terminal.

    A closed pipe or a dropped session turns the command's output off; the run goes on and this
    file keeps the story. Each line is written and flushed at once: a crash loses nothing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(f"{stamp} {text}\n")
        except OSError:
            pass  # the history database is the record; this file is its narrative


def _collect_logs(
    prep: Prepared, comp: Component, run_dir: Path, variables: dict[str, str]
) -> None:
    taken: set[str] = set()
    for template in comp.logs:
        path = Path(render(template, variables))
        src = path if path.is_absolute() else prep.target / path
        if src.is_file():
            name, n = src.name, 1
            while name.casefold() in taken:  # two logs of one name in two folders: keep both
                n += 1
                name = f"{src.stem}-{n}{src.suffix}"
            taken.add(name.casefold())
            dest = run_dir / "logs" / comp.id / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


_MAX_STARTS = 3  # times one component may start within one run (crashes and reboots included)


def attempts_of(previous: RunRecord | None) -> dict[str, list[StepStatus]]:
    """Component id -> how each earlier start in this run ended (for the loop breaker)."""
    seen: dict[str, list[StepStatus]] = {}
    for step in previous.steps if previous else ():
        if step.status != StepStatus.SKIPPED:
            seen.setdefault(step.component, []).append(step.status)
    return seen


def run_steps(
    prep: Prepared,
    plan: Plan,
    commands: tuple[Command, ...],
    staged: dict[str, Staged],
    store: Store,
    key: tuple[str, int],  # (run id, last step number recorded)
    attempts: dict[str, list[StepStatus]],
    options: ApplyOptions,
    progress: Progress,
    log: RunLog,
) -> list[StepRecord]:
    run_id, seq = key
    run_dir = store.run_dir(run_id)
    rows = {r.id: r for r in plan.updates}
    results: list[StepRecord] = []
    stopped: str | None = None
    for number, command in enumerate(commands, 1):
        row = rows[command.id]
        comp = prep.profile.component(command.id)
        seq += 1
        earlier = attempts.get(command.id, [])
        if stopped is not None:
            step = _not_run(run_id, seq, row, StepStatus.SKIPPED, f"not run: {stopped}")
        elif earlier.count(StepStatus.REBOOT) >= 2 or len(earlier) >= _MAX_STARTS:
            step = _not_run(run_id, seq, row, StepStatus.FAILED, _loop_message(earlier))
        else:
            # The journal: the step is in the history before it touches anything.
            journal = StepRecord(
                run_id=run_id,
                seq=seq,
                component=comp.id,
                status=StepStatus.RUNNING,
                exit_code=None,
                started=time.time(),
                duration_s=0.0,
                version_before=row.version,
                version_after=None,
                log=str(run_dir / "logs" / f"{comp.id}.log"),
                message="started",
            )
            store.record_step(journal)
            try:
                take_backup(prep, comp, run_dir)
            except OSError as exc:  # a dangling link, an unreadable file: no copy, no installer
                step = _not_run(
                    run_id, seq, row, StepStatus.FAILED, f"backup failed, not run: {exc}"
                )
            else:
                log.write(f"step {seq} {comp.id}: running {' '.join(command.argv)}")
                progress.step_started(command, comp.name, number, len(commands))
                resolve = _log_resolver(prep, row, staged[command.id])
                before = knownfailures.snapshot(
                    knownfailures.log_paths(comp.known_failures, resolve)
                )
                step = _run_one(
                    prep, comp, row, command, staged[command.id], journal, store, options
                )
                if StepStatus.REBOOT in earlier and not reached_level(step, row):
                    # It asked for a reboot before, the reboot came, and it is still not done.
                    message = _loop_message([*earlier, step.status])
                    step = replace(step, status=StepStatus.FAILED, message=message)
                _collect_logs(
                    prep, comp, run_dir, step_variables(prep, row, staged[command.id].folder)
                )
                if step.status in (StepStatus.FAILED, StepStatus.TIMEOUT) and comp.known_failures:
                    step = _diagnose(prep, comp, step, resolve, before)
        if step.status in (StepStatus.FAILED, StepStatus.TIMEOUT):
            stopped = f"{command.id} {step.status}"
        elif step.status == StepStatus.REBOOT and step.exit_code == 1641:
            stopped = f"{command.id} started a reboot; run `spdeploy apply --resume` after it"
        store.record_step(step)
        log.write(
            f"step {seq} {step.component}: {step.status}"
            f"{'' if step.exit_code is None else f' (exit {step.exit_code})'}, "
            f"{step.duration_s:.1f}s{': ' + step.message if step.message else ''}"
        )
        progress.step_finished(step)
        results.append(step)
    for row in plan.brought_along:
        proof = _brought_along(prep, row, results, run_id, seq + 1)
        if proof is not None:
            seq += 1
            store.record_step(proof)
            log.write(f"step {seq} {proof.component}: {proof.status}: {proof.message}")
            progress.step_finished(proof)
            results.append(proof)
    return results


def _log_resolver(prep: Prepared, row: PlannedComponent, staged: Staged) -> Callable[[str], Path]:
    """A known failure's log path (a template, as ``logs``) -> the file on this machine."""
    variables = step_variables(prep, row, staged.folder)

    def resolve(template: str) -> Path:
        path = Path(render(template, variables))
        return path if path.is_absolute() else prep.target / path

    return resolve


def _diagnose(
    prep: Prepared,
    comp: Component,
    step: StepRecord,
    resolve: Callable[[str], Path],
    before: knownfailures.Snapshot,
) -> StepRecord:
    """The profile's known failures that match this failed step (SPEC §10)."""
    facts = {
        "exit_code": "" if step.exit_code is None else str(step.exit_code),
        "status": step.status,
        "target": str(prep.target),
        "output": step.log or "",
    }
    hits = knownfailures.diagnose(comp.known_failures, facts, resolve, before)
    return replace(step, known_failures=hits) if hits else step


def _brought_along(
    prep: Prepared, row: PlannedComponent, steps: list[StepRecord], run_id: str, seq: int
) -> StepRecord | None:
    """A component with no installer of its own, after the runs that service it (Q242250):
    proven by its own version where one can be read, else by those runs; the message says which.
    None when nothing that services it ran (the plan's finding already says so)."""
    comp = prep.profile.component(row.id)
    planned = [s for s in steps if s.component in comp.serviced_by]
    runs = [s for s in planned if s.status != StepStatus.SKIPPED]
    if not runs:  # none of them started
        return None
    names = ", ".join(s.component for s in runs)
    after = probe_component(comp, ProbeContext(open_target(prep.target), common_variables(prep)))
    readable = after.version is not None and is_version(after.version)
    if readable and reached(row.version, after.version, row.media_version):
        status = StepStatus.OK
        message = f"brought along by {names}; level proven by {after.source}: {after.version}"
    elif any(s.status != StepStatus.OK for s in planned):
        status = StepStatus.SKIPPED
        ended = ", ".join(f"{s.component} {s.status}" for s in planned)
        message = f"not brought to the level: the runs that service it did not all end ok ({ended})"
    elif readable:
        status = StepStatus.FAILED
        message = (
            f"not brought to the level by {names}, which ended ok: {after.source} shows "
            f"{after.version}, expected {row.media_version}"
        )
    else:
        status = StepStatus.OK
        message = (
            f"no file of its own readable here ({after.source}); level proven by the run(s) "
            f"that service it: {names} reached the media's level"
        )
    return _record(run_id, seq, row, status, message, version_after=after.version)


def _not_run(
    run_id: str, seq: int, row: PlannedComponent, status: StepStatus, why: str
) -> StepRecord:
    return _record(run_id, seq, row, status, why, version_after=row.version)


def _record(
    run_id: str,
    seq: int,
    row: PlannedComponent,
    status: StepStatus,
    message: str,
    *,
    version_after: str | None,
) -> StepRecord:
    """A step that started no installer: nothing to time, no log."""
    return StepRecord(
        run_id=run_id,
        seq=seq,
        component=row.id,
        status=status,
        exit_code=None,
        started=time.time(),
        duration_s=0.0,
        version_before=row.version,
        version_after=version_after,
        log=None,
        message=message,
    )


def _loop_message(earlier: list[StepStatus]) -> str:
    reboots = earlier.count(StepStatus.REBOOT)
    return (
        f"still not at the media's level after {len(earlier)} start(s) in this run "
        f"({reboots} asked for a reboot); stopping instead of looping: read its setup log, "
        "then start a new run with `spdeploy apply`"
    )


def reached_level(step: StepRecord, row: PlannedComponent) -> bool:
    return step.status == StepStatus.OK or (
        step.status == StepStatus.REBOOT
        and reached(row.version, step.version_after, row.media_version)
    )


def _run_hooks(
    commands: tuple[tuple[str, ...], ...],
    variables: Mapping[str, str],
    log_path: Path,
    options: ApplyOptions,
) -> str:
    """Run pre/post commands in order, stopping at the first failure; '' or what failed."""
    for template in commands:
        argv = [render(a, variables) for a in template]
        result = process.run(argv, timeout=options.timeout, log_path=log_path)
        if result.timed_out:
            return f"{' '.join(argv)}: killed after {options.timeout:g} s"
        if result.exit_code is None:
            return f"{' '.join(argv)}: could not start: {result.error}"
        if result.exit_code != 0:
            return f"{' '.join(argv)}: {exitcodes.describe(result.exit_code)}"
    return ""


def _run_one(
    prep: Prepared,
    comp: Component,
    row: PlannedComponent,
    command: Command,
    staged: Staged,
    journal: StepRecord,
    store: Store,
    options: ApplyOptions,
) -> StepRecord:
    """pre, the installer, post (always, even after a failure: Q234293), then verify."""
    variables = step_variables(prep, row, staged.folder)
    log_dir = Path(journal.log or ".").parent
    failed_pre = _run_hooks(comp.pre, variables, log_dir / f"{comp.id}.pre.log", options)
    if failed_pre:
        result = process.ProcessResult(command.argv, None, False, 0.0, None, "")
    else:
        result = _run_installer(command, staged, journal, store, options, prep.target)
    failed_post = _run_hooks(comp.post, variables, log_dir / f"{comp.id}.post.log", options)
    after = probe_component(comp, ProbeContext(open_target(prep.target), common_variables(prep)))
    got_there = reached(row.version, after.version, row.media_version)
    status, message = judge(comp, command, result, options)
    if failed_pre:
        status, message = StepStatus.FAILED, f"pre command failed, installer not run: {failed_pre}"
    elif status == StepStatus.REBOOT and not got_there:
        message += "; the new version shows after it"
    elif status == StepStatus.OK and not got_there:
        status, message = (
            StepStatus.FAILED,
            (
                "installer reported success but the version did not change "
                f"({row.version} -> {after.version}, expected {row.media_version})"
            ),
        )
    if failed_post:
        status = StepStatus.FAILED
        message = "; ".join(m for m in (message, f"post command failed: {failed_post}") if m)
    return replace(
        journal,
        status=status,
        exit_code=result.exit_code,
        duration_s=round(time.time() - journal.started, 3),
        version_after=after.version,
        log=None if command.interactive and options.has_terminal else journal.log,
        message=message,
        pid=None,
        pid_started=None,
    )


def _run_installer(
    command: Command,
    staged: Staged,
    journal: StepRecord,
    store: Store,
    options: ApplyOptions,
    target: Path,
) -> process.ProcessResult:
    def started(pid: int) -> None:
        # The journal learns the installer's process, so a resume after a crash can wait for it.
        import psutil

        try:
            created: float | None = psutil.Process(pid).create_time()
        except psutil.Error:
            created = None
        store.record_step(replace(journal, pid=pid, pid_started=created))

    attached = command.interactive and options.has_terminal
    # The run's mark, inherited by everything the installer starts: a resume after a crash
    # finds them even if the pid never reached the journal.
    env = {
        **os.environ,
        process.RUN_ENV: journal.run_id,
        process.COMPONENT_ENV: command.id,
        process.TARGET_ENV: str(target.resolve()),
    }
    return process.run(
        command.argv,
        timeout=options.timeout,
        log_path=None if attached else Path(journal.log or ""),
        cwd=staged.folder,
        env=env,
        attach=attached,
        on_start=started,
    )


def judge(
    comp: Component,
    command: Command,
    result: process.ProcessResult,
    options: ApplyOptions,
) -> tuple[StepStatus, str]:
    """(status, message) from how the installer ended; the version check comes after.

    The profile's ``exit_codes`` decide (either spelling of a Windows code above 2**31 matches);
    a code they do not name fails, with the way the process ended: ``installer exited 1603``,
    ``installer crashed: 0xC0000005 (access violation)``."""
    if result.timed_out:
        return StepStatus.TIMEOUT, f"killed with its child processes after {options.timeout:g} s"
    if result.exit_code is None:
        return StepStatus.FAILED, f"could not start {command.argv[0]}: {result.error}"
    meaning = exitcodes.meaning(comp.exit_codes, result.exit_code) or "failed"
    if meaning == "failed":
        return StepStatus.FAILED, f"installer {exitcodes.describe(result.exit_code)}"
    if meaning == "reboot":
        return StepStatus.REBOOT, "reboot required"
    return StepStatus.OK, ""


def reached(before: str | None, after: str | None, media_version: str | None) -> bool:
    if after is None or not is_version(after):
        return False
    if media_version is None or not is_version(media_version):
        # Nothing to compare against: at least the version must have moved.
        return before is None or not is_version(before) or Version(after) > Version(before)
    return Version(after) >= Version(media_version)
