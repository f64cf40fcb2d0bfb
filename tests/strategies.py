"""Hypothesis strategies for the property tests: random profiles, media and targets, and the
writers that put them on disk. Shared by ``profile_properties_test.py``,
``media/media_properties_test.py`` and ``cli_properties_test.py`` (``properties.py`` runs and
checks the examples).

They cover: profiles with random ids, names and unicode, installer templates with
``{language}``/``{platform}`` (and the other placeholders, escaped braces, format specs),
``after`` chains, every probe kind of SPEC §7 with nested ``any``, ``exit_codes``, ``args``,
``backup``/``logs``, ``extends = "exchange55"`` overrides, huge strings; mutations that break
them; media as folders (mixed case, ``;1`` names, unicode, deep nesting, empty folders, symlinks
inside/outside/dangling/looping, FIFOs, empty, random and PE files), as zip archives (hostile
``../`` and absolute entries, link and FIFO entries, damaged bytes) and as ISO images (level 1,
Joliet, Rock Ridge; corrupt and truncated); targets likewise, with real and damaged PE files at
the paths the profiles probe.

Each generated profile says what SPEC §7 makes of it (:class:`ProfileCase` ``expect``):
``valid`` (``profiles check`` must accept it), ``invalid`` (an error the SPEC names: unknown key,
wrong type, bad regex, unknown probe kind, duplicate id, unknown ``after``, cycle, not TOML, a
template naming a placeholder its key has no value for, a NUL in a probe) or ``unknown``
(``contested``: NULs elsewhere, paths out of their root, giant numbers; either answer will do).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import string
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import event
from hypothesis import strategies as st

from spdeploy.profile import (
    MEDIA_PROBE_PLACEHOLDERS,
    PLACEHOLDERS,
    TARGET_PROBE_PLACEHOLDERS,
)
from spdeploy.sandbox.images import write_iso
from spdeploy.sandbox.pe import build_pe

SENTINEL = "7.7.7777.7"  # the version of every PE file outside the media and target roots

E55_IDS = ("server", "coco", "calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn")
LANGS = ("Eng", "ENG", "eng", "Ger", "Fra", "Jpn", "Español", "日本語", "Eng ")
PLATS = ("I386", "i386", "Alpha", "ALPHA", "Mips", "x86")
FOLDERS = ("Calcon", "Ntsconn", "Gwxconn", "Gwconn", "Gwxcon", "Ovvconn", "Snaconn", "Setup")
TARGET_FILES = (
    "bin/Store.exe",
    "Connect/Calcon/Calcon.exe",
    "Connect/Exchconn/Lsmexout.exe",
    "Connect/Exchconn/Gwrouter.exe",
    "Connect/Exchconn/Dxamex/Mapping.tbl",
    "Connect/Exchconn/Setup/lmeilog.txt",
    "version.txt",
)
E55_MEDIA = [
    ("Eng", "Server", "Setup", "I386", "Update.exe"),
    *[("Eng", "Exchconn", "Setup", "I386", f, f"{f}.exe") for f in FOLDERS if f != "Setup"],
]
E55_TARGET = [tuple(p.split("/")) for p in TARGET_FILES[:4]]
VERSIONS = ("5.5.1960.0", "5.5.2232.0", "5.5.2448.0", "5.5.2650.0", "5.5.2653.0", "5.5.2653.1")


# -- TOML ----------------------------------------------------------------------------------------


_TOML_ESCAPES = {c: f"\\u{c:04x}" for c in [*range(0x20), 0x7F]} | {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}


def toml_str(text: str) -> str:
    return '"' + text.translate(_TOML_ESCAPES) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_str(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def toml_dump(doc: dict[str, Any]) -> str:
    """A TOML document; ``component`` as ``[[component]]`` tables when it is a list of tables."""
    lines = []
    tables = doc.get("component")
    as_tables = isinstance(tables, list) and tables and all(isinstance(c, dict) for c in tables)
    for key, value in doc.items():
        if key != "component" or not as_tables:
            lines.append(f"{toml_str(key)} = {toml_value(value)}")
    if as_tables:
        for comp in tables:
            lines += ["", "[[component]]"]
            lines += [f"{toml_str(k)} = {toml_value(v)}" for k, v in comp.items()]
    return "\n".join(lines) + "\n"


# -- profile strategies --------------------------------------------------------------------------


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` draws. (``integers(0, n) == 0`` would be far likelier, as would the
    first element of a list: hypothesis favours boundary values and simplest choices.)"""
    return st.sampled_from(range(n)).map(lambda i: i == n - 1)


@st.composite
def rarely(
    draw: st.DrawFn, common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], every: int = 25
) -> Any:
    """``rare`` once in ``every`` draws (hazards that would otherwise crowd out the rest)."""
    return draw(rare if draw(_ONE_IN[every]) else common)


_ONE_IN = {n: one_in(n) for n in (10, 25, 80)}


_any_char = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
texts = st.one_of(
    st.text(_any_char, max_size=12),
    st.sampled_from(["Exchange", "Connector für Lotus Notes", "日本語", "a\nb", 'q"uo\\te']),
    rarely(st.just("Exchange"), st.sampled_from(["x" * 20_000, "a\x00b"])),
)
nonempty = texts.filter(bool)
ids = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
    st.text(_any_char, min_size=1, max_size=8),
).filter(lambda s: s not in E55_IDS and not s.startswith("zz-nope"))

