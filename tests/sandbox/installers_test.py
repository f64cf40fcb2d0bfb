"""``--installers exe``: real Windows executables (distlib's launcher + ``#!`` line + zip) that do
exactly what the ``#!/bin/sh`` stand-ins do.

Off Windows the launcher cannot run, so the same file is run as ``python Update.exe TARGET``
(Python runs the zip at its end, which is what the launcher makes it do) and compared, byte for
byte, with the shell installer of a twin world.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import distlib
import pefile
import psutil
import pytest

from spdeploy import process
from spdeploy.profile import load_profile
from spdeploy.sandbox.installers import (
    LAUNCHERS,
    InstallerSpec,
    build_exe,
    cannot_run,
    default_kind,
    launcher,
)
from spdeploy.sandbox.world import SP2, SP4, Behaviour, build_media, build_world

_MAIN = Path(__file__).parents[2] / "src/spdeploy/sandbox/installer_main.py"
_CONNECTORS = "Eng/Exchconn/Setup/I386"
_INSTALLERS = {
    "server": "Eng/Server/Setup/I386/Update.exe",
    "calcon": f"{_CONNECTORS}/Calcon/Calcon.exe",
    "ntsconn": f"{_CONNECTORS}/Ntsconn/Ntsconn.exe",
    "gwxconn": f"{_CONNECTORS}/Gwxconn/Gwxconn.exe",
    "ovvconn": f"{_CONNECTORS}/Ovvconn/Ovvconn.exe",
    "snaconn": f"{_CONNECTORS}/Snaconn/Snaconn.exe",
}
_MACHINES = {"AMD64": 0x8664, "x86": 0x14C, "ARM64": 0xAA64}
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="compares with #!/bin/sh stand-ins")


def _spec(**behaviour: object) -> InstallerSpec:
    return InstallerSpec(
        component="server",
        exe="Update.exe",
        name="Microsoft Exchange Server",
        version=SP4,
        payload=(("payload/Store.exe", "bin/Store.exe"),),
        log="../Exchange Server Setup.log",
        behaviour={
            "exit_code": 0, "change": True, "hang": False, "output_bytes": 0,
            "write_marker": True, "delay_s": 0.0, "delete_self": False, **behaviour,
        },
    )  # fmt: skip


def _zip_of(exe: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(exe))  # zipfile, like Python, finds a zip at the end


def _files(root: Path) -> dict[str, bytes]:
    """Every file of a world but its media, state and profile, with its bytes: what the
    installers wrote shows."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.suffix != ".toml" and rel.parts[0] not in ("SP4CD", "state"):
            found[rel.as_posix()] = path.read_bytes()
    return found


def _run_exe(exe: Path, *args: str | Path) -> subprocess.CompletedProcess[bytes]:
    """``python Update.exe TARGET``: what the launcher runs, minus the launcher."""
    return subprocess.run(
        [sys.executable, str(exe), *map(str, args)], capture_output=True, timeout=60, check=False
    )


# --- the file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("machine", "number"), sorted(_MACHINES.items()))
def test_the_installer_is_a_windows_pe_for_the_machine(machine: str, number: int) -> None:
    exe = build_exe(_spec(), machine=machine)
    pe = pefile.PE(data=exe, fast_load=True)
    assert pe.FILE_HEADER.Machine == number
    assert pe.OPTIONAL_HEADER.Subsystem == pefile.SUBSYSTEM_TYPE["IMAGE_SUBSYSTEM_WINDOWS_CUI"]
    # distlib's console launcher, byte for byte, as pip's console scripts carry it
    name = LAUNCHERS[machine.lower()]
    assert exe.startswith((Path(distlib.__file__).parent / name).read_bytes())


def test_launcher_then_a_quoted_python_line_then_the_zip() -> None:
    python = r"C:\Program Files\Python313\python.exe"  # a space: one path only when quoted
    exe = build_exe(_spec(), python=python, machine="AMD64")
    head = launcher("AMD64")
    line = f'#!"{python}"\n'.encode()
    assert exe[len(head) : len(head) + len(line)] == line
    with _zip_of(exe) as archive:
        assert archive.namelist() == ["__main__.py", "installer.json"]
        assert archive.read("__main__.py") == _MAIN.read_bytes()
        assert b'"exit_code": 0' in archive.read("installer.json")
    assert exe[len(head) + len(line) : len(head) + len(line) + 4] == b"PK\x03\x04"


