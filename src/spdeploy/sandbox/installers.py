"""The sandbox's stand-in installers as real Windows executables (``--installers exe``).

``CreateProcess`` refuses a ``#!/bin/sh`` script named ``Update.exe``, so on Windows each stand-in
is made the way pip makes console scripts: distlib's console launcher (``t64.exe``, ``t32.exe`` or
``t64-arm.exe``, by machine), then a ``#!"<python.exe>"`` line, then a zip holding
``__main__.py`` (``installer_main.py``, the installer's logic) and ``installer.json`` (what this
installer copies and how it behaves). The launcher finds the zip at its own end, reads the line
before it and runs ``python.exe <itself> ARGS``; Python runs the zip's ``__main__.py``. So the same
file is also ``python Update.exe TARGET`` anywhere, which is how it is tested off Windows.
Every byte depends only on the arguments (fixed zip timestamps), like the rest of the sandbox.
"""

from __future__ import annotations

import io
import json
import os
import platform
import shlex
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spdeploy.sandbox.layout import HANG_SECONDS, LMEILOG, NAMES, SERVER_LOG, Behaviour

__all__ = [
    "KINDS",
    "LAUNCHERS",
    "InstallerSpec",
    "build_exe",
    "cannot_run",
    "default_kind",
    "launcher",
    "write_exe",
]

KINDS = ("script", "exe")
# platform.machine() spellings -> distlib's console launcher for that machine
LAUNCHERS: Mapping[str, str] = {
    "amd64": "t64.exe",
    "x86_64": "t64.exe",
    "x86": "t32.exe",
    "i386": "t32.exe",
    "i686": "t32.exe",
    "arm64": "t64-arm.exe",
    "aarch64": "t64-arm.exe",
}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: the same bytes on every build
_MAIN = Path(__file__).with_name("installer_main.py")


@dataclass(frozen=True)
class InstallerSpec:
    """One stand-in installer: what ``installer.json`` tells its ``__main__.py``."""

    component: str
    exe: str  # its file name on the media (Update.exe, Ntsconn.exe, ...)
    name: str  # the component's display name, for the setup log line
    version: str  # the service pack level it brings
    payload: Sequence[tuple[str, str]]  # (path beside the installer, path under TARGET)
    log: str  # the setup log it appends to, relative to TARGET ("../..." for the drive root)
    behaviour: Mapping[str, Any]  # a world.Behaviour as a dict (dataclasses.asdict)
    mapping_table: str | None = None  # text that overwrites Dxamex/*.tbl (Q195697), or None

    def config(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "exe": self.exe,
            "name": self.name,
            "version": self.version,
            "payload": [list(pair) for pair in self.payload],
            "log": self.log,
            "behaviour": dict(self.behaviour),
            "mapping_table": self.mapping_table,
        }


def default_kind() -> str:
    """``exe`` on Windows, ``script`` elsewhere: the kind this system can run."""
    return "exe" if sys.platform == "win32" else "script"


def cannot_run(kind: str, system: str = sys.platform) -> str | None:
    """Why installers of ``kind`` cannot run on ``system`` (a ``sys.platform`` value), or None."""
    if kind not in KINDS:
        raise ValueError(f"installers must be one of {', '.join(KINDS)}, got {kind!r}")
    windows = system == "win32"
    if kind == "exe" and not windows:
        return f"Windows executables cannot run on {system}"
    if kind == "script" and windows:
        return "#!/bin/sh scripts cannot run on Windows (CreateProcess refuses them)"
    return None


def launcher(machine: str | None = None) -> bytes:
    """distlib's console launcher for ``machine`` (a ``platform.machine()`` value; default:
    this machine's)."""
    import distlib

    wanted = (machine or platform.machine()).lower()
    name = LAUNCHERS.get(wanted)
    if name is None:
        known = ", ".join(sorted({m for m in LAUNCHERS}))
        raise ValueError(f"no Windows launcher for machine {wanted!r} (known: {known})")
    return (Path(distlib.__file__).parent / name).read_bytes()


def _zip(spec: InstallerSpec) -> bytes:
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
        members = {
            "__main__.py": _MAIN.read_bytes(),
            "installer.json": json.dumps(spec.config(), indent=2, sort_keys=True).encode(),
        }
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return stream.getvalue()


def build_exe(
    spec: InstallerSpec, *, python: str | None = None, machine: str | None = None
) -> bytes:
    """The executable's bytes: launcher, ``#!"<python>"`` line, zip (as distlib writes them).

    ``python`` is the interpreter the launcher starts (default: this one); it is always quoted,
    so a path with spaces (``C:\\Program Files\\Python313\\python.exe``) stays one path.
    """
    interpreter = python or sys.executable
    if '"' in interpreter or "\n" in interpreter or "\r" in interpreter:
        raise ValueError(f"cannot name {interpreter!r} in a #! line")
    shebang = f'#!"{interpreter}"\n'.encode()
    return launcher(machine) + shebang + _zip(spec)


def write_exe(
    path: str | os.PathLike[str],
    spec: InstallerSpec,
    *,
    python: str | None = None,
    machine: str | None = None,
) -> Path:
    """Write :func:`build_exe`'s bytes to ``path`` (executable where modes exist)."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(build_exe(spec, python=python, machine=machine))
    dest.chmod(0o755)
    return dest


def shell_installer(
    cid: str, exe: str, payload: Sequence[tuple[str, str]], version: str, behaviour: Behaviour
) -> str:
    """The ``#!/bin/sh`` stand-in for one service-pack executable (``payload``: media, target)."""
    q = shlex.quote
    name = NAMES[cid]
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
        sleep = f"sleep {HANG_SECONDS}"
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
        out.append(f"printf '%s\\n' {lines} >> \"$target\"/../{q(SERVER_LOG)}")
    else:
        out.append(f'mkdir -p "$target"/{q(LMEILOG.rpartition("/")[0])}')
        out.append(f"printf '%s\\n' {lines} >> \"$target\"/{q(LMEILOG)}")
    out.append(f"exit {behaviour.posix_exit_code}")
    return "\n".join(out) + "\n"
