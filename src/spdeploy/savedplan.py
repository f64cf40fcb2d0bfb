"""Saved plans: ``plan --save FILE`` writes one, ``apply --plan FILE`` carries it out (SPEC §9).

A saved plan is what ``plan --json`` prints plus what the plan was made from: the selection, the
SHA-256 fingerprint of every installer folder it will run, the inventory it saw and a digest of the
profile. Someone approved *that* plan; applying it later re-reads the media and re-probes the
target, and any difference refuses the run with a sentence per change, before anything is staged.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spdeploy import __version__, jsonfile
from spdeploy.errors import MediaError, PlanFileError
from spdeploy.media.base import fold_path
from spdeploy.planner import UPDATE, Plan
from spdeploy.profile import Profile
from spdeploy.session import Prepared, Selection
from spdeploy.staging import folder_fingerprint

FORMAT = "spdeploy-plan/1"
_EXPECTED = f"expected a {FORMAT} file written by `spdeploy plan --save`"

# The file's records are decoded by spdeploy.jsonfile (dataclasses, not msgspec Structs: every
# `apply` imports this module, and msgspec only when a saved plan is read).


@dataclass(frozen=True)
class SavedSelection:
    """What the plan was made for; ``apply --plan`` uses it wherever the command line is silent."""

    profile: str  # a built-in profile's name or a profile file's absolute path
    media: str  # absolute
    target: str  # absolute
    language: str
    platform: str
    only: tuple[str, ...]
    skip: tuple[str, ...]

    def __post_init__(self) -> None:
        # No path holds a NUL (and no command line can pass one): os calls raise ValueError
        for key in ("profile", "media", "target"):
            if "\0" in getattr(self, key):
                raise jsonfile.Invalid(key, "holds a NUL character, which no path can")

    def fill(self, given: Selection) -> Selection:
        """``given`` with every selector it leaves out taken from the saved plan."""
        return Selection(
            given.media or self.media,
            given.target or self.target,
            given.language or self.language,
            given.platform or self.platform,
            given.only or self.only,
            given.skip or self.skip,
        )


# A key that may be null may also be left out, as the hand-written reader allowed.


@dataclass(frozen=True)
class SavedRow:
    id: str
    action: str
    installer: str | None = None
    media_version: str | None = None

    def __post_init__(self) -> None:
        # shown in `apply --plan`'s sentences: an edited file must not rewrite the terminal
        jsonfile.require_printable(self, "id", "action", "installer", "media_version")


@dataclass(frozen=True)
class Seen:
    installed: bool
    version: str | None = None

    def __post_init__(self) -> None:
        jsonfile.require_printable(self, "version")


@dataclass(frozen=True)
class _SavedFile:
    """The keys ``apply --plan`` reads (the others, the plan's own and ``steps``, are for people
    and scripts); ``format`` is checked before these."""

    saved_at: str
    spdeploy_version: str
    profile: str  # the profile's id
    profile_fingerprint: str
    selection: SavedSelection
    components: tuple[SavedRow, ...]
    fingerprints: dict[str, str]
    inventory: dict[str, Seen]

    def __post_init__(self) -> None:
        jsonfile.require_printable(self, "inventory", "fingerprints")
        # Every update is checked against its fingerprint (here and in the executor): without
        # one, --dry-run said the plan held and the executor refused it as a target that changed.
        for row in self.components:
            if row.action == UPDATE and row.installer and row.id not in self.fingerprints:
                problem = f"has no {jsonfile.shown(row.id)} (every update needs one)"
                raise jsonfile.Invalid("fingerprints", problem)


@dataclass(frozen=True)
class SavedPlan:
    path: Path
    saved_at: str
    spdeploy_version: str
    profile: str  # the profile's id
    profile_fingerprint: str
    selection: SavedSelection
    components: tuple[SavedRow, ...]  # execution order
    fingerprints: Mapping[str, str]  # component id -> installer folder fingerprint (update rows)
    inventory: Mapping[str, Seen]  # every component considered

    @property
    def steps(self) -> tuple[str, ...]:
        """The installers it runs (a component brought along by another's has none)."""
        return tuple(r.id for r in self.components if r.action == UPDATE and r.installer)


@dataclass(frozen=True)
class Check:
    """Whether a saved plan still holds: empty ``changes`` means media and target are as saved."""

    file: str
    saved_at: str
    changes: tuple[str, ...]

    @property
    def holds(self) -> bool:
        return not self.changes


def profile_ref(profile: Profile) -> str:
    """How to load ``profile`` again from anywhere: its built-in name or its file's full path."""
    if profile.source.startswith("<built-in ") and profile.source.endswith(">"):
        return profile.source[len("<built-in ") : -1]
    return str(Path(profile.source).resolve())


def profile_fingerprint(profile: Profile) -> str:
    """SHA-256 of the profile as loaded (components, probes, arguments), wherever it was read."""
    from spdeploy.reports.data import profile_dict

    described = {k: v for k, v in profile_dict(profile).items() if k != "source"}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def document(prep: Prepared, plan: Plan, sel: Selection) -> dict[str, Any]:
    """The saved plan as JSON data: ``plan --json``'s keys plus what ``apply --plan`` checks."""
    from spdeploy.reports.data import plan_dict

    fingerprints = {}
    for row in plan.updates:
        assert row.installer is not None
        fingerprints[row.id] = _fingerprint(prep, row.installer)
    return {
        "format": FORMAT,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "spdeploy_version": __version__,
        **plan_dict(plan),
        "selection": {
            "profile": profile_ref(prep.profile),
            "media": _absolute(prep.media.location),
            "target": _absolute(str(prep.target)),
            "language": prep.language,
            "platform": prep.platform,
            "only": list(sel.only),
            "skip": list(sel.skip),
        },
        "profile_fingerprint": profile_fingerprint(prep.profile),
        "steps": [row.id for row in plan.updates],
        "fingerprints": fingerprints,
        "inventory": {
            c.id: {"installed": c.installed, "version": c.version}
            for c in prep.inventory.components
        },
    }


def save(path: Path, prep: Prepared, plan: Plan, sel: Selection) -> None:
    """Write the saved plan atomically: a reader sees the old file or the whole new one."""
    from spdeploy.fsutil import write_atomic

    text = json.dumps(document(prep, plan, sel), indent=2) + "\n"
    write_atomic(path, text, what="the saved plan", error=PlanFileError, make_parents=True)


def load(path: Path) -> SavedPlan:
    """Read a saved plan; anything else is a :class:`PlanFileError` naming the file and, for a
    key missing or mistyped, its place (``$.selection.media``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanFileError(f"{path}: saved plan not found ({_EXPECTED})") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else "not UTF-8 text"
        raise PlanFileError(f"{path}: cannot read the saved plan ({reason})") from None
    try:
        doc = jsonfile.parse(text, _SavedFile)
    except jsonfile.Unreadable as exc:
        raise PlanFileError(f"{path}: not valid JSON ({exc}); {_EXPECTED}") from None
    # the format first: another file, or another version of this one, is named as such rather
    # than by the first key it lacks
    if isinstance(doc, dict) and doc.get("format") != FORMAT:
        found = doc.get("format")
        what = 'no "format" key' if found is None else f"format {found!r}"
        raise PlanFileError(f"{path}: {what}; {_EXPECTED}")
    try:
        saved = jsonfile.convert(doc, _SavedFile)
    except jsonfile.Unreadable as exc:
        raise PlanFileError(f"{path}: {exc}; {_EXPECTED}") from None
    return SavedPlan(
        path=path,
        saved_at=saved.saved_at,
        spdeploy_version=saved.spdeploy_version,
        profile=saved.profile,
        profile_fingerprint=saved.profile_fingerprint,
        selection=saved.selection,
        components=saved.components,
        fingerprints=saved.fingerprints,
        inventory=saved.inventory,
    )


def check(saved: SavedPlan, prep: Prepared, plan: Plan) -> Check:
    return Check(str(saved.path), saved.saved_at, tuple(changes(saved, prep, plan)))


def changes(saved: SavedPlan, prep: Prepared, plan: Plan) -> list[str]:
    """One sentence for every way the media, the target or the selection differ from ``saved``.

    Installer folders are hashed again here (the saved plan's update rows), not trusted by name.
    """
    found = _setting_changes(saved, prep, plan)
    now = {c.id: c for c in prep.inventory.components}
    found += [
        f"{cid}: in the saved plan but not selected now (--only/--skip)"
        for cid in saved.inventory
        if cid not in now
    ]
    found += [
        f"{cid}: selected now but not in the saved plan (--only/--skip)"
        for cid in now
        if cid not in saved.inventory
    ]
    before_rows = {r.id: r for r in saved.components}
    for row in plan.components:
        before, old = saved.inventory.get(row.id), before_rows.get(row.id)
        if before is None or old is None:
            continue
        seen = now[row.id]
        mine: list[str] = []
        if seen.installed and not before.installed:
            mine.append(f"{row.id}: installed since the plan was saved (at {_v(seen.version)})")
        elif before.installed and not seen.installed:
            mine.append(
                f"{row.id}: uninstalled since the plan was saved (was {_v(before.version)})"
            )
        elif seen.installed and seen.version != before.version:
            mine.append(
                f"{row.id}: installed version changed {_v(before.version)} -> {_v(seen.version)}"
            )
        if row.id in saved.fingerprints:
            mine += _media_changes(prep, row.id, old.installer, row.installer, saved.fingerprints)
        if not mine and row.media_version != old.media_version:
            mine.append(
                f"{row.id}: media version changed {_v(old.media_version)} -> "
                f"{_v(row.media_version)}"
            )
        if not mine and row.action != old.action:
            mine.append(f"{row.id}: action changed {old.action} -> {row.action} ({row.reason})")
        found += mine
    steps = tuple(r.id for r in plan.updates)
    if not found and steps != saved.steps:
        found.append(f"the order of the steps changed: {_ids(saved.steps)} -> {_ids(steps)}")
    return found


def _setting_changes(saved: SavedPlan, prep: Prepared, plan: Plan) -> list[str]:
    sel = saved.selection
    found = []
    if plan.profile != saved.profile:
        found.append(f"profile changed: {saved.profile} -> {plan.profile}")
    elif profile_fingerprint(prep.profile) != saved.profile_fingerprint:
        note = ""
        if saved.spdeploy_version != __version__:
            note = f"; saved by spdeploy {saved.spdeploy_version}, this is {__version__}"
        found.append(
            f"profile {plan.profile} changed since the plan was saved (its components, probes "
            f"or arguments differ{note})"
        )
    if not _same_path(sel.target, str(prep.target)):
        found.append(f"target changed: {sel.target} -> {_absolute(str(prep.target))}")
    if not _same_path(sel.media, prep.media.location):
        found.append(f"media changed: {sel.media} -> {_absolute(prep.media.location)}")
    if prep.language != sel.language:
        found.append(f"language changed: {sel.language} -> {prep.language}")
    if prep.platform != sel.platform:
        found.append(f"platform changed: {sel.platform} -> {prep.platform}")
    return found


def _media_changes(
    prep: Prepared,
    cid: str,
    old: str | None,
    new: str | None,
    fingerprints: Mapping[str, str],
) -> list[str]:
    if new is None:
        return [f"{cid}: installer no longer on the media (was {old})"]
    found = []
    if old is not None and fold_path(old) != fold_path(new):
        found.append(f"{cid}: installer moved on the media: {old} -> {new}")
    expected, actual = fingerprints[cid], _fingerprint(prep, new)
    if actual != expected:
        found.append(
            f"{cid}: installer folder changed on the media (fingerprint {_short(expected)} -> "
            f"{_short(actual)})"
        )
    return found


def _fingerprint(prep: Prepared, installer: str) -> str:
    try:
        return folder_fingerprint(prep.media, installer)
    except OSError as exc:
        raise MediaError(
            f"{prep.media.display(installer)}: cannot read the installer's folder to hash it "
            f"({exc.strerror or exc})"
        ) from None


def _absolute(path: str) -> str:
    return str(Path(path).absolute())


def _same_path(a: str, b: str) -> bool:
    def norm(p: str) -> str:
        return os.path.normcase(str(Path(p).resolve()))

    return norm(a) == norm(b)


def _short(fingerprint: str) -> str:
    return f"{fingerprint[:16]}..."


def _v(version: str | None) -> str:
    return version or "version unknown"


def _ids(ids: tuple[str, ...]) -> str:
    return ", ".join(ids) or "(none)"
