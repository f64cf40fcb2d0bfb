"""Probe kinds: how a profile tells whether a component is installed and at which version.

Each kind is an immutable record (a ``NamedTuple``) with ``applies(ctx)`` (can it run on this
system at all?), ``run(ctx, want_version)`` and ``templates()`` (the strings it fills in from the
context's variables, so that a profile's placeholders are checked when it loads). Its last field,
``kind``, is its TOML key: records compare as tuples, and the kind keeps ``exists "x"`` from
equalling ``pe_version "x"``. The system is the context's: ``ctx.windows`` is the Windows boundary
(registry, services) or None, so the Windows kinds run in tests through a fake registry.
``PROBE_KINDS`` maps the TOML key to a parser, so a new kind is one class plus one registry entry.

NamedTuples, not dataclasses: loading a profile needs every kind, and creating a dataclass costs
``status`` about a millisecond of its start-up each (it compiles its methods), a NamedTuple a fifth.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from spdeploy.errors import NotApplicable, ProbeError, ProfileError, did_you_mean
from spdeploy.media.base import Tree
from spdeploy.versions import is_version
from spdeploy.winsys import HIVES, VIEWS, Windows, split_key, this_system


class Answer(NamedTuple):
    """What a probe saw: ``found`` answers "installed?", ``version`` answers "which build?".

    (Not a plan's ``planner.Finding``, which is a fact about the whole suite.)"""

    found: bool
    version: str | None = None
    source: str = ""


class _ThisSystem:
    """``ProbeContext``'s default system: this machine's, looked up when the context is made."""


THIS_SYSTEM = _ThisSystem()


class ProbeContext:
    """What a probe runs against: the tree, the variables its templates are filled from, and the
    Windows registry and services (``winsys.Windows``; None off Windows, this machine's by
    default)."""

    __slots__ = ("tree", "variables", "windows")

    def __init__(
        self,
        tree: Tree,
        variables: Mapping[str, str] | None = None,
        windows: Windows | _ThisSystem | None = THIS_SYSTEM,
    ) -> None:
        self.tree = tree
        self.variables: Mapping[str, str] = {} if variables is None else variables
        self.windows = this_system() if isinstance(windows, _ThisSystem) else windows

    def expand(self, template: str) -> str:
        from spdeploy.templates import render

        try:
            return render(template, self.variables)
        except ValueError as exc:
            raise ProbeError(f"cannot expand {template!r}: {exc}") from None


class Probe(Protocol):
    @property
    def kind(self) -> str:
        """The probe's TOML key (``exists``, ``pe_version``, ...)."""
        ...

    def applies(self, ctx: ProbeContext) -> bool: ...

    def run(self, ctx: ProbeContext, want_version: bool) -> Answer: ...

    def describe(self) -> str: ...

    def templates(self) -> tuple[str, ...]:
        """The strings ``run`` expands (paths, arguments): where placeholders may stand."""
        ...


def placeholders(probe: Probe) -> set[str]:
    """The ``{name}`` placeholders a probe fills in when it runs."""
    from spdeploy.templates import names

    return {name for template in probe.templates() for name in names(template)}


def pe_file_version(data: bytes, where: str) -> str | None:
    """FileVersion from the fixed version info of a PE image, or None if it has none.

    Raises ProbeError when ``data`` is not a PE image at all.
    """
    from spdeploy import peversion

    quick = peversion.file_version(data)
    if quick is not None:
        return quick
    import pefile  # deferred: about 20 ms with the OpenSSL it loads; peversion declined

    try:
        pe = pefile.PE(data=data, fast_load=True)
        pe.parse_data_directories(
            directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]]
        )
    except pefile.PEFormatError as exc:
        raise ProbeError(f"{where}: not a Windows PE file ({exc.value})") from None
    except Exception as exc:
        # pefile's own slips on a hostile image (an AttributeError for a section named PAGE):
        # the file cannot be read, and that is no bug of spdeploy's
        raise ProbeError(f"{where}: pefile cannot read it ({type(exc).__name__}: {exc})") from None
    fixed = getattr(pe, "VS_FIXEDFILEINFO", None)
    if not fixed:
        return None
    return peversion.dotted(fixed[0].FileVersionMS, fixed[0].FileVersionLS)