good_versions = st.one_of(
    st.sampled_from(VERSIONS),
    st.sampled_from(["5.5", "6", "v5.5.2448", "5,5,2448,0", " 5.5 ", "0"]),
    st.lists(st.integers(0, 10**12), min_size=1, max_size=5).map(lambda p: ".".join(map(str, p))),
    # rarely: more digits than int() converts, a 19-digit part, non-ASCII digits (`contested`)
    rarely(st.just("5.5.2448"), st.sampled_from(["1" * 4400, "1" * 19, "٥.٥.٢٤٤٨"])),
)
GOOD_REGEXES = (
    r"(\d+(?:\.\d+)+)",
    r"version\s*=\s*(\S+)",
    r"^(.*)$",
    r"(\d+)",
    r"build (\d+)",
    r"x",
    r"(a)?b",
    r"(?i)VERSION: ([0-9.,]+)",
    r"(?P<v>[0-9]+)",
)
BAD_REGEXES = ("(", "[", "(?P<", "*", "a{2,1}", "\\", "(?<=a+)b", "")
SAFE_ARGV = (
    ["true"],
    ["false"],
    ["echo", "5.5.2653.0"],
    ["printf", "build %s\\n", "x"],
    ["/nonexistent/spdeploy-no-such-program"],
)
RARE_ARGV = (["echo", "a\x00b"], ["printf", "%s", "{target}"])  # a NUL; a placeholder


@cache
def pe_image(version: str) -> bytes:
    return build_pe(version)


def pe_bytes(version: str) -> bytes:
    try:
        return pe_image(version)
    except ValueError:  # write_pe refuses it: a file that only looks like one
        return b"MZ" + version.encode("utf-8", "replace")


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


# Path segments of installer templates. The rare ones (placeholders beyond {language} and
# {platform}, conversions, format specs) make the profile `contested`: a loader may refuse them,
# and plan must not crash on them if it does not (it once did, see the test_found_* tests).
_RARE_SEGMENTS = st.sampled_from(
    [
        *("{target}", "{media}", "{staged}", "{installer}", "{drive}"),
        *("{platform!r}", "{language:>6}", "{platform:d}"),
    ]
)
_TEMPLATE_SEGMENTS = rarely(
    st.one_of(
        st.sampled_from(["{language}", "{platform}", "{language}", "{platform}", "Exchconn"]),
        st.sampled_from(["Setup", "Server", *FOLDERS]),
        st.sampled_from(FOLDERS).map(lambda f: f"{f}.exe"),
        st.sampled_from(["*.exe", "Update.exe", "*", "?pdate.exe", "[NU]*.exe"]),
        st.text(_any_char, min_size=1, max_size=6).map(_escape),
    ),
    _RARE_SEGMENTS,
    every=80,
)
templates = st.one_of(
    st.lists(_TEMPLATE_SEGMENTS, min_size=1, max_size=6).map("/".join),
    st.lists(_TEMPLATE_SEGMENTS, min_size=1, max_size=6).map("\\".join),
    st.sampled_from(FOLDERS).map(lambda f: f"{{language}}/Exchconn/Setup/{{platform}}/{f}/{f}.exe"),
    st.just("{language}/Server/Setup/{platform}/Update.exe"),
)
probe_paths = rarely(
    st.one_of(
        st.sampled_from(TARGET_FILES),
        st.sampled_from(TARGET_FILES).map(str.upper),
        st.sampled_from(TARGET_FILES).map(lambda p: p.replace("/", "\\").lower()),
        st.sampled_from(
            ["bin/*.exe", "Connect/*/*.exe", "*/*", "[bc]*/Store.exe", "bin/Store.exe;1"]
        ),
        st.text(_any_char, min_size=1, max_size=10).filter(lambda p: "{" not in p and "}" not in p),
    ),
    # placeholders a target probe has no value for, attribute lookups, ways out of the root
    st.sampled_from(
        [
            *("{installer}", "{target}/bin/Store.exe", "{drive}/outside/secret.exe", "{foo}/x"),
            *("../outside/secret.exe", "bin/../../outside/secret.exe", "{target.foo}/x"),
            *("{0}", "{", "C:\\x.exe", ".", "}"),
        ]
    ),
    every=10,
)

PROBE_KINDS = ("exists", "pe_version", "text", "registry", "service", "command", "literal")


@st.composite
def leaf_probes(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([*PROBE_KINDS[:3]] * 4 + [*PROBE_KINDS[3:], "literal"] * 2))
    if kind in ("exists", "pe_version"):
        return {kind: draw(probe_paths)}
    if kind == "text":
        return {
            "text": {
                "file": draw(probe_paths),
                "regex": draw(st.sampled_from(GOOD_REGEXES)),
            }
        }
    if kind == "registry":
        return {
            "registry": {"key": "HKLM\\SOFTWARE\\Microsoft\\Exchange\\Setup", "value": "Services"}
        }
    if kind == "service":
        return {"service": draw(st.sampled_from(["LME-NOTES", "MSExchangeCalCon", "x y"]))}
    if kind == "command":
        # Never a random program: the argv lists are fixed (a rare one carries a NUL).
        return {
            "command": {
                "argv": draw(rarely(st.sampled_from(SAFE_ARGV), st.sampled_from(RARE_ARGV), 10)),
                "regex": draw(st.sampled_from(GOOD_REGEXES)),
            }
        }
    return {"literal": draw(good_versions)}


any_probes = st.lists(leaf_probes(), min_size=1, max_size=3).map(lambda ps: {"any": ps})
probes = st.one_of(
    leaf_probes(),
    any_probes,
    st.lists(st.one_of(leaf_probes(), any_probes), min_size=1, max_size=2).map(
        lambda ps: {"any": ps}
    ),
)
exit_code_tables = st.dictionaries(
    rarely(st.integers(-(2**31), 2**32).map(str), st.sampled_from([" 5 ", "1_0", "٣", "1\n"])),
    st.sampled_from(["ok", "reboot", "failed"]),
    max_size=3,
)
backup_paths = st.one_of(
    st.sampled_from(["Connect/Exchconn/Dxamex", "Connect/Exchconn/Dxanotes", "bin", "*.ini"]),
    st.text(_any_char, min_size=1, max_size=10),
)
HOSTILE_PATHS = ("../x", "../../outside", "/abs/x", "C:\\x", "a/../../b", "\\\\server\\share\\x")


_OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "version": probes,
    "media_version": st.one_of(st.just({"pe_version": "{installer}"}), probes),
    "fallback_languages": st.lists(st.sampled_from(LANGS), max_size=2),
    "args": st.lists(templates, max_size=2),
    "interactive": st.booleans(),
    "backup": st.lists(backup_paths, max_size=2),
    "logs": st.lists(templates, max_size=2),
    "exit_codes": exit_code_tables,
    "notes": texts,
}
_OPTIONAL_KEYS = st.lists(st.sampled_from([*_OPTIONAL, "after"]), unique=True, max_size=5)
_INSTALLERS = st.lists(templates, min_size=1, max_size=3)


def _component(draw: st.DrawFn, cid: str, before: list[str], partial: bool) -> dict[str, Any]:
    """One [[component]]; ``partial`` overrides an exchange55 one (any keys, none required)."""
    comp: dict[str, Any] = {"id": cid}
    if not partial or draw(st.booleans()):
        comp["name"] = draw(nonempty)
    if not partial or draw(st.booleans()):
        comp["installer"] = draw(_INSTALLERS)
    if not partial or draw(st.booleans()):
        comp["installed"] = draw(probes)
    for key in draw(_OPTIONAL_KEYS):
        if key != "after":
            comp[key] = draw(_OPTIONAL[key])
        elif before:
            comp[key] = draw(st.lists(st.sampled_from(before), max_size=2))
    if comp.get("interactive") is True and comp.get("args"):
        del comp["interactive"]  # a contradiction the profile refuses (args make it unattended)
    return comp


platform_tables = st.one_of(
    st.just({"I386": ["x86", "x86_64", "amd64"], "Alpha": ["alpha"]}),
    st.dictionaries(
        rarely(st.sampled_from(PLATS), st.text(_any_char, min_size=1, max_size=6)),
        st.lists(st.sampled_from(["x86_64", "alpha", "i686", "???"]), max_size=2),
        min_size=1,
        max_size=3,
    ).map(lambda t: {"I386": ["x86_64"], **t}),
)


@st.composite
def valid_docs(draw: st.DrawFn) -> dict[str, Any]:
    """A profile document SPEC §7 accepts, unless ``contested`` says it stepped into what the
    SPEC leaves open; the properties check that `profiles check` accepts the rest."""
    extends = draw(one_in(4))
    doc: dict[str, Any] = {}
    if not extends or draw(st.booleans()):
        doc["id"] = draw(nonempty)
        doc["name"] = draw(nonempty)
    if extends:
        doc["extends"] = "exchange55"
    if not extends or draw(st.booleans()):
        doc["platforms"] = draw(platform_tables)
    if draw(st.booleans()):
        doc["levels"] = draw(st.dictionaries(good_versions, texts, max_size=3))
    if draw(st.booleans()):
        doc["description"] = draw(texts)
    comps: list[dict[str, Any]] = []
    if extends:
        # not coco: it has no installer of its own (serviced_by), and an override may give one
        overridable = [cid for cid in E55_IDS if cid != "coco"]
        for cid in draw(st.lists(st.sampled_from(overridable), unique=True, max_size=3)):
            earlier = list(E55_IDS[: E55_IDS.index(cid)])
            comps.append(_component(draw, cid, earlier, partial=True))
    known = list(E55_IDS) if extends else []
    for cid in draw(st.lists(ids, unique=True, min_size=0 if extends else 1, max_size=4)):
        comps.append(_component(draw, cid, list(known), partial=False))
        known.append(cid)
    if comps or draw(st.booleans()):
        doc["component"] = comps
    return doc


_ASCII_VERSION = re.compile(r"^\s*v?[0-9]{1,18}(?:[.,][0-9]{1,18}){0,15}\s*$")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_COMPONENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# \Z, not $: "$" also matches before a final newline, and "1\n" is no exit code
_ASCII_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,9})\Z")


def _template_ok(value: str, allowed: tuple[str, ...]) -> bool:
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError:
        return False
    return all(n is None or (n in allowed and not s and not c) for _, n, s, c in parsed)


def _path_ok(value: str) -> bool:
    """A plain relative path: no placeholder, no way out of its root."""
    return not _leaves_root(value) and "{" not in value


def _leaves_root(template: str) -> bool:
    """As the loader and the readers see it: absolute (``/x``, ``\\x``, ``C:x``, any ``?:``) or
    with a ``..`` segment once its placeholders are filled in."""
    path = re.sub(r"\{[^{}]*\}", "x", template).replace("\\", "/")
    return path.startswith("/") or path[1:2] == ":" or ".." in path.split("/")


def _gives_no_version(probe: Any) -> bool:
    """An ``exists`` probe, or a text or command regex without a group, where a version is
    read: the loader refuses it (the plan could only ever say "version unknown")."""
    for kind, arg in probe.items():
        if kind == "exists":
            return True
        if kind in ("text", "command"):
            with contextlib.suppress(re.error):
                return re.compile(arg["regex"]).groups == 0
        if kind == "any":
            return any(_gives_no_version(inner) for inner in arg)
    return False


def _probe_problem(probe: Any, media: bool = False) -> str | None:
    for kind, arg in probe.items():
        if kind in ("exists", "pe_version") and not (
            _path_ok(arg) or (media and arg == "{installer}")
        ):
            return f"{kind} path"
        if kind == "text" and not _path_ok(arg["file"]):
            return "text path"
        if kind == "command" and any("{" in a for a in arg["argv"]):
            return "command placeholder"
        if kind == "literal" and not _ASCII_VERSION.match(arg):
            return "version"
        if kind == "any":
            return next(filter(None, (_probe_problem(p, media) for p in arg)), None)
    return None


