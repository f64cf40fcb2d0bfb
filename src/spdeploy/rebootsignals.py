"""The operating system's own pending reboot: installers fail when the system already waits for one.

Not spdeploy's reboots (a run whose installer asked for one is the history's business, SPEC §4
exit 3): these are the signals Windows and Debian-family systems leave for every installer.

- Windows: the keys ``Component Based Servicing\\RebootPending`` and
  ``WindowsUpdate\\Auto Update\\RebootRequired`` exist while a reboot is due, and Session
  Manager's ``PendingFileRenameOperations`` lists files to move or delete at the next boot.
  Endpoint-protection products leave entries there for good, so its entries are shown: a person
  can tell a false positive.
- Debian and Ubuntu: ``/var/run/reboot-required``, with the packages that asked in ``.pkgs``.

Where to look is injectable: ``root`` (or ``$SPDEPLOY_SYSTEM_ROOT``) is the folder the Linux paths
are read under; ``windows`` is the Windows boundary (``winsys.Windows``, a fake ``winreg`` in
tests), this machine's by default.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from spdeploy import winsys

ENV_ROOT = "SPDEPLOY_SYSTEM_ROOT"

_CURRENT_VERSION = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion"
CBS_REBOOT_PENDING = rf"{_CURRENT_VERSION}\Component Based Servicing\RebootPending"
WU_REBOOT_REQUIRED = rf"{_CURRENT_VERSION}\WindowsUpdate\Auto Update\RebootRequired"
SESSION_MANAGER = r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager"
PENDING_RENAMES = "PendingFileRenameOperations"
REBOOT_REQUIRED = "var/run/reboot-required"  # under the root; .pkgs beside it


class Signal(NamedTuple):
    """One sign that the system waits for a reboot: what it is, where it was seen, its entries."""

    name: str
    path: str  # the registry key (and value) or the file
    entries: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "path": self.path, "entries": list(self.entries)}

    def describe(self) -> str:
        return f"{self.name} ({self.path})"


def pending(
    *,
    root: str | os.PathLike[str] | None = None,
    windows: winsys.Windows | None = None,
) -> tuple[Signal, ...]:
    """Every signal found; empty when the system waits for no reboot (or this one cannot say).

    ``windows`` defaults to this system's boundary (None off Windows); without one, the Linux
    files are read under ``root``, else ``$SPDEPLOY_SYSTEM_ROOT``, else ``/``.
    """
    windows = windows if windows is not None else winsys.this_system()
    if windows is not None:
        return _windows(windows)
    base = Path(root if root is not None else os.environ.get(ENV_ROOT) or "/")
    return _debian(base)


def _windows(windows: winsys.Windows) -> tuple[Signal, ...]:
    found = []
    if winsys.key_exists(windows, CBS_REBOOT_PENDING):
        found.append(Signal("Component Based Servicing RebootPending", CBS_REBOOT_PENDING))
    if winsys.key_exists(windows, WU_REBOOT_REQUIRED):
        found.append(Signal("Windows Update RebootRequired", WU_REBOOT_REQUIRED))
    # REG_MULTI_SZ comes back one string a line
    renames = winsys.read_registry(windows, SESSION_MANAGER, PENDING_RENAMES)
    entries = _renames(renames.split("\n")) if renames else ()
    if entries:
        found.append(Signal(PENDING_RENAMES, rf"{SESSION_MANAGER}\{PENDING_RENAMES}", entries))
    return tuple(found)


def _renames(values: Sequence[str]) -> tuple[str, ...]:
    """The value holds pairs: a file, then where it goes at boot ("" = deleted)."""
    items = list(values)
    if items and items[-1] == "" and len(items) % 2:  # a trailing empty string ends the list
        items.pop()
    pairs = []
    for i in range(0, len(items), 2):
        source = items[i]
        target = items[i + 1] if i + 1 < len(items) else ""
        if source:
            pairs.append(f"{source} -> {target}" if target else f"{source} (delete)")
    return tuple(pairs)


def _debian(root: Path) -> tuple[Signal, ...]:
    marker = root / REBOOT_REQUIRED
    try:
        if not marker.is_file():
            return ()
        packages = marker.with_name(marker.name + ".pkgs")
        lines = packages.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        lines = []
    except OSError:
        return ()
    entries = tuple(dict.fromkeys(line.strip() for line in lines if line.strip()))
    return (Signal("reboot-required", str(marker), entries),)


__all__ = ["ENV_ROOT", "Signal", "pending"]
