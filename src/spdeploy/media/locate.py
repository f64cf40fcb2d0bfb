"""Find each component's installer on the media for a language and platform."""

from __future__ import annotations

import platform as _platform
from collections.abc import Sequence
from typing import NamedTuple

from spdeploy.errors import BadInput, MediaError, ProbeError
from spdeploy.media.base import Media, is_glob
from spdeploy.probes import ProbeContext, answer, placeholders
from spdeploy.profile import Component, Profile


class Located(NamedTuple):
    id: str
    installer: str | None  # the media's spelling, "/"-joined; None when absent
    language: str | None  # the language folder it came from (a fallback may differ)
    media_version: str | None
    note: str = ""


def _candidates(
    component: Component, language: str, platform: str, language_only: bool = False
) -> list[str]:
    return [
        c.format(language=language, platform=platform)
        for c in component.installer
        if not language_only or "{language}" in c
    ]


def find_installer(
    media: Media, component: Component, language: str, platform: str, language_only: bool = False
) -> str | None:
    """The first candidate on the media; ``language_only``: only candidates with a language
    folder (a path without one would make every folder look like a language)."""
    for candidate in _candidates(component, language, platform, language_only):
        if is_glob(candidate):
            hits = media.glob(candidate)
            if len(hits) > 1:
                raise MediaError(
                    f"{media.location}: installer pattern {candidate} for {component.id!r} "
                    f"matches {len(hits)} files ({', '.join(hits)}); expected exactly one"
                )
            if hits:
                return hits[0]
        else:
            hit = media.find(candidate)
            if hit is not None and not media.is_dir(hit):
                return hit
    return None


def locate(
    media: Media, component: Component, language: str, platform: str, extra: dict[str, str]
) -> Located:
    """The installer in ``language`` or, failing that, a fallback language (Q286559)."""
    for lang in (language, *[f for f in component.fallback_languages if f != language]):
        path = find_installer(media, component, lang, platform)
        if path is not None:
            break
    else:
        path, lang = None, None
    variables = {**extra, "language": lang or language, "platform": platform}
    note = "" if lang in (None, language) else f"{lang} installer (no {language} one on the media)"
    if path is not None:
        variables["installer"] = path
    elif "installer" in placeholders(component.media_version):
        return Located(component.id, None, None, None)  # its version is the missing file's
    try:
        found = answer(component.media_version, ProbeContext(media, variables), want_version=True)
    except ProbeError as exc:
        raise MediaError(f"{component.id}: cannot read the media's version: {exc}") from None
    return Located(component.id, path, lang, found.version, note)


def discover(profile: Profile, media: Media) -> dict[str, list[str]]:
    """Language folder -> platforms for which at least one component's installer exists.

    Language folders are looked for at the media root, and only when there are none there, one
    level down (a top folder before the language, such as ``Sp4/Eng``, Q324332).
    """
    top = [name for name in media.listdir("") if media.is_dir(name)]
    found = _languages(profile, media, top)
    if found:
        return found
    below = [f"{t}/{name}" for t in top for name in media.listdir(t) if media.is_dir(f"{t}/{name}")]
    return _languages(profile, media, sorted({p.rpartition("/")[2] for p in below}))


def _languages(profile: Profile, media: Media, folders: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for language in folders:
        for plat in profile.platforms:
            if any(
                find_installer(media, c, language, plat, language_only=True)
                for c in profile.components
            ):
                found.setdefault(language, []).append(plat)
    return found


def machine_platform(profile: Profile, machine: str | None = None) -> str | None:
    arch = (machine or _platform.machine()).lower()
    for name, aliases in profile.platforms.items():
        if arch in (a.lower() for a in aliases):
            return name
    return None


def choose(
    profile: Profile,
    media: Media,
    language: str | None,
    platform: str | None,
) -> tuple[str, str]:
    """The language and platform to plan for; anything ambiguous is an error listing choices."""
    index = discover(profile, media)
    if not index:
        raise MediaError(
            f"{media.location}: no installer of profile {profile.id!r} found on this media "
            f"(looked for e.g. {profile.components[0].installer[0]})"
        )
    languages = sorted(index)
    if language is None:
        if len(languages) > 1:
            raise BadInput(
                f"{media.location}: the media holds several languages ({', '.join(languages)}); "
                "choose one with --language"
            )
        language = languages[0]
    else:
        match = [lang for lang in languages if lang.casefold() == language.casefold()]
        if not match:
            raise BadInput(
                f"--language {language}: not on the media (found: {', '.join(languages)})"
            )
        language = match[0]
    platforms = index[language]
    if platform is None:
        platform = machine_platform(profile)
        if platform is None or platform not in platforms:
            seen = f"this machine is {_platform.machine() or 'unknown'}"
            raise BadInput(
                f"{seen}; choose the target's platform with --platform "
                f"({' or '.join(platforms)} on the media)"
            )
    else:
        canon = {p.casefold(): p for p in profile.platforms}
        if platform.casefold() not in canon:
            raise BadInput(
                f"--platform {platform}: unknown (expected {', '.join(profile.platforms)})"
            )
        platform = canon[platform.casefold()]
    return language, platform


def select(profile: Profile, only: Sequence[str], skip: Sequence[str]) -> tuple[Component, ...]:
    profile.require(only, "only")
    profile.require(skip, "skip")
    return tuple(c for c in profile.components if (not only or c.id in only) and c.id not in skip)