_PROBE_PLACEHOLDERS = {
    "installed": TARGET_PROBE_PLACEHOLDERS,
    "version": TARGET_PROBE_PLACEHOLDERS,
    "media_version": MEDIA_PROBE_PLACEHOLDERS,
}


def _probe_templates(probe: Any) -> Iterator[str]:
    """The strings a probe fills in: paths, a text probe's file, a command's argv."""
    for kind, arg in probe.items():
        if kind in ("exists", "pe_version"):
            yield arg
        elif kind == "text":
            yield arg["file"]
        elif kind == "command":
            yield from arg["argv"]
        elif kind == "any":
            for inner in arg:
                yield from _probe_templates(inner)


def invalid(doc: dict[str, Any]) -> str | None:
    """Why SPEC §7 makes a generated document an error though each value has the right type, or
    None: a probe naming a placeholder its key has no value for, or a NUL in a probe's path or
    argv (neither could ever run), or a component id that is not a plain word (it names files
    in the state folder and is typed after --only). Then `profiles check` must refuse it."""
    for comp in doc.get("component", []):
        if not _COMPONENT_ID.fullmatch(comp["id"]):
            return "component id"
        if any(
            key in comp and _gives_no_version(comp[key]) for key in ("version", "media_version")
        ):
            return "versionless probe"
        for key, allowed in _PROBE_PLACEHOLDERS.items():
            for template in _probe_templates(comp.get(key, {})):
                if not _template_ok(template, allowed):
                    return f"{key} placeholder"
                if "\x00" in template:
                    return f"{key} NUL"
    return None


def contested(doc: dict[str, Any]) -> str | None:
    """Why SPEC §7 leaves a generated document's validity open, or None when it is plainly
    valid: then `profiles check` must accept it. (NUL characters, placeholders and format specs
    beyond what a key needs, paths leaving their root, non-ASCII or giant numbers.)"""
    if "\\u0000" in toml_dump(doc):
        return "NUL"
    if not all(_ASCII_VERSION.match(v) for v in doc.get("levels", {})):
        return "version"
    if not all(_PLAIN_NAME.match(k) for k in doc.get("platforms", {})):
        return "platform name"
    for comp in doc.get("component", []):
        if not all(_template_ok(v, ("language", "platform")) for v in comp.get("installer", [])):
            return "installer template"
        if any(_leaves_root(v) for v in comp.get("installer", [])):
            return "installer path"
        if not all(_template_ok(v, PLACEHOLDERS) for v in comp.get("args", [])):
            return "args template"
        if not all(_template_ok(v, PLACEHOLDERS) for v in comp.get("logs", [])):
            return "logs template"
        if not all(_path_ok(v) for v in comp.get("backup", [])):
            return "backup path"
        if not all(_ASCII_INT.match(k) for k in comp.get("exit_codes", {})):
            return "exit code"
        for key in ("installed", "version", "media_version"):
            if key in comp:
                problem = _probe_problem(comp[key], media=key == "media_version")
                if problem:
                    return problem
    return None


# Mutations. "invalid": SPEC §7 says the profile is an error; "unknown": the SPEC does not say.
WRONG_COMPONENT: dict[str, list[Any]] = {
    "id": [5, "", []],
    "name": [5, "", [], True],
    "installer": [5, [], [""], [1], {"a": "b"}],
    "installed": ["exists", 5, [], {}],
    "version": ["x", 5],
    "media_version": [5, {"literal": "abc"}],
    "fallback_languages": [5, [""], [1]],
    "after": [5, [""], [1]],
    "args": [5, [1]],
    "interactive": ["yes", 1],
    "backup": [5, [""]],
    "logs": [5, [2]],
    "exit_codes": [[1], {"abc": "ok"}, {"0": "maybe"}, {"0": 1}, "0=ok", {"1\n": "no"}],
    "notes": [5, []],
}
WRONG_TOP: dict[str, list[Any]] = {
    "id": [5, ""],
    "name": [[], ""],
    "platforms": [[], {}, {"I386": 5}, {"I386": [""]}, 5],
    "levels": [5, {"abc": "x"}, {"5.5": 5}, {"": "RTM"}],
    "description": [5],
    "component": [5, [5], {}],
}
BAD_PROBES: tuple[Any, ...] = (
    {"exist": "bin/Store.exe"},
    {"wmi": "x"},
    {"exists": "a", "literal": "1"},
    {},
    {"any": []},
    {"any": [{"exists": "a"}, {"registy": {"key": "k", "value": "v"}}]},
    {"registry": {"key": "k"}},
    {"text": {"file": "version.txt", "regex": "(a)", "flags": "i"}},
    {"command": {"argv": [], "regex": "x"}},
    {"literal": "abc"},
    {"exists": ""},
    {"exists": 5},
)
BAD_TEMPLATES = (
    "{foo}/x.exe",
    "{",
    "}",
    "{language",
    "{0}",
    "{}",
    "{language.upper}",
    "{platform[0]}",
)


