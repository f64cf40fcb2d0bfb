"""Profiles: a product's components, where their installers live, how to probe them.

A profile is TOML (SPEC §7), validated here into frozen records. Errors name the file, the
component and the key, because an administrator fixing a profile at 2 a.m. needs the line, not a
traceback. Validation is written out by hand rather than with a schema library for that reason:
the message has to speak in profile terms (component ``ntsconn``, key ``after``), and ``extends``
merges partial tables before the whole can be checked. Finding, reading and merging the files is
:mod:`spdeploy.profile_files`; this module makes the merged table into records.
"""

from __future__ import annotations

import functools
import heapq
import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from spdeploy.errors import BadInput, MediaError, ProfileError, TargetError
from spdeploy.knownfailures import Rule, parse_rules
from spdeploy.probes import AnyOf, Exists, PeVersion, Probe, Text, parse_probe
from spdeploy.profile_files import builtin_names, read_layers
from spdeploy.versions import is_version

DEFAULT_PROFILE = "exchange55"
_EXIT_CODE = re.compile(r"-?(?:0|[1-9][0-9]{0,9})", re.ASCII)
EXIT_MEANINGS = ("ok", "reboot", "failed")
DEFAULT_EXIT_CODES: Mapping[int, str] = MappingProxyType({0: "ok", 3010: "reboot", 1641: "reboot"})
_NONE: Mapping[str, str] = MappingProxyType({})  # a record's default: shared, so read-only
PLACEHOLDERS = ("target", "media", "language", "platform", "staged", "installer", "drive")
# What a probe may name is what its context holds when it runs. `installed` and `version` probe
# the target before the media is chosen (inventory.target_variables); `media_version` probes
# the media, with the installer found there (media.locate), and `spdeploy media` has no target.
TARGET_PROBE_PLACEHOLDERS = ("target", "drive")
MEDIA_PROBE_PLACEHOLDERS = ("media", "language", "platform", "installer")

# When a "to do after" note applies: after every successful run, or only when the installer came
# from a fallback language folder (the English Notes installer on a non-English server, Q286559).
TODO_WHEN = ("always", "fallback-language")
_TODO_KEYS = ("note", "article", "when", "from")


class TodoAfter(NamedTuple):
    """A follow-up an article requires after a successful run; printed, never run."""

    note: str
    article: str
    when: str = "always"
    since: str | None = None  # ``from``: only when the media's version is at least this one


class Component(NamedTuple):
    id: str
    name: str
    installer: tuple[str, ...]
    installed: Probe
    version: Probe | None = None
    media_version: Probe = PeVersion("{installer}")
    fallback_languages: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    interactive: bool = False
    backup: tuple[str, ...] = ()
    logs: tuple[str, ...] = ()
    exit_codes: Mapping[int, str] = DEFAULT_EXIT_CODES
    # argument lists run before / after the installer; post runs even after a failure (Q234293)
    pre: tuple[tuple[str, ...], ...] = ()
    post: tuple[tuple[str, ...], ...] = ()
    notes: str = ""
    # no installer of its own: these components' installers update it (the Connectivity
    # Controller, Q242250)
    serviced_by: tuple[str, ...] = ()
    requires: Mapping[str, str] = _NONE  # component id -> lowest version
    known_failures: tuple[Rule, ...] = ()
    todo_after: tuple[TodoAfter, ...] = ()
    # level names of this component's own builds, over the profile's (GroupWise 2522, Q222186)
    levels: Mapping[str, str] = _NONE


class _Profile(NamedTuple):
    id: str
    name: str
    source: str
    platforms: Mapping[str, tuple[str, ...]]
    levels: Mapping[str, str]
    components: tuple[Component, ...]  # profile order
    description: str = ""
    refuse_on_pending_reboot: bool = False  # apply refuses while the system waits for a reboot


class Profile(_Profile):
    """A validated profile. (A subclass of the record, for the ``__dict__`` its index by id and
    its execution order are cached in.)"""

    def component(self, cid: str) -> Component:
        return self._by_id[cid]

    def levels_for(self, cid: str) -> Mapping[str, str]:
        """The level names for one component's versions: the profile's, then its own."""
        own = self._by_id[cid].levels if cid in self._by_id else {}
        return {**self.levels, **own} if own else self.levels

    def require(self, ids: Iterable[str], what: str) -> None:
        """Every id names a component, or BadInput (exit 2) naming the first that does not."""
        for cid in ids:
            if cid not in self._by_id:
                known = ", ".join(c.id for c in self.components)
                raise BadInput(f"{what}: unknown component {cid!r} (profile {self.id}: {known})")

    @functools.cached_property
    def _by_id(self) -> dict[str, Component]:
        return {c.id: c for c in self.components}

    def ordered(self) -> tuple[Component, ...]:
        """Execution order: after every ``after`` dependency, ties in profile order."""
        return self._ordered

    @functools.cached_property
    def _ordered(self) -> tuple[Component, ...]:
        return topological(self.components, self.source)


