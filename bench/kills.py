"""The long kill schedule: SIGKILL ``spdeploy apply`` at many moments, resume, check the promise.

Run by hand (not in CI), from the repository root::

    python bench/kills.py [--kills N] [--spawn-kills M] [--seed S] [--workers W] [--json]

Each case builds a sandbox world whose four installers take a while (0.15 s each, 8 MiB of
support files each to stage), starts ``python -m spdeploy apply``, kills it with SIGKILL, then
runs ``apply --resume`` and ``status``. A case *holds* when the resume exits 0, ``status`` says
compliant, every installer ran exactly once (the sandbox installers append to a marker file as
they start) and no step is left ``running`` in the history.

* ``--kills`` random moments, seeded: the first tenth of the fractions land in start-up, the rest
  spread over one unkilled run's duration, measured first in the same process;
* ``--spawn-kills`` kills at the fault point between an installer's start and the journal's
  record of its pid (``SPDEPLOY_FAULT=after-spawn``), the window random kills rarely hit.

It prints where the kills landed (read back from the history) and how many held, and exits 1 if
any case did not. Nothing here is timed against a goal; docs/reliability.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from spdeploy.sandbox.world import Behaviour, World, build_world
from spdeploy.store import Store

UPDATED = ["server", "calcon", "ntsconn", "gwxconn"]


def _world(root: Path) -> World:
    slow = Behaviour(delay_s=0.15)
    media = {
        "behaviours": dict.fromkeys(UPDATED, slow),
        "pad_bytes": 8 << 20,
        "platforms": ["I386"],
    }
    return build_world(root, media_kwargs=media)


def _args(world: World, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "spdeploy",
        "--profile",
        str(world.profile),
        "--state",
        str(world.state),
        "--json",
        "apply",
        "--media",
        str(world.media),
        "--target",
        str(world.target),
        "--platform",
        "I386",
        "--yes",
        *extra,
    ]


def _ran(world: World) -> list[str]:
    marker = world.root / "spdeploy-sandbox-ran.txt"
    return [line.split()[0] for line in marker.read_text().splitlines()] if marker.exists() else []


def _phase(world: World) -> str:
    runs = Store(world.state).runs() if (world.state / "history.sqlite3").exists() else []
    if not runs:
        return "before the run opened"
    steps = runs[0].steps
    if not steps:
        return "staging" if runs[0].status == "running" else runs[0].status
    if any(s.status == "running" and s.pid for s in steps):
        return "during an installer"
    if any(s.status == "running" for s in steps):
        return "starting a step (pid not yet recorded)"
    return "between steps" if runs[0].status == "running" else "after the run"


def _opened(world: World, proc: subprocess.Popen[bytes]) -> None:
    while not (world.state / "history.sqlite3").exists() and proc.poll() is None:
        time.sleep(0.005)


def _check(world: World) -> str:
    """'' when the promise held, else what broke."""
    resumed = subprocess.run(_args(world, "--resume"), capture_output=True, check=False)
    if resumed.returncode != 0:
        return f"resume exited {resumed.returncode}: {resumed.stderr.decode()[-300:]}"
    if not json.loads(resumed.stdout)["compliant"]:
        return "not compliant after the resume"
    counts = Counter(_ran(world))
    twice = [c for c in UPDATED if counts[c] != 1]
    if twice:
        return f"installers run other than once: {dict(counts)}"
    steps = [s for r in Store(world.state).runs(limit=100) for s in r.steps]
    if any(s.status == "running" for s in steps):
        return "a step is still 'running' in the history"
    return ""


def _random_kill(root: Path, fraction: float, span: float) -> tuple[str, str]:
    world = _world(root)
    proc = subprocess.Popen(_args(world), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if fraction < 0.1:
        time.sleep(fraction * 2)
    else:
        _opened(world, proc)
        time.sleep((fraction - 0.1) / 0.9 * span)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    phase = _phase(world)
    return phase, _check(world)


def _spawn_kill(root: Path) -> tuple[str, str]:
    world = _world(root)
    env = {**os.environ, "SPDEPLOY_FAULT": "after-spawn"}
    subprocess.run(_args(world), env=env, capture_output=True, check=False)
    phase = _phase(world)
    return phase, _check(world)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--spawn-kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    rng = random.Random(opts.seed)
    with tempfile.TemporaryDirectory(prefix="spdeploy-kills-") as tmp:
        root = Path(tmp)
        world = _world(root / "timing")
        proc = subprocess.Popen(_args(world), stdout=subprocess.DEVNULL)
        _opened(world, proc)
        opened = time.monotonic()
        if proc.wait() != 0:
            raise SystemExit("the unkilled timing run failed")
        span = time.monotonic() - opened
        fractions = [rng.random() for _ in range(opts.kills)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=opts.workers) as pool:
            randoms = list(
                pool.map(
                    lambda n: _random_kill(root / f"k{n}", fractions[n], span), range(opts.kills)
                )
            )
            spawns = list(pool.map(lambda n: _spawn_kill(root / f"s{n}"), range(opts.spawn_kills)))
        took = time.monotonic() - started
    outcomes = randoms + spawns
    failures = [(phase, why) for phase, why in outcomes if why]
    report = {
        "seed": opts.seed,
        "run_span_s": round(span, 2),
        "random_kills": len(randoms),
        "spawn_window_kills": len(spawns),
        "phases": dict(Counter(phase for phase, _ in randoms)),
        "spawn_phases": dict(Counter(phase for phase, _ in spawns)),
        "held": len(outcomes) - len(failures),
        "failures": [f"{phase}: {why}" for phase, why in failures],
        "wall_s": round(took, 1),
    }
    if opts.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"one run lasts {span:.2f} s once open; seed {opts.seed}")
        print(f"random kills: {len(randoms)}, landed: {report['phases']}")
        print(f"kills between spawn and journal: {len(spawns)}, landed: {report['spawn_phases']}")
        print(f"held: {report['held']} of {len(outcomes)} ({took:.0f} s)")
        for line in report["failures"]:
            print(f"  FAILED {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
