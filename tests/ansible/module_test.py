"""The module on its own: its documentation (as ``ansible-doc`` reads it, and as
``ansible-test sanity`` would compare it with the argument spec), the collection's build, and
ad-hoc calls through the real ``ansible`` command."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from playbook_helpers import COLLECTION, FQCN, ansible, load_plugin, tree_hash

from spdeploy.sandbox.world import SP2, SP4, World, build_world


def _module() -> ModuleType:
    return load_plugin("plugins/modules/spdeploy.py", "spdeploy_ansible_module")


def _doc(env: dict[str, str]) -> dict[str, Any]:
    run = ansible(env, "ansible-doc", "-t", "module", "--json", FQCN)
    assert run.code == 0, run.out + run.err
    return json.loads(run.out)[FQCN]


def test_ansible_doc_reads_the_documentation(ansible_env: dict[str, str]) -> None:
    text = ansible(ansible_env, "ansible-doc", "-t", "module", FQCN)
    assert text.code == 0, text.err
    assert "Reads the service pack media" in text.out and "report_dir" in text.out
    assert "[WARNING]" not in text.err and "[ERROR]" not in text.err
    doc = _doc(ansible_env)
    assert doc["doc"]["module"] == "spdeploy"
    returned = doc["return"]
    assert {"compliant", "reboot_required", "run_id", "components", "steps"} <= set(returned)
    assert set(returned["components"]["contains"]) >= {
        "id", "name", "installed", "version", "media_version", "action", "installer", "reason",
    }  # fmt: skip


def test_documented_options_match_the_argument_spec(ansible_env: dict[str, str]) -> None:
    """What ``ansible-test sanity --test validate-modules`` checks first."""
    documented = _doc(ansible_env)["doc"]["options"]
    spec = _module().ARGUMENT_SPEC
    assert set(documented) == set(spec)
    for name, arg in spec.items():
        doc = documented[name]
        assert doc["type"] == arg["type"], name
        assert doc.get("required", False) == arg.get("required", False), name
        assert doc.get("default") == arg.get("default"), name
        assert doc.get("choices") == arg.get("choices"), name
        assert doc.get("elements") == arg.get("elements"), name
    assert {
        "media", "target", "profile", "state", "language", "platform", "args", "timeout",
        "state_dir", "report_dir", "host",
    } <= set(spec)  # fmt: skip


def test_examples_use_only_documented_options(ansible_env: dict[str, str]) -> None:
    doc = _doc(ansible_env)
    options = set(doc["doc"]["options"])

    def calls(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = []
        for task in tasks:
            found += calls(task.get("block", []))
            if FQCN in task:
                found.append(task[FQCN])
        return found

    used = calls(yaml.safe_load(doc["examples"]))
    assert len(used) >= 4
    for args in used:
        assert set(args) <= options, set(args) - options


def test_the_collection_builds(tmp_path: Path, ansible_env: dict[str, str]) -> None:
    run = ansible(
        ansible_env, "ansible-galaxy", "collection", "build", COLLECTION, "--output-path", tmp_path
    )
    assert run.code == 0, run.out + run.err
    (tarball,) = tmp_path.glob("spdeploy-servicepack-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    assert {"plugins/modules/spdeploy.py", "playbooks/servicepack.yml", "galaxy.yml"} - names == {
        "galaxy.yml"  # galaxy.yml becomes MANIFEST.json
    }
    assert "MANIFEST.json" in names and "playbooks/tasks/reboot-windows.yml" in names


def _adhoc(
    env: dict[str, str], world: World, python: str = sys.executable, **args: Any
) -> tuple[int, dict[str, Any]]:
    """``ansible host1 -m spdeploy.servicepack.spdeploy -a JSON``: (exit code, module result).
    ``check=True`` runs it in check mode (``--check``)."""
    check = ["--check"] if args.pop("check", False) else []
    params = {"media": str(world.media), "target": str(world.target), "platform": "I386", **args}
    run = ansible(
        env,
        "ansible",
        "all",
        "-i",
        "host1,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={python}",
        *check,
        "-m",
        FQCN,
        "-a",
        json.dumps(params),
    )
    _, sep, result = run.out.partition(" => ")
    assert sep, run.out + run.err
    return run.code, json.loads(result)


def _ran(world: World) -> list[str]:
    marker = world.root / "spdeploy-sandbox-ran.txt"
    return marker.read_text().split() if marker.exists() else []


def test_applied_then_checked_with_a_report(tmp_path: Path, ansible_env: dict[str, str]) -> None:
    world = build_world(tmp_path / "world")
    reports = tmp_path / "reports"
    common = {"profile": str(world.profile), "report_dir": str(reports), "host": "exch01"}
    code, result = _adhoc(ansible_env, world, state_dir=str(world.state), **common)
    assert code == 0, result
    assert result["changed"] is True and result["compliant"] is True
    assert result["reboot_required"] is False and result["run_id"]
    assert [s["status"] for s in result["steps"]] == ["ok"] * 5  # coco too, brought along
    assert result["report_file"] == str(reports / "exch01.json")
    report = json.loads((reports / "exch01.json").read_text())
    assert set(report) == {"host", "checked_at", "mode", "result", "error"}
    assert report["host"] == "exch01" and report["mode"] == "applied" and report["error"] is None
    assert report["result"]["run_id"] == result["run_id"]
    assert report["checked_at"].endswith("Z") and len(report["checked_at"]) == 20
    assert list(reports.iterdir()) == [reports / "exch01.json"]  # no temporary file left

    code, result = _adhoc(ansible_env, world, state="checked", **common)
    assert code == 0 and result["changed"] is False and result["compliant"] is True
    assert result["mode"] == "checked" and result["run_id"] is None
    assert json.loads((reports / "exch01.json").read_text())["mode"] == "checked"


def test_checked_fails_on_a_host_left_behind(tmp_path: Path, ansible_env: dict[str, str]) -> None:
    world = build_world(tmp_path / "world", installed={"server": SP4, "ntsconn": SP2})
    reports = tmp_path / "reports"
    code, result = _adhoc(
        ansible_env,
        world,
        state="checked",
        profile=str(world.profile),
        report_dir=str(reports),
        host="exch02",
    )
    assert code == 2 and result["changed"] is False
    assert result["code"] == "not-compliant"
    assert f"ntsconn {SP2} (media {SP4}, update)" in result["msg"]
    report = json.loads((reports / "exch02.json").read_text())
    assert report["error"]["code"] == "not-compliant" and report["result"]["compliant"] is False
    assert _ran(world) == []


def test_errors_carry_spdeploy_code(tmp_path: Path, ansible_env: dict[str, str]) -> None:
    world = build_world(tmp_path / "world")
    reports = tmp_path / "reports"
    code, result = _adhoc(
        ansible_env,
        world,
        media=str(tmp_path / "no-such-cd"),
        report_dir=str(reports),
        host="exch03",
        state_dir=str(world.state),
    )
    assert code == 2 and result["code"] == "media" and result["exit_code"] == 2
    assert "no-such-cd" in result["msg"]
    report = json.loads((reports / "exch03.json").read_text())
    assert report["result"] is None
    assert report["error"] == {"code": "media", "message": result["msg"], "exit_code": 2}

    code, result = _adhoc(ansible_env, world, report_dir=str(reports), host="../escape")
    assert code == 2 and "cannot write the report" in result["msg"]
    assert not (tmp_path / "escape.json").exists()


def test_interactive_installers_are_refused_with_ansible_advice(
    tmp_path: Path, ansible_env: dict[str, str]
) -> None:
    """The built-in profile's installers need a person; a module has no terminal."""
    world = build_world(tmp_path / "world")
    code, result = _adhoc(ansible_env, world, state_dir=str(world.state))
    assert code == 2 and result["code"] == "needs-terminal" and result["changed"] is False
    assert "needs a person" in result["msg"]
    assert 'module\'s "args" option' in result["msg"]
    assert _ran(world) == []


