"""Per-step overhead of ``spdeploy apply`` against a plain ``subprocess.run`` loop.

Run by hand (not in CI), from the repository root::

    python bench/overhead.py [--steps N] [--repeat R] [--json] [--profile-run]

In a temporary folder it writes a profile with N trivial components (``c00``, ``c01``, ...), media
holding one ``#!/bin/sh`` installer per component (it writes "2.0" to ``$1/cNN.ver``) and a target
where every ``cNN.ver`` says "1.0". After one uncounted warm-up round, each of R rounds times, on
fresh copies of the target (and a fresh state folder for spdeploy):

* baseline: a Python loop of ``subprocess.run([installer, target])`` over the same installers;
* apply: ``spdeploy.executor.apply`` in-process (lock, history, staging, backup, run, re-probe);
* prepare+apply: the same plus ``prepare`` (load the profile, open media and target, probe);
* CLI: ``python -m spdeploy ... --json apply`` as a subprocess, interpreter start-up included.

It prints medians and the per-step overhead ``(apply - baseline) / N`` against the goal of at
most 10 ms per step. ``--profile-run`` adds a cProfile of one more apply (top 15, cumulative;
on stderr under ``--json``).
Nothing here asserts a timing; a failed step or a non-zero exit code stops the run loudly.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from spdeploy.executor import ApplyOptions, ApplyResult, apply
from spdeploy.session import Prepared, Selection, prepare
from spdeploy.store import Store

GOAL_MS = 10.0
_SCRIPT = '#!/bin/sh\nprintf "2.0\\n" > "$1/{cid}.ver"\nexit 0\n'
_HEADER = """\
id = "bench-overhead"
name = "spdeploy overhead benchmark"
platforms = { I386 = ["x86", "x86_64", "amd64", "i386", "i686"] }
"""
_COMPONENT = """
[[component]]
id = "{cid}"
name = "Trivial component {cid}"
installer = "{{language}}/Setup/{{platform}}/{up}/{up}.exe"
installed = {{ exists = "{cid}.ver" }}
version = {{ text = {{ file = "{cid}.ver", regex = "(\\\\S+)" }} }}
media_version = {{ literal = "2.0" }}
args = ["{{target}}"]
interactive = false
"""


def build(root: Path, steps: int) -> tuple[Path, Path, Path, list[Path]]:
    """Write profile, media and a template target; return them and the media installers."""
    profile, media, target = root / "bench.toml", root / "media", root / "target"
    target.mkdir(parents=True)
    text, installers = _HEADER, []
    for i in range(steps):
        cid = f"c{i:02d}"
        up = cid.upper()
        text += _COMPONENT.format(cid=cid, up=up)
        exe = media / "Eng" / "Setup" / "I386" / up / f"{up}.exe"
        exe.parent.mkdir(parents=True)
        exe.write_text(_SCRIPT.format(cid=cid), encoding="utf-8")
        exe.chmod(0o755)
        installers.append(exe)
        (target / f"{cid}.ver").write_text("1.0\n", encoding="utf-8")
    profile.write_text(text, encoding="utf-8")
    return profile, media, target, installers


def fresh(template: Path, work: Path, name: str) -> tuple[Path, Path]:
    """A new copy of the target and an empty state folder path under ``work``."""
    target = work / f"{name}-target"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(template, target)
    state = work / f"{name}-state"
    shutil.rmtree(state, ignore_errors=True)
    return target, state


def check(code: int, statuses: list[str], steps: int) -> None:
    """Fail loudly unless the run exited 0 with every step "ok"."""
    if code != 0 or statuses != ["ok"] * steps:
        raise SystemExit(f"benchmark apply failed: exit {code}, steps {statuses}")


def run_apply(prep: Prepared, state: Path) -> ApplyResult:
    return apply(prep, Store(state), ApplyOptions(timeout=60))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


def one_round(
    profile: Path, media: Path, template: Path, installers: list[Path], work: Path
) -> dict[str, float]:
    n = len(installers)
    target, _ = fresh(template, work, "baseline")
    baseline = timed(lambda: [subprocess.run([exe, target], check=True) for exe in installers])

    target, state = fresh(template, work, "apply")
    prep = prepare(str(profile), Selection(str(media), str(target), platform="I386"))
    results: list[ApplyResult] = []
    apply_ms = timed(lambda: results.append(run_apply(prep, state)))
    target, state = fresh(template, work, "whole")
    sel = Selection(str(media), str(target), platform="I386")
    whole_ms = timed(lambda: results.append(run_apply(prepare(str(profile), sel), state)))
    for result in results:
        check(result.exit_code, [step.status for step in result.steps], n)

    target, state = fresh(template, work, "cli")
    argv = [sys.executable, "-m", "spdeploy", "--profile", str(profile), "--state", str(state)]
    argv += ["--json", "apply", "--media", str(media), "--target", str(target)]
    argv += ["--platform", "I386"]
    done: list[subprocess.CompletedProcess[str]] = []
    cli_ms = timed(lambda: done.append(subprocess.run(argv, capture_output=True, text=True)))
    cli = done[0]
    try:
        report = json.loads(cli.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"CLI gave no JSON (exit {cli.returncode}): {cli.stderr}") from None
    check(cli.returncode, [str(s["status"]) for s in report.get("steps", [])], n)
    return {"baseline": baseline, "apply": apply_ms, "prepare_apply": whole_ms, "cli": cli_ms}


def profile_once(profile: Path, media: Path, template: Path, work: Path, out: TextIO) -> None:
    target, state = fresh(template, work, "profiled")
    prep = prepare(str(profile), Selection(str(media), str(target), platform="I386"))
    profiler = cProfile.Profile()
    profiler.runcall(run_apply, prep, state)
    print("\ncProfile of one apply (sorted by cumulative time, top 15):", file=out)
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=20, help="trivial installers (default 20)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; medians shown (default 5)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--profile-run", action="store_true", help="cProfile one extra apply")
    args = parser.parse_args(argv)
    if not 1 <= args.steps <= 100 or args.repeat < 1:
        parser.error("--steps must be 1..100 and --repeat at least 1")
    with tempfile.TemporaryDirectory(prefix="spdeploy-bench-") as tmp:
        root = Path(tmp)
        profile, media, template, installers = build(root, args.steps)
        one_round(profile, media, template, installers, root / "work")  # warm-up, not counted
        rounds = [
            one_round(profile, media, template, installers, root / "work")
            for _ in range(args.repeat)
        ]
        med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        n = args.steps
        per_step = (med["apply"] - med["baseline"]) / n
        figures = {
            "steps": n,
            "repeat": args.repeat,
            "baseline_ms": round(med["baseline"], 1),
            "apply_ms": round(med["apply"], 1),
            "per_step_overhead_ms": round(per_step, 2),
            "ratio": round(med["apply"] / med["baseline"], 2),
            "prepare_apply_ms": round(med["prepare_apply"], 1),
            "prepare_apply_per_step_ms": round((med["prepare_apply"] - med["baseline"]) / n, 2),
            "cli_ms": round(med["cli"], 1),
            "goal_ms_per_step": GOAL_MS,
            "goal_met": per_step <= GOAL_MS,
        }
        if args.json:
            print(json.dumps(figures, indent=2))
        else:
            print(f"spdeploy apply overhead: {n} trivial installers, median of {args.repeat}")
            rows = [
                ("baseline (subprocess.run loop)", figures["baseline_ms"], "ms"),
                ("spdeploy apply (in-process)", figures["apply_ms"], "ms"),
                ("per-step overhead", figures["per_step_overhead_ms"], "ms"),
                ("ratio apply / baseline", figures["ratio"], "x"),
                ("prepare + apply (in-process)", figures["prepare_apply_ms"], "ms"),
                ("  per-step overhead", figures["prepare_apply_per_step_ms"], "ms"),
                ("CLI `python -m spdeploy apply`", figures["cli_ms"], "ms"),
            ]
            for label, value, unit in rows:
                print(f"  {label:<34}{value:>10} {unit}")
            verdict = "met" if figures["goal_met"] else "not met"
            print(f"goal <= {GOAL_MS:g} ms per step: {verdict}")
            if per_step > 5 and not args.profile_run:
                print("(over 5 ms per step: rerun with --profile-run to see where it goes)")
        if args.profile_run:
            out = sys.stderr if args.json else sys.stdout  # keep --json output parseable
            profile_once(profile, media, template, root / "work", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
