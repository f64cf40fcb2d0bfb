"""``spdeploy apply``: plan, confirm, carry out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from spdeploy.errors import BadInput, Declined, PlanChanged
from spdeploy.executor import ApplyOptions, ApplyResult, Progress, apply
from spdeploy.planner import Plan
from spdeploy.session import Selection, prepare
from spdeploy.store import Store

if TYPE_CHECKING:
    from spdeploy import savedplan


def run_apply(
    profile_ref: str,
    sel: Selection,
    state: Path,
    options: ApplyOptions,
    confirm: Callable[[Plan], bool] | None = None,
    progress: Progress | None = None,
) -> ApplyResult:
    with prepare(profile_ref, sel) as prep:  # open until the executor has staged from it
        prep.profile.require(options.args, "--args")
        _confirm(prep.plan(), options, confirm)
        return apply(prep, Store(state), replace(options), progress)


def run_saved_plan(
    profile_ref: str | None,
    plan_file: Path,
    sel: Selection,
    state: Path,
    options: ApplyOptions,
    confirm: Callable[[Plan], bool] | None = None,
    progress: Progress | None = None,
) -> tuple[ApplyResult, savedplan.Check]:
    """``apply --plan FILE``: the saved plan, only while the media and the target are as it saw.

    Profile and selectors the command line leaves out come from the file. Any change refuses
    (exit 1) before anything is staged; the fingerprints then go to the executor, which checks
    each staged folder again, so the media cannot change between this check and the copy.
    """
    if options.resume:
        raise BadInput(
            "--plan cannot be combined with --resume: a resumed run has changed the target the "
            "plan was saved for; use `spdeploy apply --resume --media M --target T`"
        )
    if options.args:
        raise BadInput(
            "--plan cannot be combined with --args: the switches would run without the review "
            "the saved plan stands for; put them in a site profile and save the plan again"
        )
    from spdeploy import savedplan  # only `apply --plan` reads a saved plan

    saved = savedplan.load(plan_file)
    with prepare(profile_ref or saved.selection.profile, saved.selection.fill(sel)) as prep:
        plan = prep.plan()
        found = savedplan.check(saved, prep, plan)
        if options.dry_run:
            return apply(prep, Store(state), options, progress), found
        if not found.holds:
            raise PlanChanged(f"refusing the saved plan {plan_file}: {'; '.join(found.changes)}")
        _confirm(plan, options, confirm)
        options = replace(options, expected_fingerprints=dict(saved.fingerprints))
        return apply(prep, Store(state), options, progress), found


def saved_plan_exit_code(result: ApplyResult, found: savedplan.Check) -> int:
    """A dry run of a saved plan that no longer holds exits 1: the real one would refuse."""
    return result.exit_code or (0 if found.holds else 1)


def _confirm(plan: Plan, options: ApplyOptions, confirm: Callable[[Plan], bool] | None) -> None:
    if confirm is None or options.dry_run:
        return
    if plan.updates and not plan.missing and not confirm(plan):
        raise Declined("nothing applied: not confirmed")
