"""Known failures: when a step fails, what the Knowledge Base says it was and how to fix it;
and the follow-ups an article requires after a step succeeds ("to do after" notes).

A profile lists rules per component (``known_failures``): a regex, where to look for it, the
article and its remedy. Where to look is one place or a list of them: the step's own facts
(``exit_code``, ``status``, the ``target`` path), the installer's ``output``, or a setup log given
like ``logs`` (``Connect/Exchconn/Setup/lmeilog.txt``). A setup log that is appended on every run
(Q158545, Q198857) is read from where it stood before the step: an error left there by an earlier
attempt is not this step's failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from spdeploy.errors import ProfileError
from spdeploy.versions import Version, is_version

if TYPE_CHECKING:
    from spdeploy.planner import Plan
    from spdeploy.profile import Profile
    from spdeploy.store import StepRecord

# Step facts a rule may look at instead of a file; anything else in ``in`` is a path template.
FACTS = ("exit_code", "status", "target", "output")
_KEYS = ("match", "in", "article", "remedy")
_MAX_LOG_BYTES = 4 * 1024 * 1024  # the tail of a setup log that is read: enough for one run


class Rule(NamedTuple):
    """One known failure of a component, as the profile gives it."""

    match: re.Pattern[str]
    places: tuple[str, ...]  # each one of FACTS, or a log path template (relative to the target)
    article: str
    remedy: str


class Hit(NamedTuple):
    """A rule that matched a failed step: shown under the failure, recorded with the step."""

    article: str
    remedy: str
    match: str  # the text that matched
    where: str  # what it was found in (a fact's name or the log's path)

    def as_dict(self) -> dict[str, str]:
        return {
            "article": self.article,
            "remedy": self.remedy,
            "match": self.match,
            "in": self.where,
        }


def parse_rules(
    value: Any, where: str, check_template: Callable[[tuple[str, ...], str], None]
) -> tuple[Rule, ...]:
    """``known_failures = [{ match, in, article, remedy }, ...]``; errors name the entry."""
    if not isinstance(value, list):
        raise ProfileError(
            f'{where}: expected a list of {{ match = "...", in = "...", article = "...", '
            f'remedy = "..." }} tables, got {value!r}'
        )
    rules = []
    for i, entry in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ProfileError(f"{here}: expected a table with keys {', '.join(_KEYS)}")
        unknown = sorted(set(entry) - set(_KEYS))
        missing = [k for k in _KEYS if k not in entry]
        if unknown or missing:
            problem = f"unknown key {unknown[0]!r}" if unknown else f"missing key {missing[0]!r}"
            raise ProfileError(f"{here}: {problem} (expected {', '.join(_KEYS)})")
        for key in ("match", "article", "remedy"):
            # a match may be all blanks (a space in a path is a known cause, Q230251)
            blank = entry[key] == "" if key == "match" else not str(entry[key]).strip()
            if not isinstance(entry[key], str) or blank:
                raise ProfileError(f"{here}.{key}: expected a non-empty string")
        try:
            pattern = re.compile(entry["match"])
        except re.error as exc:
            raise ProfileError(f"{here}.match: bad regex {entry['match']!r}: {exc}") from None
        places = _places(entry["in"], f"{here}.in", check_template)
        rules.append(Rule(pattern, places, entry["article"].strip(), entry["remedy"].strip()))
    return tuple(rules)


def _places(
    value: Any, where: str, check_template: Callable[[tuple[str, ...], str], None]
) -> tuple[str, ...]:
    places = [value] if isinstance(value, str) else value
    if (
        not isinstance(places, list)
        or not places
        or not all(isinstance(p, str) and p.strip() for p in places)
    ):
        raise ProfileError(
            f"{where}: expected {', '.join(FACTS)} or a log path (or a list of them), got {value!r}"
        )
    for place in places:
        if place not in FACTS:
            if "\0" in place:
                raise ProfileError(f"{where}: a NUL character cannot be part of a path")
            check_template((place,), where)
    return tuple(places)


class _Before(NamedTuple):
    size: int
    digest: str  # of those ``size`` bytes: a log rewritten since is read anew


Snapshot = Mapping[str, _Before | None]  # log path -> how it stood before the step (None: absent)


def log_paths(rules: Iterable[Rule], resolve: Callable[[str], Path]) -> list[Path]:
    """The files the rules read (``resolve``: a rule's ``in`` -> the file on this machine)."""
    return [resolve(place) for rule in rules for place in rule.places if place not in FACTS]


def snapshot(paths: Iterable[Path]) -> dict[str, _Before | None]:
    """How each log stands before the step runs (its size and a digest, read in chunks: an
    appended log may have grown for years)."""
    taken: dict[str, _Before | None] = {}
    for path in paths:
        try:
            with path.open("rb") as fh:
                size = path.stat().st_size
                taken[str(path)] = _Before(size, _digest(fh, size))
        except OSError:  # absent, a folder, unreadable: read whole if it appears
            taken[str(path)] = None
    return taken


def new_text(path: Path, before: _Before | None) -> str:
    """What the step wrote to ``path``: what was appended, or the file's end if it was
    rewritten (at most the last few megabytes either way)."""
    try:
        with path.open("rb") as fh:
            size = path.stat().st_size
            start = 0
            # appended to (what was there is unchanged): only the new part is this step's
            if (
                before is not None
                and size >= before.size
                and _digest(fh, before.size) == before.digest
            ):
                start = before.size
            fh.seek(max(start, size - _MAX_LOG_BYTES))
            data = fh.read(_MAX_LOG_BYTES)
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


def diagnose(
    rules: Iterable[Rule],
    facts: Mapping[str, str],
    resolve: Callable[[str], Path],
    before: Snapshot,
) -> tuple[Hit, ...]:
    """The rules that match a failed step. ``facts``: exit_code, status and target as text,
    output as the installer's log path (missing ones never match); ``resolve`` and ``before`` as
    for :func:`log_paths` and :func:`snapshot`."""
    hits: list[Hit] = []
    texts: dict[str, str] = {}
    for rule in rules:
        for place in rule.places:
            if place in FACTS:
                text, shown = facts.get(place, ""), place.replace("_", " ")
                if place == "output" and text:
                    text, shown = _read_text(Path(text)), "the installer's output"
            else:
                path = resolve(place)
                if str(path) not in texts:
                    texts[str(path)] = new_text(path, before.get(str(path)))
                text, shown = texts[str(path)], str(path)
            found = rule.match.search(text) if text else None
            if found is not None:
                matched = found.group(0).strip() or found.group(0)
                hits.append(Hit(rule.article, rule.remedy, matched[:200], shown))
                break  # one hit per rule: the first place it shows in
    return tuple(hits)


class ToDo(NamedTuple):
    """A follow-up an article requires after a component's successful run: printed, never run."""

    component: str
    article: str
    note: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.component, "article": self.article, "note": self.note}


