"""Windows registry and service look-ups (systemd units elsewhere); imported only by probes
and the system reboot signals."""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache
from pathlib import Path

_HIVES = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER", "HKCR": "HKEY_CLASSES_ROOT"}


def read_registry(key: str, value: str) -> str | None:
    """The value as text, or None when the key or value does not exist."""
    data = _query(key, value)
    return None if data is None else str(data)


def read_registry_strings(key: str, value: str) -> list[str] | None:
    """A REG_MULTI_SZ value's strings (one string for any other kind), or None when absent."""
    data = _query(key, value)
    if data is None:
        return None
    return [str(d) for d in data] if isinstance(data, list) else [str(data)]


def registry_key_exists(key: str) -> bool:
    return _query(key, None) is not None


def _query(key: str, value: str | None) -> object | None:
    """The value's data (``value`` None: True when the key exists), or None when absent."""
    if sys.platform != "win32":
        return None
    import winreg  # type: ignore[import-not-found,unused-ignore]

    hive_name, _, subkey = key.partition("\\")
    hive = getattr(winreg, _HIVES.get(hive_name.upper(), hive_name.upper()), None)
    if hive is None:
        return None
    try:
        with winreg.OpenKey(hive, subkey) as handle:
            if value is None:
                return True
            data, _kind = winreg.QueryValueEx(handle, value)
    except OSError:
        return None
    result: object = data
    return result


@cache
def services_available() -> bool:
    if sys.platform == "win32":
        return True
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def service_image(name: str) -> str | None:
    """The service's executable path ("" if unknown), or None when there is no such service."""
    if sys.platform == "win32":
        image = read_registry(f"HKLM\\SYSTEM\\CurrentControlSet\\Services\\{name}", "ImagePath")
        if image is None:
            return None
        image = os.path.expandvars(image.strip())
        # ImagePath may be quoted and carry arguments: keep the executable only.
        if image.startswith('"'):
            return image[1:].split('"', 1)[0]
        return image.split(" ", 1)[0]
    from spdeploy import process

    out = process.capture(
        ["systemctl", "show", f"{name}.service", "--property=LoadState,ExecStart"], timeout=10
    ).output
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if props.get("LoadState", "not-found") == "not-found":
        return None
    exec_start = props.get("ExecStart", "")
    marker = "path="
    if marker in exec_start:
        return exec_start.split(marker, 1)[1].split(" ", 1)[0].rstrip(";")
    return ""
