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
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spdeploy.sandbox.installers import shell_installer
from spdeploy.sandbox.layout import (
    COMPONENT_FILES,
    CONTROLLER,
    DATA_FILES,
    DEFAULT_INSTALLED,
    EXCHCONN,
    LMEILOG,
    LSMEXOUT,
    MAPPING_TABLES,
    NAMES,
    SERVER_LOG,
    SETUP_LEVEL,
    SHARED,
    SIMPLE_NAME,
    SP2,
    SP4,
    Behaviour,
    check_ids,
    machine_for,
    write_text,
)
from spdeploy.sandbox.pe import write_pe

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


@dataclass(frozen=True)
class World:
    root: Path
    target: Path
    media: Path
    profile: Path
    state: Path  # not created: the history database's folder


def build_target(
    path: str | os.PathLike[str], *, installed: Mapping[str, str] | None = None
) -> Path:
    """Write an offline Exchsrvr tree with the ``installed`` components at their versions.

    The Connectivity Controller ("coco") comes with any connector; its shared file is at the
    controller's version when ``installed`` names one, else at its connector's.
    """
    root = Path(path)
    chosen = dict(DEFAULT_INSTALLED if installed is None else installed)
    check_ids(chosen, "installed", (CONTROLLER,))
    root.mkdir(parents=True, exist_ok=True)
    for cid, version in chosen.items():
        for file_name, rel in COMPONENT_FILES.get(cid, ("", ()))[1]:
            shared = rel in SHARED and CONTROLLER in chosen
            write_pe(
                root / rel,
                chosen[CONTROLLER] if shared else version,
                description=NAMES[CONTROLLER if rel in SHARED else cid],
                original_filename=file_name,
            )
        for rel, text in DATA_FILES.get(cid, {}).items():
            write_text(root / rel, text + "\n")
    if CONTROLLER in chosen and not (root / LSMEXOUT[1]).exists():
        write_pe(
            root / LSMEXOUT[1],
            chosen[CONTROLLER],
            description=NAMES[CONTROLLER],
            original_filename=LSMEXOUT[0],
        )
    if any(cid in chosen for cid in (CONTROLLER, *EXCHCONN)):
        lines = ["; spdeploy sandbox stand-in for the Connectivity Controller's settings", ""]
        lines += ["[Connectors]", *(f"{c}={NAMES[c]}" for c in EXCHCONN if c in chosen)]
        lines += ["", "[Security]", "rcsaccess = Administrators"]  # Q286559
        write_text(root / "Connect/Exchconn/Exchconn.ini", "\n".join(lines) + "\n")
    if "ntsconn" in chosen:
        for rel, text in MAPPING_TABLES.items():
            write_text(root / rel, f"; {text} (edited by the site administrator)\n")
    connectors = [cid for cid in chosen if cid not in ("server", CONTROLLER)]
    if connectors:
        log = ["Exchange Connectivity setup log (spdeploy sandbox)"]
        log += [f"{NAMES[c]}: installed {chosen[c]}" for c in connectors]
        write_text(root / LMEILOG, "\n".join(log) + "\n")
    return root


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
    check_ids(components, "components")
    check_ids(behaviours or {}, "behaviours")
    notes = list(languages if notes_languages is None else notes_languages)
    stray = [lang for lang in notes if lang not in languages]
    if stray:
        raise ValueError(f"notes_languages: {stray[0]!r} is not one of the languages {languages}")
    if not SIMPLE_NAME.match(gw_folder):
        raise ValueError(f"gw_folder must be one folder name, got {gw_folder!r}")
    machines = {plat: machine_for(plat) for plat in platforms}

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
                    deeper = setup_level and folder in SETUP_LEVEL
                    parts = [lang, "Exchconn", "Setup", plat, *(["Setup"] if deeper else [])]
                    parts.append(folder)
                    exe = f"{folder}.exe"
                where = root.joinpath(*map(name, parts))
                payload = [(f"{name('payload')}/{name(f)}", rel) for f, rel in files]
                for (media_rel, _), (file_name, _) in zip(payload, files, strict=True):
                    write_pe(
                        where / media_rel,
                        version,
                        description=NAMES[cid],
                        original_filename=file_name,
                        machine=machines[plat],
                    )
                behaviour = (behaviours or {}).get(cid, Behaviour())
                if kind == "exe":
                    _write_exe(where / name(exe), cid, payload, version, behaviour)
                else:
                    script = shell_installer(cid, name(exe), payload, version, behaviour)
                    write_text(where / name(exe), script, mode=0o755)
                if pad_bytes:
                    block = (f"{cid} support data " * 64).encode()[:1024]
                    with (where / name("Support.cab")).open("wb") as fh:
                        for _ in range(pad_bytes // len(block)):
                            fh.write(block)
                        fh.write(block[: pad_bytes % len(block)])
    write_text(root / name("README.TXT"), _readme(version, kind))
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
    """The ``--installers exe`` twin of :func:`shell_installer`: the same work, in Python."""
    from dataclasses import asdict

    from spdeploy.sandbox.installers import InstallerSpec, write_exe

    table = f"; default mapping table shipped with {version} (site entries gone, Q195697)"
    spec = InstallerSpec(
        component=cid,
        exe=path.name,
        name=NAMES[cid],
        version=version,
        payload=tuple(payload),
        log=f"../{SERVER_LOG}" if cid == "server" else LMEILOG,
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
    if not SIMPLE_NAME.match(name_suffix):
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
    write_text(target, "\n".join(out) + "\n")
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
