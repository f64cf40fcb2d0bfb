"""``spdeploy demo``: the KB's trap and its fix, on a sandbox built from nothing.

1. A simulated Exchange 5.5 server with the Notes, GroupWise and Calendar connectors at SP2.
2. The admin of Q242250 runs Update.exe alone: the server reaches SP4, ``status`` fails (exit 1).
3. ``spdeploy apply`` runs every connector's installer; ``status`` passes (exit 0).
4. It leaves ``DIR/try``: an untouched copy of the old server with a state folder of its own,
   and prints the commands that plan, dry-run, apply and check it, for the reader to type.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from spdeploy import process
from spdeploy.commands.plan import make_plan
from spdeploy.errors import BadInput
from spdeploy.executor import ApplyOptions, apply
from spdeploy.session import Selection, prepare
from spdeploy.staging import stage
from spdeploy.store import Store


def run_demo(
    directory: Path | None, shown: Any, media_format: str = "iso", installers: str | None = None
) -> int:
    """Build the sandbox and show the trap and the fix. ``installers``: ``script`` or ``exe``
    (default: the kind this system runs); a kind that cannot run here builds the sandbox, then
    stops with BadInput (exit 2) before anything runs."""
    from spdeploy.sandbox.installers import cannot_run, default_kind
    from spdeploy.sandbox.world import build_world

    kind = installers or default_kind()
    root = Path(tempfile.mkdtemp(prefix="spdeploy-demo-")) if directory is None else directory
    root.mkdir(parents=True, exist_ok=True)
    _clear_earlier_demo(root)
    world = build_world(root, media_format=media_format, installers=kind)
    try_target = root / "try" / "exchsrvr"
    shutil.copytree(world.target, try_target)  # the old server, before anything ran on it
    why = cannot_run(kind)
    if why is not None:
        other = "script" if kind == "exe" else "exe"
        raise BadInput(
            f"--installers {kind}: the sandbox is built in {root}, but its installers cannot run "
            f"here ({why}); use --installers {other}"
        )
    # With --json the steps stay quiet and one JSON document comes at the end.
    out = shown.silent() if shown.json_mode else shown
    profile = str(world.profile)
    selection = Selection(str(world.media), str(world.target), platform="I386")
    out.heading("1. The sandbox")
    delivered = {"iso": "a CD image", "zip": "a zip archive", "folder": "a folder"}[media_format]
    for label, value in [
        ("target (a simulated Exchange 5.5 server)", world.target),
        (f"media  (the SP4 CD, as {delivered})", world.media),
        ("site profile (unattended installers)", world.profile),
        ("history", world.state),
    ]:
        out.line(f"{label + ':':<44}{value}")
    with prepare(profile, selection) as prep:
        out.show("scan", prep.inventory)

        out.heading("2. The trap (Q242250): the admin runs Update.exe alone")
        update = prep.located["server"].installer
        assert update is not None
        # As the admin would: copy Update.exe's folder off the CD, then run it.
        copied = stage(prep.media, "server", update, root / "Update-only", None)
        where = prep.media.display(update)
    argv = [str(copied.installer), str(world.target)]
    out.line(f"$ {argv[0]} {argv[1]}    (copied from {where})")
    result = process.run(argv, timeout=600, log_path=world.state / "demo-update.log")
    out.line(f'Update.exe exited {result.exit_code}: "success". But:')
    trap = make_plan(profile, selection)
    out.show("status", trap)
    out.line(f"(status exit code {0 if trap.compliant else 1})")

    out.heading("3. The fix: spdeploy apply")
    with prepare(profile, selection) as prep:
        applied = apply(prep, Store(world.state), ApplyOptions(timeout=600), out.progress())
    out.show("apply", applied, show_final=False)

    out.heading("4. Proof")
    final = make_plan(profile, selection)
    out.show("status", final)
    out.line(f"(status exit code {0 if final.compliant else 1})")
    out.show("history", Store(world.state).runs(limit=5))
    out.line()
    commands = try_commands(world.profile, world.media, try_target, root / "try" / "state")
    out.line(f"Your turn: {try_target} is the old server again, untouched, with its own history.")
    for command in commands:
        out.line(command)
    if shown.json_mode:
        from spdeploy.reports.data import apply_dict, plan_dict

        shown.json(
            {
                "root": str(root),
                "trap": plan_dict(trap),
                "apply": apply_dict(applied),
                "final": plan_dict(final),
                "try": {"target": str(try_target), "commands": commands},
            }
        )
    return 0 if final.compliant and applied.exit_code == 0 else 1


# What an earlier demo left in its folder (`demo DIR` accepts a folder only if it is new, empty
# or an earlier demo's): removed first, so media of another format or an old history never mix
# with the new run.
_DEMO_NAMES = (
    "exchsrvr",
    "SP4CD",
    "SP4CD.iso",
    "SP4CD.zip",
    "state",
    "try",
    "Update-only",
    "exchange55-sandbox.toml",
    "spdeploy-sandbox-ran.txt",
    "spdeploy-sandbox-pids.txt",
    "Exchange Server Setup.log",
)


def _clear_earlier_demo(root: Path) -> None:
    for name in _DEMO_NAMES:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def try_commands(profile: Path, media: Path, target: Path, state: Path) -> list[str]:
    """The four commands that take the reader through the fix on the untouched copy, one per
    line, as they would type them (the global options after the command, where they read)."""
    common = ["--media", str(media), "--target", str(target), "--platform", "I386"]
    common += ["--profile", str(profile), "--state", str(state)]
    return [
        process.command_line(["spdeploy", *step, *common])
        for step in (["plan"], ["apply", "--dry-run"], ["apply"], ["status"])
    ]


def holds_other_files(directory: Path) -> bool:
    """A folder the demo would write its fake server and CD into, over what is there."""
    if not directory.is_dir() or (directory / "exchange55-sandbox.toml").is_file():
        return False
    return any(directory.iterdir())