class Exists(NamedTuple):
    path: str
    kind: str = "exists"

    def applies(self, ctx: ProbeContext) -> bool:
        return True

    def run(self, ctx: ProbeContext, want_version: bool) -> Answer:
        pattern = ctx.expand(self.path)
        hits = ctx.tree.glob(pattern) if _is_glob(pattern) else [ctx.tree.find(pattern)]
        hit = next((h for h in hits if h is not None), None)
        return Answer(hit is not None, None, f"found {hit}" if hit else f"no {pattern}")

    def describe(self) -> str:
        return f"exists {self.path}"

    def templates(self) -> tuple[str, ...]:
        return (self.path,)


class PeVersion(NamedTuple):
    path: str
    kind: str = "pe_version"

    def applies(self, ctx: ProbeContext) -> bool:
        return True

    def run(self, ctx: ProbeContext, want_version: bool) -> Answer:
        rel = ctx.tree.find(ctx.expand(self.path))
        if rel is None or ctx.tree.is_dir(rel):
            return Answer(False, None, f"no file {ctx.expand(self.path)}")
        try:
            version = pe_file_version(ctx.tree.read_bytes(rel), ctx.tree.display(rel))
        except ProbeError as exc:
            # The file is there (installed), its version is unknown: say why, do not stop.
            return Answer(True, None, exc.message)
        if version is None:
            return Answer(True, None, f"{rel} has no version resource")
        return Answer(True, version, f"FileVersion of {rel}")

    def describe(self) -> str:
        return f"pe_version {self.path}"

    def templates(self) -> tuple[str, ...]:
        return (self.path,)


class Text(NamedTuple):
    file: str
    regex: re.Pattern[str]
    kind: str = "text"

    def applies(self, ctx: ProbeContext) -> bool:
        return True

    def run(self, ctx: ProbeContext, want_version: bool) -> Answer:
        rel = ctx.tree.find(ctx.expand(self.file))
        if rel is None or ctx.tree.is_dir(rel):
            return Answer(False, None, f"no file {ctx.expand(self.file)}")
        text = ctx.tree.read_bytes(rel).decode("utf-8", errors="replace")
        match = self.regex.search(text)
        if not match:
            return Answer(False, None, f"{rel}: no match for /{self.regex.pattern}/")
        return Answer(True, match.group(1) if match.groups() else None, f"text of {rel}")

    def describe(self) -> str:
        return f"text {self.file} /{self.regex.pattern}/"

    def templates(self) -> tuple[str, ...]:
        return (self.file,)  # the regex is matched as written


class Literal(NamedTuple):
    version: str
    kind: str = "literal"

    def applies(self, ctx: ProbeContext) -> bool:
        return True

    def run(self, ctx: ProbeContext, want_version: bool) -> Answer:
        return Answer(True, self.version, "literal")

    def describe(self) -> str:
        return f"literal {self.version}"

    def templates(self) -> tuple[str, ...]:
        return ()


class CommandOutput(NamedTuple):
    """The ``command`` probe: a program's output, matched by a regex. (Not an installer's
    command line: that is ``preflight.Command``.)"""

    argv: tuple[str, ...]
    regex: re.Pattern[str]
    kind: str = "command"

    def applies(self, ctx: ProbeContext) -> bool:
        return True

    def run(self, ctx: ProbeContext, want_version: bool) -> Answer:
        from spdeploy import process

        argv = [ctx.expand(a) for a in self.argv]
        result = process.capture(argv, timeout=60)
        if result.exit_code != 0:
            return Answer(False, None, f"{argv[0]} exited {result.exit_code}")
        match = self.regex.search(result.output)
        if not match:
            return Answer(False, None, f"{argv[0]}: no match for /{self.regex.pattern}/")
        return Answer(True, match.group(1) if match.groups() else None, f"output of {argv[0]}")

    def describe(self) -> str:
        return f"command {' '.join(self.argv)}"

    def templates(self) -> tuple[str, ...]:
        return self.argv  # the regex is matched as written


