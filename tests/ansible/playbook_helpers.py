"""Run the real ``ansible-playbook`` against sandbox hosts on this machine, inside tmp_path only."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible"
PLAYBOOK = COLLECTION / "playbooks" / "servicepack.yml"
BIN = Path(sys.executable).parent  # ansible-core is installed beside this Python (test extra)
FQCN = "spdeploy.servicepack.spdeploy"


def load_plugin(path: str, name: str) -> ModuleType:
    """One of the collection's plugin files (``plugins/modules/spdeploy.py``), imported in this
    process. Its ``ansible_collections.spdeploy.servicepack`` imports (the shared
    ``module_utils``) resolve to this checkout, as Ansible's collection loader resolves them."""
    for package, where in (
        ("ansible_collections", []),
        ("ansible_collections.spdeploy", []),
        ("ansible_collections.spdeploy.servicepack", [str(COLLECTION)]),
    ):
        if package not in sys.modules:
            namespace = ModuleType(package)
            namespace.__path__ = where
            sys.modules[package] = namespace
    spec = importlib.util.spec_from_file_location(name, COLLECTION / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP: host -> {"ok": n, "changed": n, "failed": n, ...}."""
        rows = {}
        for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", self.out, re.M):
            rows[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
        return rows

    def batches(self) -> list[list[str]]:
        """Hosts of each serial batch, in order (each batch starts with a PLAY banner)."""
        result = []
        for chunk in re.split(r"^PLAY \[.*$", self.out, flags=re.M)[1:]:
            chunk = chunk.split("PLAY RECAP")[0]
            hosts = re.findall(r"^(?:ok|changed|fatal): \[([^\]]+)\]", chunk, re.M)
            if hosts:
                result.append(sorted(set(hosts), key=_natural))
        return result


def _natural(name: str) -> tuple[str, int]:
    match = re.match(r"(\D*)(\d*)", name)
    assert match
    return match.group(1), int(match.group(2) or 0)


def ansible(env: dict[str, str], tool: str, *args: str | Path, timeout: float = 120) -> Run:
    """Run ``tool ARGS`` (ansible-playbook, ansible, ansible-doc ...) from this venv."""
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / tool), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=env["HOME"],
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def playbook(env: dict[str, str], inventory: Path, *extra: str | Path) -> Run:
    return ansible(env, "ansible-playbook", "-i", inventory, PLAYBOOK, *extra)


def tree_hash(root: Path) -> str:
    """Every path, mode, mtime and content under root (the folder itself included)."""
    digest = hashlib.sha256()
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        digest.update(f"{path.relative_to(root)}|{st.st_mode}|{st.st_mtime_ns}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()
