"""The fleet report (``spdeploy report --from DIR``): every host's result in one view.

The Ansible module (``report_dir``) writes one file per host, ``DIR/<host>.json``, atomically::

    {"host": "exch01", "checked_at": "2026-11-25T15:04:05Z", "mode": "checked" | "applied",
     "result": <the SPEC §5 status dict; applied adds run_id, steps, reboot_required> | null,
     "error": null | {"code": str, "message": str, "exit_code": int}}

:func:`load` reads every ``*.json`` in DIR (hidden files, such as a writer's temporary file, are
left out). A file that cannot be read or is not in that format becomes a host with the error
``bad-result-file``, so one broken host does not hide the fleet; a missing folder, or one without
a result file, is bad input (exit 2).

Each host gets one verdict, from its result more than from its error (the module also reports
a host merely behind as an error, ``not-compliant``). Worst first:

- ``error``: no result (the task failed before a plan, or the file is unreadable) first, then
  an installer that failed or timed out, then an error the result does not explain;
- ``stale``: the result is older than ``--max-age`` (default 7 days): whatever it says, it says
  nothing about the host today, so it is not compliant;
- ``not-compliant``: a component behind the media's level; a missing installer first, then the
  most components behind;
- ``reboot-required``: at the level, a reboot pending;
- ``compliant``.

Ties go by host name. The JSON (``--format json``; stable, additive changes only)::

    {"format": "spdeploy-fleet/1", "directory": str, "compliant": bool,
     "summary": {"hosts": n, "compliant": n, "not_compliant": n, "reboot_required": n,
                 "errors": n, "stale": n},
     "max_age_s": seconds,
     "components": [id, ...],
     "hosts": [{"host", "file", "verdict", "checked_at", "age_s", "mode", "compliant",
                "reboot_required",
                "run_id", "behind": [id, ...], "error": null | {"code", "message", "exit_code"},
                "components": {id: {"action", "version", "media_version", "level",
                                    "media_level", "step": null | {"status", "exit_code"}}}}]}

A host is ``compliant`` when its verdict is compliant or reboot-required; the fleet (and exit
0) when every host is: a pending reboot is shown, not failed. The summary counts hosts by
verdict (the five add up to ``hosts``); ``age_s`` is how old the result was when the report was
made (null for a file that could not be read). ``error`` is the
file's own (or ``bad-result-file``). ``components`` lists every component id in the
order first seen (hosts by name, each in execution order); a host's ``components`` holds those
its result has, in execution order, and ``step`` is the status of its installer in an applied
run. :mod:`spdeploy.reports.fleet_html` renders it as the status report's page with a hosts ×
components matrix on top.
"""

from __future__ import annotations

import re
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spdeploy import jsonfile
from spdeploy.errors import BadInput
from spdeploy.planner import MISSING, UPDATE

FORMAT = "spdeploy-fleet/1"
ERROR, NOT_COMPLIANT, REBOOT, COMPLIANT = "error", "not-compliant", "reboot-required", "compliant"
STALE = "stale"
VERDICTS = (ERROR, STALE, NOT_COMPLIANT, REBOOT, COMPLIANT)  # worst first
FORMATS = ("table", "json", "html")  # what ``report`` writes
DEFAULT_MAX_AGE = 7 * 86400.0
BAD_FILE = "bad-result-file"
_MODES = ("checked", "applied")
FAILED_STEPS = ("failed", "timeout")


