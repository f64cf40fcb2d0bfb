"""What the history holds: runs and their steps, as records, and the statuses they may have.

Statuses are spelled once, here, as ``StrEnum``s: they compare equal to their strings, so the
JSON, the database and the renderers read them as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spdeploy.knownfailures import Hit


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    REBOOT = "reboot-required"
    REFUSED = "refused"  # stopped before anything ran
    INTERRUPTED = "interrupted"  # Ctrl-C, a crash, a kill: resumable


class StepStatus(StrEnum):
    RUNNING = "running"  # the journal: written before the step acts
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMEOUT = "timeout"
    REBOOT = "reboot-required"
    INTERRUPTED = "interrupted"  # spdeploy stopped during it


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    seq: int
    component: str
    status: StepStatus
    exit_code: int | None
    started: float
    duration_s: float
    version_before: str | None
    version_after: str | None
    log: str | None
    message: str = ""
    pid: int | None = None
    pid_started: float | None = None
    known_failures: tuple[Hit, ...] = ()  # what the profile knows about this step's failure


@dataclass(frozen=True)
class RunRecord:
    id: str
    profile: str
    target: str
    media: str
    language: str | None
    platform: str | None
    started: float
    finished: float | None
    status: RunStatus
    exit_code: int | None
    message: str
    notes: str = ""  # what the run was told to overlook (--ignore-order)
    steps: tuple[StepRecord, ...] = ()
    folder: str | None = None  # the run's folder: step logs, collected logs, backups
    collected: tuple[str, ...] = ()  # setup logs copied after each step (paths)
    backups: tuple[str, ...] = ()  # backup manifests (paths), one per component backed up
