"""The house's rules, from its imports (pipx's ``tests/test_imports.py`` is the model).

- every module imports on its own, in a fresh interpreter;
- no import cycle, lazy imports inside functions included (``if TYPE_CHECKING:`` aside);
- ``commands/`` is a leaf: only the ``cli`` package imports it;
- ``spdeploy status`` loads none of the executor, ``sqlite3``, ``rich``, ``psutil``, ``pycdlib``,
  ``pefile`` (nor the OpenSSL it loads), nor any other command's click declarations;
- msgspec is imported only inside ``jsonfile``'s readers, never at a module's top;
- no two modules define a class of the same name: one concept, one type.

Read from the source with ``ast``: what the code says, not what a run happened to touch.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import world_args

from spdeploy.sandbox.world import build_world

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "spdeploy"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The spdeploy modules ``name`` imports, lazily or not, outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found.add(base)
            # `from spdeploy import process`: a module, not a name in the package
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_imports_on_its_own(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def _cycles() -> Iterator[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = [0]

    def connect(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                yield from connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                yield sorted(group)

    for name in sorted(GRAPH):
        if name not in index:
            yield from connect(name)


def test_no_import_cycle() -> None:
    assert list(_cycles()) == []


def test_commands_are_a_leaf_only_the_cli_imports() -> None:
    importers = {
        name: sorted(m for m in deps if m.startswith("spdeploy.commands"))
        for name, deps in GRAPH.items()
        if not name.startswith(("spdeploy.commands", "spdeploy.cli.")) and name != "spdeploy.cli"
    }
    assert {name: deps for name, deps in importers.items() if deps} == {}


def test_the_core_never_imports_the_faces() -> None:
    """click and the CLI stay in the cli package (and the parts it shares, cliparts.py); Rich
    in output.py. Nothing below the faces (the terminal, the command line, the error boundary)
    imports one of them."""
    faces = {name for name in MODULES if name.startswith("spdeploy.cli")} | {
        "spdeploy.api",
        "spdeploy.output",
        "spdeploy.error_handler",
        "spdeploy.streams",
    }
    for name, deps in GRAPH.items():
        if name not in ("spdeploy.__main__", *faces):
            assert not deps & faces, (name, deps & faces)
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if name not in faces:
            assert "import click" not in text, name
        if name not in ("spdeploy.output",):
            assert "from rich" not in text and "import rich" not in text, name


# pefile (with the OpenSSL its hashlib import loads) is a fifth of a status: peversion reads the
# versions of well-formed images, as the sandbox's are
HEAVY = (
    "spdeploy.executor",
    "sqlite3",
    "rich",
    "psutil",
    "pycdlib",
    "msgspec",
    "pefile",
    "_hashlib",
)


def test_status_stays_light(tmp_path: Path) -> None:
    """What `spdeploy status` (table, json) loads: none of the heavy parts."""
    world = build_world(tmp_path)
    for extra in ([], ["--json"]):
        args = world_args(world, "status", json_mode=False) + extra
        program = (
            "import json, sys\n"
            "from spdeploy.cli import run\n"
            f"code = run({args!r})\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
            "raise SystemExit(code)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=False
        )
        assert done.returncode == 1, done.stderr  # the sandbox starts behind: not compliant
        loaded = json.loads(done.stderr.strip().splitlines()[-1])
        assert [m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY] == []
        # the other commands' options are not made (cli.COMMANDS imports them when named)
        assert [m for m in loaded if m.startswith("spdeploy.cli.")] == ["spdeploy.cli.status"]


def test_msgspec_only_when_a_file_is_read() -> None:
    """msgspec costs more to import than `status` may spend: only ``jsonfile`` imports it, inside
    the functions that decode a file; the formats' owners (and their writers) load without it."""
    importers: dict[str, list[int]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.split(".")[0] == "msgspec" for n in names):
                importers.setdefault(name, []).append(node.col_offset)  # 0: at the top
    assert set(importers) == {"spdeploy.jsonfile"} and 0 not in importers["spdeploy.jsonfile"]
    owners = "spdeploy.savedplan, spdeploy.backup, spdeploy.reports.fleet, spdeploy.executor"
    program = f"import sys, {owners}\nassert 'msgspec' not in sys.modules"
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_no_two_classes_share_a_name() -> None:
    """Two ``Finding``s (a probe's answer, a plan's suite finding) and two ``Command``s (the
    ``command`` probe, an installer's command line) once made a reader guess which was meant."""
    defined: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                defined.setdefault(node.name, []).append(name)
    assert {cls: mods for cls, mods in defined.items() if len(mods) > 1} == {}


def test_the_tests_import_only_declared_distributions() -> None:
    """Every third-party module a test imports comes from a distribution that pyproject declares
    (the dependencies or the ``test`` extra), not from one that happens to bring it along."""
    import tomllib
    from importlib.metadata import packages_distributions

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    project = tomllib.loads((SRC.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    declared = {canonical(re.split(r"[\s;<>=!~\[]", r, maxsplit=1)[0]) for r in wanted}
    tests = Path(__file__).resolve().parent
    local = {p.stem for p in tests.rglob("*.py")}
    providers = packages_distributions()
    undeclared: dict[str, list[str]] = {}
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in (n.split(".")[0] for n in names):
                if name in sys.stdlib_module_names or name in local or name == "spdeploy":
                    continue
                dists = {canonical(d) for d in providers.get(name, [name])}
                if not dists & declared:
                    undeclared.setdefault(name, []).append(path.relative_to(tests).as_posix())
    assert undeclared == {}
