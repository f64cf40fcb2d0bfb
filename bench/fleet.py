"""The fleet through Ansible: waves against their ideal, and one host's compliance question.

Run by hand (not in CI), from the repository root, with ansible-core in the venv (test extra)::

    python bench/fleet.py [--hosts 50] [--forks 10] [--delay 2] [--repeat R]
                          [--only waves|status] [--keep DIR] [--json]

Everything lives in a temporary folder (or DIR): the collection, installed with
``ansible-galaxy collection install ./ansible -p``, Ansible's home and temp folders (no
``ansible.cfg`` but an empty one), and the sandbox hosts. Every host is a sandbox world reached
with ``ansible_connection: local`` and ``spdeploy_simulate_reboot: true``: nothing outside the
folder is installed, changed or rebooted.

(a) **Waves.** ``spdeploy.sandbox.fleet.build_fleet`` makes N hosts at SP2 whose four installers
(server, calcon, ntsconn, gwxconn) each sleep D seconds; ``ansible-playbook`` runs the shipped
``ansible/playbooks/servicepack.yml`` (``serial: [1, "25%", "100%"]``) with ``ANSIBLE_FORKS``.
Its wall time is set against the ideal wave schedule: waves one after another, Ansible's own
batches (``pct_to_int``: a percentage of the play's hosts, rounded down, the last value
repeating: 1, 12, 37 for 50 hosts), each task of a wave taking ``ceil(size / forks)`` rounds,
a round of the apply task costing one host's apply measured alone (``spdeploy apply`` on a spare
host, a whole process) and a round of the final check one host's ``spdeploy status`` alone;
the skipped reboot/resume tasks cost nothing. The bare ideal, ``rounds x 4 D``, counts the
installers only. Goal: wall at most 1.3 times the ideal.

(b) **"Is this server compliant?"** on one sandbox host at SP2: ``spdeploy --json status``
(median of 15 after a warm-up) against an Ansible check-mode play on ``localhost`` (connection
local) that answers the same question with builtin modules only: four ``ansible.builtin.stat``
tasks on the components' version files, then one ``ansible.builtin.command`` that reads the
FileVersion of the files found (this Python with pefile) and fails unless all are at SP4
(``ansible-playbook --check``, median of 7 after a warm-up). Goal: ``status`` at least 20 times
faster (issue 12). ``python -c pass`` is shown for context. spdeploy's bytecode is compiled
first, as ``pip install`` does (see ``bench/scale.py``).

It prints medians and ratios measured in the same run. Nothing here asserts a timing; a run
that does not give the expected answer stops loudly.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import spdeploy
from spdeploy.sandbox.fleet import ansible_environment, build_fleet, write_inventory
from spdeploy.sandbox.world import SP4, Behaviour, World, build_world

ROOT = Path(__file__).resolve().parents[1]
COLLECTION = ROOT / "ansible"
PLAYBOOK = COLLECTION / "playbooks" / "servicepack.yml"
BIN = Path(sys.executable).parent  # ansible-core is installed beside this Python
SERIAL: tuple[int | str, ...] = (1, "25%", "100%")  # as servicepack.yml ships it
DELAYED = ("server", "calcon", "ntsconn", "gwxconn")  # the components a sandbox target has
GOAL_WAVES = 1.3
GOAL_STATUS = 20.0  # issue 12
APPLY_TASK = "Apply the service pack"
CHECK_TASK = "Check that every installed component is at the level"
VERSION_FILES = {
    "server": "bin/Store.exe",
    "calcon": "Connect/Calcon/Calcon.exe",
    "ntsconn": "Connect/Exchconn/Lsntsmex.exe",  # the Notes connector's own (not Lsmexout.exe)
    "gwxconn": "Connect/Exchconn/Gw2mex.exe",
}
# The one version read: the FileVersion (VS_FIXEDFILEINFO) of each file given, against a level.
_READ_VERSIONS = """\
import sys, pefile
want, old = sys.argv[1], []
for path in sys.argv[2:]:
    pe = pefile.PE(path, fast_load=True)
    pe.parse_data_directories([pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]])
    f = pe.VS_FIXEDFILEINFO[0]
    ms, ls = f.FileVersionMS, f.FileVersionLS
    v = f"{ms >> 16}.{ms & 65535}.{ls >> 16}.{ls & 65535}"
    print(path, v)
    if v != want:
        old.append(f"{path} is {v}")