def test_the_same_arguments_make_the_same_bytes() -> None:
    assert build_exe(_spec(delay_s=1.5)) == build_exe(_spec(delay_s=1.5))
    assert build_exe(_spec(exit_code=1)) != build_exe(_spec(exit_code=2))


def test_unknown_machine_and_unquotable_python_are_refused() -> None:
    with pytest.raises(ValueError, match="no Windows launcher for machine 'mips'"):
        build_exe(_spec(), machine="mips")
    with pytest.raises(ValueError, match="cannot name"):
        build_exe(_spec(), python='C:\\a"b\\python.exe')


def test_media_of_exe_installers(tmp_path: Path) -> None:
    media = build_media(tmp_path / "cd", installers="exe", platforms=["I386"])
    for rel in _INSTALLERS.values():
        data = (media / rel).read_bytes()
        assert data[:2] == b"MZ" and b"#!/bin/sh" not in data
        with _zip_of(data) as archive:
            assert "__main__.py" in archive.namelist()
    assert "Windows executables" in (media / "README.TXT").read_text()
    with pytest.raises(ValueError, match="installers must be one of script, exe"):
        build_media(tmp_path / "bad", installers="msi")


def test_kinds_and_where_they_run() -> None:
    assert default_kind() == ("exe" if sys.platform == "win32" else "script")
    assert cannot_run("exe", "win32") is None
    assert cannot_run("script", "linux") is None
    assert cannot_run("exe", "linux") == "Windows executables cannot run on linux"
    assert "CreateProcess refuses" in (cannot_run("script", "win32") or "")
    with pytest.raises(ValueError):
        cannot_run("msi")


def test_site_profile_maps_the_8_bit_codes_only_for_scripts(tmp_path: Path) -> None:
    script = load_profile(str(build_world(tmp_path / "s", installers="script").profile))
    exe = load_profile(str(build_world(tmp_path / "e", installers="exe").profile))
    for cid in ("server", "ntsconn"):
        assert script.component(cid).exit_codes[194] == "reboot"
        assert script.component(cid).exit_codes[105] == "reboot"
        assert 194 not in exe.component(cid).exit_codes  # Windows keeps 3010 and 1641 whole
        assert exe.component(cid).exit_codes[3010] == "reboot"
        assert exe.component(cid).exit_codes[1641] == "reboot"


# --- what it does: the same as the shell installer --------------------------------------------


_BEHAVIOURS = {
    "default": {},
    "reboot": {"server": Behaviour(exit_code=3010), "calcon": Behaviour(exit_code=1641)},
    "failed-unchanged": {"ntsconn": Behaviour(exit_code=1603, change=False)},
    "chatty-no-marker": {
        "gwxconn": Behaviour(output_bytes=70_001),
        "server": Behaviour(write_marker=False),
    },
    "delete-self": {"calcon": Behaviour(delete_self=True)},
}


@posix_only
@pytest.mark.parametrize("case", sorted(_BEHAVIOURS))
def test_python_runs_the_exe_exactly_as_sh_runs_the_script(tmp_path: Path, case: str) -> None:
    behaviours = _BEHAVIOURS[case]
    worlds = {
        kind: build_world(tmp_path / kind / "a world", installers=kind,  # spaces in every path
                          media_kwargs={"behaviours": behaviours})
        for kind in ("script", "exe")
    }  # fmt: skip
    for cid, rel in _INSTALLERS.items():
        script = worlds["script"].media / rel
        sh = subprocess.run(
            [str(script), str(worlds["script"].target)], capture_output=True, timeout=60
        )
        py = _run_exe(worlds["exe"].media / rel, worlds["exe"].target)
        assert (py.returncode, py.stdout, py.stderr) == (sh.returncode, sh.stdout, sh.stderr), cid
        assert sh.returncode == behaviours.get(cid, Behaviour()).posix_exit_code
        if behaviours.get(cid, Behaviour()).delete_self:
            assert not (worlds["exe"].media / rel).exists() and not script.exists()
    assert _files(worlds["exe"].root) == _files(worlds["script"].root)
    # and the work was done: versions changed (unless told not to), the marker was written
    store = worlds["exe"].target / "bin/Store.exe"
    assert (
        store.read_bytes()
        == (worlds["exe"].media / "Eng/Server/Setup/I386/payload/Store.exe").read_bytes()
    )
    marker = (worlds["exe"].root / "spdeploy-sandbox-ran.txt").read_text().splitlines()
    expected = [f"{c} ran" for c in _INSTALLERS if behaviours.get(c, Behaviour()).write_marker]
    assert marker == expected