def todo_after(profile: Profile, plan: Plan, steps: Iterable[StepRecord]) -> tuple[ToDo, ...]:
    """The profile's ``todo_after`` notes of every step that ended ok, in step order."""
    rows = {r.id: r for r in plan.components}
    notes = []
    for step in steps:
        if step.status != "ok" or step.component not in rows:
            continue
        row = rows[step.component]
        fallback = row.language is not None and row.language != plan.language
        for todo in profile.component(step.component).todo_after:
            if todo.when == "fallback-language" and not fallback:
                continue
            if todo.since is not None and not _at_least(row.media_version, todo.since):
                continue
            notes.append(ToDo(step.component, todo.article, todo.note))
    return tuple(notes)


def _at_least(version: str | None, since: str) -> bool:
    return version is not None and is_version(version) and Version(version) >= Version(since)


def _read_text(path: Path) -> str:
    """The end of the installer's own output log."""
    return new_text(path, None)


def _digest(fh: BinaryIO, size: int) -> str:
    """SHA-256 of the first ``size`` bytes of an open file, read in chunks."""
    import hashlib  # deferred: only a failed step reads logs, and `status` never does

    fh.seek(0)
    digest = hashlib.sha256()
    left = size
    while left > 0:
        chunk = fh.read(min(left, 1 << 20))
        if not chunk:
            break
        digest.update(chunk)
        left -= len(chunk)
    return digest.hexdigest()


__all__ = [
    "FACTS",
    "Hit",
    "Rule",
    "ToDo",
    "diagnose",
    "log_paths",
    "new_text",
    "parse_rules",
    "snapshot",
    "todo_after",
]
