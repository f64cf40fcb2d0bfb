"""``spdeploy apply``: plan, confirm, carry out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from spdeploy.commands.common import Selection, prepare
from spdeploy.errors import BadInput
from spdeploy.executor import ApplyOptions, ApplyResult, Progress, apply
from spdeploy.planner import Plan
from spdeploy.store import Store


class Declined(BadInput):
    exit_code = 1
    code = "declined"


def parse_args_overrides(values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """``--args ID="..."``: switches for one component's installer, split like a shell would."""
    import shlex

    result: dict[str, tuple[str, ...]] = {}
    for value in values:
        cid, sep, text = value.partition("=")
        if not sep or not cid:
            raise BadInput(f'--args {value!r}: expected ID="SWITCHES", e.g. --args server="/r"')
        try:
            result[cid] = tuple(shlex.split(text))
        except ValueError as exc:
            raise BadInput(f"--args {value!r}: {exc}") from None
    return result


def run_apply(
    profile_ref: str,
    sel: Selection,
    state: Path,
    options: ApplyOptions,
    confirm: Callable[[Plan], bool] | None = None,
    progress: Progress | None = None,
) -> ApplyResult:
    prep = prepare(profile_ref, sel)
    unknown = sorted(set(options.args) - {c.id for c in prep.profile.components})
    if unknown:
        raise BadInput(f"--args {unknown[0]}=...: no such component in profile {prep.profile.id}")
    if confirm is not None and not options.dry_run:
        plan = prep.plan()
        if plan.updates and not plan.missing and not confirm(plan):
            raise Declined("nothing applied: not confirmed")
    return apply(prep, Store(state), replace(options), progress)
