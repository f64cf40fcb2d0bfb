"""How ``plan`` and ``status`` scale with the profile and the target, and what a status costs.

Run by hand (not in CI), from the repository root::

    python bench/scale.py [--components N] [--files F] [--repeat R] [--turns T] [--p4-only] [--json]

In a temporary folder it writes a profile of N generated components (default 1,000) and of 10 N,
media holding one installer per component, and a target of F files (default 100,000): every
component has a version file, the rest is filler spread over many folders, as on a real server.
It times, as the administrator would run them (whole processes, interpreter start-up included):

* ``spdeploy --json plan`` and ``spdeploy --json status`` with N components (goal: at most 2 s);
* the same with 10 N components (goal: at most 11 times the N figure: linear, not worse);
* ``spdeploy --json status`` on the demo world against ``python -c pass`` run by the same
  interpreter binary (P4, issue 12: at most 7 times the bare interpreter; issue 5's 4 times is
  withdrawn), the two run in turn so that a machine's drift falls on both;
* and, to show where that time goes, three floors run in the same turns: processes that only
  import libraries. The first is the set issue 12 assumed ``status`` needs (click, dataclasses,
  tomllib, pefile, json, pathlib, typing); the second what ``status`` still imports of it
  (its records are NamedTuples, so it makes no dataclass, and ``peversion`` reads the demo's
  version resources, so it imports no pefile); the third the least any Python command line
  could get away with (argparse in place of click). What lies between the second floor and
  ``status`` is spdeploy's own share.

spdeploy's bytecode is compiled first, as ``pip install`` does: an editable install run with
``PYTHONDONTWRITEBYTECODE`` set would otherwise compile every module on every start and be timed
doing so. It prints medians and ratios measured in the same run, and, for P4, the spread of the
ratio turn by turn (status over the ``python -c pass`` of the same turn): on a shared machine one
median moves by several per cent from run to run. ``--p4-only`` skips the scaling part (a minute
or two) to take that figure alone. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

_HEADER = """\
id = "bench-scale"
name = "spdeploy scale benchmark"
platforms = { I386 = ["x86", "x86_64", "amd64", "i386", "i686"] }
"""
_COMPONENT = """
[[component]]
id = "{cid}"
name = "Generated component {cid}"
installer = "{{language}}/Setup/{{platform}}/{cid}/{cid}.exe"
installed = {{ exists = "comp/{group}/{cid}/version.txt" }}
version = {{ text = {{ file = "comp/{group}/{cid}/version.txt", regex = "(\\\\S+)" }} }}
media_version = {{ literal = "2.0" }}
args = ["{{target}}"]
interactive = false
"""
_FILLER_PER_FOLDER = 200
# What issue 12 took status to need: the command line, records, the TOML profile, PE version
# resources, JSON output, paths. The second set is what status imports of it today (its records
# are NamedTuples; peversion reads the version resources). The third is the least any Python
# CLI doing this job could import.
FLOOR_PRESCRIBED = "import click, dataclasses, tomllib, pefile, json, pathlib, typing"
FLOOR_STATUS = "import click, tomllib, json, pathlib, typing"
FLOOR_MINIMAL = "import argparse, tomllib, pefile, json, pathlib, typing"
GOAL_P4 = 7.0  # status / python -c pass (issue 12)


def _cid(n: int) -> str:
    return f"c{n:05d}"


def write_world(root: Path, components: int, files: int) -> tuple[Path, Path, Path]:
    """(profile, media, target): every third component installed at 1.0, the rest absent."""
    profile = root / f"profile-{components}.toml"
    parts = [_HEADER]
    media = root / f"media-{components}"
    for n in range(components):
        cid = _cid(n)
        parts.append(_COMPONENT.format(cid=cid, group=cid[:4]))
        installer = media / "Eng" / "Setup" / "I386" / cid / f"{cid}.exe"
        installer.parent.mkdir(parents=True, exist_ok=True)
        installer.write_text("#!/bin/sh\nexit 0\n")
    profile.write_text("".join(parts))
    target = root / f"target-{components}"
    written = 0
    for n in range(0, components, 3):
        cid = _cid(n)
        version = target / "comp" / cid[:4] / cid / "version.txt"
        version.parent.mkdir(parents=True, exist_ok=True)
        version.write_text("1.0\n")
        written += 1
    folder = 0
    while written < files:
        place = target / "filler" / f"d{folder // 100:03d}" / f"d{folder:05d}"
        place.mkdir(parents=True, exist_ok=True)
        for i in range(min(_FILLER_PER_FOLDER, files - written)):
            (place / f"f{i:03d}.dll").write_bytes(b"")
        written += min(_FILLER_PER_FOLDER, files - written)
        folder += 1
    return profile, media, target


def _time(argv: Sequence[str], repeat: int, codes: tuple[int, ...] = (0, 1)) -> float:
    """Median wall time of a whole process, in seconds (one uncounted warm-up)."""
    times = []
    for i in range(repeat + 1):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode not in codes:
            sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode()[-2000:]}")
        if i:
            times.append(elapsed)
    return statistics.median(times)


def _in_turn(commands: dict[str, list[str]], repeat: int) -> dict[str, list[float]]:
    """Wall times of each command, the commands run in turn (A B C A B C ...) after one
    uncounted turn, so that the machine's drift during the run falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for turn in range(repeat + 1):
        for name, argv in commands.items():
            started = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, check=False)
            elapsed = time.perf_counter() - started
            if done.returncode not in (0, 1):
                sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode()}")
            if turn:
                times[name].append(elapsed)
    return times


