"""``plan``, ``status``, ``media`` and ``scan`` end to end on sandbox worlds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cli, world_args

from spdeploy.sandbox.world import SP2, SP4, build_media, build_world

ORDER = ["server", "coco", "calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn"]


def _base(world, *extra: str) -> list[str]:
    return ["--profile", str(world.profile), "--state", str(world.state), *extra]


def test_plan_json_fields_and_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    res = cli(
        capsys,
        *world_args(world, "plan"),
    )
    assert res.code == 0, res.err
    data = res.json()
    assert (data["language"], data["platform"], data["compliant"]) == ("Eng", "I386", False)
    assert [c["id"] for c in data["components"]] == ORDER
    nts = next(c for c in data["components"] if c["id"] == "ntsconn")
    assert nts["action"] == "update"
    assert (nts["version"], nts["media_version"]) == (SP2, SP4)
    assert nts["installer"] == "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe"
    assert [c["action"] for c in data["components"]][-2:] == ["absent", "absent"]


@pytest.mark.parametrize("platform", ["I386", "Alpha", "alpha"])
def test_platform_selects_the_platform_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], platform: str
) -> None:
    world = build_world(tmp_path)
    res = cli(
        capsys,
        *world_args(world, "plan", platform=platform),
    )
    installers = [c["installer"] for c in res.json()["components"] if c["id"] != "coco"]
    assert all(
        f"/{platform.capitalize() if platform != 'I386' else 'I386'}/" in i for i in installers
    )


def test_upper_case_media(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path, media_kwargs={"upper": True})
    res = cli(
        capsys,
        *world_args(world, "plan"),
    )
    data = res.json()
    assert data["language"] == "ENG"
    assert data["components"][3]["installer"] == "ENG/EXCHCONN/SETUP/I386/NTSCONN/NTSCONN.EXE"


@pytest.mark.parametrize("gw_folder", ["Gwconn", "Gwxcon"])
def test_setup_level_and_groupwise_spellings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gw_folder: str
) -> None:
    world = build_world(tmp_path, media_kwargs={"setup_level": True, "gw_folder": gw_folder})
    res = cli(
        capsys,
        *world_args(world, "plan"),
    )
    assert res.code == 0
    by_id = {c["id"]: c for c in res.json()["components"]}
    # the extra Setup level is stated for Gwconn only (Q263702, Q244473); Gwxcon sits in the
    # platform folder (Q247785), and so does Calcon (Q244473)
    setup = "Setup/" if gw_folder == "Gwconn" else ""
    assert by_id["gwxconn"]["installer"] == (
        f"Eng/Exchconn/Setup/I386/{setup}{gw_folder}/{gw_folder}.exe"
    )
    assert by_id["gwxconn"]["action"] == "update"
    assert by_id["ntsconn"]["installer"] == "Eng/Exchconn/Setup/I386/Setup/Ntsconn/Ntsconn.exe"
    assert by_id["calcon"]["installer"] == "Eng/Exchconn/Setup/I386/Calcon/Calcon.exe"


def test_notes_from_english_on_a_german_cd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Q286559: no German Ntsconn exists; the English one is used."""
    world = build_world(
        tmp_path, media_kwargs={"languages": ("Ger", "Eng"), "notes_languages": ("Eng",)}
    )
    res = cli(
        capsys,
        *world_args(world, "plan"),
        "--language",
        "Ger",
    )
    by_id = {c["id"]: c for c in res.json()["components"]}
    assert by_id["ntsconn"]["installer"] == "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe"
    assert by_id["calcon"]["installer"].startswith("Ger/")
    assert "Eng installer" in by_id["ntsconn"]["reason"]


def test_ambiguous_language_lists_the_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, media_kwargs={"languages": ("Ger", "Eng")})
    res = cli(
        capsys,
        *world_args(world, "plan", json_mode=False),
    )
    assert res.code == 2
    assert "Eng, Ger" in res.err and "--language" in res.err


def test_missing_on_media_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    components = ("server", "calcon", "ntsconn", "ovvconn", "snaconn")
    world = build_world(tmp_path, media_kwargs={"components": components})
    res = cli(
        capsys,
        *world_args(world, "plan"),
    )
    assert res.code == 1
    gw = next(c for c in res.json()["components"] if c["id"] == "gwxconn")
    assert gw["action"] == "missing-on-media"
    assert gw["installer"] is None


def test_status_after_update_exe_alone_names_the_trap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, installed={"server": SP4, "ntsconn": SP2, "gwxconn": SP2})
    res = cli(
        capsys,
        *world_args(world, "status", json_mode=False),
    )
    assert res.code == 1
    assert "FINDING [core-updated-components-behind]" in res.out
    assert "NOT COMPLIANT" in res.out
    res = cli(
        capsys,
        *world_args(world, "status", "--format", "json", json_mode=False),
    )
    # the Connectivity Controller is left behind with its connectors (Q242250)
    assert res.json()["findings"][0]["components"] == ["coco", "ntsconn", "gwxconn"]


