"""``spdeploy profiles list|show|check``."""

from __future__ import annotations

from spdeploy.profile import Profile, builtin_names, load_profile


def list_profiles() -> list[Profile]:
    return [load_profile(name) for name in builtin_names()]


def show(name_or_file: str) -> Profile:
    return load_profile(name_or_file)


def check(path: str) -> Profile:
    """Load and validate a profile file; problems raise ProfileError naming file, component, key."""
    return load_profile(path)
