"""Windows registry and service look-ups (systemd units elsewhere); imported only by probes."""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache
from pathlib import Path

_HIVES = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER", "HKCR": "HKEY_CLASSES_ROOT"}


def read_registry(key: str, value: str) -> str | None:
    """The value as text, or None when the key or value does not exist."""
    if sys.platform != "win32":
        return None
    import winreg  # type: ignore[import-not-found,unused-ignore]

    hive_name, _, subkey = key.partition("\\")
    hive = getattr(winreg, _HIVES.get(hive_name.upper(), hive_name.upper()), None)
    if hive is None:
        return None
    try:
        with winreg.OpenKey(hive, subkey) as handle:
            data, _kind = winreg.QueryValueEx(handle, value)
    except OSError:
        return None
    return str(data)


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