if old:
    sys.exit("not at " + want + ": " + "; ".join(old))
print("compliant at", want)
"""


def install_collection(root: Path) -> Path:
    base = root / "collections"
    env = ansible_environment(root / "galaxy-home", base, forks=1)
    argv = [str(BIN / "ansible-galaxy"), "collection", "install", str(COLLECTION), "-p", str(base)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=root, check=False)
    if done.returncode != 0:
        sys.exit(f"ansible-galaxy failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return base


def _median_time(argv: Sequence[str], repeat: int, codes: tuple[int, ...], **kw: Any) -> float:
    """Median wall time of a whole process in seconds, after one uncounted warm-up."""
    times = []
    for i in range(repeat + 1):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)
        elapsed = time.perf_counter() - started
        if done.returncode not in codes:
            sys.exit(
                f"{' '.join(argv)} exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}"
            )
        if i:
            times.append(elapsed)
    return statistics.median(times)


def _spdeploy(world: World, command: str) -> list[str]:
    return [
        sys.executable, "-m", "spdeploy", "--profile", str(world.profile), "--state",
        str(world.state), "--json", command, "--media", str(world.media), "--target",
        str(world.target), "--platform", "I386",
    ]  # fmt: skip


def _delays(delay: float) -> dict[str, Behaviour]:
    return {cid: Behaviour(delay_s=delay) for cid in DELAYED}


def batches(hosts: int, serial: Sequence[int | str] = SERIAL) -> list[int]:
    """Batch sizes by Ansible's own rules (``PlaybookExecutor._get_serialized_batches``)."""
    from ansible.utils.helpers import pct_to_int

    sizes, left, item = [], hosts, 0
    while left > 0:
        size = pct_to_int(serial[item], hosts)
        size = left if size <= 0 else min(size, left)
        sizes.append(size)
        left -= size
        item = min(item + 1, len(serial) - 1)
    return sizes


def one_host_alone(root: Path, delay: float) -> tuple[float, float]:
    """(apply, status) seconds for one host by itself: ``spdeploy apply`` once, then the
    median of 5 ``spdeploy status`` on the now compliant host."""
    (host,) = build_fleet(root, hosts=1, behaviours={"host1": _delays(delay)})
    started = time.perf_counter()
    done = subprocess.run(
        _spdeploy(host.world, "apply"), capture_output=True, text=True, check=False
    )
    apply_s = time.perf_counter() - started
    if done.returncode != 0 or not json.loads(done.stdout)["compliant"]:
        sys.exit(f"single-host apply failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return apply_s, _median_time(_spdeploy(host.world, "status"), 5, (0,))


def run_timestamped(
    argv: Sequence[str], env: dict[str, str], log: Path
) -> tuple[int, list[tuple[float, str]]]:
    """Run ``argv``; every stdout line with the seconds since the start when it arrived."""
    lines: list[tuple[float, str]] = []
    with log.open("w", encoding="utf-8") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
            env=env, cwd=env["HOME"],
        )  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter() - started, line.rstrip("\n")))
        code = proc.wait()
        lines.append((time.perf_counter() - started, ""))
    return code, lines