def _spdeploy(state: Path, profile: Path, command: str, media: Path, target: Path) -> list[str]:
    return [
        sys.executable, "-m", "spdeploy", "--profile", str(profile), "--state", str(state),
        "--json", command, "--media", str(media), "--target", str(target), "--platform", "I386",
    ]  # fmt: skip


def run(components: int, files: int, repeat: int, turns: int, p4_only: bool) -> dict[str, float]:
    import spdeploy
    from spdeploy.sandbox.world import build_world

    compileall.compile_dir(Path(spdeploy.__file__).parent, quiet=2)
    root = Path(tempfile.mkdtemp(prefix="spdeploy-scale-"))
    try:
        results: dict[str, float] = {}
        for n in () if p4_only else (components, components * 10):
            started = time.perf_counter()
            profile, media, target = write_world(root, n, files)
            took = time.perf_counter() - started
            print(f"wrote {n} components, {files} target files in {took:.1f}s")
            for command in ("plan", "status"):
                argv = _spdeploy(root / "state", profile, command, media, target)
                results[f"{command}_{n}"] = _time(argv, repeat)
                print(f"  {command:6} with {n:6} components: {results[f'{command}_{n}']:.3f}s")
            shutil.rmtree(media)
            shutil.rmtree(target)
        world = build_world(root / "demo")
        status = [
            sys.executable, "-m", "spdeploy", "--profile", str(world.profile), "--state",
            str(world.state), "--json", "status", "--media", str(world.media), "--target",
            str(world.target), "--platform", "I386",
        ]  # fmt: skip
        commands = {
            "demo_status": status,
            "python_pass": [sys.executable, "-c", "pass"],
            "floor_prescribed": [sys.executable, "-c", FLOOR_PRESCRIBED],
            "floor_status": [sys.executable, "-c", FLOOR_STATUS],
            "floor_minimal": [sys.executable, "-c", FLOOR_MINIMAL],
        }
        times = _in_turn(commands, turns)
        results.update({name: statistics.median(values) for name, values in times.items()})
        per_status, per_pass = times["demo_status"], times["python_pass"]
        pairs = sorted(a / b for a, b in zip(per_status, per_pass, strict=True))
        quartiles = statistics.quantiles(pairs, n=4)
        results["p4_turn_q1"], results["p4_turn_q3"] = quartiles[0], quartiles[2]
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--turns", type=int, default=40, help="turns of the P4 commands (at least 2; not --repeat)"
    )
    parser.add_argument("--p4-only", action="store_true", help="only the P4 figure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.turns < 2:
        parser.error("--turns: at least 2 (the spread needs two turns)")
    r = run(args.components, args.files, args.repeat, args.turns, args.p4_only)
    n, n10 = args.components, args.components * 10
    summary = {
        **r,
        **(
            {}
            if args.p4_only
            else {
                "plan_ratio_10x": r[f"plan_{n10}"] / r[f"plan_{n}"],
                "status_ratio_10x": r[f"status_{n10}"] / r[f"status_{n}"],
            }
        ),
        "demo_status_over_python": r["demo_status"] / r["python_pass"],
        "floor_prescribed_over_python": r["floor_prescribed"] / r["python_pass"],
        "floor_status_over_python": r["floor_status"] / r["python_pass"],
        "floor_minimal_over_python": r["floor_minimal"] / r["python_pass"],
        "own_share_over_python": (r["demo_status"] - r["floor_status"]) / r["python_pass"],
        "goal_p4": GOAL_P4,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print()
    print("| measure | value | goal |\n|---|---:|---|")
    if not args.p4_only:
        print(f"| plan, {n} components, {args.files} files | {r[f'plan_{n}']:.2f} s | ≤ 2 s |")
        print(f"| status, {n} components | {r[f'status_{n}']:.2f} s | ≤ 2 s |")
        print(f"| plan, {n10} components | {r[f'plan_{n10}']:.2f} s | |")
        print(f"| status, {n10} components | {r[f'status_{n10}']:.2f} s | |")
        print(f"| plan: 10× components → × time | {summary['plan_ratio_10x']:.2f}× | ≤ 11× |")
        print(f"| status: 10× components → × time | {summary['status_ratio_10x']:.2f}× | ≤ 11× |")
    print(f"| status on the demo world | {r['demo_status'] * 1000:.0f} ms | |")
    print(f"| `python -c pass` | {r['python_pass'] * 1000:.0f} ms | |")
    ratio = summary["demo_status_over_python"]
    verdict = "met" if ratio <= GOAL_P4 else "not met"
    print(f"| demo status / python -c pass | {ratio:.2f}× | ≤ {GOAL_P4:g}×: {verdict} |")
    spread = f"{r['p4_turn_q1']:.2f}–{r['p4_turn_q3']:.2f}×"
    print(f"| the same, turn by turn: the middle half | {spread} | |")
    for key, label in (
        ("floor_prescribed", "issue 12's floor: click, dataclasses, tomllib, pefile, json, ..."),
        ("floor_status", "what status imports of it: click, tomllib, json, pathlib, typing"),
        ("floor_minimal", "the least: argparse, tomllib, pefile, json, pathlib, typing"),
    ):
        print(f"| only importing {label} | {r[key] * 1000:.0f} ms "
              f"({summary[key + '_over_python']:.2f}×) | |")  # fmt: skip
    own = r["demo_status"] - r["floor_status"]
    print(f"| spdeploy's own share (status − second floor) | {own * 1000:.0f} ms "
          f"({summary['own_share_over_python']:.2f}×) | |")  # fmt: skip


if __name__ == "__main__":
    main()
