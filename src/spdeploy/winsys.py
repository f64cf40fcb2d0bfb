"""Windows registry and service look-ups (systemd units elsewhere); imported only by probes
and the system's reboot signals (``rebootsignals``).

The Windows boundary is one small seam: :class:`Windows` holds the registry API (the ``winreg``
module, or a stand-in with the same names) and the file test ``CreateProcess`` makes, and every
function here takes it as an argument. :func:`this_system` gives the real one on Windows and None
elsewhere, so the tests drive each Windows branch on any system with a fake registry
(``tests/winsys_test.py``), and nothing monkeypatches this module.
"""

from __future__ import annotations

import ntpath
import os
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "HIVES",
    "SERVICES_KEY",
    "VIEWS",
    "Windows",
    "image_executable",
    "key_exists",
    "read_registry",
    "service_image",
    "services_available",
    "this_system",
]

# The hive names a profile may use, short or long, and winreg's constant for each.
HIVES = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKEY_LOCAL_MACHINE": "HKEY_LOCAL_MACHINE",
    "HKCU": "HKEY_CURRENT_USER",
    "HKEY_CURRENT_USER": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKEY_CLASSES_ROOT": "HKEY_CLASSES_ROOT",
    "HKU": "HKEY_USERS",
    "HKEY_USERS": "HKEY_USERS",
}
# A probe's ``view``: which registry a 64-bit Windows shows. A 32-bit program's keys under
# HKLM\SOFTWARE live in SOFTWARE\WOW6432Node, which only the 32-bit view reads as SOFTWARE.
VIEWS = {"32": "KEY_WOW64_32KEY", "64": "KEY_WOW64_64KEY"}
SERVICES_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services"


class Windows(NamedTuple):
    """The Windows boundary: the registry API and the file system test for ``CreateProcess``."""

    registry: Any  # the winreg module, or a stand-in with its names (OpenKey, QueryValueEx, ...)
    is_file: Callable[[str], bool] = os.path.isfile


def this_system() -> Windows | None:
    """This machine's boundary on Windows; None elsewhere (registry probes do not apply)."""
    if sys.platform != "win32":
        return None
    import winreg  # type: ignore[import-not-found,unused-ignore]

    return Windows(winreg)


def split_key(key: str) -> tuple[str, str] | None:
    """``HKLM\\SOFTWARE\\X`` -> (``HKEY_LOCAL_MACHINE``, ``SOFTWARE\\X``); None: no such hive."""
    hive, _, subkey = key.replace("/", "\\").partition("\\")
    name = HIVES.get(hive.upper())
    return None if name is None else (name, subkey)


def read_registry(windows: Windows, key: str, value: str, view: str | None = None) -> str | None:
    """The value as text, or None when the hive, the key or the value does not exist.

    ``REG_EXPAND_SZ`` comes back expanded (``%SystemRoot%`` -> ``C:\\Windows``), numbers
    (``REG_DWORD``, ``REG_QWORD``) as decimal text, ``REG_MULTI_SZ`` one string a line.
    ``view`` "32" or "64" reads that registry view of a 64-bit Windows (ignored by a 32-bit one).
    """
    api = windows.registry
    found = split_key(key)
    if found is None:
        return None
    hive, subkey = found
    access = api.KEY_READ | (getattr(api, VIEWS[view]) if view else 0)
    try:
        with api.OpenKey(getattr(api, hive), subkey, 0, access) as handle:
            data, kind = api.QueryValueEx(handle, value)
    except OSError:  # FileNotFoundError for a missing key or value, PermissionError (Q255181)
        return None
    return _as_text(api, data, kind)


def _as_text(api: Any, data: Any, kind: int) -> str:
    if kind == api.REG_EXPAND_SZ:
        # winreg returns REG_EXPAND_SZ as stored; the system expands it when it uses it
        return str(api.ExpandEnvironmentStrings(data))
    if kind == api.REG_MULTI_SZ:
        return "\n".join(data)
    if isinstance(data, bytes):  # REG_BINARY, REG_NONE
        return data.hex()
    return str(data)


def key_exists(windows: Windows, key: str) -> bool:
    """Whether the key is there (some signals are keys whose presence is the whole message)."""
    api = windows.registry
    found = split_key(key)
    if found is None:
        return False
    try:
        with api.OpenKey(getattr(api, found[0]), found[1], 0, api.KEY_READ):
            return True
    except OSError:
        return False


@cache
def _systemd() -> bool:
    if not Path("/run/systemd/system").is_dir():
        return False
    import shutil  # deferred: only a service probe on a systemd host asks; `status` starts light

    return shutil.which("systemctl") is not None


def services_available(windows: Windows | None) -> bool:
    """Whether a service probe can answer here: Windows' service keys, or systemd."""
    return windows is not None or _systemd()


def service_image(name: str, windows: Windows | None) -> str | None:
    """The service's executable ("" if unknown), or None when there is no such service.

    On Windows, the file its ``ImagePath`` names (see :func:`image_executable`); for a shared
    ``svchost.exe -k GROUP`` service, its ``ServiceDll``, which is the service's own code.
    """
    if windows is None:
        return _systemd_image(name)
    key = f"{SERVICES_KEY}\\{name}"
    image = read_registry(windows, key, "ImagePath")
    if image is None:
        return "" if key_exists(windows, key) else None
    root = _system_root(windows)
    executable = image_executable(image, system_root=root, is_file=windows.is_file)
    if ntpath.basename(executable).lower() == "svchost.exe":
        dll = read_registry(windows, f"{key}\\Parameters", "ServiceDll") or read_registry(
            windows, key, "ServiceDll"
        )
        if dll:
            return image_executable(dll, system_root=root, is_file=windows.is_file)
    return executable


def _system_root(windows: Windows) -> str:
    root = str(windows.registry.ExpandEnvironmentStrings("%SystemRoot%"))
    return "C:\\Windows" if root == "%SystemRoot%" else root


def image_executable(image: str, *, system_root: str, is_file: Callable[[str], bool]) -> str:
    """The executable an ``ImagePath`` runs, as the service manager finds it.

    Quoted (``"C:\\Program Files\\X\\x.exe" -k``): the quoted path. Unquoted with spaces
    (``C:\\Program Files\\X\\x.exe -k``): what ``CreateProcess`` does, the shortest prefix
    ending at a space that names a file (``.exe`` added when it has no extension), else the whole
    first word. The kernel's forms: ``\\SystemRoot\\...``, ``\\??\\C:\\...``, and a path with
    no drive, relative to the Windows folder (``System32\\drivers\\x.sys``).
    """
    text = image.strip()
    if text.startswith('"'):
        return _kernel_path(text[1:].split('"', 1)[0], system_root)
    return _create_process_search(_kernel_path(text, system_root), is_file)


def _kernel_path(path: str, system_root: str) -> str:
    """A path as the kernel may write it, as a Win32 path."""
    if path.startswith("\\??\\"):
        return path[4:]
    if path.lower().startswith("\\systemroot\\"):
        return ntpath.join(system_root, path[len("\\SystemRoot\\") :])
    if path and not ntpath.splitdrive(path)[0] and not path.startswith(("\\", "/")):
        return ntpath.join(system_root, path)
    return path


def _create_process_search(text: str, is_file: Callable[[str], bool]) -> str:
    words = text.split(" ")
    for end in range(1, len(words) + 1):
        candidate = " ".join(words[:end])
        if not ntpath.splitext(candidate)[1]:
            candidate += ".exe"
        if is_file(candidate):
            return candidate
    return words[0]


def _systemd_image(name: str) -> str | None:
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