def test_status_compliant_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path, installed={"server": SP4, "calcon": SP4})
    out_file = tmp_path / "reports" / "status.json"
    out_file.parent.mkdir()
    res = cli(
        capsys,
        *world_args(world, "status", "--format", "json", "--output", out_file, json_mode=False),
    )
    assert res.code == 0
    assert res.out == ""
    assert '"compliant": true' in out_file.read_text()


def test_media_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    media = build_media(tmp_path / "cd", components=("server", "ntsconn"))
    res = cli(capsys, "--json", "media", "--media", media, "--platform", "Alpha")
    data = res.json()
    assert (data["languages"], data["platforms"]) == (["Eng"], ["I386", "Alpha"])
    present = {c["id"]: c["present"] for c in data["components"]}
    assert present == {
        "server": True,
        "coco": False,  # no installer of its own
        "calcon": False,
        "ntsconn": True,
        "gwxconn": False,
        "ovvconn": False,
        "snaconn": False,
    }
    coco = next(c for c in data["components"] if c["id"] == "coco")
    assert coco["serviced_by"] == ["calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn"]
    text = cli(capsys, "media", "--media", media, "--platform", "Alpha")
    assert "(none of its own: serviced by calcon, ntsconn, gwxconn, ovvconn, snaconn)" in text.out


def test_scan_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    res = cli(capsys, "scan", "--json", "--target", world.target)
    rows = {c["id"]: (c["installed"], c["version"]) for c in res.json()["components"]}
    assert rows["server"] == (True, SP2)
    assert rows["snaconn"] == (False, None)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["plan", "--media", "{tmp}/nope", "--target", "{target}"], "media not found"),
        (["plan", "--media", "{media}", "--target", "{tmp}/nope"], "target not found"),
        (["plan", "--media", "{media}", "--target", "{target}", "--only", "bogus"], "bogus"),
        (["plan", "--media", "{media}", "--target", "{target}", "--platform", "Sparc"], "Sparc"),
        (["plan", "--media", "{media}", "--target", "{target}", "--language", "Fra"], "Fra"),
        (["plan", "--media", "{media}"], "--target"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    world = build_world(tmp_path)
    filled = [a.format(tmp=tmp_path, media=world.media, target=world.target) for a in args]
    res = cli(capsys, *_base(world), *filled)
    assert res.code == 2
    assert needle in res.err
    assert "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_json_errors_are_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = cli(capsys, "--json", "plan", "--media", tmp_path / "nope", "--target", tmp_path)
    assert res.code == 2
    assert res.json()["error"]["code"] == "media"


def test_plan_save_writes_the_file_and_prints_the_same_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    plain = cli(capsys, *world_args(world, "plan"))
    saved = tmp_path / "plans" / "approved.json"
    res = cli(capsys, *world_args(world, "plan", "--save", saved))
    assert res.code == 0, res.err
    assert res.json() == plain.json()  # stdout is exactly `plan --json`
    doc = json.loads(saved.read_text())
    assert doc["format"] == "spdeploy-plan/1"
    assert {k: doc[k] for k in plain.json()} == plain.json()
    assert doc["steps"] == ["server", "calcon", "ntsconn", "gwxconn"]
    assert set(doc["fingerprints"]) == set(doc["steps"])
    assert doc["inventory"]["ntsconn"] == {"installed": True, "version": SP2}


def test_plan_save_in_text_mode_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    saved = tmp_path / "approved.json"
    res = cli(capsys, *world_args(world, "plan", "--save", saved, json_mode=False))
    assert res.code == 0, res.err
    assert f"Plan saved to {saved}" in res.out and f"apply --plan {saved}" in res.out
    assert saved.is_file()


def test_plan_save_with_an_installer_missing_still_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, media_kwargs={"components": ("server", "calcon", "ntsconn")})
    saved = tmp_path / "approved.json"
    res = cli(capsys, *world_args(world, "plan", "--save", saved))
    assert res.code == 1
    assert "gwxconn" not in json.loads(saved.read_text())["fingerprints"]


def test_plan_save_to_an_unwritable_place_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    (tmp_path / "a-file").write_text("")
    res = cli(capsys, *world_args(world, "plan", "--save", tmp_path / "a-file" / "p.json"))
    assert res.code == 2
    assert res.json()["error"]["code"] == "plan-file"  # one JSON document: no plan before it
    assert "cannot write the saved plan" in res.json()["error"]["message"]
