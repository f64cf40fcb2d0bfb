"""``spdeploy plan`` and ``spdeploy status``: the plan is the compliance report."""

from __future__ import annotations

from pathlib import Path

from spdeploy.planner import Plan
from spdeploy.session import Selection, prepare


def make_plan(profile_ref: str, sel: Selection, save: Path | None = None) -> Plan:
    """The plan; with ``save``, also written there for ``apply --plan`` (see ``savedplan``)."""
    with prepare(profile_ref, sel) as prep:
        result = prep.plan()
        if save is not None:
            from spdeploy import savedplan

            savedplan.save(save, prep, result, sel)  # hashes the installers: media still open
    return result


def make_status(profile_ref: str, sel: Selection, state: Path) -> Plan:
    """The plan as a compliance report: with the reboot a run on the target asked for, if the
    machine has not booted since (SPEC §4: exit 3)."""
    from spdeploy import reboot

    result = make_plan(profile_ref, sel)
    pending = reboot.pending(state, Path(result.target))
    return result._replace(reboot_pending=pending)


def plan_exit_code(plan: Plan) -> int:
    """0 when every installed component can be brought to the level, 1 when one cannot (no
    installer on the media, or an update whose prerequisite would not be met: apply refuses)."""
    return 1 if plan.missing or plan.unmet_prerequisites else 0


def status_exit_code(plan: Plan) -> int:
    """0 compliant, 1 not (drift, a component left behind, or an installer missing), 3
    compliant but a reboot a run asked for has not happened yet."""
    if not plan.compliant:
        return 1
    return 3 if plan.reboot_pending is not None else 0
