"""The Windows boundary (registry and services) through a fake ``winreg``, on any system."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FakeWinreg

from spdeploy.media.folder import FolderTree
from spdeploy.probes import AnyOf, Exists, ProbeContext, Registry, Service, answer
from spdeploy.sandbox.pe import write_pe
from spdeploy.winsys import (
    SERVICES_KEY,
    Windows,
    image_executable,
    read_registry,
    service_image,
)

SETUP = r"HKLM\SOFTWARE\Microsoft\Exchange\Setup"  # Q230251: the install path is here
W = FakeWinreg


def _windows(reg: FakeWinreg, *files: str) -> Windows:
    return Windows(reg, is_file=lambda path: path.lower() in {f.lower() for f in files})


# --- registry values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind", "text"),
    [
        (r"C:\exchsrvr", W.REG_SZ, r"C:\exchsrvr"),
        (r"%SystemRoot%\System32\store.exe", W.REG_EXPAND_SZ, r"C:\Windows\System32\store.exe"),
        (r"%SYSTEMDRIVE%\exchsrvr %NoSuchVariable%", W.REG_EXPAND_SZ, r"D:\exchsrvr %NoSuchVariable%"),  # noqa: E501
        (2653, W.REG_DWORD, "2653"),
        (0xFFFFFFFF, W.REG_DWORD, "4294967295"),
        (1 << 40, W.REG_QWORD, "1099511627776"),
        (["5.5.2653.0", "5.5.2448.0"], W.REG_MULTI_SZ, "5.5.2653.0\n5.5.2448.0"),
        (b"\x01\xff", W.REG_BINARY, "01ff"),
    ],
)  # fmt: skip
def test_each_value_type_reads_as_text(data: object, kind: int, text: str) -> None:
    reg = FakeWinreg({"SystemDrive": "D:"}).set(SETUP, "Services", data, kind)
    assert read_registry(Windows(reg), SETUP, "Services") == text


def test_missing_key_value_hive_or_access_is_none() -> None:
    reg = FakeWinreg().set(SETUP, "Services", r"C:\exchsrvr", W.REG_SZ)
    reg.set(r"HKLM\SYSTEM\CurrentControlSet\Services\LME-NOTES", "ImagePath", "x", W.REG_SZ)
    reg.deny(r"HKLM\SYSTEM\CurrentControlSet\Services\LME-NOTES")  # Q255181: no access
    win = Windows(reg)
    assert read_registry(win, SETUP + r"\Nothing", "Services") is None
    assert read_registry(win, SETUP, "Nothing") is None
    assert read_registry(win, r"HKXX\SOFTWARE\Microsoft\Exchange\Setup", "Services") is None
    assert read_registry(win, rf"{SERVICES_KEY}\LME-NOTES", "ImagePath") is None


def test_hklm_and_hkcu_are_different_places_and_long_names_work() -> None:
    reg = FakeWinreg()
    reg.set(r"HKLM\SOFTWARE\Vendor\Tool", "Version", "5.5.2653.0", W.REG_SZ)
    reg.set(r"HKCU\SOFTWARE\Vendor\Tool", "Version", "5.5.2448.0", W.REG_SZ)
    win = Windows(reg)
    assert read_registry(win, r"HKLM\SOFTWARE\Vendor\Tool", "Version") == "5.5.2653.0"
    assert read_registry(win, r"hkcu\software\vendor\tool", "version") == "5.5.2448.0"
    assert read_registry(win, r"HKEY_LOCAL_MACHINE\SOFTWARE\Vendor\Tool", "Version") == "5.5.2653.0"
    assert read_registry(win, r"HKEY_CURRENT_USER\SOFTWARE\Vendor\Tool", "Version") == "5.5.2448.0"
    assert [hive for hive, _, _ in reg.opened] == [W.HKEY_LOCAL_MACHINE, W.HKEY_CURRENT_USER] * 2


def test_a_32_bit_product_on_64_bit_windows_is_read_in_the_32_bit_view() -> None:
    # A 32-bit installer writes HKLM\SOFTWARE\Microsoft\Exchange\Setup; a 64-bit Windows keeps it
    # under SOFTWARE\WOW6432Node, which a 64-bit Python sees only through the 32-bit view.
    reg = FakeWinreg().set(
        r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Exchange\Setup", "Services", r"C:\exchsrvr", W.REG_SZ
    )
    win = Windows(reg)
    assert read_registry(win, SETUP, "Services") is None
    assert read_registry(win, SETUP, "Services", view="32") == r"C:\exchsrvr"
    assert reg.opened[-1][2] == W.KEY_READ | W.KEY_WOW64_32KEY
    assert read_registry(win, SETUP, "Services", view="64") is None
    assert reg.opened[-1][2] == W.KEY_READ | W.KEY_WOW64_64KEY
    # A 32-bit Windows has one view, with no WOW6432Node: the flag changes nothing there.
    plain = FakeWinreg(bits64=False).set(SETUP, "Services", r"C:\exchsrvr", W.REG_SZ)
    assert read_registry(Windows(plain), SETUP, "Services", view="32") == r"C:\exchsrvr"


# --- ImagePath ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "files", "executable"),
    [
        # quoted, with arguments
        (r'"C:\Program Files\Exchsrvr\bin\Store.exe" -k MSExchangeIS', (), r"C:\Program Files\Exchsrvr\bin\Store.exe"),  # noqa: E501
        # unquoted with spaces: CreateProcess tries each prefix ending at a space, adding .exe
        (r"C:\Exch Srvr\Connect\Exchconn\Lsntsmex.exe -service", (r"C:\Exch Srvr\Connect\Exchconn\Lsntsmex.exe",), r"C:\Exch Srvr\Connect\Exchconn\Lsntsmex.exe"),  # noqa: E501
        (r"C:\Exch Srvr\bin\Store -k x", (r"C:\Exch Srvr\bin\Store.exe",), r"C:\Exch Srvr\bin\Store.exe"),  # noqa: E501
        # ... and takes the first that exists, which is why unquoted paths are a known risk
        (r"C:\Exch Srvr\bin\Store.exe", (r"C:\Exch.exe", r"C:\Exch Srvr\bin\Store.exe"), r"C:\Exch.exe"),  # noqa: E501
        (r"C:\Exch Srvr\bin\Store.exe", (), r"C:\Exch"),  # nothing there: the first word
        # REG_EXPAND_SZ comes expanded from the registry; the kernel's own spellings:
        (r"\SystemRoot\System32\drivers\spd.sys", (), r"C:\Windows\System32\drivers\spd.sys"),
        (r"\??\C:\exchsrvr\bin\Store.exe", (), r"C:\exchsrvr\bin\Store.exe"),
        (r"System32\drivers\spd.sys", (), r"C:\Windows\System32\drivers\spd.sys"),
        (r"C:\WINNT\System32\svchost.exe -k netsvcs", (r"C:\WINNT\System32\svchost.exe",), r"C:\WINNT\System32\svchost.exe"),  # noqa: E501
        (r"\\server\share\bin\calcon.exe", (), r"\\server\share\bin\calcon.exe"),
    ],
)  # fmt: skip
def test_image_path_forms(image: str, files: tuple[str, ...], executable: str) -> None:
    found = image_executable(image, system_root=r"C:\Windows", is_file=lambda p: p in files)
    assert found == executable


def _service(reg: FakeWinreg, name: str, image: str, kind: int = W.REG_EXPAND_SZ) -> None:
    reg.set(rf"{SERVICES_KEY}\{name}", "ImagePath", image, kind)


def test_service_image_expands_and_resolves() -> None:
    reg = FakeWinreg({"SystemRoot": r"C:\WINNT"})
    _service(reg, "MSExchangeCoCo", r'"C:\Exch Srvr\Connect\Exchconn\Lsmexin.exe" /service')
    _service(reg, "MSExchangeCalCon", r"%SystemRoot%\..\exchsrvr\Connect\Calcon\Calcon.exe")
    reg.add_key(rf"{SERVICES_KEY}\LME-NOTES")  # a key left behind by Remove All (Q196305)
    win = _windows(reg)
    assert service_image("MSExchangeCoCo", win) == r"C:\Exch Srvr\Connect\Exchconn\Lsmexin.exe"
    assert (
        service_image("MSExchangeCalCon", win) == r"C:\WINNT\..\exchsrvr\Connect\Calcon\Calcon.exe"
    )
    assert service_image("LME-NOTES", win) == ""  # a service, its program unknown
    assert service_image("LME-GWISE", win) is None  # no such service


def test_a_svchost_service_is_its_service_dll() -> None:
    reg = FakeWinreg({"SystemRoot": r"C:\WINNT"})
    svchost = r"%SystemRoot%\System32\svchost.exe -k netsvcs"
    _service(reg, "Shared", svchost)
    reg.set(
        rf"{SERVICES_KEY}\Shared\Parameters",
        "ServiceDll",
        r"%SystemRoot%\System32\shared.dll",
        W.REG_EXPAND_SZ,
    )
    _service(reg, "OldStyle", svchost)
    reg.set(rf"{SERVICES_KEY}\OldStyle", "ServiceDll", r"C:\Tools\old.dll", W.REG_SZ)
    _service(reg, "NoDll", svchost)
    win = _windows(reg, r"C:\WINNT\System32\svchost.exe")
    assert service_image("Shared", win) == r"C:\WINNT\System32\shared.dll"
    assert service_image("OldStyle", win) == r"C:\Tools\old.dll"
    assert service_image("NoDll", win) == r"C:\WINNT\System32\svchost.exe"  # fmt: skip


# --- the probes through the seam ---------------------------------------------------------------


def _ctx(tmp_path: Path, windows: Windows | None) -> ProbeContext:
    (tmp_path / "target").mkdir(exist_ok=True)
    return ProbeContext(FolderTree(tmp_path / "target", "target"), {}, windows)


def test_registry_probe_reads_through_the_seam(tmp_path: Path) -> None:
    reg = FakeWinreg().set(
        r"HKLM\SOFTWARE\WOW6432Node\Vendor\Tool", "Version", "5.5.2653.0", W.REG_SZ
    )
    ctx = _ctx(tmp_path, Windows(reg))
    probe = Registry(r"HKLM\SOFTWARE\Vendor\Tool", "Version", view="32")
    assert probe.applies(ctx)
    found = answer(probe, ctx, want_version=True)
    assert (found.found, found.version) == (True, "5.5.2653.0")
    assert found.source == r"registry HKLM\SOFTWARE\Vendor\Tool\Version (32-bit view)"
    missing = answer(Registry(r"HKLM\SOFTWARE\Vendor\Tool", "Version"), ctx, want_version=True)
    assert not missing.found and "no registry value" in missing.source
    # off Windows the same probe does not apply: skipped inside any, an error on its own
    off = _ctx(tmp_path, None)
    assert not probe.applies(off)
    either = AnyOf((probe, Exists("nothing")))
    assert answer(either, off, want_version=False).source == "no nothing"


def test_service_probe_reads_the_version_of_its_program(tmp_path: Path) -> None:
    program = tmp_path / "Calcon.exe"
    write_pe(program, "5.5.2653.0")
    reg = FakeWinreg()
    _service(reg, "MSExchangeCalCon", f'"{program}" -service', W.REG_SZ)
    ctx = _ctx(tmp_path, Windows(reg))  # is_file: the real file system
    probe = Service("MSExchangeCalCon")
    assert probe.applies(ctx)
    found = answer(probe, ctx, want_version=True)
    assert (found.found, found.version) == (True, "5.5.2653.0")
    absent = answer(Service("LME-NOTES"), ctx, want_version=True)
    assert (absent.found, absent.source) == (False, "no service LME-NOTES")
