"""The sandbox world must look to spdeploy exactly like the Exchange 5.5 layout it simulates."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pefile
import psutil
import pytest

from spdeploy.inventory import scan
from spdeploy.media import open_media, open_target
from spdeploy.media.locate import find_installer, locate
from spdeploy.probes import Literal
from spdeploy.profile import load_profile
from spdeploy.sandbox.world import (
    COMPONENT_FILES,
    SP2,
    SP4,
    Behaviour,
    build_media,
    build_target,
    build_world,
    write_site_profile,
)

_RESOURCE = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]
_CONNECTOR_DIR = "Eng/Exchconn/Setup/I386"


def _pe(path: Path) -> tuple[str, str, int]:
    """FileVersion, FileDescription and machine of a PE file, read with pefile."""
    pe = pefile.PE(data=path.read_bytes(), fast_load=True)
    pe.parse_data_directories(directories=[_RESOURCE])
    fixed = pe.VS_FIXEDFILEINFO[0]
    ms, ls = fixed.FileVersionMS, fixed.FileVersionLS
    strings: dict[str, str] = {}
    for info in pe.FileInfo[0]:
        for table in getattr(info, "StringTable", []):
            strings.update({k.decode(): v.decode() for k, v in table.entries.items()})
    version = f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"
    return version, strings["FileDescription"], pe.FILE_HEADER.Machine


def _run(installer: Path, target: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(installer), str(target)], capture_output=True, timeout=30)


def _versions(profile: str, target: Path) -> dict[str, str | None]:
    inventory = scan(load_profile(profile), open_target(target), target)
    return {c.id: c.version for c in inventory.components if c.installed}


# --- target -----------------------------------------------------------------------------------


def test_default_target_scans_as_sp2_with_the_builtin_profile(tmp_path: Path) -> None:
    target = build_target(tmp_path / "exchsrvr")
    assert target == tmp_path / "exchsrvr"
    assert _versions("exchange55", target) == {
        "server": SP2,
        "coco": SP2,
        "calcon": SP2,
        "ntsconn": SP2,
        "gwxconn": SP2,
    }
    version, description, machine = _pe(target / "bin/Store.exe")
    assert (version, description, machine) == (SP2, "Microsoft Exchange Server", 0x14C)
    assert _pe(target / "Connect/Exchconn/Lsntsmex.exe")[1] == (
        "Microsoft Exchange Connector for Lotus Notes"
    )
    # the program the Notes, SNADS and PROFS connectors share (Q215492-Q215494)
    assert _pe(target / "Connect/Exchconn/Lsmexout.exe")[1] == (
        "Microsoft Exchange Connectivity Controller"
    )


@pytest.mark.parametrize(
    ("connector", "files"),
    [
        ("snaconn", ("Connect/Exchconn/Lssne.exe", "Connect/Exchconn/Doc/Snads.rtf")),
        (
            "ovvconn",
            (
                "Connect/Exchconn/Lsnje.exe",
                "Connect/Exchconn/Lsvmdia.exe",
                "Connect/Exchconn/Lsdiavm.exe",
                "Connect/Exchconn/Tables/Profs.pab",
                "Connect/Exchconn/Tables/Ovdfile.dat",
            ),
        ),
    ],
)
def test_snads_or_profs_alone_is_found_on_disk_and_the_notes_connector_is_not(
    tmp_path: Path, connector: str, files: tuple[str, ...]
) -> None:
    # Lsmexout.exe is there (shared with them, Q215493, Q215494) but proves no Notes connector.
    target = build_target(tmp_path / "t", installed={"server": SP2, connector: SP2})
    assert all((target / f).is_file() for f in files)
    assert (target / "Connect/Exchconn/Lsmexout.exe").is_file()
    assert not (target / "Connect/Exchconn/Lsntsmex.exe").exists()
    assert _versions("exchange55", target) == {"server": SP2, "coco": SP2, connector: SP2}


def test_controller_version_may_differ_from_its_connectors(tmp_path: Path) -> None:
    target = build_target(tmp_path / "t", installed={"coco": SP2, "ntsconn": SP4})
    assert _pe(target / "Connect/Exchconn/Lsmexout.exe")[0] == SP2
    assert _pe(target / "Connect/Exchconn/Lsntsmex.exe")[0] == SP4
    groupwise = build_target(tmp_path / "g", installed={"server": SP2, "gwxconn": SP2})
    assert (groupwise / "Connect/Exchconn/Exchconn.ini").is_file()
    assert not (groupwise / "Connect/Exchconn/Lsmexout.exe").exists()
    assert _versions("exchange55", groupwise) == {"server": SP2, "coco": None, "gwxconn": SP2}


def test_target_holds_the_connector_data_files(tmp_path: Path) -> None:
    target = build_target(tmp_path / "exchsrvr")
    exchconn = target / "Connect/Exchconn"
    assert (exchconn / "Exchconn.ini").is_file()
    assert (exchconn / "Setup/lmeilog.txt").is_file()
    assert sorted(p.name for p in (exchconn / "Dxamex").iterdir()) == ["Domains.tbl", "Mapping.tbl"]
    assert [p.name for p in (exchconn / "Dxanotes").iterdir()] == ["Mapping.tbl"]


def test_target_with_the_server_only_has_no_connector_files(tmp_path: Path) -> None:
    target = build_target(tmp_path / "t", installed={"server": "5.5.1960.8"})
    assert _versions("exchange55", target) == {"server": "5.5.1960.8"}
    assert not (target / "Connect").exists()


def test_unknown_component_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'exchange'"):
        build_target(tmp_path / "t", installed={"exchange": SP2})
    with pytest.raises(ValueError, match="'fax'"):
        build_media(tmp_path / "m", components=["server", "fax"])
    with pytest.raises(ValueError, match="'Mips'"):
        build_media(tmp_path / "m", platforms=["Mips"])


# --- media ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "machine"), [("I386", 0x14C), ("Alpha", 0x184)])
def test_media_has_every_installer_for_each_platform(
    tmp_path: Path, platform: str, machine: int
) -> None:
    media = build_media(tmp_path / "cd")
    assert (media / "README.TXT").is_file()
    update = media / "Eng/Server/Setup" / platform / "Update.exe"
    assert _pe(update.parent / "payload/Store.exe")[::2] == (SP4, machine)
    installers = [update]
    for cid in ("calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn"):
        folder = COMPONENT_FILES[cid][0]
        installers.append(media / "Eng/Exchconn/Setup" / platform / folder / f"{folder}.exe")
    for installer in installers:
        assert installer.read_text().startswith("#!/bin/sh\n")
        assert installer.stat().st_mode & 0o777 == 0o755
    lsntsmex = media / "Eng/Exchconn/Setup" / platform / "Ntsconn/payload/Lsntsmex.exe"
    assert _pe(lsntsmex)[::2] == (SP4, machine)


def test_every_installer_is_found_by_the_builtin_profile(tmp_path: Path) -> None:
    media = open_media(build_media(tmp_path / "cd"))
    profile = load_profile("exchange55")
    for plat in ("I386", "Alpha"):
        found = {
            c.id: find_installer(media, c, "Eng", plat) for c in profile.components if c.installer
        }
        assert found["server"] == f"Eng/Server/Setup/{plat}/Update.exe"
        assert found["gwxconn"] == f"Eng/Exchconn/Setup/{plat}/Gwxconn/Gwxconn.exe"
        assert all(found.values()), found


def test_upper_case_media(tmp_path: Path) -> None:
    media = build_media(tmp_path / "cd", upper=True)
    names = [p.relative_to(media) for p in media.rglob("*")]
    assert Path("ENG/EXCHCONN/SETUP/I386/NTSCONN/NTSCONN.EXE") in names
    assert Path("ENG/EXCHCONN/SETUP/ALPHA/NTSCONN/PAYLOAD/LSNTSMEX.EXE") in names
    assert all(str(n) == str(n).upper() for n in names)
    profile = load_profile("exchange55")
    found = find_installer(open_media(media), profile.component("ntsconn"), "Eng", "I386")
    assert found == "ENG/EXCHCONN/SETUP/I386/NTSCONN/NTSCONN.EXE"


def test_setup_level_and_groupwise_spellings(tmp_path: Path) -> None:
    media = build_media(tmp_path / "cd", setup_level=True, gw_folder="Gwconn")
    assert (media / _CONNECTOR_DIR / "Setup/Ntsconn/Ntsconn.exe").is_file()
    assert (media / _CONNECTOR_DIR / "Setup/Gwconn/Gwconn.exe").is_file()
    assert not (media / _CONNECTOR_DIR / "Ntsconn").exists()
    # no article puts the Calendar Connector under the extra Setup level (Q244473)
    assert (media / _CONNECTOR_DIR / "Calcon/Calcon.exe").is_file()
    profile = load_profile("exchange55")
    found = find_installer(open_media(media), profile.component("gwxconn"), "Eng", "I386")
    assert found == f"{_CONNECTOR_DIR}/Setup/Gwconn/Gwconn.exe"

    other = build_media(tmp_path / "cd2", gw_folder="Gwxcon")
    assert (other / _CONNECTOR_DIR / "Gwxcon/Gwxcon.exe").is_file()
    assert (other / _CONNECTOR_DIR / "Gwxcon/payload/Gwrouter.exe").is_file()


def test_notes_connector_only_in_english(tmp_path: Path) -> None:
    root = tmp_path / "cd"
    build_media(root, languages=["Eng", "Ger"], platforms=["I386"], notes_languages=["Eng"])
    assert (root / "Ger/Exchconn/Setup/I386/Calcon/Calcon.exe").is_file()
    assert not (root / "Ger/Exchconn/Setup/I386/Ntsconn").exists()
    profile = load_profile(str(write_site_profile(tmp_path / "site.toml")))
    found = locate(open_media(root), profile.component("ntsconn"), "Ger", "I386", {})
    assert (found.installer, found.language) == (
        "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe",
        "Eng",
    )


def test_media_is_deterministic(tmp_path: Path) -> None:
    def contents(root: Path) -> dict[Path, bytes]:
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    def build(root: Path) -> Path:
        behaviours = {"calcon": Behaviour(hang=True)}
        return build_media(root, languages=["Eng", "Fra"], behaviours=behaviours)

    assert contents(build(tmp_path / "a")) == contents(build(tmp_path / "b"))


# --- installers -------------------------------------------------------------------------------


def test_installers_bring_the_target_to_sp4(tmp_path: Path) -> None:
    world = build_world(tmp_path / "a world")  # a space in every path the scripts see
    site = str(world.profile)
    for folder in ("Server/Setup/I386/Update.exe", "Exchconn/Setup/I386/Calcon/Calcon.exe"):
        assert _run(world.media / "Eng" / folder, world.target).returncode == 0
    assert _versions(site, world.target) == {
        "server": SP4,
        "coco": SP2,  # a connector's installer brings it along (Q242250)
        "calcon": SP4,
        "ntsconn": SP2,
        "gwxconn": SP2,
    }
    for folder in ("Ntsconn", "Gwxconn", "Ovvconn", "Snaconn"):
        result = _run(world.media / _CONNECTOR_DIR / folder / f"{folder}.exe", world.target)
        assert result.returncode == 0, result.stderr
    assert set(_versions(site, world.target).values()) == {SP4}

    ran = (world.root / "spdeploy-sandbox-ran.txt").read_text()
    assert ran.splitlines() == [f"{c} ran" for c in COMPONENT_FILES]
    assert "Update.exe" in (world.root / "Exchange Server Setup.log").read_text()
    lmeilog = (world.target / "Connect/Exchconn/Setup/lmeilog.txt").read_text()
    assert "Ntsconn.exe" in lmeilog
    assert "Snaconn.exe" in lmeilog
    # The service pack overwrote the Notes mapping tables (Q195697); Dxanotes was left alone.
    exchconn = world.target / "Connect/Exchconn"
    assert "default mapping table" in (exchconn / "Dxamex/Mapping.tbl").read_text()
    assert "site administrator" in (exchconn / "Dxanotes/Mapping.tbl").read_text()


def test_unchanged_behaviour_leaves_the_version(tmp_path: Path) -> None:
    behaviours = {"calcon": Behaviour(change=False)}
    world = build_world(tmp_path, media_kwargs={"behaviours": behaviours})
    result = _run(world.media / _CONNECTOR_DIR / "Calcon/Calcon.exe", world.target)
    assert result.returncode == 0
    assert _pe(world.target / "Connect/Calcon/Calcon.exe")[0] == SP2
    assert (world.root / "spdeploy-sandbox-ran.txt").read_text() == "calcon ran\n"


def test_exit_code_and_marker_and_output(tmp_path: Path) -> None:
    behaviours = {
        "server": Behaviour(exit_code=3010, write_marker=False),
        "gwxconn": Behaviour(exit_code=1603, change=False),
        "calcon": Behaviour(output_bytes=100_000),
    }
    world = build_world(tmp_path, media_kwargs={"behaviours": behaviours})
    server = _run(world.media / "Eng/Server/Setup/I386/Update.exe", world.target)
    # A POSIX exit status keeps the low 8 bits: 3010 ("reboot required") arrives as 194.
    assert server.returncode == 3010 & 0xFF == Behaviour(exit_code=3010).posix_exit_code
    assert _pe(world.target / "bin/Store.exe")[0] == SP4
    assert not (world.root / "spdeploy-sandbox-ran.txt").exists()

    gw = _run(world.media / _CONNECTOR_DIR / "Gwxconn/Gwxconn.exe", world.target)
    assert gw.returncode == 1603 & 0xFF
    calcon = _run(world.media / _CONNECTOR_DIR / "Calcon/Calcon.exe", world.target)
    assert (calcon.returncode, len(calcon.stdout)) == (0, 100_000)

    profile = load_profile(str(world.profile))
    assert profile.component("server").exit_codes[194] == "reboot"


def test_installer_finds_its_payload_whatever_the_case(tmp_path: Path) -> None:
    # A level-1 ISO upper-cases every name, and staging keeps the media's spelling.
    media = build_media(tmp_path / "cd", components=["server"], platforms=["I386"])
    folder = media / "Eng/Server/Setup/I386"
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        path.rename(path.with_name(path.name.upper()))
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == [
        "PAYLOAD",
        "PAYLOAD/STORE.EXE",
        "UPDATE.EXE",
    ]
    target = build_target(tmp_path / "exchsrvr")
    result = _run(folder / "UPDATE.EXE", target)
    assert result.returncode == 0, result.stderr
    assert _pe(target / "bin/Store.exe")[0] == SP4

    (folder / "PAYLOAD/STORE.EXE").unlink()
    result = _run(folder / "UPDATE.EXE", target)
    assert result.returncode == 1
    assert result.stderr == b"Update.exe: payload not found: payload/Store.exe\n"


def test_installer_refuses_a_missing_target(tmp_path: Path) -> None:
    media = build_media(tmp_path / "cd", components=["calcon"])
    result = _run(media / _CONNECTOR_DIR / "Calcon/Calcon.exe", tmp_path / "nowhere")
    assert result.returncode == 1
    assert b"no such folder" in result.stderr


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_hanging_installer_leaves_a_child_and_a_grandchild(tmp_path: Path) -> None:
    world = build_world(tmp_path, media_kwargs={"behaviours": {"ntsconn": Behaviour(hang=True)}})
    pids_file = world.root / "spdeploy-sandbox-pids.txt"
    installer = world.media / _CONNECTOR_DIR / "Ntsconn/Ntsconn.exe"
    proc = subprocess.Popen(
        [str(installer), str(world.target)], start_new_session=True, stdout=subprocess.DEVNULL
    )
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(pids) < 2:
            if pids_file.exists():
                text = pids_file.read_text()
                pids = [int(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]
            time.sleep(0.02)
        assert len(pids) == 2, pids
        assert proc.poll() is None
        assert all(not _gone(pid) for pid in pids)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(_gone(pid) for pid in pids):
        time.sleep(0.02)
    assert all(_gone(pid) for pid in pids)
    assert _pe(world.target / "Connect/Exchconn/Lsmexout.exe")[0] == SP2


# --- site profile and world -------------------------------------------------------------------


def test_site_profile_makes_every_component_unattended(tmp_path: Path) -> None:
    path = write_site_profile(tmp_path / "site.toml")
    assert path.read_text().startswith("# ")
    profile = load_profile(str(path))
    assert profile.id == "exchange55-sandbox"
    assert [c.id for c in profile.components] == ["server", "coco", *list(COMPONENT_FILES)[1:]]
    for component in profile.components:
        if component.id == "coco":  # no installer of its own: nothing to make unattended
            assert component.installer == ()
            continue
        assert component.args == ("{target}",)
        assert component.interactive is False
        assert component.media_version == Literal(SP4)
        assert component.installer  # inherited from exchange55
    assert profile.component("ntsconn").backup == (
        "Connect/Exchconn/Dxamex",
        "Connect/Exchconn/Dxanotes",
        "Connect/Exchconn/Exchconn.ini",
    )


def test_world_layout(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w", media_kwargs={"version": "5.5.2650.0"})
    assert world.target == tmp_path / "w/exchsrvr"
    assert world.media == tmp_path / "w/SP4CD"
    assert world.profile == tmp_path / "w/exchange55-sandbox.toml"
    assert world.state == tmp_path / "w/state"
    assert not world.state.exists()
    assert load_profile(str(world.profile)).component("calcon").media_version == Literal(
        "5.5.2650.0"
    )
