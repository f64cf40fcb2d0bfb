"""Turn a sandbox media folder (see ``world.build_media``) into a CD image or a zip archive.

An ISO is written by pycdlib (pure Python, always there) or by one of the Debian tools
``xorriso -as mkisofs`` and ``genisoimage``, so the media readers can be tested against images
made the way real ones are. ``names`` picks the file-name trees, as on the CDs of the time:

* ``level1``: ISO 9660 interchange level 1 only: ``README.TXT;1``, ``LONGDIRE``, no real names.
* ``joliet``: level 1 plus a Joliet tree with the real, mixed-case names (Windows' view).
* ``rockridge``: level 1 plus Rock Ridge: real names, POSIX modes and symlinks (Unix's view).
* ``both``: level 1, Joliet and Rock Ridge.

The tools do not agree on level-1 names: ``my.file.tar.gz`` is ``MY_FILE_.TGZ;1`` for
genisoimage and ``MY_FILE_.GZ;1`` for xorriso, and clashing names are numbered differently.
Symlinks survive only with Rock Ridge; without it every tool leaves them out.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

__all__ = ["NAMES", "TOOLS", "write_iso", "write_zip"]

Names = Literal["level1", "joliet", "rockridge", "both"]
Tool = Literal["pycdlib", "xorriso", "genisoimage"]
NAMES: tuple[Names, ...] = ("level1", "joliet", "rockridge", "both")
TOOLS: tuple[Tool, ...] = ("pycdlib", "xorriso", "genisoimage")

_NOT_D_CHARACTER = re.compile(r"[^A-Z0-9_]")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say: every archive is byte-identical
_TOOL_TIMEOUT = 600


def write_iso(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    names: Names = "rockridge",
    tool: Tool = "pycdlib",
    volume_id: str = "SP4CD",
) -> Path:
    """Write ``folder`` as an ISO 9660 image at ``out`` with the ``names`` trees, using ``tool``.

    Raises ``FileNotFoundError`` when an external tool is not installed and ``RuntimeError``
    when it fails or would leave files out.
    """
    if names not in NAMES:
        raise ValueError(f"names must be one of {', '.join(NAMES)}, got {names!r}")
    if tool not in TOOLS:
        raise ValueError(f"tool must be one of {', '.join(TOOLS)}, got {tool!r}")
    source, target = Path(folder).absolute(), Path(out).absolute()
    if not source.is_dir():
        raise NotADirectoryError(f"not a folder: {source}")
    if tool == "pycdlib":
        _write_with_pycdlib(source, target, names, volume_id)
    else:
        _write_with_tool(tool, source, target, names, volume_id)
    return target


def _walk(folder: Path) -> Iterator[Path]:
    """Every path under ``folder`` sorted by name, each folder before its contents; links kept."""
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        yield path
        if path.is_dir() and not path.is_symlink():
            yield from _walk(path)


def _level1_identifier(name: str, *, is_dir: bool, taken: set[str]) -> str:
    """The 8.3 identifier for ``name`` (``;1`` on files), numbered if a sibling already has it."""
    stem, ext = (name, "") if is_dir else name.rpartition(".")[::2]
    if not stem:  # ".profile"
        stem, ext = ext, ""
    stem = _NOT_D_CHARACTER.sub("_", stem.upper())[:8] or "_"
    ext = _NOT_D_CHARACTER.sub("_", ext.upper())[:3]
    candidate, number = stem, 0
    while (key := candidate if is_dir else f"{candidate}.{ext}") in taken:
        number += 1
        candidate = stem[: 8 - len(str(number))] + str(number)
    taken.add(key)
    return key if is_dir else f"{key};1"


def _write_with_pycdlib(source: Path, out: Path, names: Names, volume_id: str) -> None:
    import pycdlib  # deferred: only image writers need it
    from pycdlib.pycdlibexception import PyCdlibException

    joliet = names in ("joliet", "both")
    rock_ridge = names in ("rockridge", "both")
    iso = pycdlib.PyCdlib()
    iso.new(
        interchange_level=1,
        vol_ident=volume_id,
        joliet=3 if joliet else None,
        rock_ridge="1.09" if rock_ridge else None,
    )
    iso_dirs = {source: ""}
    taken: dict[Path, set[str]] = {source: set()}
    try:
        for path in _walk(source):
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode) and not rock_ridge:
                continue  # nowhere to keep it, and genisoimage and xorriso drop it too
            is_dir = stat.S_ISDIR(mode)
            ident = _level1_identifier(path.name, is_dir=is_dir, taken=taken[path.parent])
            iso_path = f"{iso_dirs[path.parent]}/{ident}"
            rr_name = path.name if rock_ridge else None
            rr_mode = mode if rock_ridge else None
            joliet_path = "/" + path.relative_to(source).as_posix() if joliet else None
            if is_dir:
                iso.add_directory(
                    iso_path, rr_name=rr_name, joliet_path=joliet_path, file_mode=rr_mode
                )
                iso_dirs[path], taken[path] = iso_path, set()
            elif stat.S_ISLNK(mode):
                # Joliet has no symlinks; xorriso leaves them out of its Joliet tree too.
                target = str(path.readlink())
                iso.add_symlink(symlink_path=iso_path, rr_symlink_name=path.name, rr_path=target)
            elif stat.S_ISREG(mode):
                iso.add_file(
                    str(path),
                    iso_path=iso_path,
                    rr_name=rr_name,
                    joliet_path=joliet_path,
                    file_mode=rr_mode,
                )
            else:
                raise ValueError(f"cannot put {path} on a CD: not a file, folder or symlink")
        iso.write(str(out))
    except PyCdlibException as exc:  # e.g. folders nested deeper than level 1 allows
        raise RuntimeError(f"pycdlib cannot write {out}: {exc}") from exc
    finally:
        iso.close()


_TOOL_FLAGS: dict[Names, tuple[str, ...]] = {
    "level1": (),
    "joliet": ("-J",),
    "rockridge": ("-R",),  # -R keeps the real modes; -r would reset them
    "both": ("-J", "-R"),
}


def _write_with_tool(tool: Tool, source: Path, out: Path, names: Names, volume_id: str) -> None:
    exe = shutil.which(tool)
    if exe is None:
        raise FileNotFoundError(f"{tool} is not installed (Debian: apt-get install {tool})")
    flags = list(_TOOL_FLAGS[names])
    if tool == "xorriso":
        # xorriso's mkisofs emulation writes Rock Ridge unless told not to.
        flags = ["-as", "mkisofs", *flags, *([] if "-R" in flags else ["--norock"])]
    argv = [exe, *flags, "-quiet", "-input-charset", "utf-8", "-V", volume_id]
    argv += ["-o", str(out), str(source)]
    try:
        done = subprocess.run(argv, check=True, capture_output=True, timeout=_TOOL_TIMEOUT)
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", errors="replace").strip()
        raise RuntimeError(f"{tool} failed with exit code {exc.returncode}: {detail}") from exc
    # Without Rock Ridge, genisoimage leaves out folders deeper than ISO 9660 allows, and exits 0.
    lost = [
        line
        for line in done.stderr.decode("utf-8", errors="replace").splitlines()
        if "Directories too deep" in line
    ]
    if lost:
        out.unlink(missing_ok=True)
        raise RuntimeError(f"{tool} left folders out (use Rock Ridge): {lost[0]}")


def write_zip(folder: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write ``folder`` as a zip at ``out``: sorted, Unix modes kept, symlinks stored as links.

    Every entry has the same timestamp, so the archive depends only on the folder's contents.
    """
    source, target = Path(folder), Path(out)
    if not source.is_dir():
        raise NotADirectoryError(f"not a folder: {source}")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in _walk(source):
            mode = path.lstat().st_mode
            name = path.relative_to(source).as_posix()
            if stat.S_ISDIR(mode):
                name += "/"
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.create_system = 3  # Unix: readers look at the mode in the high 16 bits
            info.external_attr = (mode & 0xFFFF) << 16
            if stat.S_ISDIR(mode):
                info.external_attr |= 0x10  # MS-DOS directory bit
                archive.writestr(info, b"")
            elif stat.S_ISLNK(mode):
                info.compress_type = zipfile.ZIP_STORED
                archive.writestr(info, str(path.readlink()).encode())
            elif stat.S_ISREG(mode):
                info.compress_type = zipfile.ZIP_DEFLATED
                with path.open("rb") as src, archive.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst)
            else:
                raise ValueError(f"cannot put {path} in a zip: not a file, folder or symlink")
    return target
