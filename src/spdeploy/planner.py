"""``plan(...)``: one action per component, in execution order, each with its reason.

A pure function over what the probes already saw; no I/O here, so every rule is testable on
records alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple

from spdeploy.inventory import Installed, Inventory
from spdeploy.media.locate import Located
from spdeploy.profile import Component, Profile
from spdeploy.versions import Version, is_version, level_name

if TYPE_CHECKING:
    from spdeploy.reboot import RebootPending
    from spdeploy.rebootsignals import Signal

UPDATE, CURRENT, ABSENT, MISSING = "update", "current", "absent", "missing-on-media"
# Findings (SPEC §5): the core at the level with its components behind (Q242250); a component
# installed when an apply began and absent at its end; a component behind with nothing that
# services it to run; an update that would run below its `requires` level.
BEHIND, VANISHED = "core-updated-components-behind", "component-vanished"
NOT_SERVICED, PREREQUISITE = "component-not-serviced", "prerequisite-not-met"


class PlannedComponent(NamedTuple):
    id: str
    name: str
    installed: bool
    version: str | None
    media_version: str | None
    action: str
    installer: str | None
    reason: str
    level: str | None = None
    media_level: str | None = None
    language: str | None = None
    note: str = ""  # the reason in a few words, for a table that fits 80 columns
    # a component with no installer of its own: the update whose installer brings it along
    brought_along_by: str | None = None


class Finding(NamedTuple):
    """A fact about the suite as a whole, reported before the per-component rows. Every finding
    is a reason the target is not compliant: there are no informational ones."""

    code: str
    message: str
    components: tuple[str, ...]


class Plan(NamedTuple):
    profile: str
    media: str
    target: str
    language: str
    platform: str
    components: tuple[PlannedComponent, ...]
    findings: tuple[Finding, ...] = ()
    # status and apply only (a plan does not look): a reboot a run asked for, not yet done
    reboot_pending: RebootPending | None = None
    # the operating system's own pending reboot, as found when the plan was made
    system_reboot_signals: tuple[Signal, ...] = ()

    @property
    def compliant(self) -> bool:
        return not self.findings and all(c.action in (CURRENT, ABSENT) for c in self.components)

    @property
    def missing(self) -> tuple[PlannedComponent, ...]:
        return tuple(c for c in self.components if c.action == MISSING)

    @property
    def updates(self) -> tuple[PlannedComponent, ...]:
        """The installers that will run (a component brought along by another's has none)."""
        return tuple(c for c in self.components if c.action == UPDATE and c.installer is not None)

    @property
    def brought_along(self) -> tuple[PlannedComponent, ...]:
        """Updates with no installer of their own, brought to the level by another's run."""
        return tuple(c for c in self.components if c.action == UPDATE and c.installer is None)

    @property
    def unmet_prerequisites(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.code == PREREQUISITE)


def _at_least(version: str | None, media_version: str | None) -> bool:
    if version is None or media_version is None:
        return False
    if not (is_version(version) and is_version(media_version)):
        return False
    return Version(version) >= Version(media_version)


def decide(component: Component, seen: Installed, located: Located) -> tuple[str, str]:
    """The action for one component and why, from its inventory row and media location."""
    version = seen.version
    if not seen.installed:
        return ABSENT, f"not installed ({seen.source})"
    media_version = located.media_version
    if _at_least(version, media_version):
        return CURRENT, f"installed {version} is at or above the media's {media_version}"
    if located.installer is None:
        wanted = media_version or "the service-pack level"
        looked = component.installer[0] if component.installer else "none of its own"
        return MISSING, (
            f"installed {version or '(version unknown)'}, needs {wanted}, but the media has no "
            f"installer for it ({looked})"
        )
    if version is None:
        return UPDATE, f"installed, version unknown ({seen.source}); media has {media_version}"
    if media_version is None:
        return UPDATE, f"installed {version}; the media's installer has no version to compare"
    return UPDATE, f"installed {version} is older than the media's {media_version}"


_NOTES = {
    UPDATE: "older",
    CURRENT: "at the level",
    ABSENT: "not installed",
    MISSING: "not on media",
}


def plan(
    profile: Profile,
    components: tuple[Component, ...],
    inventory: Inventory,
    located: Mapping[str, Located],
    *,
    media: str,
    language: str,
    platform: str,
    system_reboot_signals: tuple[Signal, ...] = (),
    others: Mapping[str, Installed] | None = None,
) -> Plan:
    """``others``: components left out of the selection that a selected one ``requires``."""
    rows: list[PlannedComponent] = []
    chosen = {c.id for c in components}
    # Order over the whole profile, then keep the selection, so --only keeps dependency order.
    for component in profile.ordered():
        if component.id not in chosen:
            continue
        seen = inventory.get(component.id)
        where = located[component.id]
        action, reason = decide(component, seen, where)
        note = _NOTES.get(action, "")
        if action == UPDATE:
            if seen.version is None:
                note = "version unknown"
            elif where.media_version is None:
                note = "media: no version"
        if where.note and action == UPDATE:
            reason = f"{reason}; {where.note}"
            note = f"{where.language} installer"  # the fallback language (Q286559) says most
        rows.append(
            PlannedComponent(
                id=component.id,
                name=component.name,
                installed=seen.installed,
                version=seen.version,
                media_version=where.media_version,
                action=action,
                installer=where.installer,
                reason=reason,
                level=level_name(profile.levels_for(component.id), seen.version),
                media_level=level_name(profile.levels_for(component.id), where.media_version),
                language=where.language,
                note=note,
            )
        )
    # A serviced component's action depends on what runs for the others: decided last.
    rows = [
        _serviced(profile, profile.component(r.id), r, rows, located)
        if profile.component(r.id).serviced_by and r.installed
        else r
        for r in rows
    ]
    findings = (
        *suite_findings(profile, rows),
        *not_serviced(profile, rows),
        *prerequisites(profile, rows, others or {}),
    )
    return Plan(
        profile.id,
        media,
        inventory.target,
        language,
        platform,
        tuple(rows),
        findings,
        system_reboot_signals=system_reboot_signals,
    )


def _serviced(
    profile: Profile,
    component: Component,
    row: PlannedComponent,
    rows: list[PlannedComponent],
    located: Mapping[str, Located],
) -> PlannedComponent:
    """A component with no installer of its own (the Connectivity Controller, Q242250): at the
    level, brought along by the first servicing update that runs, or behind with nothing to
    bring it (a finding). Its level is its own version where one can be read; else it follows
    the components that service it, and the reason says so."""
    servicing = [r for r in rows if r.id in component.serviced_by]
    media_version = row.media_version or _lowest(
        located[s].media_version for s in component.serviced_by if s in located
    )
    row = row._replace(
        media_version=media_version,
        media_level=level_name(profile.levels_for(component.id), media_version),
    )
    runs = [r for r in servicing if r.action == UPDATE and r.installer is not None]
    if _at_least(row.version, media_version):
        return row._replace(
            action=CURRENT,
            note=_NOTES[CURRENT],
            reason=f"installed {row.version} ({row.level or '?'}) is at or above the level its "
            f"servicing components bring, {media_version}",
        )
    if runs:
        first = runs[0]
        seen = (
            f"installed {row.version} is older than {media_version}"
            if row.version
            else f"its version cannot be read here ({row.reason})"
        )
        return row._replace(
            action=UPDATE,
            brought_along_by=first.id,
            note=f"comes with {first.id}",
            reason=f"{seen}; no installer of its own: brought along by the {first.id} installer "
            f"(each of {', '.join(r.id for r in runs)} updates it, Q242250)",
        )
    installed = [r for r in servicing if r.installed]
    if row.version is None and installed and all(r.action == CURRENT for r in installed):
        levels = ", ".join(f"{r.id} {r.level or r.version}" for r in installed)
        return row._replace(
            action=CURRENT,
            note="as what services it",
            reason=f"its version cannot be read here ({row.reason}); its level follows the "
            f"components that service it, all at the media's level: {levels}",
        )
    wanted = media_version or "the service-pack level"
    return row._replace(
        action=UPDATE,
        note="nothing brings it",
        reason=f"installed {row.version or '(version unknown)'}, needs {wanted}, and no "
        f"component that services it will run ({', '.join(component.serviced_by)})",
    )


def _lowest(versions: Iterable[str | None]) -> str | None:
    """The lowest of the versions given (None ones skipped): the level every one brings."""
    known = [v for v in versions if v is not None and is_version(v)]
    return min(known, key=Version) if known else None


def not_serviced(profile: Profile, rows: list[PlannedComponent]) -> tuple[Finding, ...]:
    """A component behind with no installer of its own and nothing running to bring it along."""
    return tuple(
        Finding(
            NOT_SERVICED,
            f"{r.name} is at {r.level or r.version or 'an unknown version'}, below the media's "
            f"{r.media_level or r.media_version or 'level'}, and none of the components that "
            f"service it will run ({', '.join(profile.component(r.id).serviced_by)}): only "
            "their installers bring it to the level",
            (r.id,),
        )
        for r in rows
        if r.action == UPDATE and r.installer is None and r.brought_along_by is None
    )


def prerequisites(
    profile: Profile, rows: list[PlannedComponent], others: Mapping[str, Installed]
) -> tuple[Finding, ...]:
    """Each update whose ``requires`` would not hold when it runs: checked before anything runs.

    A required component updated earlier in the same run counts at the media's version; one
    left out of the plan (``others``: --only/--skip) at its installed version. Only what is
    known to fall short refuses: a version that cannot be read is not a proof either way.
    """
    # component id -> (installed, version when the next update runs, left out of the plan)
    level: dict[str, tuple[bool, str | None, bool]] = {
        cid: (seen.installed, seen.version, True) for cid, seen in others.items()
    }
    found = []
    for row in rows:
        if row.action == UPDATE and row.installer is not None:
            for cid, wanted in profile.component(row.id).requires.items():
                installed, have, left_out = level.get(cid, (False, None, True))
                known_short = have is not None and is_version(have) and not _at_least(have, wanted)
                if not installed or known_short:
                    found.append(_unmet(profile, row, cid, wanted, have, installed, left_out))
        runs = row.action == UPDATE and row.installer is not None
        level[row.id] = (row.installed, row.media_version if runs else row.version, False)
    return tuple(found)


def _unmet(
    profile: Profile,
    row: PlannedComponent,
    cid: str,
    wanted: str,
    have: str | None,
    installed: bool,
    left_out: bool,
) -> Finding:
    levels = profile.levels_for(cid)
    named = level_name(levels, wanted)
    need = f"{wanted} ({named})" if named else wanted
    if not installed:
        state = "not installed"
    else:
        state = f"at {have} ({level_name(levels, have) or '?'}) when it would run"
        if left_out:
            state += ", left out of this run (--only/--skip)"
    return Finding(
        PREREQUISITE,
        f"{row.id} needs {cid} at {need} or later before its installer runs; {cid} is {state}",
        (row.id, cid),
    )


def suite_findings(profile: Profile, rows: list[PlannedComponent]) -> tuple[Finding, ...]:
    """Q242250's trap: the core is at the level, components that depend on it are not."""
    by_id = {r.id: r for r in rows}
    findings: list[Finding] = []
    for core in rows:
        if core.action != CURRENT:
            continue
        behind = [
            r
            for r in rows
            if core.id in profile.component(r.id).after and r.action in (UPDATE, MISSING)
        ]
        if not behind:
            continue
        names = ", ".join(f"{r.id} {r.level or r.version or '?'}" for r in behind)
        along = [r.id for r in behind if not profile.component(r.id).installer]
        why = "each needs its own service-pack installer"
        if along:
            why += f"; {', '.join(along)} comes with another's"
        findings.append(
            Finding(
                BEHIND,
                f"{by_id[core.id].name} is at {core.level or core.version} but "
                f"{len(behind)} component(s) that run on it were left behind: {names} "
                f"({why}, Q242250)",
                tuple(r.id for r in behind),
            )
        )
    return tuple(findings)