def topological(components: tuple[Component, ...], source: str) -> tuple[Component, ...]:
    """Kahn's algorithm; among the components ready to go, the earliest in the profile first.
    O(n log n): a generated profile of 10,000 components orders in milliseconds."""
    waiting_on = [len(set(c.after)) for c in components]
    unblocks: dict[str, list[int]] = {}
    for i, c in enumerate(components):
        for dep in set(c.after):
            unblocks.setdefault(dep, []).append(i)
    ready = [i for i, count in enumerate(waiting_on) if count == 0]
    heapq.heapify(ready)
    done: list[Component] = []
    while ready:
        i = heapq.heappop(ready)
        done.append(components[i])
        for j in unblocks.get(components[i].id, ()):
            waiting_on[j] -= 1
            if waiting_on[j] == 0:
                heapq.heappush(ready, j)
    if len(done) < len(components):
        placed = {c.id for c in done}
        cycle = _find_cycle({c.id: c for c in components if c.id not in placed})
        raise ProfileError(
            f"{source}: component {cycle[0]!r}: key 'after': dependency cycle {' -> '.join(cycle)}"
        )
    return tuple(done)


def _find_cycle(waiting: dict[str, Component]) -> list[str]:
    """Follow unmet dependencies from any waiting component until one repeats."""
    path: list[str] = []
    current = next(iter(waiting))
    while current not in path:
        path.append(current)
        current = next(d for d in waiting[current].after if d in waiting)
    return [*path[path.index(current) :], current]


def load_profile(name_or_file: str) -> Profile:
    """A built-in profile by name, or a profile file by path."""
    try:
        raw, source = read_layers(name_or_file)
        return _build(raw, source)
    except RecursionError:  # tomllib, and the probe parser, recurse per level of nesting
        raise ProfileError(
            f"{name_or_file}: nested too deeply (arrays, tables or `any` probes hundreds of "
            "levels deep); a profile needs a few levels"
        ) from None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProfileError(f"{where}: expected a list of non-empty strings, got {value!r}")
    if any("\0" in v for v in value):
        raise ProfileError(f"{where}: a NUL character cannot be part of a path or an argument")
    return tuple(value)