class Registry(NamedTuple):
    key: str
    value: str
    view: str | None = None  # "32" or "64": that registry view of a 64-bit Windows (WOW6432Node)
    kind: str = "registry"

    def applies(self, ctx: ProbeContext) -> bool:
        return ctx.windows is not None

    def run(self, ctx: ProbeContext, want_version: bool) -> Answer:
        if ctx.windows is None:
            raise NotApplicable(f"registry probe {self.key} only applies on Windows")
        from spdeploy import winsys

        data = winsys.read_registry(ctx.windows, self.key, self.value, self.view)
        if data is None:
            return Answer(False, None, f"no registry value {self._where()}")
        version = data if is_version(data) else None
        return Answer(True, version, f"registry {self._where()}")

    def _where(self) -> str:
        view = f" ({self.view}-bit view)" if self.view else ""
        return f"{self.key}\\{self.value}{view}"

    def describe(self) -> str:
        return f"registry {self._where()}"

    def templates(self) -> tuple[str, ...]:
        return ()


class Service(NamedTuple):
    name: str
    kind: str = "service"

    def applies(self, ctx: ProbeContext) -> bool:
        from spdeploy import winsys

        return winsys.services_available(ctx.windows)

    def run(self, ctx: ProbeContext, want_version: bool) -> Answer:
        from spdeploy import winsys

        if not self.applies(ctx):
            raise NotApplicable(
                f"service probe {self.name}: no Windows service manager or systemd here"
            )
        image = winsys.service_image(self.name, ctx.windows)
        if image is None:
            return Answer(False, None, f"no service {self.name}")
        from pathlib import Path

        exists = ctx.windows.is_file if ctx.windows is not None else os.path.isfile
        if image and not exists(image):
            # A key without its program proves nothing: removing a product can leave its
            # services' keys behind (Exchange's "Remove All" does, Q196305).
            return Answer(False, None, f"service {self.name} is registered but {image} is gone")
        version = None
        if want_version and image:
            try:
                version = pe_file_version(Path(image).read_bytes(), image)
            except OSError:
                version = None
        return Answer(True, version, f"service {self.name}")

    def describe(self) -> str:
        return f"service {self.name}"

    def templates(self) -> tuple[str, ...]:
        return ()


class AnyOf(NamedTuple):
    """The first probe that applies here and gives a positive answer wins."""

    probes: tuple[Probe, ...]
    kind: str = "any"

    def applies(self, ctx: ProbeContext) -> bool:
        # Always answers: when none of its probes can run here the answer is "not found", with
        # the reason, so one profile serves Windows hosts and offline trees alike.
        return True

    def run(self, ctx: ProbeContext, want_version: bool) -> Answer:
        skipped: list[str] = []
        last: Answer | None = None
        for probe in self.probes:
            if not probe.applies(ctx):
                skipped.append(probe.describe())
                continue
            last = probe.run(ctx, want_version)
            if last.version if want_version else last.found:
                return last
        if last is None:
            return Answer(False, None, f"no probe applies on this system: {'; '.join(skipped)}")
        return last

    def describe(self) -> str:
        return "any of (" + "; ".join(p.describe() for p in self.probes) + ")"

    def templates(self) -> tuple[str, ...]:
        return tuple(t for probe in self.probes for t in probe.templates())


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ProfileError(f"{where}: expected a non-empty string, got {value!r}")
    _no_nul(value, where)
    return value


def _no_nul(value: str, where: str) -> None:
    # No file name, registry key, service name or argument can hold one (the system's strings
    # end at a NUL), so the probe could never answer: an error when the profile loads.
    if "\0" in value:
        raise ProfileError(f"{where}: a NUL character cannot be part of a path or an argument")


def _regex(value: Any, where: str) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:  # a NUL may be matched: no _str
        raise ProfileError(f"{where}: expected a non-empty string, got {value!r}")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ProfileError(f"{where}: bad regex {value!r}: {exc}") from None


