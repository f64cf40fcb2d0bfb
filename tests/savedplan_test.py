"""``savedplan``: the saved document, loading it back, and every change it notices."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spdeploy import __version__, savedplan
from spdeploy.errors import MediaError, PlanFileError
from spdeploy.sandbox.pe import write_pe
from spdeploy.sandbox.world import SP2, SP4, World, build_target, build_world
from spdeploy.session import Prepared, Selection, prepare
from spdeploy.staging import folder_fingerprint

# The saved file's own keys, on top of everything `plan --json` prints (pinned: additions only).
SAVED_KEYS = {
    "format",
    "saved_at",
    "spdeploy_version",
    "selection",
    "profile_fingerprint",
    "steps",
    "fingerprints",
    "inventory",
}
PLAN_KEYS = {"profile", "media", "target", "language", "platform", "compliant", "components"}
SELECTION_KEYS = {"profile", "media", "target", "language", "platform", "only", "skip"}
UPDATED = ["server", "calcon", "ntsconn", "gwxconn"]


def _sel(world: World, **kw: object) -> Selection:
    return Selection(str(world.media), str(world.target), **{"platform": "I386", **kw})  # type: ignore[arg-type]


def _prep(world: World, **kw: object) -> Prepared:
    return prepare(str(world.profile), _sel(world, **kw))


def _saved(world: World, path: Path, **kw: object) -> savedplan.SavedPlan:
    prep = _prep(world, **kw)
    savedplan.save(path, prep, prep.plan(), _sel(world, **kw))
    return savedplan.load(path)


def _changes(saved: savedplan.SavedPlan, world: World, **kw: object) -> list[str]:
    prep = _prep(world, **kw)
    return savedplan.changes(saved, prep, prep.plan())


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path / "w")


def test_document_holds_the_plan_fingerprints_and_inventory(world: World, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    prep = _prep(world)
    savedplan.save(path, prep, prep.plan(), _sel(world))
    doc = json.loads(path.read_text())
    assert set(doc) >= PLAN_KEYS | SAVED_KEYS
    assert doc["format"] == "spdeploy-plan/1" and doc["spdeploy_version"] == __version__
    assert doc["saved_at"].endswith("Z") and "T" in doc["saved_at"]
    assert set(doc["selection"]) == SELECTION_KEYS
    assert doc["selection"]["profile"] == str(world.profile.resolve())
    assert doc["selection"]["target"] == str(world.target.absolute())
    assert (doc["selection"]["language"], doc["selection"]["platform"]) == ("Eng", "I386")
    assert doc["steps"] == UPDATED
    assert list(doc["fingerprints"]) == UPDATED
    nts = next(c for c in doc["components"] if c["id"] == "ntsconn")
    assert doc["fingerprints"]["ntsconn"] == folder_fingerprint(prep.media, nts["installer"])
    assert doc["inventory"]["calcon"] == {"installed": True, "version": SP2}
    assert doc["inventory"]["snaconn"] == {"installed": False, "version": None}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "w"]  # no temp file left


def test_save_then_load_round_trips(world: World, tmp_path: Path) -> None:
    saved = _saved(world, tmp_path / "sub" / "plan.json", only=("server", "calcon"))
    assert saved.profile == "exchange55-sandbox"
    assert saved.selection.only == ("server", "calcon") and saved.selection.skip == ()
    assert saved.steps == ("server", "calcon")
    assert set(saved.inventory) == {"server", "calcon"}
    assert saved.inventory["server"] == savedplan.Seen(True, SP2)
    assert _changes(saved, world, only=("server", "calcon")) == []


def test_save_replaces_an_old_file_whole(world: World, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old")
    _saved(world, path)
    assert json.loads(path.read_text())["format"] == savedplan.FORMAT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "w"]


def test_save_to_an_unwritable_place_is_bad_input(world: World, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    prep = _prep(world)
    with pytest.raises(PlanFileError, match="cannot write the saved plan") as info:
        savedplan.save(tmp_path / "file" / "plan.json", prep, prep.plan(), _sel(world))
    assert info.value.exit_code == 2


def test_built_in_profile_is_saved_by_name(world: World, tmp_path: Path) -> None:
    prep = prepare("exchange55", _sel(world))
    assert savedplan.profile_ref(prep.profile) == "exchange55"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (None, "saved plan not found"),
        ("{", "not valid JSON (input data was truncated)"),
        ("{\n  oops", "not valid JSON (line 2, column 3: object keys must be strings)"),
        ("[1, 2]", "$: expected object, got array"),
        ('{"format": "spdeploy-plan/9"}', "format 'spdeploy-plan/9'"),
        ("{}", 'no "format" key'),
        ('{"format": "spdeploy-plan/1"}', "$.saved_at: missing"),
        # these two were internal errors (exit 70): RecursionError, and ValueError from
        # Python's limit on the digits of an integer
        ("[" * 100_000, "not valid JSON (nested too deeply)"),
        (
            '{"format": "spdeploy-plan/1", "saved_at": ' + "9" * 5000 + "}",
            "not valid JSON (integer value out of range)",
        ),
        # what Python's json writes for a float it cannot write as JSON
        ('{"format": "spdeploy-plan/1", "saved_at": NaN}', "NaN is not a number JSON allows"),
        ('{"format": "spdeploy-plan/1", "saved_at": 1e999}', "($.saved_at: number out of range)"),
    ],
)
def test_unreadable_files_are_one_line_bad_input(
    tmp_path: Path, text: str | None, needle: str
) -> None:
    path = tmp_path / "plan.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(PlanFileError) as info:
        savedplan.load(path)
    assert info.value.exit_code == 2 and info.value.code == "plan-file"
    assert needle in info.value.message
    assert str(path) in info.value.message and "spdeploy-plan/1" in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.pop("fingerprints"), "$.fingerprints: missing"),
        (lambda d: d["selection"].pop("target"), "$.selection.target: missing"),
        (lambda d: d["selection"].update(media=12), "$.selection.media: expected str, got 12"),
        (
            lambda d: d["selection"].update(only="calcon"),
            '$.selection.only: expected array, got "calcon"',
        ),
        (lambda d: d["selection"].update(skip=["a", 3]), "$.selection.skip[1]: expected str"),
        (
            lambda d: d["inventory"].update(calcon=[]),
            "$.inventory.calcon: expected object, got array",
        ),
        (
            lambda d: d["inventory"]["calcon"].update(installed=1),
            "$.inventory.calcon.installed: expected bool, got 1",
        ),
        # a key that is not a plain word is spelt as JSON: the message stays one line
        (
            lambda d: d["inventory"].update({"a b\n": {"version": None}}),
            '$.inventory["a b\\n"].installed: missing',
        ),
        # what `apply --plan` puts in its sentences must not rewrite the terminal
        (
            lambda d: d["inventory"].update({"calcon\x1b[2J": {"installed": False}}),
            '$.inventory: a key holds control characters: "calcon\\u001b[2J"',
        ),
        (
            lambda d: d["inventory"]["calcon"].update(version="5.5\x1b]0;x\x07"),
            '$.inventory.calcon.version: holds control characters: "5.5\\u001b]0;x\\u0007"',
        ),
        (
            lambda d: d["components"][0].update(id="calcon\r"),
            '$.components[0].id: holds control characters: "calcon\\r"',
        ),
        (
            lambda d: d["components"][0].update(installer=3),
            "$.components[0].installer: expected str | null, got 3",
        ),
        (
            lambda d: d["fingerprints"].update(calcon=None),
            "$.fingerprints.calcon: expected str, got null",
        ),
        # a NUL cannot be in a path: it made `apply --plan` an internal error (exit 70)
        (
            lambda d: d["selection"].update(target="/srv/a\x00b"),
            "$.selection.target: holds a NUL character",
        ),
        # an update without its fingerprint: `--dry-run` said the plan held, `apply` refused
        (lambda d: d["fingerprints"].pop("calcon"), '$.fingerprints: has no "calcon"'),
    ],
)
def test_missing_or_mistyped_keys_are_named_by_their_json_path(
    world: World, tmp_path: Path, edit: object, needle: str
) -> None:
    path = tmp_path / "plan.json"
    _saved(world, path)
    doc = json.loads(path.read_text())
    edit(doc)  # type: ignore[operator]
    path.write_text(json.dumps(doc))
    with pytest.raises(PlanFileError) as info:
        savedplan.load(path)
    # the file, then the place in it (msgspec's path), then what the file should be
    assert info.value.message.startswith(f"{path}: {needle}")
    assert info.value.message.endswith(
        "; expected a spdeploy-plan/1 file written by `spdeploy plan --save`"
    )
    assert "\n" not in info.value.message and info.value.exit_code == 2


def test_keys_it_does_not_know_are_left_alone(world: World, tmp_path: Path) -> None:
    """The format grows by additions (SPEC §5): a later spdeploy's extra keys still load."""
    path = tmp_path / "plan.json"
    _saved(world, path)
    doc = json.loads(path.read_text())
    doc["approved_by"] = "j.smith"
    doc["selection"]["site"] = {"name": "Leeds"}
    doc["components"][0]["notes"] = ["reviewed"]
    doc["inventory"]["calcon"]["level"] = "SP2"
    # and a key that may be null may be left out, as the reader before msgspec allowed
    del doc["inventory"]["snaconn"]["version"], doc["components"][0]["media_version"]
    path.write_text(json.dumps(doc))
    saved = savedplan.load(path)
    assert saved.inventory["calcon"] == savedplan.Seen(True, SP2)
    assert saved.inventory["snaconn"].version is None
    assert saved.components[0].media_version is None


