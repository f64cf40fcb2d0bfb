"""``spdeploy plan`` and ``spdeploy status``: the plan is the compliance report."""

from __future__ import annotations

from pathlib import Path

from spdeploy.commands.common import Selection, prepare
from spdeploy.planner import Plan


def make_plan(profile_ref: str, sel: Selection, save: Path | None = None) -> Plan:
    """The plan; with ``save``, also written there for ``apply --plan`` (see ``savedplan``)."""
    prep = prepare(profile_ref, sel)
    result = prep.plan()
    if save is not None:
        from spdeploy import savedplan

        savedplan.save(save, prep, result, sel)
    return result


def plan_exit_code(plan: Plan) -> int:
    """0 when every installed component can be brought to the level, 1 when one cannot (no
    installer on the media, or an update whose prerequisite would not be met: apply refuses)."""
    return 1 if plan.missing or plan.unmet_prerequisites else 0


def status_exit_code(plan: Plan) -> int:
    """0 compliant, 1 not (drift, a component left behind, or an installer missing)."""
    return 0 if plan.compliant else 1