def wave_breakdown(lines: list[tuple[float, str]]) -> list[dict[str, Any]]:
    """Per PLAY banner (one per serial batch): its hosts, its wall time and the time from the
    apply and the check tasks' banners to their last host result."""
    waves: list[dict[str, Any]] = []
    task = ""
    for stamp, line in lines:
        if line.startswith(("PLAY [", "PLAY RECAP")):
            if waves:
                waves[-1]["wall_s"] = stamp - waves[-1]["start"]
            if line.startswith("PLAY RECAP"):
                break
            waves.append({"start": stamp, "hosts": set(), "tasks": {}})
        elif line.startswith("TASK ["):
            task = line[6:].split("]")[0]
            waves[-1]["tasks"][task] = [stamp, stamp]
        elif match := re.match(r"^(ok|changed|fatal|skipping): \[([^\]]+)\]", line):
            if match.group(1) != "skipping":
                waves[-1]["hosts"].add(match.group(2))
            waves[-1]["tasks"][task][1] = stamp
    out = []
    for wave in waves:
        spans = {name: end - begin for name, (begin, end) in wave["tasks"].items()}
        apply_s = next(v for k, v in spans.items() if k.startswith(APPLY_TASK))
        check_s = next(v for k, v in spans.items() if k.startswith(CHECK_TASK))
        out.append(
            {
                "hosts": len(wave["hosts"]),
                "wall_s": wave["wall_s"],
                "apply_s": apply_s,
                "check_s": check_s,
            }
        )
    return out


def fleet_run(root: Path, collections: Path, hosts: int, forks: int, delay: float) -> dict:
    """Build the fleet afresh and run the shipped playbook over it once."""
    shutil.rmtree(root, ignore_errors=True)
    fleet = build_fleet(
        root, hosts=hosts, behaviours={f"host{i}": _delays(delay) for i in range(1, hosts + 1)}
    )
    inventory = write_inventory(root, [h.name for h in fleet])
    text = inventory.read_text(encoding="utf-8")
    for needed in ("ansible_connection: local", "spdeploy_simulate_reboot: true"):
        if f"\n    {needed}\n" not in text:
            sys.exit(f"refusing to run: {inventory} does not set {needed!r} for all hosts")
    env = ansible_environment(root / "ansible-home", collections, forks=forks)
    argv = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK)]
    started = time.perf_counter()
    code, lines = run_timestamped(argv, env, root / "ansible-stderr.txt")
    wall = time.perf_counter() - started
    out = "\n".join(line for _, line in lines)
    recap = dict(re.findall(r"^(\S+)\s+:\s+(ok=.*)$", out, re.M))
    bad = [h for h, counts in recap.items() if " failed=0 " not in counts + " "]
    changed = [h for h, counts in recap.items() if " changed=1 " in counts]
    if code != 0 or len(recap) != hosts or bad or len(changed) != hosts:
        sys.exit(f"ansible-playbook exited {code}; recap {recap}\n{out[-3000:]}")
    return {"wall_s": wall, "waves": wave_breakdown(lines)}


def waves(root: Path, collections: Path, hosts: int, forks: int, delay: float, repeat: int) -> dict:
    sizes = batches(hosts)
    rounds = [math.ceil(n / forks) for n in sizes]
    runs = []
    for i in range(repeat):
        apply_s, check_s = one_host_alone(root / f"alone-{i}", delay)
        run = fleet_run(root / f"fleet-{i}", collections, hosts, forks, delay)
        seen = [w["hosts"] for w in run["waves"]]
        if seen != sizes:
            sys.exit(f"Ansible's batches {seen} are not the expected {sizes}")
        ideal = sum(rounds) * (apply_s + check_s)
        runs.append({**run, "apply_alone_s": apply_s, "check_alone_s": check_s, "ideal_s": ideal})
        print(
            f"  run {i + 1}/{repeat}: wall {run['wall_s']:.1f} s, ideal {ideal:.1f} s "
            f"(one host alone: apply {apply_s:.2f} s, status {check_s * 1000:.0f} ms)",
            file=sys.stderr,
        )
    best = min(runs, key=lambda r: r["wall_s"] / r["ideal_s"])
    wall = statistics.median(r["wall_s"] for r in runs)
    ideal = statistics.median(r["ideal_s"] for r in runs)
    bare = sum(rounds) * len(DELAYED) * delay
    return {
        "hosts": hosts, "forks": forks, "delay_s": delay, "repeat": repeat, "batches": sizes,
        "rounds": rounds, "apply_alone_s": statistics.median(r["apply_alone_s"] for r in runs),
        "check_alone_s": statistics.median(r["check_alone_s"] for r in runs),
        "wall_s": wall, "ideal_s": ideal, "ideal_installers_s": bare, "ratio": wall / ideal,
        "ratio_installers": wall / bare, "goal": GOAL_WAVES, "goal_met": wall / ideal <= GOAL_WAVES,
        "walls_s": [r["wall_s"] for r in runs], "per_wave": best["waves"],
    }  # fmt: skip