def _table(value: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: expected a table with keys {', '.join(keys)}")
    unknown = sorted(set(value) - set(keys))
    missing = [k for k in keys if k not in value]
    if unknown or missing:
        problem = (
            f"unknown key {unknown[0]!r}{did_you_mean(unknown[0], keys)}"
            if unknown
            else f"missing key {missing[0]!r}"
        )
        raise ProfileError(f"{where}: {problem} (expected {', '.join(keys)})")
    return value


def _literal(value: Any, where: str) -> Probe:
    if not isinstance(value, str) or not is_version(value):
        raise ProfileError(f"{where}: {value!r} is not a version (expected e.g. 5.5.2653.0)")
    return Literal(value)


def _text(value: Any, where: str) -> Probe:
    table = _table(value, where, ("file", "regex"))
    return Text(_str(table["file"], f"{where}.file"), _regex(table["regex"], f"{where}.regex"))


def _registry(value: Any, where: str) -> Probe:
    keys: tuple[str, ...] = ("key", "value", "view")
    if isinstance(value, dict) and "view" not in value:
        keys = ("key", "value")  # view is optional: the process's own view
    table = _table(value, where, keys)
    key = _str(table["key"], f"{where}.key")
    if split_key(key) is None:
        hives = ", ".join(h for h in HIVES if len(h) < 5)
        raise ProfileError(
            f"{where}.key: {key!r} does not start with a registry hive (expected {hives} or "
            "their long names, e.g. HKLM\\SOFTWARE\\Microsoft\\Exchange\\Setup)"
        )
    view = table.get("view")
    if view is not None and view not in VIEWS:
        raise ProfileError(
            f'{where}.view: {view!r} (expected "32", the 32-bit view, where a 64-bit Windows '
            'keeps 32-bit programs\' keys under WOW6432Node, or "64")'
        )
    return Registry(key, _str(table["value"], f"{where}.value"), view)


def _command(value: Any, where: str) -> Probe:
    table = _table(value, where, ("argv", "regex"))
    argv = table["argv"]
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ProfileError(f"{where}.argv: expected a non-empty list of strings (no shell)")
    for arg in argv:
        _no_nul(arg, f"{where}.argv")
    return CommandOutput(tuple(argv), _regex(table["regex"], f"{where}.regex"))


def _any(value: Any, where: str) -> Probe:
    if not isinstance(value, list) or not value:
        raise ProfileError(f"{where}: expected a non-empty list of probes")
    return AnyOf(tuple(parse_probe(v, f"{where}[{i}]") for i, v in enumerate(value)))


PROBE_KINDS: dict[str, Callable[[Any, str], Probe]] = {
    "exists": lambda v, w: Exists(_str(v, w)),
    "pe_version": lambda v, w: PeVersion(_str(v, w)),
    "text": _text,
    "registry": _registry,
    "service": lambda v, w: Service(_str(v, w)),
    "command": _command,
    "literal": _literal,
    "any": _any,
}


def parse_probe(value: Any, where: str) -> Probe:
    """Turn one TOML probe table (``{ pe_version = "..." }``) into a probe record."""
    if not isinstance(value, dict) or len(value) != 1:
        raise ProfileError(
            f"{where}: expected a table with exactly one probe kind ({', '.join(PROBE_KINDS)})"
        )
    ((kind, arg),) = value.items()
    parser = PROBE_KINDS.get(kind)
    if parser is None:
        raise ProfileError(
            f"{where}: unknown probe kind {kind!r}{did_you_mean(kind, PROBE_KINDS)} "
            f"(expected one of {', '.join(PROBE_KINDS)})"
        )
    return parser(arg, f"{where}.{kind}")


def answer(probe: Probe, ctx: ProbeContext, want_version: bool) -> Answer:
    """Run a probe on its own: one that cannot apply here is a clear error, not a silent "no"."""
    if not probe.applies(ctx):
        raise NotApplicable(f"{probe.describe()}: this probe kind cannot run on this system")
    return probe.run(ctx, want_version)