def _short(value: Any) -> Any:
    """``value`` with long strings cut, for failure reports."""
    if isinstance(value, bytes):
        return re.sub(rb"(.)\1{40,}", lambda m: b"<%d x %r>" % (len(m[0]), m[1]), value)
    if isinstance(value, str):
        return re.sub(r"(.)\1{40,}", lambda m: f"<{len(m[0])} x {m[1]!r}>", value)
    if isinstance(value, dict):
        return {_short(k): _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


@dataclass
class ProfileCase:
    doc: dict[str, Any] | None
    data: bytes
    expect: str  # "valid", "invalid" or "unknown"
    mutations: list[str] = field(default_factory=list)
    path_kind: str = "file"

    def __repr__(self) -> str:
        return (
            f"ProfileCase(expect={self.expect!r}, mutations={self.mutations}, "
            f"path_kind={self.path_kind!r}, data={_short(self.data)!r})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' failure report
        printer.text(repr(self))


def _tables(doc: dict[str, Any]) -> list[dict[str, Any]] | None:
    comps = doc.get("component")
    if comps is None:
        comps = doc["component"] = []
    ok = isinstance(comps, list) and all(isinstance(c, dict) for c in comps)
    return comps if ok else None


def _child_component(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """A [[component]] of ``doc`` to mutate (a detached one once ``component`` is broken)."""
    comps = _tables(doc)
    if comps is None:
        return _component(draw, "zz-detached", [], partial=False)
    if not comps:
        comps.append(_component(draw, "zz-added", [], partial=False))
    return draw(st.sampled_from(comps))


def _mutate(draw: st.DrawFn, doc: dict[str, Any], how: str) -> str:
    """Apply one mutation to ``doc``; returns its class ("invalid" or "unknown")."""
    if how == "unknown-key":
        if draw(st.booleans()):
            doc[draw(st.sampled_from(["colour", "Component", "naïve", "components", ""]))] = 1
        else:
            comp = _child_component(draw, doc)
            comp[draw(st.sampled_from(["instaler", "Name", "version_", "_source", "args "]))] = "x"
        return "invalid"
    if how == "wrong-type":
        if draw(st.booleans()):
            key = draw(st.sampled_from(sorted(WRONG_TOP)))
            doc[key] = draw(st.sampled_from(WRONG_TOP[key]))
        else:
            comp = _child_component(draw, doc)
            key = draw(st.sampled_from(sorted(WRONG_COMPONENT)))
            comp[key] = draw(st.sampled_from(WRONG_COMPONENT[key]))
        return "invalid"
    if how in ("bad-regex", "bad-probe"):
        comp = _child_component(draw, doc)
        if how == "bad-regex":
            bad: Any = {
                "text": {"file": "version.txt", "regex": draw(st.sampled_from(BAD_REGEXES))}
            }
            if draw(st.booleans()):
                bad = {"any": [{"exists": "bin/Store.exe"}, bad]}
        else:
            bad = draw(st.sampled_from(BAD_PROBES))
        comp[draw(st.sampled_from(["installed", "version", "media_version"]))] = bad
        return "invalid"
    if how == "bad-template":
        comp = _child_component(draw, doc)
        key = draw(st.sampled_from(["installer", "args", "logs", *_PROBE_PLACEHOLDERS]))
        bad = draw(st.sampled_from(BAD_TEMPLATES))
        if key in _PROBE_PLACEHOLDERS:
            comp[key] = draw(
                st.sampled_from(
                    [
                        {"exists": bad},
                        {"text": {"file": bad, "regex": "(.*)"}},
                        {"command": {"argv": ["echo", bad], "regex": "(.*)"}},
                        {"any": [{"literal": "1.0"}, {"pe_version": bad}]},
                    ]
                )
            )
        else:
            comp[key] = [*comp.get(key, []), bad]
        return "invalid"
    if how == "duplicate-id":
        comp = _child_component(draw, doc)
        comps = _tables(doc)
        if comps is not None:
            comps.append(dict(comp))
        return "invalid"
    if how == "unknown-after":
        comp = _child_component(draw, doc)
        comp["after"] = [*comp.get("after", []), "zz-nope"]
        return "invalid"
    if how == "cycle":
        comp = _child_component(draw, doc)
        other = _child_component(draw, doc)
        comp["after"] = [*comp.get("after", []), other["id"]]
        other["after"] = [*other.get("after", []), comp["id"]]
        return "invalid"
    if how == "missing-key":
        if "extends" not in doc and draw(st.booleans()):
            doc.pop(draw(st.sampled_from(["id", "name", "platforms", "component"])), None)
        else:
            comp = _component(draw, "zz-new", [], partial=False)
            del comp[draw(st.sampled_from(["name", "installer", "installed"]))]
            comps = _tables(doc)
            if comps is not None:
                comps.append(comp)
        return "invalid"
    if how == "bad-extends":
        doc["extends"] = draw(st.sampled_from(["", 5, "zz-no-such-profile", "p.toml", "./p.toml"]))
        return "invalid"
    # hostile paths: SPEC §7 does not say whether `check` refuses them; plan must not crash
    comp = _child_component(draw, doc)
    key = draw(st.sampled_from(["installer", "backup", "logs", "fallback_languages"]))
    comp[key] = [*comp.get(key, []), draw(st.sampled_from(HOSTILE_PATHS))]
    return "unknown"


MUTATIONS = (
    "unknown-key",
    "wrong-type",
    "bad-regex",
    "bad-probe",
    "bad-template",
    "duplicate-id",
    "unknown-after",
    "cycle",
    "missing-key",
    "bad-extends",
    "hostile-path",
)


@st.composite
def profile_cases(draw: st.DrawFn, mutate: bool = True) -> ProfileCase:
    doc = draw(valid_docs())
    wrong, reason = invalid(doc), contested(doc)
    if wrong is not None:
        event(f"profile: invalid ({wrong})")
    elif reason is not None:
        event(f"profile: contested ({reason})")
    first = "invalid" if wrong else "unknown" if reason else "valid"
    if not mutate:
        return ProfileCase(doc, toml_dump(doc).encode(), first)
    shape = draw(st.sampled_from(["valid"] * 3 + ["mutated"] * 5 + ["raw", "path"]))
    if shape == "raw":
        data = draw(
            st.one_of(
                st.just(b""),
                st.binary(max_size=64),
                st.binary(max_size=16).map(lambda b: b"\xff\xfe" + b),
                st.sampled_from([b"id = ", b"[[component]\n", b"id = 'x'\nid = 'y'\n", b"\x00"]),
            )
        )
        return ProfileCase(None, data, "invalid", ["raw"])
    if shape == "path":
        kind = draw(st.sampled_from(["missing", "dir", "fifo"]))
        return ProfileCase(None, b"", "invalid", ["path"], kind)
    mutations: list[str] = []
    expect = first
    if shape == "mutated":
        chosen = draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3))
        # a later mutation may add back what "missing-key" took away (a whole [[component]]
        # list, say): remove keys last, so that an "invalid" profile stays invalid
        for how in sorted(chosen, key=lambda m: m == "missing-key"):
            kind = _mutate(draw, doc, how)
            mutations.append(how)
            if kind == "invalid" or expect == "valid":
                expect = kind
    data = toml_dump(doc).encode()
    if draw(one_in(10)):  # cut short, or a stray non-UTF-8 byte
        cut = draw(st.integers(0, len(data)))
        if draw(st.booleans()):
            # cutting may remove what made it invalid, or what made it valid
            expect = "unknown" if cut < len(data) else expect
            data, mutations = data[:cut], [*mutations, "truncated"]
        else:
            data, expect = data[:cut] + b"\x80" + data[cut:], "invalid"
            mutations.append("non-utf8")
    return ProfileCase(doc, data, expect, mutations)


def write_profile(folder: Path, case: ProfileCase) -> Path:
    path = folder / "p.toml"
    if case.path_kind == "dir":
        path.mkdir()
    elif case.path_kind == "fifo":
        os.mkfifo(path)
    elif case.path_kind == "file":
        path.write_bytes(case.data)
    return path


# -- media and target trees ----------------------------------------------------------------------

# A name as a folder or file on Linux: no "/" or NUL (a backslash is fine, and hostile).
_disk_names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=12,
).filter(lambda n: n not in (".", "..") and len(n.encode()) < 100)


