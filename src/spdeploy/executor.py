"""Carry a plan out: lock, refuse early, back up, stage, run, verify, record.

Order matters more than anything here. Everything that can refuse (missing installers, an
interactive installer without a person, a bad catalog hash) is checked before the first installer
runs; each step is recorded the moment it ends, so an interruption loses nothing already done.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from spdeploy import knownfailures, process, reboot
from spdeploy.errors import (
    PlanChanged,
    Refused,
    RunInterrupted,
    SpdeployError,
    StepFailed,
    TargetError,
)
from spdeploy.inventory import scan
from spdeploy.locking import held_elsewhere, target_lock
from spdeploy.media import open_target
from spdeploy.planner import VANISHED, Finding, Plan
from spdeploy.preflight import (
    ApplyOptions,
    Command,
    commands_for,
    order_note,
    refuse_early,
)
from spdeploy.records import RunRecord, RunStatus, StepRecord, StepStatus
from spdeploy.session import Prepared
from spdeploy.staging import (
    Staged,
    check_stageable,
    read_catalog,
    stage,
    staged_size,
)
from spdeploy.steps import Progress, RunLog, Silent, attempts_of, run_steps
from spdeploy.store import Store, new_run_id


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
    # a dry run: what the real run would refuse before its first installer (None: nothing)
    refusal: SpdeployError | None = None

    @property
    def reboot_required(self) -> bool:
        return any(s.status == StepStatus.REBOOT for s in self.steps)

    @property
    def exit_code(self) -> int:
        if any(s.status in (StepStatus.FAILED, StepStatus.TIMEOUT) for s in self.steps):
            return 1
        if self.dry_run:  # what the real run would give, if every installer does its part
            if self.refusal is not None:
                return self.refusal.exit_code
            return 3 if self.reboot_pending is not None else 0
        if self.reboot_required:
            return 3
        if not (self.final or self.plan).compliant:
            return 1
        return 3 if self.reboot_pending is not None else 0


def apply(
    prep: Prepared, store: Store, options: ApplyOptions, progress: Progress | None = None
) -> ApplyResult:
    progress = progress or Silent()
    plan = prep.plan()
    if options.dry_run:
        # The real run's own pre-flight: the dry run shows the plan and the commands, and
        # predicts the real run's exit code (a refusal's, or a reboot still pending).
        commands = commands_for(prep, plan, options, store.state_dir / "runs" / "<run>" / "staged")
        refusal, pending = None, None
        try:
            held = held_elsewhere(store, prep.target)  # the real run takes the lock first
            if held is not None:
                raise held
            pending = reboot.pending(store.state_dir, prep.target)  # a damaged record refuses
            refuse_early(prep, plan, commands, options)
            # what staging would refuse (the real run learns it under the lock, before any
            # installer runs): a file the catalog lacks, a special file, a link out of the media
            catalog = read_catalog(prep.media)
            for row in plan.updates:
                assert row.installer is not None
                check_stageable(prep.media, row.installer, catalog)
        except SpdeployError as exc:
            refusal = exc
        return ApplyResult(
            plan, None, commands, dry_run=True, refusal=refusal, reboot_pending=pending
        )

    with target_lock(store, prep.target) as announce, store.session():
        return _apply_under_lock(prep, store, options, progress, announce)


def _apply_under_lock(
    prep: Prepared,
    store: Store,
    options: ApplyOptions,
    progress: Progress,
    announce: Callable[[str], None],
) -> ApplyResult:
    # a reboot record that cannot be read stops the run here, before anything is written:
    # at its end, the run could not say whether the target is finished (exit 0 or 3)
    reboot.pending(store.state_dir, prep.target)
    runs = store.runs(target=str(prep.target.resolve()), limit=20)
    previous = _resume_run(runs, prep) if options.resume else None
    run_id = previous.id if previous else new_run_id()
    announce(run_id)  # a rival's exit 4 names this run
    # Whatever an earlier, killed spdeploy left running on this target finishes first, resumed
    # or not: starting its installer again beside it is the one thing that must never happen.
    _wait_for_orphans(store, runs, options, progress, prep.target)
    for dead in runs:  # under the lock, a run still "running" is one whose spdeploy died
        if dead.status == RunStatus.RUNNING and dead.id != run_id:
            store.close_run(
                dead.id,
                RunStatus.INTERRUPTED,
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


_CUT_OFF = (RunStatus.RUNNING, RunStatus.INTERRUPTED)  # a run that stopped half-way


def _resume_run(runs: list[RunRecord], prep: Prepared) -> RunRecord | None:
    """The run ``--resume`` continues: the target's latest attempt that was not refused, if it
    stopped half-way with the same profile and media (new media is a new run).

    A run that ran no step and was not cut off (an apply with nothing to do while a reboot was
    pending) is passed over: resuming the run before it keeps that run's record of reboots,
    which the loop breaker needs.
    """
    latest = next(
        (r for r in runs if r.status != RunStatus.REFUSED and (r.steps or r.status in _CUT_OFF)),
        None,
    )
    if latest is None or latest.status not in (*_CUT_OFF, RunStatus.REBOOT):
        return None
    same_media = Path(latest.media).resolve() == Path(prep.media.location).resolve()
    if latest.profile != prep.profile.id or not same_media:
        return None
    return latest


def _wait_for_orphans(
    store: Store, runs: list[RunRecord], options: ApplyOptions, progress: Progress, target: Path
) -> None:
    """An installer started by a killed spdeploy may still be running (it has its own session):
    let it finish (up to the timeout, then kill its tree) before anything is probed or rerun.

    It is found by what it is, not only by the pid the journal may have recorded: spdeploy can
    die between starting an installer and writing its pid down. Any live process whose
    executable or command line lies in a cut-off run's staged folder, or that carries the run's
    mark in its environment, is waited for; so is any process marked as working on this
    target, though its run was recorded in another state folder.
    """
    pids = installers_at_work(store, runs, target)
    for pid, component in pids.items():
        progress.waiting(component, pid)
    if pids:
        process.wait_or_kill(list(pids), options.timeout)


def installers_at_work(store: Store, runs: list[RunRecord], target: Path) -> dict[int, str]:
    """Process id -> component of every installer an earlier, killed spdeploy left running on
    ``target`` (see :func:`_wait_for_orphans`); ``runs`` are the target's recent runs here."""
    cut_off = [r for r in runs if r.status in _CUT_OFF]
    staged = {r.id: store.run_dir(r.id) / "staged" for r in cut_off}
    pids = {o.pid: o.component or "an earlier step" for o in process.orphans(target, staged)}
    for run in cut_off:
        for step in run.steps:  # the journal's own record, for an installer run elsewhere
            pid = step.pid
            known = step.status == StepStatus.RUNNING and pid is not None and pid not in pids
            if known and pid is not None and _same_process(pid, step.pid_started):
                pids[pid] = step.component
    return pids


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
    return prep._replace(inventory=inventory)


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
                status=RunStatus.RUNNING,
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
    attempts = attempts_of(previous)

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
        steps = run_steps(
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
    try:
        pending = reboot.pending(store.state_dir, prep.target)
    except TargetError as exc:  # readable when the run began: damaged since, by someone else
        log.write(f"{exc.message}; counted as no reboot pending")
        pending = None
    result = replace(result, final=final._replace(reboot_pending=pending), reboot_pending=pending)
    status = {0: RunStatus.OK, 3: RunStatus.REBOOT}.get(result.exit_code, RunStatus.FAILED)
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
    return final._replace(findings=(*final.findings, *findings)) if findings else final


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
        store.close_run(run_id, RunStatus.REFUSED, exc.exit_code, exc.message)
    else:  # a refused resume leaves the run as it was: still resumable
        store.close_run(
            run_id, RunStatus.INTERRUPTED, exc.exit_code, f"resume refused: {exc.message}"
        )


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
    store.close_run(run_id, RunStatus.INTERRUPTED, code, message)


def _raise_interrupted(exc: BaseException, run_id: str, prep: Prepared) -> None:
    """Ctrl-C leaves as a :class:`RunInterrupted`, which names the run to resume."""
    if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, RunInterrupted):
        profile = prep.profile
        builtin = profile.source.startswith("<built-in ")
        selection = [
            ("--profile", profile.id if builtin else profile.source),
            ("--language", prep.language),
            ("--platform", prep.platform),
        ]
        if len(prep.components) < len(profile.components):
            selection.append(("--only", ",".join(c.id for c in prep.components)))
        media, target = prep.media.location, str(prep.target)
        raise RunInterrupted(run_id, media, target, tuple(selection)) from None


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


def _final_plan(prep: Prepared) -> Plan:
    return _rescan(prep).plan()


__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "Command",
    "Progress",
    "Silent",
    "apply",
    "installers_at_work",
]
