"""Simulated Exchange Server 5.5 worlds for ``spdeploy demo`` and the test suite.

A world is an offline ``Exchsrvr`` tree (the target) with some components at an older build, a
service-pack CD laid out as the Knowledge Base describes it (Q242250), and a site profile that
makes the stand-in installers unattended. The installers are ``#!/bin/sh`` scripts named like the
real ``.exe`` files: each copies its payload (real PE files stamped with the new version, see
``pe.py``) into the target, so spdeploy sees versions change exactly as it would on a server.
A :class:`Behaviour` makes an installer fail, hang, chatter or "succeed" without changing
anything, which is what the executor has to survive. Nothing here needs more than the package
and POSIX ``/bin/sh`` with coreutils, and every byte written depends only on the arguments. On
Windows the installers are real executables doing the same work in Python (``installers.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spdeploy.sandbox.pe import MACHINES, write_pe

__all__ = [
    "COMPONENT_FILES",
    "CONTROLLER",
    "SP2",
    "SP4",
    "Behaviour",
    "World",
    "build_media",
    "build_target",
    "build_world",
    "write_catalog",
    "write_site_profile",
]

SP2 = "5.5.2448.0"
SP4 = "5.5.2653.0"

# Component id -> (media folder name, ((payload file name, target-relative path), ...)): the
# installers and the files each writes, which are the built-in profile's offline witnesses. Each
# connector has files of its own (FACTS.md); Lsmexout.exe is shared by the Notes, SNADS and PROFS
# connectors (Q215492-Q215494), and is the Connectivity Controller's witness (see _SHARED).
_LSMEXOUT = ("Lsmexout.exe", "Connect/Exchconn/Lsmexout.exe")
COMPONENT_FILES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "server": ("Server", (("Store.exe", "bin/Store.exe"),)),
    "calcon": ("Calcon", (("Calcon.exe", "Connect/Calcon/Calcon.exe"),)),
    "ntsconn": (
        "Ntsconn",
        (
            ("Lsntsmex.exe", "Connect/Exchconn/Lsntsmex.exe"),
            ("Lsmexnts.exe", "Connect/Exchconn/Lsmexnts.exe"),
            ("lsntscp0.dll", "Connect/Exchconn/Install/lsntscp0.dll"),
            _LSMEXOUT,
        ),
    ),
    "gwxconn": (
        "Gwxconn",
        (
            ("Gw2mex.exe", "Connect/Exchconn/Gw2mex.exe"),
            ("Mex2gw.exe", "Connect/Exchconn/Mex2gw.exe"),
            ("Gwrouter.exe", "Connect/Exchconn/Gwrouter.exe"),
        ),
    ),
    "ovvconn": (
        "Ovvconn",
        (
            ("Lsnje.exe", "Connect/Exchconn/Lsnje.exe"),
            ("Lsvmdia.exe", "Connect/Exchconn/Lsvmdia.exe"),
            ("Lsdiavm.exe", "Connect/Exchconn/Lsdiavm.exe"),
            _LSMEXOUT,
        ),
    ),
    "snaconn": ("Snaconn", (("Lssne.exe", "Connect/Exchconn/Lssne.exe"), _LSMEXOUT)),
}
# The Connectivity Controller has no installer of its own (Q242250): the connectors' installers
# write its files. A target file listed here carries the controller's version ("coco").
CONTROLLER = "coco"
_SHARED = {_LSMEXOUT[1]}
# Site data the connectors keep (written with the target, never by a service pack): the PROFS
# tables (Q232495) and the SNADS document its SP3 installs (Q239122).
_DATA_FILES: dict[str, dict[str, str]] = {
    "ovvconn": {
        "Connect/Exchconn/Tables/Profs.pab": "PROFS personal address book (site data)",
        "Connect/Exchconn/Tables/Ovdfile.dat": "OV/VM message correlation table (site data)",
        "Connect/Exchconn/Tables/Route.tbl": "OV/VM routing table (site data)",
    },
    "snaconn": {
        "Connect/Exchconn/Doc/Snads.rtf": "{\\rtf1 Microsoft Exchange Connector for SNADS}"
    },
}
# The extra Setup level some articles show is stated for these folders only (Q263702, Q244473).
_SETUP_LEVEL = frozenset({"Ntsconn", "Gwconn", "Snaconn", "Ovvconn"})

_NAMES: dict[str, str] = {
    "server": "Microsoft Exchange Server",
    "coco": "Microsoft Exchange Connectivity Controller",
    "calcon": "Microsoft Exchange Calendar Connector",
    "ntsconn": "Microsoft Exchange Connector for Lotus Notes",
    "gwxconn": "Microsoft Exchange Connector for Novell GroupWise",
    "ovvconn": "Microsoft Exchange Connector for IBM OfficeVision/VM (PROFS)",
    "snaconn": "Microsoft Exchange Connector for SNADS",
}
# hosted by the Connectivity Controller (Q242250): their target holds Exchconn.ini
_EXCHCONN = ("calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn")
_DEFAULT_INSTALLED: Mapping[str, str] = {
    "server": SP2,
    "calcon": SP2,
    "ntsconn": SP2,
    "gwxconn": SP2,
}
_LMEILOG = "Connect/Exchconn/Setup/lmeilog.txt"  # Q198857
_SERVER_LOG = "Exchange Server Setup.log"  # in the root of the install drive (Q182518)
_MAPPING_TABLES = {  # Q195697: SP1 overwrote these; the sandbox SP does too
    "Connect/Exchconn/Dxamex/Mapping.tbl": "site mapping: Notes domain ACME -> Exchange site HQ",
    "Connect/Exchconn/Dxamex/Domains.tbl": "site domains: ACME, ACME-EU",
    "Connect/Exchconn/Dxanotes/Mapping.tbl": "site mapping: Exchange site HQ -> Notes domain ACME",
}
_HANG_SECONDS = 600
_SIMPLE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Behaviour:
    """What a sandbox installer does when run."""

    exit_code: int = 0
    change: bool = True  # copy the payload into the target (False: "success but unchanged")
    hang: bool = False  # start a child and a grandchild (both ``sleep``), then sleep forever
    output_bytes: int = 0  # write this many bytes to stdout
    write_marker: bool = True  # append "<id> ran" to <target>/../spdeploy-sandbox-ran.txt
    delay_s: float = 0.0  # sleep this long before changing anything (a slow installer)
    delete_self: bool = False  # remove its own (staged) copy as it starts, as some setups do
    log_line: str = ""  # appended to its setup log before it exits (a known failure's text)

    def __post_init__(self) -> None:
        if not 0 <= self.exit_code <= 0xFFFFFFFF:
            raise ValueError(f"exit_code must be in 0..2**32-1 (a DWORD), got {self.exit_code}")
        if self.output_bytes < 0:
            raise ValueError(f"output_bytes must be >= 0, got {self.output_bytes}")
        if self.delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {self.delay_s}")

    @property
    def posix_exit_code(self) -> int:
        """The code the script actually exits with: a POSIX status keeps only the low 8 bits.

        Windows' 3010 ("reboot required") arrives as 194 and 1641 as 105; the sandbox site
        profile maps those two back to "reboot".
        """
        return self.exit_code & 0xFF


@dataclass(frozen=True)
class World:
    root: Path
    target: Path
    media: Path
    profile: Path
    state: Path  # not created: the history database's folder


def _check_ids(
    ids: Sequence[str] | Mapping[str, Any], what: str, extra: tuple[str, ...] = ()
) -> None:
    known = (*COMPONENT_FILES, *extra)
    unknown = [cid for cid in ids if cid not in known]
    if unknown:
        raise ValueError(f"{what}: unknown component {unknown[0]!r} (known: {', '.join(known)})")


def build_target(
    path: str | os.PathLike[str], *, installed: Mapping[str, str] | None = None
) -> Path:
    """Write an offline Exchsrvr tree with the ``installed`` components at their versions.

    The Connectivity Controller ("coco") comes with any connector; its shared file is at the
    controller's version when ``installed`` names one, else at its connector's.
    """
    root = Path(path)
    chosen = dict(_DEFAULT_INSTALLED if installed is None else installed)
    _check_ids(chosen, "installed", (CONTROLLER,))
    root.mkdir(parents=True, exist_ok=True)
    for cid, version in chosen.items():
        for file_name, rel in COMPONENT_FILES.get(cid, ("", ()))[1]:
            shared = rel in _SHARED and CONTROLLER in chosen
            write_pe(
                root / rel,
                chosen[CONTROLLER] if shared else version,
                description=_NAMES[CONTROLLER if rel in _SHARED else cid],
                original_filename=file_name,
            )
        for rel, text in _DATA_FILES.get(cid, {}).items():
            _write_text(root / rel, text + "\n")
    if CONTROLLER in chosen and not (root / _LSMEXOUT[1]).exists():
        write_pe(
            root / _LSMEXOUT[1],
            chosen[CONTROLLER],
            description=_NAMES[CONTROLLER],
            original_filename=_LSMEXOUT[0],
        )
    if any(cid in chosen for cid in (CONTROLLER, *_EXCHCONN)):
        lines = ["; spdeploy sandbox stand-in for the Connectivity Controller's settings", ""]
        lines += ["[Connectors]", *(f"{c}={_NAMES[c]}" for c in _EXCHCONN if c in chosen)]
        lines += ["", "[Security]", "rcsaccess = Administrators"]  # Q286559
        _write_text(root / "Connect/Exchconn/Exchconn.ini", "\n".join(lines) + "\n")
    if "ntsconn" in chosen:
        for rel, text in _MAPPING_TABLES.items():
            _write_text(root / rel, f"; {text} (edited by the site administrator)\n")
    connectors = [cid for cid in chosen if cid not in ("server", CONTROLLER)]
    if connectors:
        log = ["Exchange Connectivity setup log (spdeploy sandbox)"]
        log += [f"{_NAMES[c]}: installed {chosen[c]}" for c in connectors]
        _write_text(root / _LMEILOG, "\n".join(log) + "\n")
    return root


def _write_text(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    if mode is not None:
        path.chmod(mode)


def _machine(platform: str) -> str:
    for machine in MACHINES:
        if machine.lower() == platform.lower():
            return machine
    raise ValueError(f"unknown platform {platform!r} (expected one of {', '.join(MACHINES)})")


def _installer_script(
    cid: str, exe: str, payload: Sequence[tuple[str, str]], version: str, behaviour: Behaviour
) -> str:
    """The ``#!/bin/sh`` stand-in for one service-pack executable (``payload``: media, target)."""
    q = shlex.quote
    name = _NAMES[cid]
    out = [
        "#!/bin/sh",
        f"# spdeploy sandbox stand-in for {exe} ({cid}), service pack {version} for",
        f"# {name}. Not a Microsoft file.",
        f"# Usage: {exe} TARGET (the Exchsrvr folder).",
        "set -e",
        f"target=${{1:?usage: {exe} TARGET}}",
        'if [ ! -d "$target" ]; then',
        f'    echo {q(exe + ": no such folder: ")}"$target" >&2',
        "    exit 1",
        "fi",
        'here=$(dirname -- "$0")',
    ]
    if behaviour.write_marker:
        out.append(f"printf '%s\\n' {q(cid + ' ran')} >> \"$target/../spdeploy-sandbox-ran.txt\"")
    if behaviour.delete_self:
        out.append('rm -f -- "$0"')
    if behaviour.delay_s:
        out.append(f"sleep {behaviour.delay_s:g}")
    if behaviour.output_bytes:
        out.append(f"yes {q(exe + ': working')} | head -c {behaviour.output_bytes}")
    if behaviour.hang:
        # A child and a grandchild: killing the installer alone leaves them running.
        sleep = f"sleep {_HANG_SECONDS}"
        out += [
            'pids="$target/../spdeploy-sandbox-pids.txt"',
            f'/bin/sh -c \'{sleep} & echo "$!" >> "$1"; exec {sleep}\' sh "$pids" &',
            'echo "$!" >> "$pids"',
            f"while :; do {sleep}; done",
        ]
    if behaviour.change:
        if payload:
            # Found case-insensitively, as on Windows: a level-1 ISO makes it PAYLOAD/STORE.EXE.
            out += [
                "lower() { printf '%s' \"$1\" | tr '[:upper:]' '[:lower:]'; }",
                "payload() {",
                '    want=$(lower "$here/$1")',
                '    for found in "$here"/*/*; do',
                '        if [ "$(lower "$found")" = "$want" ]; then',
                "            printf '%s\\n' \"$found\"",
                "            return 0",
                "        fi",
                "    done",
                f'    echo {q(exe + ": payload not found: ")}"$1" >&2',
                "    exit 1",
                "}",
            ]
        for media_rel, target_rel in payload:
            parent = target_rel.rpartition("/")[0]
            if parent:
                out.append(f'mkdir -p "$target"/{q(parent)}')
            out.append(f"file=$(payload {q(media_rel)})")
            out.append(f'cp -- "$file" "$target"/{q(target_rel)}')
        if cid == "ntsconn":
            table = f"; default mapping table shipped with {version} (site entries gone, Q195697)"
            out += [
                'for table in "$target"/Connect/Exchconn/Dxamex/*.tbl; do',
                '    if [ -f "$table" ]; then',
                f"        printf '%s\\n' {q(table)} > \"$table\"",
                "    fi",
                "done",
            ]
    result = f"updated to {version}" if behaviour.change else "nothing changed"
    lines = " ".join(q(t) for t in (f"{exe}: {name}: {result}", behaviour.log_line) if t)
    if cid == "server":
        out.append(f"printf '%s\\n' {lines} >> \"$target\"/../{q(_SERVER_LOG)}")
    else:
        out.append(f'mkdir -p "$target"/{q(_LMEILOG.rpartition("/")[0])}')
        out.append(f"printf '%s\\n' {lines} >> \"$target\"/{q(_LMEILOG)}")
    out.append(f"exit {behaviour.posix_exit_code}")
    return "\n".join(out) + "\n"


