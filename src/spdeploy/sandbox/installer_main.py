"""The program inside every ``--installers exe`` stand-in installer (its ``__main__.py``).

It does exactly what the ``#!/bin/sh`` stand-ins of ``world.py`` do, in Python, so that the
sandbox runs where there is no POSIX shell: copy the payload into TARGET (found
case-insensitively, as on Windows), append the marker and the setup log lines, and honour the
behaviour the world asked for (delay, output, hang with a child and a grandchild, "success" with
nothing changed, deleting its own copy, the exit code). What to do comes from ``installer.json``
beside this file in the same zip. Standard library only: it runs under whatever Python the
``#!`` line names, with no spdeploy installed there.

Usage: ``<Installer>.exe TARGET`` (the launcher runs ``python <Installer>.exe TARGET``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, NoReturn

CONFIG = "installer.json"
_HANG_SECONDS = 600


def _fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    raise SystemExit(code)


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8", newline="\n") as fh:
        fh.write(line + "\n")


def _payload(here: Path, wanted: str, exe: str) -> Path:
    """``wanted`` (``payload/Store.exe``) one folder below ``here``, whatever its case: a level-1
    CD upper-cases every name (``PAYLOAD/STORE.EXE``) and staging keeps the media's spelling."""
    want = [part.lower() for part in wanted.split("/")]
    for found in sorted(here.glob("*/*")):
        if [found.parent.name.lower(), found.name.lower()] == want:
            return found
    _fail(f"{exe}: payload not found: {wanted}")


def _delete_self(path: Path) -> None:
    """Remove this installer's own file, as some setups do. Windows cannot delete a running
    executable (the launcher is running from it), but it can rename one: move it aside."""
    try:
        path.unlink()
    except OSError:
        path.replace(path.with_name(f".{path.name}.{os.getpid()}.deleted"))


def _hang(marker_dir: Path) -> None:
    """Start a child that starts a grandchild (both sleep), then sleep for ever: killing the
    installer alone would leave them running, so only a tree kill stops everything."""
    pids = marker_dir / "spdeploy-sandbox-pids.txt"
    sleep = f"import time; time.sleep({_HANG_SECONDS})"
    grandchild = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', {sleep!r}])\n"
        "open(sys.argv[1], 'a').write(f'{p.pid}\\n')\n"
        f"time.sleep({_HANG_SECONDS})\n"
    )
    child = subprocess.Popen([sys.executable, "-c", grandchild, str(pids)])
    _append(pids, str(child.pid))
    while True:
        time.sleep(_HANG_SECONDS)


def _exit_code(code: int) -> int:
    """The status to exit with: the full DWORD on Windows (given to sys.exit as the signed
    32-bit number of the same bits, which every Python accepts), the low 8 bits elsewhere, as
    a POSIX status keeps (3010 arrives as 194, as with the shell stand-ins)."""
    if os.name == "nt":
        return code - (1 << 32) if code >= 1 << 31 else code
    return code & 0xFF


def run(argv: list[str], config: dict[str, Any]) -> int:
    """Carry out one installer run; the exit code to leave with."""
    exe: str = config["exe"]
    behaviour: dict[str, Any] = config["behaviour"]
    if len(argv) < 2 or not argv[1]:
        _fail(f"usage: {exe} TARGET", 2)
    target = Path(argv[1])
    if not target.is_dir():
        _fail(f"{exe}: no such folder: {argv[1]}")
    here = Path(argv[0]).absolute().parent
    above = target / ".."  # as the shell stand-ins write it: the folder holding the target
    if behaviour["write_marker"]:
        _append(above / "spdeploy-sandbox-ran.txt", f"{config['component']} ran")
    if behaviour["delete_self"]:
        _delete_self(Path(argv[0]))
    if behaviour["delay_s"]:
        time.sleep(behaviour["delay_s"])
    if behaviour["output_bytes"]:
        _write_output(f"{exe}: working\n".encode(), behaviour["output_bytes"])
    if behaviour["hang"]:
        _hang(above)
    if behaviour["change"]:
        for media_rel, target_rel in config["payload"]:
            found = _payload(here, media_rel, exe)
            dest = target.joinpath(*target_rel.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, dest)
        table = config.get("mapping_table")
        tables = target / "Connect" / "Exchconn" / "Dxamex"
        if table is not None and tables.is_dir():
            for path in sorted(tables.glob("*.tbl")):
                if path.is_file():
                    path.write_text(table + "\n", encoding="utf-8", newline="\n")
    result = f"updated to {config['version']}" if behaviour["change"] else "nothing changed"
    log = target.joinpath(*config["log"].split("/"))
    log.parent.mkdir(parents=True, exist_ok=True)
    _append(log, f"{exe}: {config['name']}: {result}")
    if behaviour.get("log_line"):  # a known failure's text, as the shell stand-ins write it
        _append(log, behaviour["log_line"])
    return _exit_code(behaviour["exit_code"])


def _write_output(line: bytes, size: int) -> None:
    """``size`` bytes of ``line`` repeated (``yes LINE | head -c SIZE``), in large writes."""
    block = line * max(1, (1 << 16) // len(line))
    out = sys.stdout.buffer
    while size > 0:
        chunk = block[:size]
        out.write(chunk)
        size -= len(chunk)
    out.flush()


def main() -> None:
    """Entry point when run as ``python <Installer>.exe TARGET`` (the zip's ``__main__``)."""
    with zipfile.ZipFile(sys.argv[0]) as archive:
        config = json.loads(archive.read(CONFIG).decode("utf-8"))
    code = run(sys.argv, config)
    sys.stdout.flush()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