@posix_only
def test_the_exe_finds_its_payload_whatever_the_case_and_says_when_it_cannot(
    tmp_path: Path,
) -> None:
    for kind in ("script", "exe"):
        build_media(tmp_path / kind, installers=kind, components=["server"], upper=True)
    target = build_world(tmp_path / "w").target
    exe = tmp_path / "exe/ENG/SERVER/SETUP/I386/UPDATE.EXE"
    assert _run_exe(exe, target).returncode == 0
    (exe.parent / "PAYLOAD/STORE.EXE").unlink()
    (tmp_path / "script/ENG/SERVER/SETUP/I386/PAYLOAD/STORE.EXE").unlink()
    py = _run_exe(exe, target)
    sh = subprocess.run(
        [str(tmp_path / "script/ENG/SERVER/SETUP/I386/UPDATE.EXE"), str(target)],
        capture_output=True,
        timeout=60,
    )
    assert (
        (py.returncode, py.stderr)
        == (sh.returncode, sh.stderr)
        == (
            1,
            b"UPDATE.EXE: payload not found: PAYLOAD/STORE.EXE\n",
        )
    )
    nowhere = _run_exe(exe, tmp_path / "nowhere")
    assert nowhere.returncode == 1 and b"no such folder" in nowhere.stderr
    usage = _run_exe(exe)
    assert usage.returncode == 2 and usage.stderr == b"usage: UPDATE.EXE TARGET\n"


def test_the_exe_changes_versions_as_spdeploy_sees_them(tmp_path: Path) -> None:
    from spdeploy.inventory import scan
    from spdeploy.media import open_target

    world = build_world(tmp_path, installers="exe")
    profile = load_profile(str(world.profile))

    def versions() -> dict[str, str | None]:
        found = scan(profile, open_target(world.target), world.target).components
        return {c.id: c.version for c in found if c.installed}

    assert set(versions().values()) == {SP2}
    for rel in _INSTALLERS.values():
        assert _run_exe(world.media / rel, world.target).returncode == 0
    assert set(versions().values()) == {SP4}
    lmeilog = (world.target / "Connect/Exchconn/Setup/lmeilog.txt").read_text()
    assert "Ntsconn.exe: Microsoft Exchange Connector for Lotus Notes: updated to" in lmeilog


def test_a_hanging_exe_leaves_a_child_and_a_grandchild_that_the_tree_kill_stops(
    tmp_path: Path,
) -> None:
    world = build_world(
        tmp_path, installers="exe", media_kwargs={"behaviours": {"ntsconn": Behaviour(hang=True)}}
    )
    pids_file = world.root / "spdeploy-sandbox-pids.txt"
    proc = subprocess.Popen(
        [sys.executable, str(world.media / _INSTALLERS["ntsconn"]), str(world.target)],
        stdout=subprocess.DEVNULL,
    )
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(pids) < 2:
            if pids_file.exists():
                text = pids_file.read_text()
                pids = [int(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]
            time.sleep(0.05)
        assert len(pids) == 2, pids
        assert proc.poll() is None
        assert {p.pid for p in psutil.Process(proc.pid).children(recursive=True)} >= set(pids)
    finally:
        process.kill_tree(proc.pid)
        proc.wait(timeout=30)
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert (world.target / "Connect/Exchconn/Lsmexout.exe").read_bytes() != (
        world.media / f"{_CONNECTORS}/Ntsconn/payload/Lsmexout.exe"
    ).read_bytes()


@pytest.mark.skipif(sys.platform != "win32", reason="the launcher runs only on Windows")
def test_on_windows_the_launcher_itself_runs_the_installer(tmp_path: Path) -> None:
    world = build_world(
        tmp_path / "a world",
        installers="exe",
        media_kwargs={"behaviours": {"server": Behaviour(exit_code=0xC0000005)}},
    )
    done = subprocess.run(
        [str(world.media / _INSTALLERS["calcon"]), str(world.target)], capture_output=True
    )
    assert done.returncode == 0, done.stderr
    crashed = subprocess.run(
        [str(world.media / _INSTALLERS["server"]), str(world.target)], capture_output=True
    )
    assert crashed.returncode == 0xC0000005  # the full DWORD, as Windows keeps it
