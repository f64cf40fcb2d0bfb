"""``python -m spdeploy.sandbox.fleet``: sandbox hosts and the inventory that names them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spdeploy.sandbox.fleet import (
    DEFAULT_DIR,
    DEFAULT_HOSTS,
    EXAMPLE_INTERPRETER,
    build_fleet,
    host_names,
    inventory_text,
    main,
)
from spdeploy.sandbox.world import Behaviour

EXAMPLE = Path(__file__).resolve().parents[2] / "ansible" / "inventory.example.yml"


def test_each_host_is_a_world_of_its_own(tmp_path: Path) -> None:
    fleet = build_fleet(tmp_path, hosts=3, reboot=["host2"], fail=["host3"])
    assert [h.name for h in fleet] == ["host1", "host2", "host3"]
    for host in fleet:
        assert host.world.root == tmp_path / host.name
        assert host.world.target.is_dir() and host.world.media.is_dir()
        assert host.world.profile.is_file() and not host.world.state.exists()
    calcon = "Eng/Exchconn/Setup/I386/Calcon/Calcon.exe"
    ntsconn = "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe"
    assert "exit 194" in (fleet[1].world.media / calcon).read_text()  # 3010, 8 bits kept
    assert "exit 0" in (fleet[1].world.media / ntsconn).read_text()
    assert "exit 67" in (fleet[2].world.media / ntsconn).read_text()  # 1603
    assert "exit 0" in (fleet[0].world.media / calcon).read_text()


def test_any_behaviour_by_host(tmp_path: Path) -> None:
    fleet = build_fleet(tmp_path, hosts=2, behaviours={"host2": {"server": Behaviour(5)}})
    update = "Eng/Server/Setup/I386/Update.exe"
    assert "exit 5" in (fleet[1].world.media / update).read_text()
    assert "exit 0" in (fleet[0].world.media / update).read_text()


def test_unknown_hosts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no host 'host9' in a fleet of 2"):
        build_fleet(tmp_path, hosts=2, reboot=["host9"])
    with pytest.raises(ValueError, match="no host 'host3'"):
        build_fleet(tmp_path, hosts=2, behaviours={"host3": {}})
    with pytest.raises(ValueError, match="at least one host"):
        host_names(0)


def test_the_inventory_names_every_host_folder(tmp_path: Path) -> None:
    main([str(tmp_path / "fleet"), "--hosts", "2"])
    root = tmp_path / "fleet"
    inventory = yaml.safe_load((root / "inventory.yml").read_text())
    assert inventory["all"]["vars"]["ansible_connection"] == "local"
    assert inventory["all"]["vars"]["ansible_python_interpreter"] == sys.executable
    assert inventory["all"]["vars"]["spdeploy_simulate_reboot"] is True
    assert inventory["all"]["vars"]["spdeploy_report_dir"] == str(root / "reports")
    hosts = inventory["all"]["children"]["exchange"]["hosts"]
    assert hosts["host2"] == {
        "spdeploy_media": str(root / "host2/SP4CD"),
        "spdeploy_target": str(root / "host2/exchsrvr"),
        "spdeploy_profile": str(root / "host2/exchange55-sandbox.toml"),
        "spdeploy_state_dir": str(root / "host2/state"),
    }
    for host in hosts.values():
        assert Path(host["spdeploy_media"]).is_dir() and Path(host["spdeploy_profile"]).is_file()


def test_the_committed_example_is_the_default_fleet() -> None:
    """ansible/inventory.example.yml works once the documented one-liner has run."""
    expected = inventory_text(DEFAULT_DIR, host_names(DEFAULT_HOSTS), EXAMPLE_INTERPRETER)
    assert EXAMPLE.read_text() == expected


def test_rebuilding_replaces_an_earlier_fleet_only(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    assert main([str(root), "--hosts", "3"]) == 0
    (root / "host1/exchsrvr/bin/Store.exe").unlink()
    (root / "reports").mkdir()
    (root / "reports/host3.json").write_text("{}")
    assert main([str(root), "--hosts", "2"]) == 0
    assert (root / "host1/exchsrvr/bin/Store.exe").is_file()
    assert not (root / "host3").exists() and not (root / "reports").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit):
        main([str(other)])
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def test_the_one_liner(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "spdeploy.sandbox.fleet", str(tmp_path / "f"), "--reboot", "host2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"6 sandbox hosts in {tmp_path / 'f'}; inventory: {tmp_path / 'f/inventory.yml'}"
    )
    bad = subprocess.run(
        [sys.executable, "-m", "spdeploy.sandbox.fleet", str(tmp_path / "g"), "--fail", "host7"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "no host 'host7'" in bad.stderr
