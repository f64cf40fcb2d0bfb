"""``plan(...)``: one action per component, in execution order, each with its reason.

A pure function over what the probes already saw; no I/O here, so every rule is testable on
records alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spdeploy.inventory import Installed, Inventory
from spdeploy.media.locate import Located
from spdeploy.profile import Component, Profile
from spdeploy.versions import Version, is_version, level_name

if TYPE_CHECKING:
    from spdeploy.reboot import RebootPending

UPDATE, CURRENT, ABSENT, MISSING = "update", "current", "absent", "missing-on-media"
# Findings (SPEC §5): the core at the level with its components behind (Q242250); a component
# installed when an apply began and absent at its end.
BEHIND, VANISHED = "core-updated-components-behind", "component-vanished"


@dataclass(frozen=True)
class PlannedComponent:
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


@dataclass(frozen=True)
class Finding:
    """A fact about the suite as a whole, reported before the per-component rows. Every finding
    is a reason the target is not compliant: there are no informational ones."""

    code: str
    message: str
    components: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    profile: str
    media: str
    target: str
    language: str
    platform: str
    components: tuple[PlannedComponent, ...]
    findings: tuple[Finding, ...] = ()
    # status and apply only (a plan does not look): a reboot a run asked for, not yet done
    reboot_pending: RebootPending | None = None

    @property
    def compliant(self) -> bool:
        return not self.findings and all(c.action in (CURRENT, ABSENT) for c in self.components)

    @property
    def missing(self) -> tuple[PlannedComponent, ...]:
        return tuple(c for c in self.components if c.action == MISSING)

    @property
    def updates(self) -> tuple[PlannedComponent, ...]:
        return tuple(c for c in self.components if c.action == UPDATE)


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
        return MISSING, (
            f"installed {version or '(version unknown)'}, needs {wanted}, but the media has no "
            f"installer for it ({component.installer[0]})"
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
) -> Plan:
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
                level=level_name(profile.levels, seen.version),
                media_level=level_name(profile.levels, where.media_version),
                language=where.language,
                note=note,
            )
        )
    return Plan(
        profile.id,
        media,
        inventory.target,
        language,
        platform,
        tuple(rows),
        suite_findings(profile, rows),
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
        findings.append(
            Finding(
                BEHIND,
                f"{by_id[core.id].name} is at {core.level or core.version} but "
                f"{len(behind)} component(s) that run on it were left behind: {names} "
                "(each needs its own service-pack installer, Q242250)",
                tuple(r.id for r in behind),
            )
        )
    return tuple(findings)
