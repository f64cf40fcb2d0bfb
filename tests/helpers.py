"""Shared test helpers: run the CLI in-process or as a real subprocess, hash trees, need tools."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from spdeploy.cli import run


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Result:
    """Run ``spdeploy ARGS`` in this process (fast); stdin is not a terminal here."""
    capsys.readouterr()
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def cli_process(*args: str | Path, timeout: float = 120, **kw: Any) -> Result:
    """Run ``python -m spdeploy ARGS`` as a real subprocess."""
    done = subprocess.run(
        [sys.executable, "-m", "spdeploy", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **kw.pop("env", {})},
        check=False,
        **kw,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def cli_spawn(*args: str | Path) -> subprocess.Popen[str]:
    """Start ``python -m spdeploy ARGS`` and return at once, for a test to signal or kill it."""
    return subprocess.Popen(
        [sys.executable, "-m", "spdeploy", *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def tree_hash(root: Path) -> str:
    """Hash of every path, mode, mtime and content under root: any change shows."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest.update(f"{path.relative_to(root)}|{st.st_mode}|{st.st_mtime_ns}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def world_args(
    world: Any,
    command: str,
    *extra: str | Path,
    json_mode: bool = True,
    platform: str | None = "I386",
    profile: bool = True,
    yes: bool = True,
) -> list[str]:
    """``[--profile P] --state S [--json] COMMAND --media M --target T [--platform X] EXTRA``;
    ``apply`` gets ``--yes`` as a script's would (``yes=False`` leaves it out)."""
    args = ["--profile", str(world.profile)] if profile else []
    args += ["--state", str(world.state), *(["--json"] if json_mode else []), command]
    args += ["--media", str(world.media), "--target", str(world.target)]
    args += ["--platform", platform] if platform else []
    args += ["--yes"] if command == "apply" and yes else []
    return [*args, *map(str, extra)]


