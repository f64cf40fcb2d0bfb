"""Carry a plan out: lock, refuse early, back up, stage, run, verify, record.

Order matters more than anything here. Everything that can refuse (missing installers, an
interactive installer without a person, a bad catalog hash) is checked before the first installer
runs; each step is recorded the moment it ends, so an interruption loses nothing already done.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from spdeploy import exitcodes, knownfailures, process, reboot
from spdeploy.commands.common import Prepared, locate_all
from spdeploy.errors import (
    BadInput,
    NeedsTerminal,
    PlanChanged,
    Refused,
    RunInterrupted,
    SpdeployError,
    StepFailed,
)
from spdeploy.inventory import probe_component, scan, target_variables
from spdeploy.locking import target_lock
from spdeploy.media import open_target
from spdeploy.planner import MISSING, UPDATE, VANISHED, Finding, Plan, PlannedComponent
from spdeploy.planner import plan as make_plan
from spdeploy.probes import ProbeContext
from spdeploy.profile import Component
from spdeploy.staging import (
    Staged,
    file_sha256,
    read_catalog,
    stage,
    staged_path,
    staged_size,
)
from spdeploy.store import MANIFEST_SUFFIX, RunRecord, StepRecord, Store, new_run_id
from spdeploy.versions import Version, is_version

OK, FAILED, SKIPPED, TIMEOUT, REBOOT = "ok", "failed", "skipped", "timeout", "reboot-required"


@dataclass(frozen=True)
class ApplyOptions:
    timeout: float = 3600.0
    dry_run: bool = False
    resume: bool = False
    args: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # --args ID="..."
    has_terminal: bool = False  # a person can answer an interactive installer
    # apply --plan: component id -> installer folder fingerprint the saved plan recorded, for
    # every component it would update (None: no saved plan)
    expected_fingerprints: Mapping[str, str] | None = None
    # --ignore-order: --only/--skip may leave out an `after` prerequisite below the level
    ignore_order: bool = False
    # refuse before anything runs while the system itself waits for a reboot (else: a warning)
    refuse_on_pending_reboot: bool = False


@dataclass(frozen=True)
class Command:
    """One installer invocation, as it will run (or would, under --dry-run)."""

    id: str
    argv: tuple[str, ...]
    interactive: bool


@dataclass(frozen=True)
class ApplyResult:
    plan: Plan
    run_id: str | None
    commands: tuple[Command, ...]
    steps: tuple[StepRecord, ...] = ()
    final: Plan | None = None  # compliance after the run
    dry_run: bool = False
    resumed: bool = False  # --resume continued an interrupted run (else it started a new one)
    # a reboot a run on this target asked for, not yet done (this run's own included)
    reboot_pending: reboot.RebootPending | None = None
    todo_after: tuple[knownfailures.ToDo, ...] = ()  # follow-ups the articles require

    @property
    def reboot_required(self) -> bool:
        return any(s.status == REBOOT for s in self.steps)

    @property
    def exit_code(self) -> int:
        if any(s.status in (FAILED, TIMEOUT) for s in self.steps):
            return 1
        if self.dry_run:
            return 1 if self.plan.missing else 0
        if self.reboot_required:
            return 3
        if not (self.final or self.plan).compliant:
            return 1
        return 3 if self.reboot_pending is not None else 0


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


def _render(template: str, variables: Mapping[str, str]) -> str:
    from spdeploy.templates import render

    return render(template, variables)  # the profile's templates were checked when it loaded


def step_args(component: Component, options: ApplyOptions) -> tuple[str, ...]:
    return options.args.get(component.id, component.args)


def is_interactive(component: Component, options: ApplyOptions) -> bool:
    """Interactive unless switches were supplied (SPEC §8): never guess a quiet switch."""
    return component.interactive and not step_args(component, options)


def commands_for(
    prep: Prepared, plan: Plan, options: ApplyOptions, staged_root: Path
) -> tuple[Command, ...]:
    result = []
    for row in plan.updates:
        comp = prep.profile.component(row.id)
        env = step_variables(prep, row, staged_root / row.id)
        argv = (env["installer"], *(_render(a, env) for a in step_args(comp, options)))
        result.append(Command(row.id, argv, is_interactive(comp, options)))
    return tuple(result)


def _variables(prep: Prepared) -> dict[str, str]:
    return {
        **target_variables(prep.target),
        "media": prep.media.location,
        "platform": prep.platform,
        "language": prep.language,
    }


def step_variables(prep: Prepared, row: PlannedComponent, staged_dir: Path) -> dict[str, str]:
    """Every placeholder a profile may use in args, pre/post and logs (profile.PLACEHOLDERS)."""
    assert row.installer is not None
    local = staged_path(staged_dir, row.installer)
    return {
        **_variables(prep),
        "language": row.language or prep.language,
        "staged": str(staged_dir),
        "installer": str(local),
    }


def refuse_early(
    prep: Prepared, plan: Plan, commands: tuple[Command, ...], opts: ApplyOptions
) -> None:
    """Everything that must stop a run before anything runs."""
    if plan.missing:
        listed = "; ".join(f"{c.id}: {c.reason}" for c in plan.missing)
        raise Refused(f"refusing to apply: installed component(s) cannot be updated ({listed})")
    needy = [c.id for c in commands if c.interactive]
    if needy and not opts.has_terminal:
        first = needy[0]
        raise NeedsTerminal(
            f"component(s) {', '.join(needy)}: installer needs a person (no quiet switch is "
            f"documented) and there is no terminal; run from a console, or supply switches with "
            f'--args {first}="..." or "args" in a site profile'
        )
    if not opts.ignore_order:
        left_out = prerequisites_left_out(prep, plan)
        if left_out:
            raise BadInput(_order_message(prep, left_out))
    # Levels a component requires (Q247785) hold whatever the order: --ignore-order does not
    # lift them.
    if plan.unmet_prerequisites:
        listed = "; ".join(f.message for f in plan.unmet_prerequisites)
        raise Refused(f"refusing to apply: a prerequisite is not met ({listed})")
    # the system's own pending reboot: refused only when asked (else apply warns)
    pending = plan.system_reboot_signals
    if (
        pending
        and plan.updates
        and (opts.refuse_on_pending_reboot or prep.profile.refuse_on_pending_reboot)
    ):
        asked = (
            "--refuse-on-pending-reboot"
            if opts.refuse_on_pending_reboot
            else f"profile {prep.profile.id}: refuse_on_pending_reboot"
        )
        raise Refused(
            "refusing to apply: the system is waiting for a reboot of its own "
            f"({'; '.join(s.describe() for s in pending)}), and installers fail then; reboot "
            f"first ({asked})"
        )


def prerequisites_left_out(prep: Prepared, plan: Plan) -> list[tuple[str, PlannedComponent]]:
    """(component, prerequisite) pairs where a component that will be updated runs ``after`` a
    component that ``--only``/``--skip`` left out and that is itself below the media's level:
    running it first is the order the profile forbids (the server before its connectors,
    Q244473)."""
    chosen = {c.id for c in prep.components}
    updating = [prep.profile.component(r.id) for r in plan.updates]
    wanted = {a for c in updating for a in c.after if a not in chosen}
    if not wanted:
        return []
    extra = tuple(c for c in prep.profile.ordered() if c.id in wanted)
    inventory = scan(prep.profile, open_target(prep.target), prep.target, extra)
    variables = target_variables(prep.target)
    located = locate_all(prep.profile, prep.media, extra, prep.language, prep.platform, variables)
    rows = make_plan(
        prep.profile,
        extra,
        inventory,
        located,
        media=prep.media.location,
        language=prep.language,
        platform=prep.platform,
    ).components
    behind = {r.id: r for r in rows if r.action in (UPDATE, MISSING)}
    return [(c.id, behind[a]) for c in updating for a in c.after if a in behind]


def _order_message(prep: Prepared, left_out: list[tuple[str, PlannedComponent]]) -> str:
    cid, first = left_out[0]
    selected = [c.id for c in prep.components]
    level = first.level or first.version or "an unknown version"
    media = first.media_level or first.media_version or "the media's level"
    return (
        f"{cid} runs after {first.id} (the profile's `after`), but {first.id} is left out of "
        f"the selection and is at {level}, below {media}: include it "
        f"(--only {','.join([first.id, *(s for s in selected if s != first.id)])}), or pass "
        f"--ignore-order to run {cid} first anyway"
    )


def order_note(prep: Prepared, plan: Plan) -> str:
    """What ``--ignore-order`` let through, for the history."""
    left_out = prerequisites_left_out(prep, plan)
    if not left_out:
        return "--ignore-order (no prerequisite below the level was left out)"
    pairs = ", ".join(
        f"{cid} before {row.id} ({row.version or 'version unknown'})" for cid, row in left_out
    )
    return f"--ignore-order: {pairs}"


def apply(
    prep: Prepared, store: Store, options: ApplyOptions, progress: Progress | None = None
) -> ApplyResult:
    progress = progress or Silent()
    plan = prep.plan()
    if options.dry_run:
        commands = commands_for(prep, plan, options, store.state_dir / "runs" / "<run>" / "staged")
        # A dry run shows everything, refusals included: the exit code carries missing-on-media.
        return ApplyResult(plan, None, commands, dry_run=True)

    with target_lock(store, prep.target) as announce:
        return _apply_under_lock(prep, store, options, progress, announce)


def _apply_under_lock(
    prep: Prepared,
    store: Store,
    options: ApplyOptions,
    progress: Progress,
    announce: Callable[[str], None],
) -> ApplyResult:
    runs = store.runs(target=str(prep.target.resolve()), limit=20)
    previous = _resume_run(runs, prep) if options.resume else None
    run_id = previous.id if previous else new_run_id()
    announce(run_id)  # a rival's exit 4 names this run
    # Whatever an earlier, killed spdeploy left running on this target finishes first, resumed
    # or not: starting its installer again beside it is the one thing that must never happen.
    _wait_for_orphans(store, runs, options, progress)
    for dead in runs:  # under the lock, a run still "running" is one whose spdeploy died
        if dead.status == "running" and dead.id != run_id:
            store.close_run(
                dead.id,
                "interrupted",
                None,
                "spdeploy stopped during this run (killed, or the "
                "machine went down); a later run took over",
            )
    if previous is not None:
        store.reopen_run(run_id)
    # Probe again under the lock: while this apply waited (at the prompt, or for an
    # installer left running), another may have finished, or a reboot changed the truth.
    prep = _rescan(prep)
    plan = prep.plan()
    return _apply_locked(prep, plan, store, options, progress, run_id, previous)


def _resume_run(runs: list[RunRecord], prep: Prepared) -> RunRecord | None:
    """The run ``--resume`` continues: the target's latest attempt that was not refused, if it
    stopped half-way with the same profile and media (new media is a new run).

    A run that ran no step and was not cut off (an apply with nothing to do while a reboot was
    pending) is passed over: resuming the run before it keeps that run's record of reboots,
    which the loop breaker needs.
    """
    latest = next(
        (
            r
            for r in runs
            if r.status != "refused" and (r.steps or r.status in ("running", "interrupted"))
        ),
        None,
    )
    if latest is None or latest.status not in ("running", REBOOT, "interrupted"):
        return None
    same_media = Path(latest.media).resolve() == Path(prep.media.location).resolve()
    if latest.profile != prep.profile.id or not same_media:
        return None
    return latest


def _wait_for_orphans(
    store: Store, runs: list[RunRecord], options: ApplyOptions, progress: Progress
) -> None:
    """An installer started by a killed spdeploy may still be running (it has its own session):
    let it finish (up to the timeout, then kill its tree) before anything is probed or rerun.

    It is found by what it is, not only by the pid the journal may have recorded: spdeploy can
    die between starting an installer and writing its pid down. Any live process whose
    executable or command line lies in a cut-off run's staged folder, or that carries the run's
    mark in its environment, is waited for.
    """
    cut_off = [r for r in runs if r.status in ("running", "interrupted")]
    if not cut_off:
        return
    pids: dict[int, str] = {}
    for run in cut_off:
        for orphan in process.orphans(run.id, store.run_dir(run.id) / "staged"):
            pids.setdefault(orphan.pid, orphan.component or "an earlier step")
        for step in run.steps:  # the journal's own record, for an installer run elsewhere
            pid = step.pid
            known = step.status == "running" and pid is not None and pid not in pids
            if known and pid is not None and _same_process(pid, step.pid_started):
                pids[pid] = step.component
    for pid, component in pids.items():
        progress.waiting(component, pid)
    if pids:
        process.wait_or_kill(list(pids), options.timeout)


def _same_process(pid: int, started: float | None) -> bool:
    """``pid`` is alive and is the process the journal recorded (not a reused pid)."""
    import psutil

    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        return False
    return started is None or abs(created - started) <= 1


def _rescan(prep: Prepared) -> Prepared:
    inventory = scan(prep.profile, open_target(prep.target), prep.target, prep.components)
    return replace(prep, inventory=inventory)


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


def _apply_locked(
    prep: Prepared,
    plan: Plan,
    store: Store,
    options: ApplyOptions,
    progress: Progress,
    run_id: str,
    previous: RunRecord | None,
) -> ApplyResult:
    seq = max((s.seq for s in previous.steps), default=0) if previous else 0
    run_dir = store.run_dir(run_id)
    log = RunLog(run_dir / "run.log")
    commands = commands_for(prep, plan, options, run_dir / "staged")
    if previous is None:
        store.open_run(
            RunRecord(
                id=run_id,
                profile=prep.profile.id,
                target=str(prep.target.resolve()),
                media=prep.media.location,
                language=prep.language,
                platform=prep.platform,
                started=time.time(),
                finished=None,
                status="running",
                exit_code=None,
                message="",
            )
        )
    log.write(
        f"{'resumed' if previous else 'opened'} run {run_id}: {prep.profile.id} on "
        f"{prep.target} from {prep.media.location} ({prep.language}, {prep.platform}); "
        f"{len(commands)} installer(s) to run"
    )
    try:
        refuse_early(prep, plan, commands, options)
        if options.ignore_order:
            store.add_run_note(run_id, order_note(prep, plan))
    except SpdeployError as exc:  # recorded: the history shows every attempt, refused ones too
        log.write(f"refused: {exc.message}")
        _refused(store, run_id, previous, exc)
        raise
    attempts = _attempts(previous)

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        _check_free_space(prep, plan, run_dir)
        staged = _stage_all(prep, plan, run_dir / "staged", options, progress, log)
    except SpdeployError as exc:  # a catalog mismatch or a hostile medium: nothing has run
        shutil.rmtree(run_dir / "staged", ignore_errors=True)
        log.write(f"refused: {exc.message}")
        _refused(store, run_id, previous, exc)
        raise
    except OSError as exc:  # a full disk, a folder gone read-only: nothing has run either
        shutil.rmtree(run_dir / "staged", ignore_errors=True)
        failed = StepFailed(
            f"{exc.filename or run_dir}: cannot stage the installers ({exc.strerror or exc}); "
            "nothing was run"
        )
        log.write(f"failed: {failed.message}")
        _refused(store, run_id, previous, failed)
        raise failed from None
    except BaseException as exc:
        _interrupted(store, run_id, exc, log)
        _raise_interrupted(exc, run_id, prep)
        raise
    try:
        steps = _run_steps(
            prep, plan, commands, staged, store, (run_id, seq), attempts, options, progress, log
        )
        final = _final_plan(prep)
    except BaseException as exc:
        _interrupted(store, run_id, exc, log)
        _raise_interrupted(exc, run_id, prep)
        raise
    final = _vanished(plan, previous, final)
    result = ApplyResult(
        plan,
        run_id,
        commands,
        tuple(steps),
        final,
        resumed=previous is not None,
        todo_after=knownfailures.todo_after(prep.profile, plan, steps),
    )
    if result.reboot_required:
        reboot.record(store.state_dir, prep.target, run_id)
    pending = reboot.pending(store.state_dir, prep.target)
    result = replace(result, final=replace(final, reboot_pending=pending), reboot_pending=pending)
    status = {0: OK, 3: REBOOT}.get(result.exit_code, FAILED)
    message = _closing_message(result)
    store.close_run(run_id, status, result.exit_code, message)
    log.write(f"closed: {status} (exit {result.exit_code}){': ' + message if message else ''}")
    if result.exit_code == 0:
        shutil.rmtree(run_dir / "staged", ignore_errors=True)  # copies of the media: not needed
    return result


def _closing_message(result: ApplyResult) -> str:
    """What the history says of a run that did not simply end at the level."""
    final = result.final or result.plan
    parts = [f"[{f.code}] {f.message}" for f in final.findings if f.code == VANISHED]
    pending = result.reboot_pending
    if pending is not None and not result.reboot_required:
        parts.append(
            f"a reboot run {pending.run_id} asked for is still pending (the machine has not "
            "booted since)"
        )
    return "; ".join(parts)


def _vanished(plan: Plan, previous: RunRecord | None, final: Plan) -> Plan:
    """A component installed when the run began and absent at its end is a finding (SPEC §5):
    an installer removed it, or someone deleted it meanwhile. Either way it is not at the
    level, and "absent, nothing to do" must not pass for compliance."""
    seen: dict[str, str | None] = {}
    for step in previous.steps if previous else ():
        if step.version_before is not None:  # the first attempt saw it installed
            seen.setdefault(step.component, step.version_before)
    for row in plan.components:
        if row.installed:
            seen.setdefault(row.id, row.version)
    findings = [
        Finding(
            VANISHED,
            f"{c.id} ({c.name}) was installed{f' at {seen[c.id]}' if seen[c.id] else ''} when "
            f"the run began and is absent at its end: {c.reason}",
            (c.id,),
        )
        for c in final.components
        if c.id in seen and not c.installed
    ]
    return replace(final, findings=(*final.findings, *findings)) if findings else final


def _check_free_space(prep: Prepared, plan: Plan, run_dir: Path) -> None:
    """Refuse before copying anything when the installer folders cannot fit: a full disk half
    way through staging helps nobody, and an archive whose members claim hundreds of MB is
    stopped here before it fills the disk."""
    need = sum(staged_size(prep.media, r.installer) for r in plan.updates if r.installer)
    if not need:
        return
    try:
        free = shutil.disk_usage(run_dir).free
    except OSError:
        return  # the copy itself will say what is wrong
    if need > free:
        raise StepFailed(
            f"{run_dir}: not enough free space to stage the installers (they need "
            f"{_size(need)}, {_size(free)} free); nothing was run: free space, or use another "
            "--state folder"
        )


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} bytes"


def _refused(store: Store, run_id: str, previous: RunRecord | None, exc: SpdeployError) -> None:
    if previous is None:
        store.close_run(run_id, "refused", exc.exit_code, exc.message)
    else:  # a refused resume leaves the run as it was: still resumable
        store.close_run(run_id, "interrupted", exc.exit_code, f"resume refused: {exc.message}")


def _interrupted(store: Store, run_id: str, exc: BaseException, log: RunLog) -> None:
    """Ctrl-C (130) or a crash (its exit code, 70 for a bug): record it, keep it resumable."""
    if isinstance(exc, KeyboardInterrupt):
        code, message = 130, "interrupted by Ctrl-C"
    else:
        code = getattr(exc, "exit_code", 70)
        detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        message = f"stopped by an error: {detail}"
    message += "; continue it with `spdeploy apply --resume`"
    log.write(f"interrupted: {message}")
    store.close_run(run_id, "interrupted", code, message)


def _raise_interrupted(exc: BaseException, run_id: str, prep: Prepared) -> None:
    """Ctrl-C leaves as a :class:`RunInterrupted`, which names the run to resume."""
    if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, RunInterrupted):
        raise RunInterrupted(run_id, prep.media.location, str(prep.target)) from None


def _stage_all(
    prep: Prepared,
    plan: Plan,
    root: Path,
    options: ApplyOptions,
    progress: Progress,
    log: RunLog,
) -> dict[str, Staged]:
    catalog = read_catalog(prep.media)
    staged = {}
    try:
        saved = options.expected_fingerprints
        for row in plan.updates:
            assert row.installer is not None
            # Under the lock the target was probed again: it may have fallen behind since the
            # saved plan was checked, and an update nobody reviewed is not the plan.
            if saved is not None and row.id not in saved:
                raise PlanChanged(
                    f"{row.id}: needs an update the saved plan did not list (the target changed "
                    "after the plan was checked); refused: save the plan again and review it"
                )
            size = staged_size(prep.media, row.installer)
            log.write(f"staging {row.id}: {prep.media.display(row.installer)} ({size} bytes)")
            progress.staging(row.id, size)
            # A resumed run stages again into its own folder: start empty, so no file of an
            # earlier attempt lies beside the installer.
            shutil.rmtree(root / row.id, ignore_errors=True)
            staged[row.id] = stage(
                prep.media, row.id, row.installer, root / row.id, catalog, progress.staged_bytes
            )
            if saved is not None and staged[row.id].fingerprint != (expected := saved[row.id]):
                raise Refused(
                    f"{row.id}: the installer folder changed since the plan was saved "
                    f"(fingerprint {expected}, now {staged[row.id].fingerprint}); refused"
                )
    finally:
        progress.staging_done()
    return staged


def backup_manifest(run_dir: Path, component: str) -> Path:
    """What a step backed up: written last, so its presence means the copy is whole."""
    return run_dir / "backup" / f"{component}{MANIFEST_SUFFIX}"


def _backup(prep: Prepared, comp: Component, run_dir: Path) -> None:
    """Copy the component's ``backup`` paths (trees, timestamps kept) before it runs.

    Once per run: a step rerun after a crash must not overwrite the first, untouched copy with
    files its interrupted installer may already have changed.
    """
    manifest = backup_manifest(run_dir, comp.id)
    if not comp.backup or manifest.exists():
        return
    tree = open_target(prep.target)
    files: list[dict[str, object]] = []
    root = run_dir / "backup" / comp.id
    # No manifest: anything in root is a copy interrupted before this installer ran. Start
    # afresh: copytree cannot copy a symlink over the one copied the first time (every resume
    # died there), and a file deleted from the target since would come back on restore.
    shutil.rmtree(root, ignore_errors=True)
    rels = {rel for path in comp.backup if (rel := tree.find(path)) is not None}
    for rel in sorted(rels):
        # A path inside another backup path is copied with it: twice would fail on a symlink.
        if any(rel != top and (not top or rel.startswith(f"{top}/")) for top in rels):
            continue
        src = prep.target / rel
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest)
    for copied in sorted(root.rglob("*")) if root.exists() else []:
        if copied.is_file() and not copied.is_symlink():
            info = copied.stat()
            rel = copied.relative_to(root).as_posix()
            # restore refuses a copy that changed, even in place
            digest = file_sha256(copied)
            entry = {"path": rel, "size": info.st_size, "mtime": info.st_mtime, "sha256": digest}
            files.append(entry)
    payload = {
        "component": comp.id,
        "target": str(prep.target.resolve()),
        "paths": list(comp.backup),
        "files": files,
    }
    tmp = manifest.with_suffix(".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    tmp.replace(manifest)


def _collect_logs(
    prep: Prepared, comp: Component, run_dir: Path, variables: dict[str, str]
) -> None:
    taken: set[str] = set()
    for template in comp.logs:
        path = Path(_render(template, variables))
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


def _attempts(previous: RunRecord | None) -> dict[str, list[str]]:
    """Component id -> how each earlier start in this run ended (for the loop breaker)."""
    seen: dict[str, list[str]] = {}
    for step in previous.steps if previous else ():
        if step.status != SKIPPED:
            seen.setdefault(step.component, []).append(step.status)
    return seen


def _run_steps(
    prep: Prepared,
    plan: Plan,
    commands: tuple[Command, ...],
    staged: dict[str, Staged],
    store: Store,
    key: tuple[str, int],  # (run id, last step number recorded)
    attempts: dict[str, list[str]],
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
            step = _not_run(run_id, seq, row, SKIPPED, f"not run: {stopped}")
        elif earlier.count(REBOOT) >= 2 or len(earlier) >= _MAX_STARTS:
            step = _not_run(run_id, seq, row, FAILED, _loop_message(earlier))
        else:
            # The journal: the step is in the history before it touches anything.
            journal = StepRecord(
                run_id, seq, comp.id, "running", None, time.time(), 0.0, row.version, None,
                str(run_dir / "logs" / f"{comp.id}.log"), "started",
            )  # fmt: skip
            store.record_step(journal)
            try:
                _backup(prep, comp, run_dir)
            except OSError as exc:  # a dangling link, an unreadable file: no copy, no installer
                step = _not_run(run_id, seq, row, FAILED, f"backup failed, not run: {exc}")
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
                if REBOOT in earlier and not _reached_level(step, row):
                    # It asked for a reboot before, the reboot came, and it is still not done.
                    message = _loop_message([*earlier, step.status])
                    step = replace(step, status=FAILED, message=message)
                _collect_logs(
                    prep, comp, run_dir, step_variables(prep, row, staged[command.id].folder)
                )
                if step.status in (FAILED, TIMEOUT) and comp.known_failures:
                    step = _diagnose(prep, comp, step, resolve, before)
        if step.status in (FAILED, TIMEOUT):
            stopped = f"{command.id} {step.status}"
        elif step.status == REBOOT and step.exit_code == 1641:
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
        path = Path(_render(template, variables))
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
    runs = [s for s in planned if s.status != SKIPPED]
    if not runs:  # none of them started
        return None
    names = ", ".join(s.component for s in runs)
    after = probe_component(comp, ProbeContext(open_target(prep.target), _variables(prep)))
    readable = after.version is not None and is_version(after.version)
    if readable and _reached(row.version, after.version, row.media_version):
        status = OK
        message = f"brought along by {names}; level proven by {after.source}: {after.version}"
    elif any(s.status != OK for s in planned):
        status = SKIPPED
        ended = ", ".join(f"{s.component} {s.status}" for s in planned)
        message = f"not brought to the level: the runs that service it did not all end ok ({ended})"
    elif readable:
        status = FAILED
        message = (
            f"not brought to the level by {names}, which ended ok: {after.source} shows "
            f"{after.version}, expected {row.media_version}"
        )
    else:
        status = OK
        message = (
            f"no file of its own readable here ({after.source}); level proven by the run(s) "
            f"that service it: {names} reached the media's level"
        )
    now = time.time()
    return StepRecord(
        run_id, seq, comp.id, status, None, now, 0.0, row.version, after.version, None, message
    )


def _not_run(run_id: str, seq: int, row: PlannedComponent, status: str, why: str) -> StepRecord:
    return StepRecord(
        run_id, seq, row.id, status, None, time.time(), 0.0, row.version, row.version, None, why
    )


def _loop_message(earlier: list[str]) -> str:
    reboots = earlier.count(REBOOT)
    return (
        f"still not at the media's level after {len(earlier)} start(s) in this run "
        f"({reboots} asked for a reboot); stopping instead of looping: read its setup log, "
        "then start a new run with `spdeploy apply`"
    )


def _reached_level(step: StepRecord, row: PlannedComponent) -> bool:
    return step.status == OK or (
        step.status == REBOOT and _reached(row.version, step.version_after, row.media_version)
    )


def _run_hooks(
    commands: tuple[tuple[str, ...], ...],
    variables: Mapping[str, str],
    log_path: Path,
    options: ApplyOptions,
) -> str:
    """Run pre/post commands in order, stopping at the first failure; '' or what failed."""
    for template in commands:
        argv = [_render(a, variables) for a in template]
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
        result = _run_installer(command, staged, journal, store, options)
    failed_post = _run_hooks(comp.post, variables, log_dir / f"{comp.id}.post.log", options)
    after = probe_component(comp, ProbeContext(open_target(prep.target), _variables(prep)))
    reached = _reached(row.version, after.version, row.media_version)
    status, message = judge(comp, command, result, options)
    if failed_pre:
        status, message = FAILED, f"pre command failed, installer not run: {failed_pre}"
    elif status == REBOOT and not reached:
        message += "; the new version shows after it"
    elif status == OK and not reached:
        status, message = (
            FAILED,
            (
                "installer reported success but the version did not change "
                f"({row.version} -> {after.version}, expected {row.media_version})"
            ),
        )
    if failed_post:
        status = FAILED
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
    command: Command, staged: Staged, journal: StepRecord, store: Store, options: ApplyOptions
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
    env = {**os.environ, process.RUN_ENV: journal.run_id, process.COMPONENT_ENV: command.id}
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
) -> tuple[str, str]:
    """(status, message) from how the installer ended; the version check comes after.

    The profile's ``exit_codes`` decide (either spelling of a Windows code above 2**31 matches);
    a code they do not name fails, with the way the process ended: ``installer exited 1603``,
    ``installer crashed: 0xC0000005 (access violation)``."""
    if result.timed_out:
        return TIMEOUT, f"killed with its child processes after {options.timeout:g} s"
    if result.exit_code is None:
        return FAILED, f"could not start {command.argv[0]}: {result.error}"
    meaning = exitcodes.meaning(comp.exit_codes, result.exit_code) or "failed"
    if meaning == "failed":
        return FAILED, f"installer {exitcodes.describe(result.exit_code)}"
    if meaning == "reboot":
        return REBOOT, "reboot required"
    return OK, ""


def _reached(before: str | None, after: str | None, media_version: str | None) -> bool:
    if after is None or not is_version(after):
        return False
    if media_version is None or not is_version(media_version):
        # Nothing to compare against: at least the version must have moved.
        return before is None or not is_version(before) or Version(after) > Version(before)
    return Version(after) >= Version(media_version)


def _final_plan(prep: Prepared) -> Plan:
    return _rescan(prep).plan()


__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "Command",
    "Progress",
    "RunLog",
    "apply",
    "commands_for",
    "order_note",
    "prerequisites_left_out",
    "refuse_early",
    "step_args",
]