@st.composite
def spelled(draw: st.DrawFn, name: str) -> str:
    """``name`` as some CD or copy might spell it: case changed, ISO ``;1`` suffix."""
    case, suffix = draw(_SPELLINGS)
    return getattr(name, case)() + suffix


_SPELLINGS = st.sampled_from(
    [(case, "") for case in ("__str__", "__str__", "__str__", "upper", "lower", "swapcase")]
    + [("__str__", ";1"), ("upper", ";1"), ("__str__", ";2"), ("upper", "."), ("__str__", " ")]
)


@dataclass(frozen=True)
class Entry:
    parts: tuple[str, ...]
    kind: str  # dir, file, fifo, link-in, link-out, link-escape, link-dangling, link-loop
    data: bytes = b""
    link: int = 0  # link-in: index of the entry it points to

    def __repr__(self) -> str:
        return f"Entry({self.parts!r}, {self.kind!r}, {_short(self.data)!r}, {self.link})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' failure report
        printer.text(repr(self))


FILE_KINDS = ("pe", "pe", "pe", "pe-damaged", "mz", "empty", "random", "text")
OTHER_KINDS = ("dir", "fifo", "link-in", "link-out", "link-escape", "link-dangling", "link-loop")
_KINDS = st.sampled_from(FILE_KINDS * 3 + OTHER_KINDS)


pe_versions = st.one_of(
    st.sampled_from(VERSIONS),
    st.lists(st.integers(0, 65535), min_size=1, max_size=4).map(lambda p: ".".join(map(str, p))),
    st.sampled_from(["", "abc", "5.5.70000.0", "1.2.3.4.5", "٥.٥"]),  # write_pe refuses these
).filter(lambda v: v != SENTINEL)
_text_contents = st.one_of(
    pe_versions.map(lambda v: f"version = {v}\n".encode()),
    st.text(_any_char, max_size=40).map(lambda t: t.encode()),
)


@st.composite
def contents(draw: st.DrawFn, kind: str) -> bytes:
    if kind == "pe":
        return pe_bytes(draw(pe_versions))
    if kind == "pe-damaged":
        data = bytearray(pe_bytes(draw(pe_versions)))
        for _ in range(draw(st.integers(0, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data[: draw(st.integers(0, len(data)))])
    if kind == "mz":
        return b"MZ" + draw(st.binary(max_size=256))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=512))
    if kind == "text":
        return draw(_text_contents)
    return b""


_ANCHOR_COUNT = st.sampled_from([0, 1, 1, 1, 2])
_ANCHOR_KINDS = st.sampled_from(["pe", "pe", "pe", "pe", "pe-damaged", "mz", "text", "dir"])


@st.composite
def entries(
    draw: st.DrawFn,
    paths: st.SearchStrategy[tuple[str, ...]],
    anchors: st.SearchStrategy[tuple[str, ...]],
) -> list[Entry]:
    """Files and folders at random ``paths``, most often after a few at ``anchors`` (where the
    profile looks), so that plans get past "nothing found" to the probing and planning."""
    out: list[Entry] = []
    for parts in draw(st.lists(anchors, min_size=draw(_ANCHOR_COUNT), max_size=3)):
        kind = draw(_ANCHOR_KINDS)
        out.append(Entry(parts, kind, draw(contents(kind))))
    for parts in draw(st.lists(paths, min_size=0, max_size=5)):
        parts = tuple(draw(spelled(p)) for p in parts)
        kind = draw(_KINDS)
        data = draw(contents(kind)) if kind in FILE_KINDS else b""
        link = draw(st.integers(0, 7)) if kind.startswith("link") else 0
        out.append(Entry(parts, kind, data, link))
    return out


_noise = rarely(
    st.lists(_disk_names, min_size=1, max_size=3),
    st.integers(8, 20).map(lambda n: ["deep"] * n + ["Update.exe"]),  # deeper than ISO level 1
    every=10,
)


_SHAPES = st.sampled_from(["server", "connector", "connector", "setup-connector", "exe", "noise"])


