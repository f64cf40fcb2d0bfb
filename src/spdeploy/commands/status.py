"""``spdeploy status``: the compliance report, on stdout and in as many files as asked.

Every ``--output`` is checked first (its format, its folder), the target is probed once, and
each file gets the same answer in its own format, written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from spdeploy.commands.plan import make_status, status_exit_code
from spdeploy.planner import Plan
from spdeploy.reports import FORMATS, NEEDS_HISTORY, output_format
from spdeploy.session import Selection

if TYPE_CHECKING:  # the history is read only for the formats that show it
    from spdeploy.records import RunRecord


class StatusReport(NamedTuple):
    plan: Plan
    runs: tuple[RunRecord, ...]  # the target's recent runs, when a format shows them
    written: tuple[Path, ...]  # the --output files

    @property
    def exit_code(self) -> int:
        return status_exit_code(self.plan)


def status(
    profile_ref: str,
    sel: Selection,
    state: Path,
    *,
    stdout_format: str,
    file_format: str | None,
    outputs: Sequence[Path],
) -> StatusReport:
    """Probe, then write each of ``outputs`` (in ``file_format`` when given, else as its
    extension says). ``stdout_format`` tells whether the history is needed for stdout too."""
    chosen = [(path, output_format(path, file_format, FORMATS)) for path in outputs]
    plan = make_status(profile_ref, sel, state)
    runs: tuple[RunRecord, ...] = ()
    if any(f in NEEDS_HISTORY for f in [stdout_format, *(f for _, f in chosen)]):
        from spdeploy.commands.history import history

        runs = tuple(history(state, target=plan.target, limit=10))
    if chosen:
        from spdeploy.fsutil import write_atomic
        from spdeploy.reports.render import render_status

        for path, fmt in chosen:
            write_atomic(path, render_status(fmt, plan, runs))
    return StatusReport(plan, runs, tuple(path for path, _ in chosen))
