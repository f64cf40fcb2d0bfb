"""A fleet of sandbox servers on this machine, for the Ansible collection.

``python -m spdeploy.sandbox.fleet [DIR]`` builds sandbox worlds (see ``world.py``) in
``DIR/host1`` .. ``DIR/hostN`` and writes ``DIR/inventory.yml``: an Ansible inventory whose hosts
are those worlds, reached with ``ansible_connection: local``, each with its own target, media,
site profile and state folder, and this Python (the one with spdeploy) as their interpreter.
``ansible/inventory.example.yml`` is that inventory for the default folder, with
``{{ ansible_playbook_python }}`` as the interpreter.

``--reboot host3`` makes a host's Calendar Connector installer ask for a reboot (3010);
``--fail host2`` makes its Notes connector installer fail (1603).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from spdeploy.sandbox.world import Behaviour, World, build_world

__all__ = [
    "DEFAULT_DIR",
    "DEFAULT_HOSTS",
    "EXAMPLE_INTERPRETER",
    "FAIL_COMPONENT",
    "REBOOT_COMPONENT",
    "FleetHost",
    "build_fleet",
    "host_names",
    "inventory_text",
    "main",
    "write_inventory",
]

# A fixed, documented place, so that the committed example inventory can name its paths.
DEFAULT_DIR = Path("/tmp/spdeploy-fleet")  # noqa: S108
DEFAULT_HOSTS = 6
REBOOT_COMPONENT = "calcon"  # --reboot: its installer exits 3010
FAIL_COMPONENT = "ntsconn"  # --fail: its installer exits 1603, changing nothing
INVENTORY = "inventory.yml"
REPORTS = "reports"
EXAMPLE_INTERPRETER = "{{ ansible_playbook_python }}"
_HEADER = "# Sandbox fleet for the spdeploy.servicepack collection: simulated Exchange 5.5 servers"


@dataclass(frozen=True)
class FleetHost:
    name: str
    world: World


def host_names(count: int) -> tuple[str, ...]:
    if count < 1:
        raise ValueError(f"a fleet needs at least one host, got {count}")
    return tuple(f"host{i}" for i in range(1, count + 1))


def build_fleet(
    root: str | os.PathLike[str],
    *,
    hosts: int = DEFAULT_HOSTS,
    reboot: Iterable[str] = (),
    fail: Iterable[str] = (),
    behaviours: Mapping[str, Mapping[str, Behaviour]] | None = None,
) -> tuple[FleetHost, ...]:
    """Build one sandbox world per host under ``root/<host>`` (an existing one is replaced).

    ``reboot`` and ``fail`` name hosts (see the module's docstring); ``behaviours`` gives hosts
    any installer behaviours, by host and component id.
    """
    base = Path(root)
    names = host_names(hosts)
    reboot, fail = set(reboot), set(fail)
    extra = dict(behaviours or {})
    for name in sorted(reboot | fail | set(extra)):
        if name not in names:
            raise ValueError(f"no host {name!r} in a fleet of {hosts} ({names[0]}..{names[-1]})")
    fleet = []
    for name in names:
        chosen: dict[str, Behaviour] = {}
        if name in reboot:
            chosen[REBOOT_COMPONENT] = Behaviour(exit_code=3010)
        if name in fail:
            chosen[FAIL_COMPONENT] = Behaviour(exit_code=1603, change=False)
        chosen.update(extra.get(name, {}))
        shutil.rmtree(base / name, ignore_errors=True)
        world = build_world(base / name, media_kwargs={"behaviours": chosen})
        fleet.append(FleetHost(name, world))
    return tuple(fleet)


def inventory_text(root: str | os.PathLike[str], names: Sequence[str], interpreter: str) -> str:
    """The inventory for the fleet under ``root``: what ``write_inventory`` writes."""
    base = Path(root)
    out = [
        _HEADER,
        f"# on this machine, made by `python -m spdeploy.sandbox.fleet {base}`.",
        "# Each host has its own target (exchsrvr), SP4 media (SP4CD), site profile (installers",
        '# made unattended) and state folder. See README.md, "Patching a fleet".',
        "all:",
        "  vars:",
        "    ansible_connection: local",
        "    # the Python running the module needs spdeploy (the module imports spdeploy.api)",
        f"    ansible_python_interpreter: {_quote(interpreter)}",
        "    # all hosts are this machine: a real reboot would reboot it, so only pretend",
        "    spdeploy_simulate_reboot: true",
        "    spdeploy_platform: I386  # the sandbox CD has I386 and Alpha installers",
        f"    spdeploy_report_dir: {_quote(str(base / REPORTS))}",
        "  children:",
        "    exchange:",
        "      hosts:",
    ]
    for name in names:
        world = base / name
        out += [
            f"        {name}:",
            f"          spdeploy_media: {_quote(str(world / 'SP4CD'))}",
            f"          spdeploy_target: {_quote(str(world / 'exchsrvr'))}",
            f"          spdeploy_profile: {_quote(str(world / 'exchange55-sandbox.toml'))}",
            f"          spdeploy_state_dir: {_quote(str(world / 'state'))}",
        ]
    return "\n".join(out) + "\n"


def write_inventory(
    root: str | os.PathLike[str], names: Sequence[str], interpreter: str | None = None
) -> Path:
    base = Path(root)
    path = base / INVENTORY
    text = inventory_text(base, names, interpreter or sys.executable)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def ansible_environment(
    home: Path, collections: Path, *extra: Path, forks: int = 8
) -> dict[str, str]:
    """The environment for ansible-playbook against the sandbox fleet: everything Ansible writes
    goes under ``home``, no ansible.cfg but an empty one, collections only from ``collections``
    (and ``extra``), no colour, no retry files, ``forks`` hosts at a time."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "ansible.cfg"
    config.touch()
    return {
        **os.environ,
        "HOME": str(home),
        "ANSIBLE_HOME": str(home / ".ansible"),
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_LOCAL_TEMP": str(home / "local-tmp"),
        "ANSIBLE_REMOTE_TEMP": str(home / "remote-tmp"),
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(map(str, (collections, *extra))),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def _check_reusable(root: Path) -> None:
    """Build only into a new or empty folder, or over an earlier fleet (it is replaced)."""
    if not root.is_dir() or not any(root.iterdir()):
        return
    try:
        first = (root / INVENTORY).read_text(encoding="utf-8").partition("\n")[0]
    except OSError:
        first = ""
    if first != _HEADER:
        raise ValueError(f"{root} is not empty and holds no sandbox fleet: choose another folder")


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    import json

    return json.dumps(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spdeploy.sandbox.fleet",
        description="Build sandbox Exchange 5.5 hosts and an Ansible inventory for them.",
    )
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, help="%(default)s")
    parser.add_argument("--hosts", type=int, default=DEFAULT_HOSTS, help="%(default)s")
    parser.add_argument(
        "--reboot",
        action="append",
        default=[],
        metavar="HOST",
        help=f"this host's {REBOOT_COMPONENT} installer asks for a reboot (3010)",
    )
    parser.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="HOST",
        help=f"this host's {FAIL_COMPONENT} installer fails (1603)",
    )
    ns = parser.parse_args(argv)
    root: Path = ns.dir.absolute()
    try:
        _check_reusable(root)
        fleet = build_fleet(root, hosts=ns.hosts, reboot=ns.reboot, fail=ns.fail)
    except ValueError as exc:
        parser.error(str(exc))
    # what an earlier fleet left: its results, and hosts beyond this one's count
    shutil.rmtree(root / REPORTS, ignore_errors=True)
    for old in root.glob("host*"):
        if old.name[4:].isdigit() and int(old.name[4:]) > ns.hosts:
            shutil.rmtree(old)
    inventory = write_inventory(root, [h.name for h in fleet])
    print(f"{len(fleet)} sandbox hosts in {root}; inventory: {inventory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