@st.composite
def _media_path(draw: st.DrawFn) -> tuple[str, ...]:
    """A path on the media: mostly where the KB puts installers (Q242250), else anything."""
    shape = draw(_SHAPES)
    if shape == "noise":
        return tuple(draw(_noise))
    lang = draw(rarely(st.sampled_from(LANGS), _disk_names))
    plat = draw(rarely(st.sampled_from(PLATS), _disk_names))
    if shape == "server":
        return (lang, "Server", "Setup", plat, "Update.exe")
    folder = draw(st.sampled_from(FOLDERS))
    if shape == "connector":
        return (lang, "Exchconn", "Setup", plat, folder, f"{folder}.exe")
    if shape == "setup-connector":
        return (lang, "Exchconn", "Setup", plat, "Setup", folder, f"{folder}.exe")
    return (lang, "Exchconn", "Setup", plat, folder, f"{draw(_disk_names)}.exe")


media_paths = _media_path()
target_paths = st.one_of(
    st.sampled_from(TARGET_FILES).map(lambda p: tuple(p.split("/"))),
    _noise.map(tuple),
)


def _inside_symlinks(root: Path, path: Path) -> bool:
    return any(p.is_symlink() for p in [path, *path.parents] if p != root and root in p.parents)


def write_tree(root: Path, items: list[Entry], outside: Path, *, fifos: bool = True) -> None:
    """Create ``items`` under ``root``; an entry that cannot be made there is left out."""
    root.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    for item in sorted(items, key=lambda e: e.kind.startswith("link")):  # links last
        path = root.joinpath(*item.parts)
        if _inside_symlinks(root, path.parent) or path.is_symlink() or path.exists():
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if item.kind == "dir":
                path.mkdir()
            elif item.kind == "fifo":
                if not fifos:
                    continue
                os.mkfifo(path)
            elif item.kind == "link-in":
                to = made[item.link % len(made)] if made else root
                path.symlink_to(os.path.relpath(to, path.parent))
            elif item.kind == "link-out":
                path.symlink_to(outside / ("secret.exe" if item.link % 2 else ""))
            elif item.kind == "link-escape":
                up = "../" * (len(item.parts) - 1 + item.link % 2)
                path.symlink_to(f"{up}../outside/{'secret.exe' if item.link % 2 else ''}")
            elif item.kind == "link-dangling":
                path.symlink_to("no-such-file-here")
            elif item.kind == "link-loop":
                path.symlink_to(path.name if item.link % 2 else ".")
            else:
                path.write_bytes(item.data)
        except (OSError, ValueError):  # a file where a folder should be, a name too long
            continue
        made.append(path)


def write_outside(folder: Path) -> Path:
    """Files beside the media and the target that no plan may ever read (version SENTINEL)."""
    outside = folder / "outside"
    for rel in ("secret.exe", "bin/Store.exe", "Eng/Server/Setup/I386/Update.exe"):
        (outside / rel).parent.mkdir(parents=True, exist_ok=True)
        (outside / rel).write_bytes(pe_image(SENTINEL))
    (outside / "secret.txt").write_text(f"version = {SENTINEL}\n")
    return outside


@dataclass(frozen=True)
class MediaSpec:
    container: str  # folder, zip, iso, missing, file, fifo
    items: list[Entry]
    iso_names: str = "joliet"
    damage: tuple[tuple[int, int], ...] = ()  # (position per mille, byte)
    truncate: int | None = None  # per mille of the length kept
    hostile: tuple[str, ...] = ()
    backslashes: bool = False


HOSTILE_ZIP = (
    "../evil.exe",
    "../../Eng/Server/Setup/I386/Update.exe",
    "/Eng/Server/Setup/I386/Update.exe",
    "Eng/../../x.exe",
    "C:/Eng/Server/Setup/I386/Update.exe",
    "Eng\\..\\..\\y.exe",
    "Eng/Exchconn/Setup/I386/Ntsconn/../../../../../Ntsconn.exe",
)


@st.composite
def media_specs(
    draw: st.DrawFn,
    paths: st.SearchStrategy[tuple[str, ...]] = media_paths,
    anchors: st.SearchStrategy[tuple[str, ...]] | None = None,
) -> MediaSpec:
    container = draw(st.sampled_from(["folder"] * 4 + ["zip"] * 3 + ["iso"] * 3 + ["odd"]))
    if container == "odd":
        container = draw(st.sampled_from(["missing", "file", "fifo"]))
    items = draw(entries(paths, st.sampled_from(E55_MEDIA) if anchors is None else anchors))
    damage: tuple[tuple[int, int], ...] = ()
    truncate = None
    if container in ("zip", "iso", "file") and draw(one_in(4)):
        damage = tuple(
            draw(
                st.lists(
                    st.tuples(st.integers(0, 999), st.integers(0, 255)), min_size=1, max_size=6
                )
            )
        )
        if draw(st.booleans()):
            truncate = draw(st.integers(0, 999))
    return MediaSpec(
        container,
        items,
        iso_names=draw(st.sampled_from(["level1", "joliet", "rockridge", "both"])),
        damage=damage,
        truncate=truncate,
        hostile=tuple(draw(st.lists(st.sampled_from(HOSTILE_ZIP), max_size=2))),
        backslashes=draw(one_in(5)),
    )


_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def write_zip(out: Path, spec: MediaSpec) -> None:
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as zf:
        warnings.simplefilter("ignore")  # duplicate names are part of the test
        for n, item in enumerate(spec.items):
            name = ("\\" if spec.backslashes else "/").join(item.parts)
            info = zipfile.ZipInfo(name + ("/" if item.kind == "dir" else ""))
            info.compress_type = _COMPRESSION[n % len(_COMPRESSION)]
            data = item.data
            if item.kind.startswith("link"):
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                data = {
                    "link-in": "/".join(spec.items[item.link % len(spec.items)].parts),
                    "link-out": "/tmp/outside/secret.exe",
                    "link-escape": "../" * len(item.parts) + "outside/secret.exe",
                    "link-dangling": "no-such-file-here",
                    "link-loop": item.parts[-1],
                }[item.kind].encode()
            elif item.kind == "fifo":
                info.external_attr = (stat.S_IFIFO | 0o644) << 16
            zf.writestr(info, data)
        for name in spec.hostile:
            zf.writestr(name, pe_image(SENTINEL))


