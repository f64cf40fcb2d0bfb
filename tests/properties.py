"""The property harness (hypothesis): run the CLI in-process on random examples and check what
every example must hold. The examples come from ``strategies.py``; the properties sit beside
what they test: ``profile_properties_test.py`` (random profiles), ``media/media_properties_test.py``
(random media and targets) and ``cli_properties_test.py`` (all three at once).

Every example runs the CLI in-process (``spdeploy.cli.run``) and checks that

- the exit code is one of 0-4: never 70, the internal-error code of the error boundary, and no
  ``Traceback`` on stdout or stderr, no ``crash.log``;
- a profile that ``profiles check`` rejects exits 2 with exactly one line on stderr (or, with
  ``--json``, a JSON error envelope with ``code`` and ``message``), and so does ``plan`` with it;
  profiles built to be plainly valid are accepted, those carrying an error SPEC §7 names are
  rejected, and of the contested rest either answer will do, but no crash (see ``strategies``);
- ``plan --json`` exits 2 with an error envelope on bad input, else 0 or 1 with a plan on stdout
  (1 exactly when a component is ``missing-on-media``), in ``after`` order;
- nothing outside the example's ``--state`` folder changes (paths, types, sizes, mtimes), and no
  version read from outside the media or target root (``SENTINEL``) ever shows up in a plan.

CI runs 1,000 examples per property, derandomized (every run sees the same examples). For more:

    SPDEPLOY_HYPOTHESIS_EXAMPLES=10000 .venv/bin/python -m pytest tests -k properties_test

A bug found by a property gets a minimised reproducer (a ``test_found_*`` test beside the
property), marked ``xfail(strict=True)`` while it is open, and its crash signature in
``KNOWN_BUGS`` so that the properties step around exactly that bug and nothing else; once
fixed, the marker and the entry go and the reproducer stays as a regression test.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import Result
from hypothesis import HealthCheck, event, reject, settings
from strategies import SENTINEL

from spdeploy.cli import run
from spdeploy.profile import load_profile

EXAMPLES = int(os.environ.get("SPDEPLOY_HYPOTHESIS_EXAMPLES", "1000"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
# pyproject's 120 s per test is for ordinary tests; 10,000 examples need longer.
LONG = pytest.mark.timeout(max(120, EXAMPLES // 4))

EXIT_CODES = (0, 1, 2, 3, 4)
ACTIONS = ("update", "current", "absent", "missing-on-media")


# -- running the CLI ---------------------------------------------------------------------------


def invoke(*args: str | Path) -> Result:
    """``spdeploy ARGS`` in this process, its stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        code = run([str(a) for a in args])
    return Result(code, out.getvalue(), err.getvalue())


Snapshot = dict[str, tuple[int, int, int]]


def snapshot(root: Path, state: Path) -> Snapshot:
    """(mode, size, mtime) of every path under ``root`` but ``state``; the mtime of the folder
    holding ``state`` is left out (creating ``state`` touches it)."""
    seen: Snapshot = {}
    skip, volatile = str(state), str(state.parent)
    folders = [str(root)]
    while folders:  # os.scandir and plain strings: this runs twice per example
        with os.scandir(folders.pop()) as listing:
            for entry in listing:
                if entry.path == skip:
                    continue
                st_ = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st_.st_mode):
                    folders.append(entry.path)
                    size = 0
                else:
                    size = st_.st_size
                mtime = 0 if entry.path == volatile else st_.st_mtime_ns
                seen[entry.path] = (st_.st_mode, size, mtime)
    return seen


def _diff(before: Snapshot, after: Snapshot) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"added {added[:5]}, removed {removed[:5]}, changed {changed[:5]}"


# The bugs pinned by xfail tests beside the properties (test_found_*), by crash signature: the
# exception, the file and function of the innermost frame in crash.log, and a pattern its
# message matches. Only these are stepped around; any other crash fails the property.
KNOWN_BUGS: dict[tuple[str, str, str], tuple[str, str]] = {
    # Empty: every bug the properties have found is fixed (the test_found_* regression tests).
    # To pin a new one until it is fixed, add e.g.
    #   ("KeyError", "locate.py", "_candidates"): ("installer placeholder", r"^'target'$"),
    # beside an xfail(strict=True) test that reproduces it.
}


def known_bug(crash: str) -> str | None:
    frames = [
        (Path(file).name, func)
        for file, func in re.findall(r'File "([^"]+)", line \d+, in (\S+)', crash)
        # spdeploy's own frames; not comprehensions (inlined from Python 3.12 on)
        if "/spdeploy/" in file and not func.startswith("<")
    ]
    lines = crash.strip().splitlines()
    if not frames or not lines:
        return None
    exc, _, message = lines[-1].partition(": ")
    name, pattern = KNOWN_BUGS.get((exc, *frames[-1]), ("", "(?!)"))
    return name if re.search(pattern, message) else None


