"""Before anything runs: the options of a run, the exact commands it would start, and every
check that must refuse it first (missing installers, an installer that needs a person, a
prerequisite left out or below its level, a pending system reboot when asked to refuse).

One pre-flight serves the real run and the dry run alike, so a dry run predicts the real run's
exit code (SPEC §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from spdeploy.errors import (
    BadInput,
    NeedsTerminal,
    Refused,
)
from spdeploy.inventory import scan, target_variables
from spdeploy.media import open_target
from spdeploy.planner import MISSING, UPDATE, Plan, PlannedComponent
from spdeploy.planner import plan as make_plan
from spdeploy.profile import Component
from spdeploy.session import Prepared, locate_all
from spdeploy.staging import (
    staged_path,
)


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


def render(template: str, variables: Mapping[str, str]) -> str:
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
        argv = (env["installer"], *(render(a, env) for a in step_args(comp, options)))
        result.append(Command(row.id, argv, is_interactive(comp, options)))
    return tuple(result)


def common_variables(prep: Prepared) -> dict[str, str]:
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
        **common_variables(prep),
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