@dataclass(frozen=True)
class HostResult:
    """One host's result file, as read (``result`` and ``error`` as the file has them)."""

    host: str
    file: str  # the file's name in the folder
    checked_at: str | None
    mode: str | None
    result: Mapping[str, Any] | None
    error: Mapping[str, Any] | None
    age_s: float | None = None  # how old the result was when the report was made
    max_age_s: float = DEFAULT_MAX_AGE

    @property
    def stale(self) -> bool:
        return self.age_s is not None and self.age_s > self.max_age_s

    @property
    def components(self) -> list[Mapping[str, Any]]:
        return list(self.result["components"]) if self.result is not None else []

    @property
    def compliant(self) -> bool:
        return self.verdict in (REBOOT, COMPLIANT)

    @property
    def reboot_required(self) -> bool:
        """An installer asked for a reboot in this result's run, or an earlier run's reboot
        has not happened yet (``reboot_pending``)."""
        if self.result is None:
            return False
        return bool(self.result.get("reboot_required") or self.result.get("reboot_pending"))

    @property
    def behind(self) -> list[str]:
        """Components not at the media's level: to update, or with no installer on the media."""
        return [c["id"] for c in self.components if c["action"] in (UPDATE, MISSING)]

    @property
    def verdict(self) -> str:
        if self.result is None or self.failed:
            return ERROR
        if self.stale:
            return STALE
        if not self.result["compliant"]:
            return NOT_COMPLIANT
        if self.error is not None:  # an error its result does not explain
            return ERROR
        return REBOOT if self.reboot_required else COMPLIANT

    @property
    def steps(self) -> dict[str, Mapping[str, Any]]:
        """Each component's step in the applied run (the last one, should it have run twice)."""
        steps = self.result.get("steps") if self.result is not None else None
        return {s["id"]: s for s in steps or ()}

    @property
    def failed(self) -> list[Mapping[str, Any]]:
        """The steps of the applied run that failed or timed out."""
        return [s for s in self.steps.values() if s["status"] in FAILED_STEPS]

    @property
    def problem(self) -> str:
        """Why the verdict is ``error``, in one line: the installers that failed, else the
        error; nothing for the other verdicts (their result says it all)."""
        if self.verdict != ERROR:
            return ""
        if self.failed:
            return "; ".join(f"{s['id']} {step_text(s)}" for s in self.failed)
        assert self.error is not None
        # The file's own text: a line break or an escape sequence in it would break the
        # table's row in two or reach the terminal, so spell them out (JSON keeps them)
        return _one_line(f"{self.error['code']}: {self.error['message']}")


@dataclass(frozen=True)
class Fleet:
    directory: Path
    hosts: tuple[HostResult, ...]  # worst first
    components: tuple[str, ...]  # every component id, in the order first seen
    max_age_s: float = DEFAULT_MAX_AGE

    @property
    def compliant(self) -> bool:
        return all(h.compliant for h in self.hosts)

    @property
    def exit_code(self) -> int:
        return 0 if self.compliant else 1

    def count(self, verdict: str) -> int:
        return sum(1 for h in self.hosts if h.verdict == verdict)

    def headline(self) -> str:
        """``NOT COMPLIANT: 2 of 5 host(s) behind the media's level; 1 error`` and the like."""
        total = len(self.hosts)
        behind, errors, reboots = (self.count(v) for v in (NOT_COMPLIANT, ERROR, REBOOT))
        stale = self.count(STALE)
        parts = []
        if behind:
            parts.append(f"{behind} of {total} host(s) behind the media's level")
        if errors:
            parts.append(f"{errors} of {total} host(s) with an error")
        if stale:
            parts.append(
                f"{stale} of {total} host(s) with a result older than {duration(self.max_age_s)}"
            )
        if not parts:
            parts.append(f"all {total} host(s) at the media's level")
        if reboots:
            parts.append(f"{reboots} reboot(s) pending")
        return f"{'COMPLIANT' if self.compliant else 'NOT COMPLIANT'}: {'; '.join(parts)}"