def _commands(value: Any, where: str) -> tuple[tuple[str, ...], ...]:
    """``["net", "stop", "X"]`` (one command) or ``[["net", "stop", "X"], [...]]`` (several)."""
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        commands = tuple(_strings(v, where) for v in value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        commands = (_strings(value, where),) if value else ()
    else:
        raise ProfileError(
            f'{where}: expected an argument list like ["net", "start", "LME-NOTES"] '
            f"or a list of them, got {value!r}"
        )
    if any(not command for command in commands):
        raise ProfileError(f"{where}: an empty command")
    for command in commands:
        _check_templates(command, where)
    return commands


# Installer candidates are resolved on the media before anything else is known.
INSTALLER_PLACEHOLDERS = ("language", "platform")


def _check_templates(
    values: tuple[str, ...], where: str, allowed: tuple[str, ...] = PLACEHOLDERS
) -> None:
    from spdeploy.templates import problem

    for value in values:
        wrong = problem(value, allowed)
        if wrong is not None:
            raise ProfileError(f"{where}: {wrong}")


_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _check_inside(values: Iterable[str], where: str, root: str) -> None:
    """A path the profile gives under the media or the target stays inside it: refused here,
    naming the file, the component and the key, rather than when ``plan`` or ``apply`` meets
    it. (Logs may be anywhere: Exchange writes its setup log at the drive's root.)"""
    from spdeploy.media.base import split_path

    for value in values:
        try:  # the readers' own rule, on the path with its placeholders filled in
            split_path(_PLACEHOLDER.sub("x", value), root)
        except (MediaError, TargetError):
            raise ProfileError(
                f"{where}: {value!r} leaves the {root} (expected a path inside it, without '..')"
            ) from None


def _probe_paths(probe: Probe) -> Iterator[str]:
    """The paths a probe reads, not the argv of a command it runs."""
    if isinstance(probe, AnyOf):
        for inner in probe.probes:
            yield from _probe_paths(inner)
    elif isinstance(probe, Exists | PeVersion):
        yield probe.path
    elif isinstance(probe, Text):
        yield probe.file


def _versionless(probe: Probe) -> str | None:
    """Why ``probe`` can never give a version, or None: ``exists`` says whether, not which; a
    text or command probe gives its regex's first group, so one without a group gives none."""
    if isinstance(probe, AnyOf):
        return next(filter(None, map(_versionless, probe.probes)), None)
    if isinstance(probe, Exists):
        return "an exists probe says whether a file is there, not its version"
    regex = getattr(probe, "regex", None)
    if isinstance(regex, re.Pattern) and not regex.groups:
        return f"the regex {regex.pattern!r} has no group to give the version: add ( )"
    return None


def _build_component(raw: dict[str, Any], top_source: str) -> Component:
    source = raw.get("_source", top_source)
    cid = raw["id"]

    def where(key: str) -> str:
        return f"{source}: component {cid!r}: key {key!r}"

    for key in ("name", "installer", "installed"):
        if key not in raw:
            raise ProfileError(f"{where(key)}: missing (every component needs one)")
    name = raw["name"]
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{where('name')}: expected a non-empty string")
    installer = _strings(raw["installer"], where("installer"))
    serviced_by = _strings(raw.get("serviced_by", []), where("serviced_by"))
    if not installer and not serviced_by:
        raise ProfileError(
            f"{where('installer')}: expected at least one candidate path (or serviced_by naming "
            "the components whose installers update this one)"
        )
    if installer and serviced_by:
        raise ProfileError(
            f"{where('serviced_by')}: a component serviced by others has no installer of its "
            "own (installer = [])"
        )
    _check_templates(installer, where("installer"), INSTALLER_PLACEHOLDERS)
    _check_inside(installer, where("installer"), "media")
    args = _strings(raw.get("args", []), where("args"))
    _check_templates(args, where("args"))
    interactive = raw.get("interactive", False)
    if not isinstance(interactive, bool):
        raise ProfileError(f"{where('interactive')}: expected true or false")
    exit_codes: dict[int, str] = dict(DEFAULT_EXIT_CODES)
    codes = raw.get("exit_codes", {})
    if not isinstance(codes, dict):
        raise ProfileError(f'{where("exit_codes")}: expected a table like {{ 0 = "ok" }}')
    for code, meaning in codes.items():
        # Plain ASCII digits only: int() would also take " 5 ", "05", "5_0" and other scripts'
        # digits, and two spellings of one number would silently overwrite each other.
        if not _EXIT_CODE.fullmatch(code):
            raise ProfileError(
                f"{where('exit_codes')}: {code!r} is not an exit code (expected digits such as "
                '"3010" or "-1", no spaces or leading zeros)'
            )
        number = int(code)
        if meaning not in EXIT_MEANINGS:
            raise ProfileError(
                f"{where('exit_codes')}: {code} = {meaning!r} (expected {', '.join(EXIT_MEANINGS)})"
            )
        exit_codes[number] = meaning
    backup = _strings(raw.get("backup", []), where("backup"))
    _check_inside(backup, where("backup"), "target")
    logs = _strings(raw.get("logs", []), where("logs"))
    _check_templates(logs, where("logs"))
    pre = _commands(raw.get("pre", []), where("pre"))
    post = _commands(raw.get("post", []), where("post"))
    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        raise ProfileError(f"{where('notes')}: expected a string")
    known_failures = parse_rules(
        raw.get("known_failures", []), where("known_failures"), _check_templates
    )

    def probe(key: str, allowed: tuple[str, ...]) -> Probe:
        parsed = parse_probe(raw[key], where(key))
        _check_templates(parsed.templates(), where(key), allowed)
        root = "media" if key == "media_version" else "target"
        _check_inside(_probe_paths(parsed), where(key), root)
        why = _versionless(parsed) if key in ("version", "media_version") else None
        if why is not None:
            # the plan would say "version unknown" for ever, and update every run
            raise ProfileError(f"{where(key)}: {why}")
        return parsed

    return Component(
        id=cid,
        name=name,
        installer=installer,
        installed=probe("installed", TARGET_PROBE_PLACEHOLDERS),
        version=probe("version", TARGET_PROBE_PLACEHOLDERS) if "version" in raw else None,
        media_version=(
            probe("media_version", MEDIA_PROBE_PLACEHOLDERS)
            if "media_version" in raw
            else PeVersion("{installer}")
        ),
        fallback_languages=_strings(raw.get("fallback_languages", []), where("fallback_languages")),
        after=_strings(raw.get("after", []), where("after")),
        args=args,
        interactive=interactive,
        backup=backup,
        logs=logs,
        exit_codes=exit_codes,
        pre=pre,
        post=post,
        notes=notes,
        serviced_by=serviced_by,
        requires=_requires(raw.get("requires", {}), where("requires")),
        known_failures=known_failures,
        todo_after=_todo_after(raw.get("todo_after", []), where("todo_after")),
        levels=_levels(raw.get("levels", {}), where("levels")),
    )


def _levels(value: Any, where: str) -> dict[str, str]:
    """``levels = { "5.5.2653" = "SP4" }``: the name of each version a level begins."""
    if not isinstance(value, dict):
        raise ProfileError(f'{where}: expected a table of version = "name"')
    for version, label in value.items():
        if not is_version(version) or not isinstance(label, str):
            raise ProfileError(f'{where}: {version!r} = {label!r} (expected "5.5.2653" = "SP4")')
    return dict(value)


def _requires(value: Any, where: str) -> dict[str, str]:
    """``requires = { server = "5.5.2232" }``: the lowest version of another component."""
    if not isinstance(value, dict):
        raise ProfileError(f'{where}: expected a table like {{ server = "5.5.2232" }}')
    for cid, version in value.items():
        if not isinstance(version, str) or not is_version(version):
            raise ProfileError(f'{where}: {cid} = {version!r} (expected a version like "5.5.2232")')
    return dict(value)


def _todo_after(value: Any, where: str) -> tuple[TodoAfter, ...]:
    """``todo_after = [{ note = "...", article = "Q286176", when = "always" }]``."""
    if not isinstance(value, list):
        raise ProfileError(
            f'{where}: expected a list of {{ note = "...", article = "..." }} tables'
        )
    notes = []
    for i, entry in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ProfileError(f"{here}: expected a table with keys note, article (and when)")
        unknown = sorted(set(entry) - set(_TODO_KEYS))
        if unknown:
            raise ProfileError(
                f"{here}: unknown key {unknown[0]!r} (expected {', '.join(_TODO_KEYS)})"
            )
        for key in ("note", "article"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ProfileError(f"{here}.{key}: expected a non-empty string")
        when = entry.get("when", "always")
        if when not in TODO_WHEN:
            raise ProfileError(f"{here}.when: {when!r} (expected {' or '.join(TODO_WHEN)})")
        since = entry.get("from")
        if since is not None and (not isinstance(since, str) or not is_version(since)):
            raise ProfileError(f'{here}.from: {since!r} (expected a version like "5.5.2653")')
        notes.append(TodoAfter(entry["note"].strip(), entry["article"].strip(), when, since))
    return tuple(notes)


def _build(raw: dict[str, Any], source: str) -> Profile:
    for key in ("id", "name"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ProfileError(f"{source}: key {key!r}: missing or not a string")
    platforms = raw.get("platforms", {})
    if not isinstance(platforms, dict) or not platforms:
        raise ProfileError(
            f"{source}: key 'platforms': expected a table like {{ I386 = [\"x86_64\"] }}"
        )
    plat = {k: _strings(v, f"{source}: key 'platforms.{k}'") for k, v in platforms.items()}
    levels = _levels(raw.get("levels", {}), f"{source}: key 'levels'")
    components = tuple(_build_component(c, source) for c in raw.get("component", []))
    if not components:
        raise ProfileError(f"{source}: no [[component]] tables (a profile needs at least one)")
    ids = {c.id for c in components}
    by_id = {c.id: c for c in components}
    for comp in components:
        for key, named in (
            ("after", comp.after),
            ("serviced_by", comp.serviced_by),
            ("requires", tuple(comp.requires)),
        ):
            for dep in named:
                if dep not in ids:
                    raise ProfileError(
                        f"{source}: component {comp.id!r}: key {key!r}: names unknown component "
                        f"{dep!r} (known: {', '.join(sorted(ids))})"
                    )
                if dep == comp.id and key != "after":  # after: reported as a cycle below
                    raise ProfileError(
                        f"{source}: component {comp.id!r}: key {key!r}: names the component itself"
                    )
        for dep in comp.serviced_by:
            if not by_id[dep].installer:
                raise ProfileError(
                    f"{source}: component {comp.id!r}: key 'serviced_by': {dep!r} has no "
                    "installer of its own to service it with"
                )
    refuse = raw.get("refuse_on_pending_reboot", False)
    if not isinstance(refuse, bool):
        raise ProfileError(f"{source}: key 'refuse_on_pending_reboot': expected true or false")
    profile = Profile(
        id=raw["id"],
        name=raw["name"],
        source=source,
        platforms=plat,
        levels=dict(levels),
        components=components,
        description=_description(raw.get("description", ""), source),
        refuse_on_pending_reboot=refuse,
    )
    profile.ordered()  # reject cycles at load time, not halfway through an apply
    return profile


def _description(value: Any, source: str) -> str:
    if not isinstance(value, str):
        raise ProfileError(f"{source}: key 'description': expected a string")
    return value


__all__ = ["Component", "Exists", "Profile", "TodoAfter", "builtin_names", "load_profile"]