def build_media(
    path: str | os.PathLike[str],
    *,
    version: str = SP4,
    languages: Sequence[str] = ("Eng",),
    platforms: Sequence[str] = ("I386", "Alpha"),
    components: Sequence[str] = ("server", "calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn"),
    setup_level: bool = False,
    gw_folder: str = "Gwxconn",
    upper: bool = False,
    behaviours: Mapping[str, Behaviour] | None = None,
    notes_languages: Sequence[str] | None = None,
    pad_bytes: int = 0,
    installers: str | None = None,
) -> Path:
    """Write a service-pack CD: ``{lang}/Server/Setup/{plat}/Update.exe`` and the connectors'
    ``{lang}/Exchconn/Setup/{plat}/[Setup/]<Folder>/<Folder>.exe`` (Q242250, Q263702; the extra
    ``Setup`` level, with ``setup_level``, only for the folders the articles show there).

    Each installer folder holds the script and ``payload/`` with the new PE files. ``upper``
    writes every name in upper case as on an ISO 9660 CD; ``notes_languages`` limits the Notes
    connector to some languages (Q286559: English only). ``pad_bytes`` adds a ``Support.cab``
    of that size to every installer folder, so that staging takes measurable time.
    ``installers`` is ``script`` (``#!/bin/sh``) or ``exe`` (real Windows executables, see
    ``installers.py``); default: the kind this system can run.
    """
    kind = _installer_kind(installers)
    _check_ids(components, "components")
    _check_ids(behaviours or {}, "behaviours")
    notes = list(languages if notes_languages is None else notes_languages)
    stray = [lang for lang in notes if lang not in languages]
    if stray:
        raise ValueError(f"notes_languages: {stray[0]!r} is not one of the languages {languages}")
    if not _SIMPLE_NAME.match(gw_folder):
        raise ValueError(f"gw_folder must be one folder name, got {gw_folder!r}")
    machines = {plat: _machine(plat) for plat in platforms}

    def name(text: str) -> str:
        return text.upper() if upper else text

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for lang in languages:
        for plat in platforms:
            for cid in components:
                if cid == "ntsconn" and lang not in notes:
                    continue
                folder, files = COMPONENT_FILES[cid]
                if cid == "server":
                    parts = [lang, "Server", "Setup", plat]
                    exe = "Update.exe"
                else:
                    folder = gw_folder if cid == "gwxconn" else folder
                    deeper = setup_level and folder in _SETUP_LEVEL
                    parts = [lang, "Exchconn", "Setup", plat, *(["Setup"] if deeper else [])]
                    parts.append(folder)
                    exe = f"{folder}.exe"
                where = root.joinpath(*map(name, parts))
                payload = [(f"{name('payload')}/{name(f)}", rel) for f, rel in files]
                for (media_rel, _), (file_name, _) in zip(payload, files, strict=True):
                    write_pe(
                        where / media_rel,
                        version,
                        description=_NAMES[cid],
                        original_filename=file_name,
                        machine=machines[plat],
                    )
                behaviour = (behaviours or {}).get(cid, Behaviour())
                if kind == "exe":
                    _write_exe(where / name(exe), cid, payload, version, behaviour)
                else:
                    script = _installer_script(cid, name(exe), payload, version, behaviour)
                    _write_text(where / name(exe), script, mode=0o755)
                if pad_bytes:
                    block = (f"{cid} support data " * 64).encode()[:1024]
                    with (where / name("Support.cab")).open("wb") as fh:
                        for _ in range(pad_bytes // len(block)):
                            fh.write(block)
                        fh.write(block[: pad_bytes % len(block)])
    _write_text(root / name("README.TXT"), _readme(version, kind))
    return root


def _installer_kind(installers: str | None) -> str:
    from spdeploy.sandbox.installers import KINDS, default_kind

    kind = default_kind() if installers is None else installers
    if kind not in KINDS:
        raise ValueError(f"installers must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def _write_exe(
    path: Path, cid: str, payload: Sequence[tuple[str, str]], version: str, behaviour: Behaviour
) -> None:
    """The ``--installers exe`` twin of :func:`_installer_script`: the same work, in Python."""
    from dataclasses import asdict

    from spdeploy.sandbox.installers import InstallerSpec, write_exe

    table = f"; default mapping table shipped with {version} (site entries gone, Q195697)"
    spec = InstallerSpec(
        component=cid,
        exe=path.name,
        name=_NAMES[cid],
        version=version,
        payload=tuple(payload),
        log=f"../{_SERVER_LOG}" if cid == "server" else _LMEILOG,
        behaviour=asdict(behaviour),
        mapping_table=table if cid == "ntsconn" else None,
    )
    write_exe(path, spec)


def write_catalog(folder: str | os.PathLike[str]) -> Path:
    """Write ``SHA256SUMS`` at the media root, as ``cd MEDIA && sha256sum -- */...`` would."""
    root = Path(folder)
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if rel != "SHA256SUMS":
            lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {rel}\n")
    catalog = root / "SHA256SUMS"
    catalog.write_text("".join(lines), encoding="utf-8", newline="\n")
    return catalog


def _readme(version: str, kind: str = "script") -> str:
    what = (
        "Windows executables (a launcher, a #! line and a zip: python runs the zip)"
        if kind == "exe"
        else "/bin/sh scripts"
    )
    return (
        f"spdeploy sandbox: a simulated Microsoft Exchange Server 5.5 service pack ({version}).\n"
        "\n"
        "Update.exe updates the server only (Q242250). Each connector has its own installer:\n"
        "  <Language>\\Exchconn\\Setup\\<I386|Alpha>\\<Folder>\\<Folder>.exe\n"
        "\n"
        f"The installers here are {what}\n"
        "that copy version-stamped stand-in files into the target folder given as their argument.\n"
        "No Microsoft files are included.\n"
    )


_PROFILE_HEADER = """\
# spdeploy sandbox site profile: the built-in exchange55 profile, made unattended.
#
# The sandbox installers are #!/bin/sh scripts standing in for Update.exe and the connector
# service packs, not PE files, so their own FileVersion cannot be read: media_version is given
# as a literal instead. They take the target folder as their only argument and need no person at
# the console. A POSIX exit status keeps only 8 bits, so Windows' 3010 and 1641 ("reboot") arrive
# as 194 and 105 and are mapped back here.
"""


_EXE_HEADER = """\
# spdeploy sandbox site profile: the built-in exchange55 profile, made unattended.
#
# The sandbox installers are Windows executables standing in for Update.exe and the connector
# service packs: distlib's launcher with a zip holding their Python logic. Their own FileVersion
# is the launcher's, not the service pack's, so media_version is given as a literal instead.
# They take the target folder as their only argument and need no person at the console. Windows
# keeps the whole exit code, so 3010 and 1641 ("reboot") arrive as they are: the defaults apply.
"""


def write_site_profile(
    path: str | os.PathLike[str],
    *,
    name_suffix: str = "sandbox",
    media_version: str = SP4,
    installers: str | None = None,
) -> Path:
    """Write a profile ``extends = "exchange55"`` that runs the sandbox installers unattended.

    For ``script`` installers (see :func:`build_media`) it maps the 8-bit POSIX statuses of
    3010 and 1641 back to "reboot"; ``exe`` installers run on Windows, which keeps the codes."""
    kind = _installer_kind(installers)
    if not _SIMPLE_NAME.match(name_suffix):
        raise ValueError(f"name_suffix must be letters, digits, '-' or '_', got {name_suffix!r}")
    out = [
        _EXE_HEADER if kind == "exe" else _PROFILE_HEADER,
        f'id = "exchange55-{name_suffix}"',
        f'name = "Microsoft Exchange Server 5.5 ({name_suffix})"',
        'description = "Exchange 5.5 in the spdeploy sandbox: unattended stand-in installers"',
        'extends = "exchange55"',
    ]
    for cid in COMPONENT_FILES:
        out += [
            "",
            "[[component]]",
            f'id = "{cid}"',
            'args = ["{target}"]',
            "interactive = false",
            f"media_version = {{ literal = {json.dumps(media_version)} }}",
        ]
        if kind == "script":
            out.append('exit_codes = { 194 = "reboot", 105 = "reboot" }')
    target = Path(path)
    _write_text(target, "\n".join(out) + "\n")
    return target


def build_world(
    root: str | os.PathLike[str],
    *,
    installed: Mapping[str, str] | None = None,
    media_kwargs: Mapping[str, Any] | None = None,
    media_format: str = "folder",
    installers: str | None = None,
) -> World:
    """A target, SP media and a site profile side by side under ``root``.

    ``media_format`` "iso" writes the media as ``SP4CD.iso`` (pycdlib, ISO 9660 names with
    Joliet and Rock Ridge, as a CD burnt on a Unix box would be), "zip" as ``SP4CD.zip``; the
    folder they were made from is removed, so only the image can be read. ``installers``:
    ``script`` or ``exe`` (default: the kind this system can run), for the media and the profile.
    """
    if media_format not in ("folder", "iso", "zip"):
        raise ValueError(f"media_format must be folder, iso or zip, got {media_format!r}")
    base = Path(root)
    kwargs = dict(media_kwargs or {})
    folder = base / "SP4CD"
    build_target(base / "exchsrvr", installed=installed)
    build_media(folder, **{"installers": installers, **kwargs})
    media = folder
    if media_format != "folder":
        from spdeploy.sandbox.images import write_iso, write_zip

        media = base / f"SP4CD.{media_format}"
        if media_format == "iso":
            write_iso(folder, media, names="both")
        else:
            write_zip(folder, media)
        shutil.rmtree(folder)
    world = World(
        root=base,
        target=base / "exchsrvr",
        media=media,
        profile=base / "exchange55-sandbox.toml",
        state=base / "state",
    )
    write_site_profile(
        world.profile,
        media_version=str(kwargs.get("version", SP4)),
        installers=kwargs.get("installers", installers),
    )
    return world
