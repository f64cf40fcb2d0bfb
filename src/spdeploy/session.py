"""One session with a product: the selection, the profile, the media and the target opened and
probed, and the plan they give. What the commands, the executor, saved plans and the library
API share; it lives here, below ``commands/``, which only the CLI imports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from spdeploy.inventory import Inventory, scan, target_variables
from spdeploy.media import Media, open_media, open_target
from spdeploy.media.locate import Located, choose, locate, select
from spdeploy.planner import Plan, plan
from spdeploy.profile import Component, Profile, load_profile
from spdeploy.rebootsignals import pending

if TYPE_CHECKING:
    from spdeploy.rebootsignals import Signal


class Selection(NamedTuple):
    """The selectors shared by media/plan/apply/status (SPEC §4)."""

    media: str | None = None
    target: str | None = None
    language: str | None = None
    platform: str | None = None
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()


class Prepared(NamedTuple):
    profile: Profile
    media: Media
    target: Path
    language: str
    platform: str
    components: tuple[Component, ...]
    inventory: Inventory
    located: dict[str, Located]
    system_reboot_signals: tuple[Signal, ...] = ()  # the OS's own pending reboot (rebootsignals)
    # components left out of the selection that a selected one requires (their levels)
    required: Inventory | None = None

    def __enter__(self) -> Prepared:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the media (an image or an archive holds a file open)."""
        self.media.close()

    def plan(self) -> Plan:
        return plan(
            self.profile,
            self.components,
            self.inventory,
            self.located,
            media=self.media.location,
            language=self.language,
            platform=self.platform,
            system_reboot_signals=self.system_reboot_signals,
            others={c.id: c for c in self.required.components} if self.required else None,
        )


def locate_all(
    profile: Profile,
    media: Media,
    components: tuple[Component, ...],
    language: str,
    platform: str,
    extra: dict[str, str],
) -> dict[str, Located]:
    variables = {**extra, "media": media.location}
    return {c.id: locate(media, c, language, platform, variables) for c in components}


def prepare(profile_ref: str, sel: Selection) -> Prepared:
    """Load the profile, open media and target, probe both: everything a plan needs."""
    profile = load_profile(profile_ref)
    components = select(profile, sel.only, sel.skip)
    assert sel.media is not None and sel.target is not None
    media = open_media(sel.media)
    try:
        return _probe(profile, components, media, sel)
    except BaseException:
        media.close()  # nothing holds the image open after a refusal
        raise


def _probe(
    profile: Profile, components: tuple[Component, ...], media: Media, sel: Selection
) -> Prepared:
    assert sel.target is not None
    # resolved: reports, metrics and the history name a target the same way however it is typed
    target = Path(sel.target).resolve()
    tree = open_target(target)
    language, platform = choose(profile, media, sel.language, sel.platform)
    inventory = scan(profile, tree, target, components)
    # The components that service a selected one are located too: their installers give the
    # level it is brought to, even when --only leaves them out.
    selected = {c.id for c in components}  # ids, not records: `in` a tuple is a linear search
    servicing = {s for c in components for s in c.serviced_by}
    looked_up = tuple(c for c in profile.components if c.id in selected or c.id in servicing)
    located = locate_all(profile, media, looked_up, language, platform, target_variables(target))
    wanted = {cid for c in components for cid in c.requires} - selected
    required = tuple(c for c in profile.components if c.id in wanted)
    return Prepared(
        profile=profile,
        media=media,
        target=target,
        language=language,
        platform=platform,
        components=components,
        inventory=inventory,
        located=located,
        system_reboot_signals=pending(),
        required=scan(profile, tree, target, required) if required else None,
    )
