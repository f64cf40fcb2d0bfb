"""``spdeploy scan``: the inventory of a target."""

from __future__ import annotations

from pathlib import Path

from spdeploy.inventory import Inventory, scan
from spdeploy.media import open_target
from spdeploy.media.locate import select
from spdeploy.profile import load_profile


def scan_target(
    profile_ref: str, target: str, only: tuple[str, ...] = (), skip: tuple[str, ...] = ()
) -> Inventory:
    profile = load_profile(profile_ref)
    components = select(profile, only, skip)
    return scan(profile, open_target(target), Path(target), components)