def _damage(path: Path, spec: MediaSpec) -> None:
    data = bytearray(path.read_bytes())
    if not data:
        return
    for where, byte in spec.damage:
        # an ISO's descriptors and directories sit in its first sectors: aim there half the time
        limit = len(data) if where % 2 else min(len(data), 20 * 2048)
        data[where * limit // 1000 % len(data)] = byte
    if spec.truncate is not None:
        del data[spec.truncate * len(data) // 1000 :]
    path.write_bytes(bytes(data))


def write_media(folder: Path, spec: MediaSpec, outside: Path) -> Path:
    """The media as ``spec`` says: a folder, a zip, an ISO, or something that is none."""
    if spec.container == "missing":
        return folder / "no-such-media"
    if spec.container == "fifo":
        os.mkfifo(folder / "media.iso")
        return folder / "media.iso"
    if spec.container == "zip":
        write_zip(folder / "media.zip", spec)
        _damage(folder / "media.zip", spec)
        return folder / "media.zip"
    if spec.container == "file":
        path = folder / "media.iso"
        path.write_bytes(b"".join(e.data for e in spec.items))
        _damage(path, spec)
        return path
    tree = folder / "media"
    write_tree(tree, spec.items, outside, fifos=spec.container == "folder")
    if spec.container == "iso":
        try:
            image = write_iso(tree, folder / "media.iso", names=spec.iso_names)  # type: ignore[arg-type]
        except Exception:  # pycdlib cannot write it (nesting, names): keep the folder
            event("iso not writable: folder media instead")
            return tree
        _damage(image, spec)
        return image
    return tree


@dataclass(frozen=True)
class TargetSpec:
    container: str  # folder, missing, file, link
    items: list[Entry]


@st.composite
def target_specs(
    draw: st.DrawFn,
    paths: st.SearchStrategy[tuple[str, ...]] = target_paths,
    anchors: st.SearchStrategy[tuple[str, ...]] | None = None,
) -> TargetSpec:
    container = draw(st.sampled_from(["folder"] * 12 + ["missing", "file", "link"]))
    return TargetSpec(
        container, draw(entries(paths, st.sampled_from(E55_TARGET) if anchors is None else anchors))
    )


def write_target(folder: Path, spec: TargetSpec, outside: Path) -> Path:
    tree = folder / "target"
    if spec.container == "missing":
        return tree
    if spec.container == "file":
        tree.write_bytes(pe_image("5.5.2448.0"))
        return tree
    write_tree(tree, spec.items, outside)
    if spec.container == "link":
        (folder / "target-link").symlink_to(tree)
        return folder / "target-link"
    return tree


# -- worlds: a profile with media and a target built where it looks --------------------------------


def _profile_media_paths(doc: dict[str, Any], language: str) -> list[tuple[str, ...]]:
    """Installer paths the profile asks for, spelled out for ``language`` (and the fallback
    languages) and a few platforms."""
    langs = [
        language,
        *[x for c in doc.get("component", []) for x in c.get("fallback_languages", [])],
    ]
    plats = [*doc.get("platforms", {"I386": []}), "I386", "Alpha"]
    out = []
    for comp in doc.get("component", []):
        for template in comp.get("installer", []):
            for lang in langs[:4]:
                for plat in plats[:3]:
                    try:
                        text = template.format(language=lang, platform=plat)
                    except (KeyError, ValueError, IndexError, AttributeError):
                        continue
                    parts = tuple(p for p in re.split(r"[/\\]", text.replace("*", "x")) if p)
                    if parts and all(p not in (".", "..") and "\x00" not in p for p in parts):
                        out.append(parts)
    return out


def _probe_files(probe: Any) -> Iterator[str]:
    if isinstance(probe, dict):
        for kind, arg in probe.items():
            if kind in ("exists", "pe_version") and isinstance(arg, str):
                yield arg
            elif kind == "text" and isinstance(arg, dict) and isinstance(arg.get("file"), str):
                yield arg["file"]
            elif kind == "any" and isinstance(arg, list):
                for p in arg:
                    yield from _probe_files(p)


def _profile_target_paths(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    out = []
    for comp in doc.get("component", []):
        for key in ("installed", "version"):
            for text in _probe_files(comp.get(key)):
                parts = tuple(p for p in re.split(r"[/\\]", text.replace("*", "x")) if p)
                if parts and all(
                    p not in (".", "..") and not {"{", "\x00"} & set(p) for p in parts
                ):
                    out.append(parts)
    return out


@st.composite
def worlds(draw: st.DrawFn) -> tuple[ProfileCase, MediaSpec, TargetSpec, str | None]:
    case = draw(profile_cases(mutate=False))
    assert case.doc is not None
    extends = "extends" in case.doc
    language = draw(st.sampled_from(LANGS))
    manchors = _profile_media_paths(case.doc, language) + (E55_MEDIA if extends else [])
    tanchors = _profile_target_paths(case.doc) + (E55_TARGET if extends else [])
    media = draw(media_specs(anchors=st.sampled_from(manchors or E55_MEDIA)))
    target = draw(target_specs(anchors=st.sampled_from(tanchors or E55_TARGET)))
    plats = list(case.doc.get("platforms", {})) or ["I386"]
    platform = draw(st.one_of(st.sampled_from(plats), st.sampled_from(["I386", None])))
    return case, media, target, platform