def parse_duration(text: str, option: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` as seconds; else bad input naming ``option``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if match is None:
        raise BadInput(f"{option} {text!r}: expected a number and a unit, e.g. 30d, 12h, 90m")
    seconds = float(match[1]) * _UNITS[match[2]]
    if not seconds > 0:
        raise BadInput(f"{option} {text!r}: expected more than no time at all")
    return seconds


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration(seconds: float) -> str:
    """``7d``, ``12h``, ``5m``, ``30s``: how long, in its largest whole unit (one word, so a
    table column stays one word)."""
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def load(
    directory: str | Path, *, max_age: float = DEFAULT_MAX_AGE, now: float | None = None
) -> Fleet:
    """Every host's result in ``directory``, worst first (module docstring); a result older
    than ``max_age`` seconds at ``now`` is stale."""
    folder = Path(directory)
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        raise BadInput(f"{folder}: {what} (expected the hosts' result files, <host>.json)")
    try:
        files = sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))
    except OSError as exc:
        raise BadInput(f"{folder}: cannot list the folder: {exc.strerror or exc}") from None
    if not files:
        raise BadInput(f"{folder}: no result files (<host>.json) in this folder")
    # a host reported twice: the file named <host>.json is its result, the other one an error
    read = sorted((_read(p) for p in files), key=lambda h: (h.host, h.file != f"{h.host}.json"))
    hosts: list[HostResult] = []
    for host in read:
        if hosts and hosts[-1].host == host.host and _readable(host):
            message = f"host {host.host!r} is also reported by {hosts[-1].file}"
            host = _unreadable(folder / host.file, message, host.host)
        hosts.append(host)
    taken = time.time() if now is None else now
    hosts = [replace(h, age_s=_age(h, taken), max_age_s=max_age) for h in hosts]
    components = list(dict.fromkeys(c["id"] for h in hosts for c in h.components))
    ordered = tuple(sorted(hosts, key=_worst_first))
    return Fleet(folder, ordered, tuple(components), max_age)


def _age(host: HostResult, now: float) -> float | None:
    if host.checked_at is None:
        return None
    when = datetime.fromisoformat(host.checked_at)
    if when.tzinfo is None:  # the module writes UTC ("Z"); a bare time is read as UTC too
        when = when.replace(tzinfo=UTC)
    return max(0.0, now - when.timestamp())


def _readable(h: HostResult) -> bool:
    return h.error is None or h.error["code"] != BAD_FILE


def _worst_first(h: HostResult) -> tuple[int, bool, bool, bool, int]:
    return (
        VERDICTS.index(h.verdict),
        h.result is not None,
        not h.failed,
        MISSING not in (c["action"] for c in h.components),
        -len(h.behind),
    )


def _read(path: Path) -> HostResult:
    try:
        # a FIFO named <host>.json would block the whole report waiting for a writer
        if not stat.S_ISREG(path.stat().st_mode):
            return _unreadable(path, "not a regular file")
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        return _unreadable(path, f"cannot read it: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        return _unreadable(path, f"not UTF-8 text (byte {exc.start})")
    try:
        doc = jsonfile.parse(text, _ResultFile)
    except jsonfile.Unreadable as exc:
        return _unreadable(path, f"not JSON: {exc}")
    try:
        file = jsonfile.convert(doc, _ResultFile)
    except jsonfile.Unreadable as exc:
        return _unreadable(path, str(exc))
    # The result as the file has it, checked: the page hands the whole status dict (SPEC §5,
    # additive) to the status report's renderer, keys this reader does not declare included.
    result, error = doc.get("result"), doc.get("error")
    return HostResult(file.host, path.name, file.checked_at, file.mode, result, error)


def _unreadable(path: Path, problem: str, host: str | None = None) -> HostResult:
    message = f"unreadable result file {path}: {problem}"
    error = {"code": BAD_FILE, "message": message, "exit_code": 2}
    return HostResult(host or path.stem, path.name, None, None, None, error)


# -- the result file, as the Ansible module writes it (module docstring) ------------------------
# What the report relies on, typed, decoded by spdeploy.jsonfile (dataclasses, not msgspec
# Structs, which would import msgspec with this module); any other key is left as it is.


@dataclass(frozen=True)
class _Component:
    id: str
    name: str
    action: str
    reason: str

    def __post_init__(self) -> None:
        jsonfile.require_printable(self, "id")


@dataclass(frozen=True)
class _Step:
    id: str
    status: str
    # what the renderers do arithmetic on or print in the table: "1.50 s", "(exit 1603)";
    # a float, so a number past a float's range (an OverflowError on the page) is refused
    exit_code: int | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        jsonfile.require_printable(self, "id", "status")


@dataclass(frozen=True)
class _Finding:
    code: str
    message: str
    components: tuple[Any, ...]


@dataclass(frozen=True)
class _Status:
    """The SPEC §5 status dict; an applied run adds ``run_id``, ``steps``, ``reboot_required``."""

    profile: str
    media: str
    target: str
    language: str
    platform: str
    compliant: bool
    components: tuple[_Component, ...]
    steps: tuple[_Step, ...] | None = None
    findings: tuple[_Finding, ...] | None = None
    reboot_required: bool | None = None
    reboot_pending: dict[str, Any] | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class _Error:
    code: str
    message: str
    exit_code: int


@dataclass(frozen=True)
class _ResultFile:
    host: str
    checked_at: str
    mode: str
    result: _Status | None = None
    error: _Error | None = None

    def __post_init__(self) -> None:
        if not self.host or not self.host.isprintable():
            problem = f"is empty or holds control characters: {jsonfile.shown(self.host)}"
            raise jsonfile.Invalid("host", problem)
        try:
            datetime.fromisoformat(self.checked_at)
        except ValueError:
            problem = f"is not an ISO 8601 time: {self.checked_at!r}"
            raise jsonfile.Invalid("checked_at", problem) from None
        if self.mode not in _MODES:
            problem = f"is {self.mode!r}, expected one of {', '.join(_MODES)}"
            raise jsonfile.Invalid("mode", problem)
        if self.result is None and self.error is None:
            raise ValueError('neither a "result" nor an "error"')


def _one_line(text: str) -> str:
    """``text`` with what is not printable (line breaks, escapes, bidi controls) as ``\\xNN``."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


# -- renderers ---------------------------------------------------------------------------------


def to_dict(fleet: Fleet) -> dict[str, Any]:
    """The JSON of ``report --format json`` (module docstring)."""
    return {
        "format": FORMAT,
        "directory": str(fleet.directory),
        "compliant": fleet.compliant,
        "summary": {
            "hosts": len(fleet.hosts),
            "compliant": fleet.count(COMPLIANT),
            "not_compliant": fleet.count(NOT_COMPLIANT),
            "reboot_required": fleet.count(REBOOT),
            "errors": fleet.count(ERROR),
            "stale": fleet.count(STALE),
        },
        "max_age_s": fleet.max_age_s,
        "components": list(fleet.components),
        "hosts": [_host_dict(h) for h in fleet.hosts],
    }


def _host_dict(h: HostResult) -> dict[str, Any]:
    steps = h.steps
    return {
        "host": h.host,
        "file": h.file,
        "verdict": h.verdict,
        "checked_at": h.checked_at,
        "age_s": None if h.age_s is None else round(h.age_s),
        "mode": h.mode,
        "compliant": h.compliant,
        "reboot_required": h.reboot_required,
        "run_id": h.result.get("run_id") if h.result is not None else None,
        "behind": h.behind,
        "error": dict(h.error) if h.error is not None else None,
        "components": {
            c["id"]: {
                "action": c["action"],
                "version": c.get("version"),
                "media_version": c.get("media_version"),
                "level": c.get("level"),
                "media_level": c.get("media_level"),
                "step": _step_dict(steps.get(c["id"])),
            }
            for c in h.components
        },
    }


def _step_dict(step: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if step is None else {"status": step["status"], "exit_code": step.get("exit_code")}


def step_text(step: Mapping[str, Any]) -> str:
    """``failed (exit 1603)``."""
    code = step.get("exit_code")
    return f"{step['status']}" + ("" if code is None else f" (exit {code})")