def test_args_make_the_installers_unattended(tmp_path: Path, ansible_env: dict[str, str]) -> None:
    world = build_world(tmp_path / "world")
    switches = {"server": "{target}", "calcon": ["{target}"], "ntsconn": "{target}"}
    code, result = _adhoc(
        ansible_env, world, state_dir=str(world.state), args=switches, skip=["gwxconn"]
    )
    # The built-in profile reads the media's version from the installer (a PE file on a real
    # CD; a shell script in the sandbox), so the result cannot prove the level: not compliant.
    assert code == 2 and result["code"] == "not-compliant", result
    assert result["changed"] is True
    assert _ran(world) == ["server", "ran", "calcon", "ran", "ntsconn", "ran"]
    argv = {c["id"]: c["argv"][1:] for c in result["commands"]}
    assert argv == {c: [str(world.target)] for c in switches}


def test_check_mode_predicts_the_refusal_of_an_interactive_installer(
    tmp_path: Path, ansible_env: dict[str, str]
) -> None:
    """Check mode says what the real run would do: refuse an installer that needs a person, with
    the same code, and change nothing; switches in args make it a change again."""
    world = build_world(tmp_path / "world", installed={"server": SP2, "ntsconn": SP2})
    site = tmp_path / "person.toml"  # the sandbox profile, with two installers that need a person
    site.write_text(
        'id = "person"\nname = "Needs a person"\n'
        f"extends = {json.dumps(str(world.profile))}\n"
        '[[component]]\nid = "server"\nargs = []\ninteractive = true\n'
        '[[component]]\nid = "ntsconn"\nargs = []\ninteractive = true\n',
        encoding="utf-8",
    )
    reports = tmp_path / "reports"
    common = {"profile": str(site), "state_dir": str(world.state), "report_dir": str(reports)}
    before = tree_hash(world.target)

    code, checked = _adhoc(ansible_env, world, check=True, host="check", **common)
    assert code == 2 and checked["changed"] is False, checked
    assert checked["code"] == "needs-terminal" and checked["exit_code"] == 2
    refusal = "component(s) server, ntsconn: installer needs a person"
    assert refusal in checked["msg"] and 'module\'s "args" option' in checked["msg"]
    report = json.loads((reports / "check.json").read_text())
    assert report["mode"] == "checked" and report["result"] is None  # as the real run's refusal
    assert report["error"]["code"] == "needs-terminal" and report["error"]["exit_code"] == 2
    assert refusal in report["error"]["message"]
    assert tree_hash(world.target) == before and not world.state.exists()
    assert _ran(world) == []

    # args for one of them: the other one still needs a person
    code, checked = _adhoc(
        ansible_env, world, check=True, host="check", args={"server": "{target}"}, **common
    )
    assert code == 2 and checked["code"] == "needs-terminal" and checked["changed"] is False
    assert "component(s) ntsconn: installer needs a person" in checked["msg"]
    assert "server" not in checked["msg"].partition("needs a person")[0]

    # "" is no switches, for the real run too
    code, checked = _adhoc(
        ansible_env, world, check=True, args={"server": "{target}", "ntsconn": ""}, **common
    )
    assert (
        code == 2
        and checked["code"] == "needs-terminal"
        and "component(s) ntsconn:" in checked["msg"]
    )

    # args for both: unattended, so an installer would run
    both = {"server": "{target}", "ntsconn": ["{target}"]}
    code, checked = _adhoc(ansible_env, world, check=True, host="check", args=both, **common)
    assert code == 0 and checked["changed"] is True and "failed" not in checked, checked
    assert json.loads((reports / "check.json").read_text())["error"] is None
    assert tree_hash(world.target) == before and not world.state.exists()
    assert _ran(world) == []

    # The real run refuses the same way, before anything runs.
    code, applied = _adhoc(ansible_env, world, host="apply", **common)
    assert code == 2 and applied["changed"] is False, applied
    assert (applied["code"], applied["exit_code"]) == ("needs-terminal", 2)
    assert "component(s) server, ntsconn: installer needs a person" in applied["msg"]
    assert _ran(world) == []


@pytest.fixture
def bare_python(tmp_path: Path) -> str:
    """A Python without spdeploy (a venv of the base interpreter)."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import spdeploy"], capture_output=True)
    assert probe.returncode != 0
    return str(python)


def test_a_host_without_spdeploy_says_what_is_missing(
    tmp_path: Path, ansible_env: dict[str, str], bare_python: str
) -> None:
    world = build_world(tmp_path / "world")
    reports = tmp_path / "reports"
    code, result = _adhoc(
        ansible_env,
        world,
        python=bare_python,
        profile=str(world.profile),
        report_dir=str(reports),
        host="exch04",
    )
    assert code == 2 and result["code"] == "missing-library"
    assert "Failed to import the required Python library (spdeploy)" in result["msg"]
    assert bare_python in result["msg"]  # names the interpreter that lacks it
    assert _ran(world) == []
    report = json.loads((reports / "exch04.json").read_text())  # the fleet report shows it
    assert report["result"] is None and report["error"]["code"] == "missing-library"
