"""A reboot a run asked for: pending until the machine has booted after that run ended.

An installer that exits 3010 or 1641 has done its part, but its files are not in place until
Windows restarts. Until then the target is not finished, whatever a probe sees, and a second,
no-op ``apply`` must not make it look finished. So the run that asked for the reboot leaves a
record in the state folder (``reboot/<target key>.json``: run id, when it ended), and the record
counts as long as the machine's boot time is older than that moment.

This module owns that record. ``status`` reads it, and must stay light: no SQLite and, on Linux,
no psutil (the boot time comes from ``/proc/stat`` there).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from spdeploy.errors import TargetError
from spdeploy.fsutil import target_key, write_atomic

# For sandboxes and tests, which cannot reboot the machine: the boot time to believe, in seconds
# since the epoch (the Ansible sandbox's simulated reboot sets it to the moment it "rebooted").
BOOT_TIME_ENV = "SPDEPLOY_BOOT_TIME"


class RebootPending(NamedTuple):
    run_id: str
    requested_at: float  # when the run that asked for it ended (seconds since the epoch)


def _record_path(state_dir: Path, target: Path) -> Path:
    return _folder(state_dir) / f"{target_key(target)}.json"


def _folder(state_dir: Path) -> Path:
    return state_dir / "reboot"


def record(state_dir: Path, target: Path, run_id: str, at: float | None = None) -> None:
    """Remember that ``run_id`` on ``target`` ended asking for a reboot (now, or ``at``)."""
    path = _record_path(state_dir, target)
    payload = {
        "run_id": run_id,
        "requested_at": time.time() if at is None else at,
        "target": str(target.resolve()),
    }
    write_atomic(path, json.dumps(payload) + "\n", what="the reboot record", make_parents=True)


def pending(
    state_dir: Path, target: Path, boot_time: Callable[[], float] | None = None
) -> RebootPending | None:
    """The reboot a run on ``target`` asked for, if the machine has not booted since it ended.

    Raises TargetError when there is a record that cannot be read (damaged, or a folder this
    user may not read): whether a reboot is pending is then unknown, and "compliant" (exit 0)
    would be a guess. The message names the file, and what to do once the machine has booted.
    """
    folder = _folder(state_dir)
    try:
        asked = folder.is_dir()
    except OSError as exc:
        raise _unreadable(folder, exc.strerror or str(exc)) from None
    if not asked:
        return None  # no run ever asked for a reboot here: no target's name to hash
    path = _record_path(state_dir, target)
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        run_id, requested_at = str(found["run_id"]), float(found["requested_at"])
    except FileNotFoundError:
        return None  # runs on other targets asked, not one on this
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from None
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise _unreadable(path, f"not a reboot record ({type(exc).__name__}: {exc})") from None
    booted = (boot_time or machine_boot_time)()
    return RebootPending(run_id, requested_at) if booted < requested_at else None


def _unreadable(path: Path, why: str) -> TargetError:
    return TargetError(
        f"{path}: {why}: whether a reboot is pending on this target is unknown; once the "
        "machine has restarted since the last apply, delete it"
    )


def machine_boot_time() -> float:
    """When this machine last booted, in seconds since the epoch."""
    override = os.environ.get(BOOT_TIME_ENV)
    if override:
        try:
            return float(override)
        except ValueError:
            pass  # a garbled override is ignored: the real boot time is never wrong
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("btime "):
                        return float(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
    import psutil  # elsewhere (Windows, macOS): the portable way

    return float(psutil.boot_time())
