"""A profile's files: finding one (a built-in name or a path), reading its TOML, following
``extends`` from layer to layer, and merging the layers into one table (SPEC §7).

Only the shape one file can answer for on its own is checked here (unknown keys, duplicate ids);
what the merged whole means is checked where it becomes records, in :mod:`spdeploy.profile`.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from spdeploy.errors import ProfileError, did_you_mean

# Next to this module (package data). Not importlib.resources: it pulls in tempfile, zipfile and
# urllib, a tenth of `spdeploy status`'s start-up, for a folder that is always on disk here.
_BUILTIN = Path(__file__).parent / "profiles"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TOP_KEYS = (
    "id",
    "name",
    "description",
    "extends",
    "platforms",
    "levels",
    "refuse_on_pending_reboot",
    "component",
)
_COMPONENT_KEYS = (
    "id",
    "name",
    "installer",
    "fallback_languages",
    "after",
    "args",
    "interactive",
    "installed",
    "version",
    "media_version",
    "backup",
    "logs",
    "exit_codes",
    "pre",
    "post",
    "notes",
    "serviced_by",
    "requires",
    "known_failures",
    "todo_after",
    "levels",
)


def builtin_names() -> list[str]:
    return list(_builtin_names())


@cache  # package data: it does not change while spdeploy runs, and a load asks several times
def _builtin_names() -> tuple[str, ...]:
    return tuple(sorted(p.name[:-5] for p in _BUILTIN.iterdir() if p.name.endswith(".toml")))


def _parsed_ahead(name: str, data: bytes) -> dict[str, Any] | None:
    """The built-in profile's table from :mod:`spdeploy.builtin_profiles` (no TOML to parse), if
    it was made from exactly these bytes; None if the TOML was edited since."""
    from spdeploy import builtin_profiles

    if builtin_profiles.MADE_FROM.get(name) != made_from(data):
        return None
    return builtin_profiles.TABLES[name]()


def made_from(data: bytes) -> tuple[int, int]:
    """What names a built-in TOML's bytes in ``builtin_profiles.MADE_FROM``: length and CRC-32
    (a check that the copy is current, not a defence: whoever can edit one can edit both)."""
    import zlib

    return len(data), zlib.crc32(data)


def read_layers(name_or_file: str) -> tuple[dict[str, Any], str]:
    """The profile's table with every layer it ``extends`` merged under it, and its source (the
    path, or ``<built-in NAME>``)."""
    return _load_layers(name_or_file, seen=())


def _read_toml(name_or_file: str) -> tuple[dict[str, Any], str]:
    path = Path(name_or_file)
    if name_or_file in _builtin_names() and not path.exists():
        source = f"<built-in {name_or_file}>"
        data = (_BUILTIN / f"{name_or_file}.toml").read_bytes()
        table = _parsed_ahead(name_or_file, data)
        if table is not None:
            return table, source
        text = data.decode("utf-8")
    else:
        source = str(path)
        try:
            is_file, is_dir = path.is_file(), path.is_dir()
        except OSError:  # a name too long for the file system, say
            is_file = is_dir = False
        if not is_file:
            known = ", ".join(_builtin_names())
            if is_dir:
                raise ProfileError(
                    f"{name_or_file}: a folder, not a profile (expected a profile TOML file or "
                    f"a built-in profile: {known})"
                )
            raise ProfileError(
                f"{name_or_file}: no such profile file or built-in profile (built-in: {known})"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"{path}: cannot read profile: {exc}") from None
    import tomllib  # deferred: a built-in profile is parsed ahead of time

    try:
        return tomllib.loads(text), source
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: invalid TOML: {exc}") from None


def _load_layers(name_or_file: str, seen: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    raw, source = _read_toml(name_or_file)
    _check_layer(raw, source)
    base_ref = raw.get("extends")
    if base_ref is None:
        return raw, source
    if not isinstance(base_ref, str) or not base_ref:
        raise ProfileError(f"{source}: key 'extends': expected a profile name or file path")
    if not Path(base_ref).is_absolute() and base_ref not in _builtin_names():
        base_ref = str(Path(source).parent / base_ref)
    here, there = _identity(source), _identity(base_ref)
    if there == here or there in seen:
        raise ProfileError(f"{source}: key 'extends': profile extends itself ({base_ref})")
    try:
        base, _ = _load_layers(base_ref, (*seen, here))
    except ProfileError as exc:
        if exc.message.startswith(f"{base_ref}: no such profile"):
            raise ProfileError(f"{source}: key 'extends': {exc.message}") from None
        raise
    return _merge(base, raw, source), source


def _identity(ref: str) -> str:
    """One spelling per profile, so that ``../d/site.toml`` and ``site.toml`` are the same."""
    if ref.startswith("<built-in ") or ref in _builtin_names():
        return ref.removeprefix("<built-in ").removesuffix(">")
    try:
        return str(Path(ref).resolve())
    except OSError:
        return ref


def _check_layer(raw: dict[str, Any], source: str) -> None:
    """Shape checks one file can answer on its own: unknown keys, types, duplicate ids."""
    for key in raw:
        if key not in _TOP_KEYS:
            raise ProfileError(
                f"{source}: unknown key {key!r}{did_you_mean(key, _TOP_KEYS)} "
                f"(expected one of {', '.join(_TOP_KEYS)})"
            )
    comps = raw.get("component", [])
    if not isinstance(comps, list) or not all(isinstance(c, dict) for c in comps):
        raise ProfileError(f"{source}: key 'component': expected [[component]] tables")
    seen: set[str] = set()
    for i, comp in enumerate(comps):
        cid = comp.get("id")
        if not isinstance(cid, str) or not cid:
            raise ProfileError(f"{source}: component #{i + 1}: key 'id': expected a string")
        if not _ID.fullmatch(cid):
            # an id names files in the state folder (step logs, backups) and is typed after
            # --only, --skip and --args: "../x" wrote outside the state folder
            raise ProfileError(
                f"{source}: component {cid!r}: key 'id': expected a letter or digit, then "
                "letters, digits, '.', '_' or '-'"
            )
        if cid in seen:
            raise ProfileError(f"{source}: component {cid!r}: key 'id': duplicate id")
        seen.add(cid)
        for key in comp:
            if key not in _COMPONENT_KEYS:
                raise ProfileError(
                    f"{source}: component {cid!r}: unknown key {key!r}"
                    f"{did_you_mean(key, _COMPONENT_KEYS)} "
                    f"(expected one of {', '.join(_COMPONENT_KEYS)})"
                )
        if comp.get("interactive") is True and comp.get("args"):
            # SPEC §8: switches make an installer unattended, so the flag would be ignored
            raise ProfileError(
                f"{source}: component {cid!r}: 'interactive = true' with 'args': the args make "
                "the installer run unattended, so 'interactive' would be ignored; remove one"
            )
        comp["_source"] = source


def _merge(base: dict[str, Any], child: dict[str, Any], source: str) -> dict[str, Any]:
    merged = {**base, **{k: v for k, v in child.items() if k != "component"}}
    merged.pop("extends", None)
    comps = {c["id"]: dict(c) for c in base.get("component", [])}
    for comp in child.get("component", []):
        if comp["id"] in comps:
            comps[comp["id"]].update(comp)
            continue
        missing = [k for k in ("name", "installer", "installed") if k not in comp]
        if missing:  # not a new component: most likely a base id mistyped
            raise ProfileError(
                f"{source}: component {comp['id']!r}: not a component of {base.get('id')}"
                f"{did_you_mean(comp['id'], comps)} (to add a new component, give it "
                f"{', '.join(repr(k) for k in missing)} as well)"
            )
        comps[comp["id"]] = dict(comp)
    merged["component"] = list(comps.values())
    return merged
