"""``scan(profile, target)``: which components are installed on a target, at which version."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import NamedTuple

from spdeploy.media.base import Tree
from spdeploy.probes import ProbeContext, answer
from spdeploy.profile import Component, Profile


class Installed(NamedTuple):
    id: str
    name: str
    installed: bool
    version: str | None
    source: str  # what the probes saw, for the plan's reason


class _Inventory(NamedTuple):
    profile: str
    target: str
    components: tuple[Installed, ...]


class Inventory(_Inventory):
    """What a scan found, component by component. (A subclass of the record, for the
    ``__dict__`` its index by id is cached in.)"""

    def get(self, cid: str) -> Installed:
        return self._by_id[cid]

    @functools.cached_property
    def _by_id(self) -> dict[str, Installed]:
        return {c.id: c for c in self.components}


def target_variables(target: Path) -> dict[str, str]:
    """Placeholders a profile may use about the target (``{target}``, ``{drive}``)."""
    absolute = target.absolute()
    return {"target": str(absolute), "drive": drive_of(str(absolute))}


def drive_of(absolute: str, windows: bool = sys.platform == "win32") -> str:
    """``{drive}``: the root of the install drive, without its last separator, so that
    ``{drive}/Exchange Server Setup.log`` names a file in it: ``C:`` for ``C:\\exchsrvr``,
    ``\\\\server\\share`` for a target on a share. An offline copy (not Windows) has no
    install drive: its parent folder plays that part."""
    if windows:
        path = PureWindowsPath(absolute)
        drive = path.anchor if path.drive else str(path.parent)
    else:
        drive = str(PurePosixPath(absolute).parent)
    return drive.rstrip("/\\") or "/"


def probe_component(component: Component, ctx: ProbeContext) -> Installed:
    found = answer(component.installed, ctx, want_version=False)
    if not found.found:
        return Installed(component.id, component.name, False, None, found.source)
    version = found.version
    source = found.source
    if component.version is not None:
        got = answer(component.version, ctx, want_version=True)
        version, source = got.version, got.source
    return Installed(component.id, component.name, True, version, source)


def scan(
    profile: Profile,
    tree: Tree,
    target: Path,
    components: tuple[Component, ...] | None = None,
    extra: Mapping[str, str] | None = None,
) -> Inventory:
    ctx = ProbeContext(tree, {**target_variables(target), **(extra or {})})
    chosen = profile.components if components is None else components
    return Inventory(profile.id, str(target), tuple(probe_component(c, ctx) for c in chosen))