def machine_booted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine boots now, as far as spdeploy can tell: a reboot a run asked for before this
    moment is done (the sandbox cannot reboot the machine running the tests)."""
    import time

    from spdeploy.reboot import BOOT_TIME_ENV

    monkeypatch.setenv(BOOT_TIME_ENV, repr(time.time()))


def require_tool(name: str) -> str:
    """The path of the program ``name``; without it the test skips, or fails when ``CI=true``."""
    path = shutil.which(name)
    if path is None and sys.platform == "win32":
        pytest.skip(f"{name}: a Debian tool, not installed on Windows (scripts/test installs it)")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} not installed, and CI must not skip tests that need it")
        pytest.skip(f"{name} not installed (./scripts/test installs it with apt when run as root)")
    return path


def cli_pty(
    *args: str | Path,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    input_text: str | None = None,
    interrupt_when: Any = None,
) -> Result:
    """Run ``python -m spdeploy ARGS`` on a pseudo-terminal, as a person at a console would;
    ``out`` is everything the terminal received (stdout and stderr, escapes included).

    ``input_text`` is typed once a question (``[y/N]``) shows; ``interrupt_when()`` true sends
    Ctrl-C's SIGINT once."""
    if sys.platform == "win32":
        pytest.skip("needs a pseudo-terminal (pty), which is POSIX only")
    import pty
    import select
    import signal
    import time

    master, slave = pty.openpty()
    extra = env or {}
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("NO_COLOR", None)
    env.update(extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "spdeploy", *map(str, args)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if interrupt_when is not None and interrupt_when():
                proc.send_signal(signal.SIGINT)
                interrupt_when = None
            ready, _, _ = select.select([master], [], [], 0.1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            received += chunk
            if input_text is not None and b"[y/N]" in received:
                os.write(master, input_text.encode())
                input_text = None
    finally:
        os.close(master)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    return Result(code, received.decode("utf-8", "replace"), "")


# The fleet of `spdeploy report --from DIR`: host -> its verdict, worst first.
FLEET = {
    "exch05": "error",  # the target is gone: the task failed before a plan
    "exch03": "error",  # applied: the calendar connector's installer failed (1603)
    "exch04": "not-compliant",  # checked only: server and three connectors at SP2
    "exch02": "reboot-required",  # applied: the Notes connector's installer asked for a reboot
    "exch01": "compliant",  # applied
}


def write_result(
    folder: Path,
    host: str,
    mode: str,
    result: dict[str, Any] | None,
    error: Any = None,
    checked_at: str | None = None,
) -> Path:
    """``folder/<host>.json`` as the Ansible module writes it (``report_dir``); ``error``: an
    exception (``code``, ``message``, ``exit_code``), or by default what the module reports
    for a result: a failed step, or a host not at the level (unless a reboot is pending)."""
    import time

    if error is not None:
        error = {"code": error.code, "message": error.message, "exit_code": error.exit_code}
    elif result is not None:
        failed = [s["id"] for s in result.get("steps", ()) if s["status"] in ("failed", "timeout")]
        if failed:
            error = {"code": "step-failed", "message": f"failed: {failed}", "exit_code": 1}
        elif not result["compliant"] and not result.get("reboot_required"):
            error = {"code": "not-compliant", "message": "not at the level", "exit_code": 1}
    doc = {
        "host": host,
        "checked_at": checked_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": mode,
        "result": result,
        "error": error,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{host}.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


def build_fleet_results(root: Path) -> Path:
    """Five sandbox hosts (:data:`FLEET`), really checked or applied; the folder of results."""
    from spdeploy.errors import SpdeployError
    from spdeploy.executor import ApplyOptions, apply
    from spdeploy.reports.data import apply_dict, plan_dict
    from spdeploy.sandbox.world import Behaviour, World, build_world
    from spdeploy.session import Prepared, Selection, prepare
    from spdeploy.store import Store

    results = root / "results"

    def prep(world: World) -> Prepared:
        selection = Selection(str(world.media), str(world.target), platform="I386")
        return prepare(str(world.profile), selection)

    behaviours = {
        "exch02": {"ntsconn": Behaviour(exit_code=3010)},
        "exch03": {"calcon": Behaviour(exit_code=1603)},
    }
    for host in sorted(FLEET):
        world = build_world(root / host, media_kwargs={"behaviours": behaviours.get(host, {})})
        if host == "exch04":
            write_result(results, host, "checked", plan_dict(prep(world).plan()))
        elif host == "exch05":
            shutil.rmtree(world.target)
            with pytest.raises(SpdeployError) as failed:
                prep(world)
            write_result(results, host, "applied", None, failed.value)
        else:
            done = apply(prep(world), Store(world.state), ApplyOptions(timeout=60))
            write_result(results, host, "applied", apply_dict(done))
    return results


class FakeWinreg:
    """The names of ``winreg`` that spdeploy uses, over a dict: a registry for tests on any
    system (``winsys.Windows(FakeWinreg())``).

    Keys are kept as written under HKLM/HKCU/...; on a 64-bit Windows (``bits64``) opening
    ``SOFTWARE\\...`` of HKLM with ``KEY_WOW64_32KEY`` reads ``SOFTWARE\\WOW6432Node\\...``, as
    Windows redirects a 32-bit program. Names match case-insensitively, as in the registry.
    """

    HKEY_CLASSES_ROOT = 0x80000000
    HKEY_CURRENT_USER = 0x80000001
    HKEY_LOCAL_MACHINE = 0x80000002
    HKEY_USERS = 0x80000003
    KEY_READ = 0x20019
    KEY_WOW64_64KEY = 0x0100
    KEY_WOW64_32KEY = 0x0200
    REG_NONE = 0
    REG_SZ = 1
    REG_EXPAND_SZ = 2
    REG_BINARY = 3
    REG_DWORD = 4
    REG_MULTI_SZ = 7
    REG_QWORD = 11
    _HIVES: ClassVar[dict[str, int]] = {
        "HKLM": HKEY_LOCAL_MACHINE,
        "HKCU": HKEY_CURRENT_USER,
        "HKCR": HKEY_CLASSES_ROOT,
    }

    def __init__(self, environ: dict[str, str] | None = None, *, bits64: bool = True) -> None:
        self.values: dict[tuple[int, str], dict[str, tuple[Any, int]]] = {}
        self.denied: set[tuple[int, str]] = set()
        self.environ = {"SystemRoot": "C:\\Windows", **(environ or {})}
        self.bits64 = bits64
        self.opened: list[tuple[int, str, int]] = []  # (hive, sub key, access) of each OpenKey

    def _split(self, key: str) -> tuple[int, str]:
        hive, _, sub = key.partition("\\")
        return self._HIVES[hive], sub.lower()

    def set(self, key: str, name: str, data: Any, kind: int) -> FakeWinreg:
        self.values.setdefault(self._split(key), {})[name.lower()] = (data, kind)
        return self

    def add_key(self, key: str) -> FakeWinreg:
        self.values.setdefault(self._split(key), {})
        return self

    def deny(self, key: str) -> FakeWinreg:
        """Opening this key fails with access denied (Q255181)."""
        self.denied.add(self._split(key))
        return self

    def OpenKey(self, key: int, sub_key: str, reserved: int = 0, access: int = KEY_READ) -> Any:
        import contextlib

        self.opened.append((key, sub_key, access))
        path = sub_key.lower()
        wow = self.bits64 and key == self.HKEY_LOCAL_MACHINE and access & self.KEY_WOW64_32KEY
        if wow and (path == "software" or path.startswith("software\\")):
            path = "software\\wow6432node" + path[len("software") :]
        if (key, path) in self.denied:
            raise PermissionError(5, "Access is denied")
        exists = any(h == key and (p == path or p.startswith(path + "\\")) for h, p in self.values)
        if not exists:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return contextlib.nullcontext((key, path))

    def QueryValueEx(self, handle: tuple[int, str], name: str) -> tuple[Any, int]:
        found = self.values.get(handle, {}).get(name.lower())
        if found is None:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return found

    def ExpandEnvironmentStrings(self, text: str) -> str:
        import re

        folded = {k.lower(): v for k, v in self.environ.items()}
        return re.sub(r"%([^%]+)%", lambda m: folded.get(m[1].lower(), m[0]), text)


def held_open(path: Path) -> list[str]:
    """The files this process holds open on ``path``."""
    import psutil

    return [f.path for f in psutil.Process().open_files() if Path(f.path) == path.resolve()]


def keep_media_readers(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every ISO and zip reader opened from now on, kept alive in the list returned, so that
    only its ``close()`` lets its file go (not the garbage collector)."""
    from spdeploy.media.iso import IsoMedia
    from spdeploy.media.zipmedia import ZipMedia

    readers: list[object] = []
    for cls in (IsoMedia, ZipMedia):

        def keep(self: Any, path: Any, _init: Any = cls.__init__) -> None:
            _init(self, path)
            readers.append(self)

        monkeypatch.setattr(cls, "__init__", keep)
    return readers


# A small profile for tests of profile loading: TINY's top-level keys, then comp()s.
TINY = """\
id = "tiny"
name = "Tiny product"
platforms = { I386 = ["x86_64"] }
levels = { "1.0" = "RTM", "1.1" = "SP1" }
"""


def comp(cid: str, *extra: str) -> str:
    lines = [
        "[[component]]",
        f'id = "{cid}"',
        f'name = "Component {cid}"',
        f'installer = ["{{language}}/{cid}/setup.exe"]',
        f'installed = {{ exists = "{cid}/{cid}.exe" }}',
        *extra,
    ]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    """Writes ``text``, dedented, to ``path`` (its folders made), for a profile or any file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path