def test_selection_fills_only_what_the_command_line_leaves_out(
    world: World, tmp_path: Path
) -> None:
    saved = _saved(world, tmp_path / "plan.json", skip=("gwxconn",))
    filled = saved.selection.fill(Selection(language="Ger"))
    assert filled.media == str(world.media.absolute())
    assert filled.target == str(world.target.absolute())
    assert (filled.language, filled.platform, filled.skip) == ("Ger", "I386", ("gwxconn",))


def test_a_changed_installer_names_both_fingerprints(world: World, tmp_path: Path) -> None:
    saved = _saved(world, tmp_path / "plan.json")
    folder = world.media / "Eng/Exchconn/Setup/I386/Ntsconn"
    with (folder / "Ntsconn.exe").open("a") as fh:
        fh.write("# tampered\n")
    now = folder_fingerprint(_prep(world).media, "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe")
    found = _changes(saved, world)
    assert found == [
        f"ntsconn: installer folder changed on the media (fingerprint "
        f"{saved.fingerprints['ntsconn'][:16]}... -> {now[:16]}...)"
    ]


def test_a_new_file_beside_an_installer_counts(world: World, tmp_path: Path) -> None:
    saved = _saved(world, tmp_path / "plan.json")
    (world.media / "Eng/Server/Setup/I386/extra.dll").write_bytes(b"MZ")
    assert [c.split(":")[0] for c in _changes(saved, world)] == ["server"]