@dataclass
class Harness:
    """One test's world: ``root`` is its tmp_path; each example gets a folder under ``ex``."""

    root: Path
    # after the example's last call: the next call's "before"
    _seen: Snapshot | None = field(default=None, repr=False)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis' failure report
        printer.text(f"Harness({self.root})")

    def crash_logs(self, state: Path) -> Iterator[Path]:
        """Where a crash log may be: the --state folder, else $SPDEPLOY_STATE (conftest's)."""
        yield state / "crash.log"
        yield Path(os.environ["SPDEPLOY_STATE"]) / "crash.log"

    @contextlib.contextmanager
    def example(self) -> Iterator[Path]:
        self._seen = None
        with tempfile.TemporaryDirectory(dir=self.root / "ex") as folder:
            yield Path(folder)

    def call(self, state: Path, *args: str | Path) -> Result:
        """Run the CLI; check the properties every command shares."""
        before = self._seen if self._seen is not None else snapshot(self.root, state)
        res = invoke(*args)
        crash = ""
        for log in self.crash_logs(state):
            if log.exists():
                crash += log.read_text(encoding="utf-8", errors="replace")
                log.unlink()
        if res.code == 70:
            bug = known_bug(crash)
            if bug is not None:
                event(f"known bug: {bug}")
                reject()
        shown = f"spdeploy {' '.join(map(str, args))}\nexit {res.code}\nstderr: {res.err[:2000]}"
        assert res.code in EXIT_CODES, f"{shown}\n{crash}"
        assert "Traceback" not in res.err and "Traceback" not in res.out, shown
        assert not crash, f"crash.log written:\n{crash}"
        after = self._seen = snapshot(self.root, state)
        assert after == before, f"{shown}\nwritten outside --state: {_diff(before, after)}"
        return res


# -- checking results ----------------------------------------------------------------------------


def one_error_line(res: Result) -> None:
    assert res.out == "", res.out
    assert res.err.startswith("spdeploy: error: "), res.err
    lines = re.split(r"\r\n?|\n", res.err)
    assert res.err.endswith("\n") and len(lines) == 2, f"not one line: {res.err!r}"


def envelope(res: Result) -> dict[str, Any]:
    data = json.loads(res.out)
    error = data["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["exit_code"] == res.code
    return error


def check_plan(res: Result, profile: Path | None = None) -> dict[str, Any]:
    """``plan --json``: 2 with an error envelope, or 0/1 with a plan consistent with itself."""
    assert res.code in (0, 1, 2), res.err
    data = json.loads(res.out)  # the whole of stdout is one JSON document
    if res.code == 2:
        event(f"plan: exit 2 ({envelope(res)['code']})")
        return data
    event(f"plan: exit {res.code}")
    comps = data["components"]
    actions = [c["action"] for c in comps]
    assert set(actions) <= set(ACTIONS), actions
    # an update whose prerequisite would not be met (profile `requires`) is refused like a
    # missing installer
    unmet = [f for f in data["findings"] if f["code"] == "prerequisite-not-met"]
    rows = {c["id"]: c for c in comps}
    assert all(rows[f["components"][0]]["action"] == "update" for f in unmet), unmet
    assert res.code == (1 if "missing-on-media" in actions or unmet else 0), actions
    for c in comps:
        assert SENTINEL not in (c["version"], c["media_version"]), f"read outside a root: {c}"
    if profile is not None:
        after = {c.id: c.after for c in load_profile(str(profile)).components}
        order = [c["id"] for c in comps]
        for i, cid in enumerate(order):
            assert not set(after[cid]) & set(order[i + 1 :]), f"{cid} before its `after`: {order}"
    return data


def plan_args(state: Path, media: Path, target: Path, platform: str | None) -> list[str | Path]:
    extra: list[str | Path] = ["--platform", platform] if platform else []
    return ["--state", state, "--json", "plan", "--media", media, "--target", target, *extra]


def run_plan(tmp_path: Path, profile: Path | None, media: Path, target: Path) -> Result:
    """``plan --json`` on ``media`` and ``target`` for I386 (the built-in profile without
    ``profile``), outside any harness: for the ``test_found_*`` reproducers."""
    state = tmp_path / "run-state"
    extra = ["--profile", profile] if profile else []
    return invoke(*extra, *plan_args(state, media, target, "I386"))
