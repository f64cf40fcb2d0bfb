"""``spdeploy media``: what the media holds for the profile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spdeploy.media import open_media
from spdeploy.media.locate import choose, discover, select
from spdeploy.profile import load_profile
from spdeploy.session import Selection, locate_all
from spdeploy.staging import Verification, verify_catalog


@dataclass(frozen=True)
class MediaComponent:
    id: str
    name: str
    installer: str | None
    present: bool
    media_version: str | None
    language: str | None
    serviced_by: tuple[str, ...] = ()  # no installer of its own: these components' update it


@dataclass(frozen=True)
class MediaReport:
    profile: str
    media: str
    language: str
    platform: str
    languages: tuple[str, ...]
    platforms: tuple[str, ...]
    components: tuple[MediaComponent, ...]
    format: str = "folder"  # folder, iso or zip
    names: str | None = None  # the ISO name set read: rock-ridge, joliet or iso9660
    warnings: tuple[str, ...] = ()
    verification: Verification | None = None  # with --verify


def media(
    profile_ref: str,
    sel: Selection,
    verify: bool = False,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> MediaReport:
    assert sel.media is not None
    profile = load_profile(profile_ref)
    components = select(profile, sel.only, sel.skip)
    with open_media(sel.media) as opened:
        index = discover(profile, opened)
        language, platform = choose(profile, opened, sel.language, sel.platform)
        located = locate_all(profile, opened, components, language, platform, {})
        return MediaReport(
            profile=profile.id,
            media=opened.location,
            language=language,
            platform=platform,
            languages=tuple(sorted(index)),
            platforms=tuple(p for p in profile.platforms if any(p in v for v in index.values())),
            components=tuple(
                MediaComponent(
                    c.id,
                    c.name,
                    located[c.id].installer,
                    located[c.id].installer is not None,
                    located[c.id].media_version,
                    located[c.id].language,
                    c.serviced_by,
                )
                for c in components
            ),
            format=opened.kind,
            names=opened.names,
            warnings=tuple(
                f"zip entry {name!r} leaves the media root; it is never staged"
                for name in opened.hostile
            ),
            verification=verify_catalog(opened, progress, total) if verify else None,
        )