def test_version_changes_on_the_target(world: World, tmp_path: Path) -> None:
    saved = _saved(world, tmp_path / "plan.json")
    write_pe(world.target / "Connect/Calcon/Calcon.exe", "5.5.2650.0")
    for name in ("Gw2mex.exe", "Mex2gw.exe", "Gwrouter.exe"):  # the GroupWise connector's files
        (world.target / "Connect/Exchconn" / name).unlink()
    assert _changes(saved, world) == [
        "calcon: installed version changed 5.5.2448.0 -> 5.5.2650.0",
        "gwxconn: uninstalled since the plan was saved (was 5.5.2448.0)",
    ]


def test_a_newly_installed_component(tmp_path: Path) -> None:
    world = build_world(tmp_path / "w", installed={"server": SP2, "ntsconn": SP2})
    saved = _saved(world, tmp_path / "plan.json")
    build_target(world.target, installed={"calcon": SP4})
    assert _changes(saved, world) == [
        f"calcon: installed since the plan was saved (at {SP4})",
    ]


def test_selection_and_place_changes(world: World, tmp_path: Path) -> None:
    saved = _saved(world, tmp_path / "plan.json")
    copy = tmp_path / "copy"
    shutil.copytree(world.target, copy)
    prep = prepare(
        str(world.profile),
        Selection(str(world.media), str(copy), platform="Alpha", skip=("snaconn",)),
    )
    found = savedplan.changes(saved, prep, prep.plan())
    assert f"target changed: {world.target.absolute()} -> {copy}" in found
    assert "platform changed: I386 -> Alpha" in found
    assert "snaconn: in the saved plan but not selected now (--only/--skip)" in found
    # the Alpha installers are other folders with other bytes
    assert any(c.startswith("server: installer moved on the media") for c in found)


def test_the_same_place_spelt_differently_is_no_change(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = _saved(world, tmp_path / "plan.json")
    monkeypatch.chdir(world.target)
    prep = prepare(str(world.profile), Selection(str(world.media), ".", platform="I386"))
    assert savedplan.changes(saved, prep, prep.plan()) == []


def test_another_profile_or_an_edited_one(world: World, tmp_path: Path) -> None:
    saved = _saved(world, tmp_path / "plan.json")
    prep = prepare("exchange55", _sel(world))
    assert "profile changed: exchange55-sandbox -> exchange55" in savedplan.changes(
        saved, prep, prep.plan()
    )
    text = world.profile.read_text()
    world.profile.write_text(text.replace('args = ["{target}"]', 'args = ["{target}", "/q"]', 1))
    found = _changes(saved, world)
    assert found == [
        "profile exchange55-sandbox changed since the plan was saved (its components, probes or "
        "arguments differ)"
    ]


def test_check_summarises(world: World, tmp_path: Path) -> None:
    saved = _saved(world, tmp_path / "plan.json")
    prep = _prep(world)
    result = savedplan.check(saved, prep, prep.plan())
    assert result.holds and result.changes == () and result.file == str(tmp_path / "plan.json")


def test_an_unreadable_installer_folder_is_a_media_error(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(media: object, installer: str) -> str:
        raise PermissionError(13, "Permission denied")

    prep = _prep(world)
    monkeypatch.setattr(savedplan, "folder_fingerprint", denied)
    with pytest.raises(MediaError, match=r"cannot read the installer's folder .*Permission denied"):
        savedplan.save(tmp_path / "plan.json", prep, prep.plan(), _sel(world))
    assert not (tmp_path / "plan.json").exists()