def _check_play(world: World) -> str:
    stats = "".join(
        f"""
    - name: Stat {cid} ({rel})
      ansible.builtin.stat:
        path: "{world.target / rel}"
        get_checksum: false
        get_mime: false
      register: {cid}
"""
        for cid, rel in VERSION_FILES.items()
    )
    found = "[" + ", ".join(VERSION_FILES) + "] | selectattr('stat.exists')"
    return f"""---
- name: Is this server at the service pack's level?
  hosts: localhost
  gather_facts: false
  tasks:{stats}
    - name: Read the installed versions and compare them with the level
      ansible.builtin.command:
        argv: "{{{{ [ansible_playbook_python, '-c', reader, '{SP4}']
                  + ({found} | map(attribute='stat.path') | list) }}}}"
      vars:
        reader: {json.dumps(_READ_VERSIONS)}
      check_mode: false  # it only reads
      changed_when: false
"""


def status(root: Path, collections: Path, repeat: int) -> dict:
    world = build_world(root / "one")  # server and three connectors at SP2, SP4 media
    argv = _spdeploy(world, "status")
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 1 or json.loads(done.stdout)["compliant"] is not False:
        sys.exit(f"status should say 'not compliant' (exit 1), got {done.returncode}")
    status_s = _median_time(argv, repeat, (1,))

    play, inventory = root / "compliance.yml", root / "localhost.yml"
    play.write_text(_check_play(world), encoding="utf-8")
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {json.dumps(sys.executable)}\n",
        encoding="utf-8",
    )
    env = ansible_environment(root / "ansible-home", collections, forks=1)
    playbook = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(play), "--check"]
    kw: dict[str, Any] = {"env": env, "cwd": env["HOME"], "stdin": subprocess.DEVNULL}
    done = subprocess.run(playbook, capture_output=True, text=True, check=False, **kw)
    if done.returncode != 2 or f"not at {SP4}" not in done.stdout or "ok=4" not in done.stdout:
        sys.exit(
            f"the check play gave no 'not at {SP4}' answer ({done.returncode}):\n{done.stdout}"
        )
    play_s = _median_time(playbook, max(5, repeat // 2), (2,), **kw)
    python_s = _median_time([sys.executable, "-c", "pass"], repeat, (0,))
    return {
        "status_s": status_s, "play_s": play_s, "python_pass_s": python_s,
        "ratio": play_s / status_s, "play_over_python": play_s / python_s,
        "status_over_python": status_s / python_s, "goal": GOAL_STATUS,
        "goal_met": play_s / status_s >= GOAL_STATUS, "repeat": repeat,
    }  # fmt: skip


def _table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    print(f"\n{title}\n| measure | value |\n|---|---:|")
    for label, value in rows:
        print(f"| {label} | {value} |")


def _print(result: dict[str, Any]) -> None:
    print(f"machine: {os.cpu_count()} CPUs, load average at start {result['load']}")
    if w := result.get("waves"):
        n = sum(w["rounds"])
        title = (
            f"(a) {w['hosts']} hosts, forks={w['forks']}, 4 installers x {w['delay_s']:g} s, "
            f"batches {w['batches']}, rounds {w['rounds']}; median of {w['repeat']} run(s)"
        )
        _table(
            title,
            [
                ("one host alone: `spdeploy apply`", f"{w['apply_alone_s']:.2f} s"),
                ("one host alone: `spdeploy status`", f"{w['check_alone_s'] * 1000:.0f} ms"),
                (f"ideal: {n} rounds x (apply + status)", f"{w['ideal_s']:.1f} s"),
                (
                    f"bare ideal: {n} rounds x 4 x {w['delay_s']:g} s",
                    f"{w['ideal_installers_s']:.1f} s",
                ),
                ("`ansible-playbook` wall", f"{w['wall_s']:.1f} s"),
                ("**wall / ideal**", f"**{w['ratio']:.2f}x**"),
                ("wall / bare ideal", f"{w['ratio_installers']:.2f}x"),
            ],
        )
        print(f"goal wall <= {w['goal']:g} x ideal: {'met' if w['goal_met'] else 'not met'}")
        print("\nper wave, the run closest to its ideal: observed s (ideal s)")
        print("| wave | hosts | rounds | wave | apply task | check task |")
        print("|---:|---:|---:|---:|---:|---:|")
        for i, (wave, k) in enumerate(zip(w["per_wave"], w["rounds"], strict=True), 1):
            a, c = k * w["apply_alone_s"], k * w["check_alone_s"]
            print(
                f"| {i} | {wave['hosts']} | {k} | {wave['wall_s']:.1f} ({a + c:.1f}) "
                f"| {wave['apply_s']:.1f} ({a:.1f}) | {wave['check_s']:.1f} ({c:.1f}) |"
            )
    if s := result.get("status"):
        _table(
            f"(b) one host at SP2, is it compliant? medians ({s['repeat']} status runs)",
            [
                ("`spdeploy --json status`", f"{s['status_s'] * 1000:.0f} ms"),
                ("Ansible check-mode play (4 stat + 1 command)", f"{s['play_s']:.2f} s"),
                ("**play / status**", f"**{s['ratio']:.1f}x**"),
                ("`python -c pass`", f"{s['python_pass_s'] * 1000:.1f} ms"),
                ("status / `python -c pass`", f"{s['status_over_python']:.1f}x"),
                ("play / `python -c pass`", f"{s['play_over_python']:.0f}x"),
            ],
        )
        verdict = "met" if s["goal_met"] else "not met"
        print(f"goal status >= {s['goal']:g}x faster than the play: {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=50, help="sandbox hosts (default 50)")
    parser.add_argument("--forks", type=int, default=10, help="ANSIBLE_FORKS (default 10)")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds per installer (2)")
    parser.add_argument("--repeat", type=int, default=1, help="fleet runs; median (default 1)")
    parser.add_argument("--status-repeat", type=int, default=15, help="status runs (default 15)")
    parser.add_argument("--only", choices=("waves", "status"), help="run one half only")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.hosts < 1 or args.forks < 1 or args.delay < 0 or args.repeat < 1:
        parser.error("--hosts, --forks and --repeat must be at least 1, --delay at least 0")
    if args.status_repeat < 10:
        parser.error("--status-repeat must be at least 10")
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: choose a new or empty folder")
    if not (BIN / "ansible-playbook").exists():
        parser.error(f"no ansible-playbook beside {sys.executable}: pip install -e '.[test]'")
    root = (args.keep or Path(tempfile.mkdtemp(prefix="spdeploy-bench-fleet-"))).absolute()
    root.mkdir(parents=True, exist_ok=True)
    compileall.compile_dir(Path(spdeploy.__file__).parent, quiet=2)
    try:
        result: dict[str, Any] = {"load": [round(x, 2) for x in os.getloadavg()]}
        collections = install_collection(root)
        if args.only != "status":
            result["waves"] = waves(
                root, collections, args.hosts, args.forks, args.delay, args.repeat
            )
        if args.only != "waves":
            result["status"] = status(root / "status", collections, args.status_repeat)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
