"""A profile's files: built-in names and paths, files that cannot be read, ``extends`` layers
(SPEC §7)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
import zlib
from pathlib import Path
from types import ModuleType

import pytest
from helpers import TINY, cli, comp, write

from spdeploy import builtin_profiles, profile_files
from spdeploy.errors import ProfileError
from spdeploy.probes import Literal
from spdeploy.profile import load_profile

EXCHANGE_IDS = ("server", "coco", "calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn")


# -- extends -------------------------------------------------------------------------------------


def test_extends_overrides_only_the_keys_given(tmp_path: Path) -> None:
    site = write(
        tmp_path / "site.toml",
        """\
        id = "site"
        name = "Our Exchange"
        extends = "exchange55"

        [[component]]
        id = "ntsconn"
        args = ["/q", "{target}"]
        interactive = false

        [[component]]
        id = "backupexec"
        name = "Backup agent"
        installer = ["{language}/Agent/setup.exe"]
        installed = { exists = "Agent/agent.exe" }
        media_version = { literal = "5.5.2653.0" }
        after = ["ntsconn"]
        """,
    )
    base = load_profile("exchange55")
    profile = load_profile(str(site))
    assert profile.id == "site"
    assert profile.name == "Our Exchange"
    assert profile.source == str(site)
    assert profile.platforms == base.platforms
    assert profile.levels == base.levels
    assert tuple(c.id for c in profile.components) == (*EXCHANGE_IDS, "backupexec")

    nts, base_nts = profile.component("ntsconn"), base.component("ntsconn")
    assert nts.args == ("/q", "{target}")
    assert nts.interactive is False
    assert nts.name == base_nts.name
    assert nts.installer == base_nts.installer
    assert nts.backup == base_nts.backup
    assert nts.fallback_languages == ("Eng",)
    assert nts.after == ("server",)
    assert nts.installed == base_nts.installed
    assert nts.logs == base_nts.logs

    for cid in ("server", "calcon", "gwxconn"):
        assert profile.component(cid) == base.component(cid)

    extra = profile.component("backupexec")
    assert extra.media_version == Literal("5.5.2653.0")
    order = [c.id for c in profile.ordered()]
    assert order.index("backupexec") > order.index("ntsconn")


def test_extends_a_file_by_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "profiles" / "base.toml", TINY + comp("a") + comp("b"))
    site = write(
        tmp_path / "profiles" / "site" / "site.toml",
        'id = "site"\nextends = "../base.toml"\n' + comp("c", 'after = ["a"]'),
    )
    # resolved against the extending file's folder, not the working directory
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    profile = load_profile(str(site))
    assert profile.id == "site"
    assert profile.name == "Tiny product"
    assert [c.id for c in profile.components] == ["a", "b", "c"]


def test_extends_chain_of_files(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", TINY + comp("a", 'args = ["/a"]'))
    write(tmp_path / "b.toml", 'extends = "a.toml"\n[[component]]\nid = "a"\nargs = ["/b"]\n')
    c = write(tmp_path / "c.toml", 'extends = "b.toml"\n' + comp("c"))
    profile = load_profile(str(c))
    assert profile.component("a").args == ("/b",)
    assert profile.component("a").installer == ("{language}/a/setup.exe",)
    assert [x.id for x in profile.components] == ["a", "c"]


def test_extends_itself_is_an_error(tmp_path: Path) -> None:
    me = write(tmp_path / "me.toml", 'extends = "me.toml"\n' + TINY + comp("a"))
    with pytest.raises(ProfileError, match="extends") as info:
        load_profile(str(me))
    assert str(me) in info.value.message


def test_extends_itself_by_absolute_path_is_an_error(tmp_path: Path) -> None:
    me = tmp_path / "me.toml"
    write(me, f"extends = {json.dumps(str(me))}\n" + TINY + comp("a"))
    with pytest.raises(ProfileError, match="extends"):
        load_profile(str(me))


def test_extends_cycle_between_two_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "one.toml", 'extends = "two.toml"\n' + TINY + comp("a"))
    write(tmp_path / "two.toml", 'extends = "one.toml"\n' + TINY + comp("b"))
    with pytest.raises(ProfileError, match="extends"):
        load_profile(str(tmp_path / "one.toml"))


def test_extends_itself_through_a_non_normalised_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    me = write(tmp_path / "d" / "site.toml", 'extends = "../d/site.toml"\n' + TINY + comp("a"))
    r = cli(capsys, "profiles", "check", str(me))
    assert r.code == 2, r.err
    assert "extends" in r.err


def test_extends_itself_through_the_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    me = write(tmp_path / "me.toml", 'extends = "me.toml"\n' + TINY + comp("a"))
    r = cli(capsys, "profiles", "check", str(me))
    assert r.code == 2
    assert r.err.startswith("spdeploy: error:")
    assert str(me) in r.err
    assert "extends" in r.err


def test_a_folder_is_not_a_profile(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="a folder, not a profile") as info:
        load_profile(str(tmp_path))
    assert info.value.exit_code == 2 and str(tmp_path) in info.value.message


def test_extends_a_missing_file(tmp_path: Path) -> None:
    site = write(tmp_path / "site.toml", 'extends = "nowhere.toml"\n' + TINY + comp("a"))
    with pytest.raises(ProfileError, match=r"nowhere\.toml"):
        load_profile(str(site))


# -- built-in profiles parsed ahead of time ------------------------------------------------------


def _freeze_script() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "scripts" / "freeze_profiles.py"
    spec = importlib.util.spec_from_file_location("freeze_profiles", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_parsed_copy_is_the_toml_parsed() -> None:
    freeze = _freeze_script()
    generated = Path(builtin_profiles.__file__).read_text(encoding="utf-8")
    assert generated == freeze.render(), "run: python scripts/freeze_profiles.py"
    for name in profile_files.builtin_names():
        data = (freeze.PROFILES / f"{name}.toml").read_bytes()
        assert builtin_profiles.MADE_FROM[name] == (len(data), zlib.crc32(data))
        assert builtin_profiles.TABLES[name]() == tomllib.loads(data.decode("utf-8"))


def test_a_builtin_profile_is_read_from_the_copy_without_tomllib() -> None:
    # tomllib is imported only when a TOML file is parsed: `spdeploy status` with the
    # built-in profile does not need it
    code = (
        "import sys; from spdeploy.profile import load_profile; load_profile('exchange55'); "
        "print('tomllib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_an_edited_builtin_profile_is_read_from_its_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = Path(profile_files.__file__).parent / "profiles" / "exchange55.toml"
    edited = shipped.read_text(encoding="utf-8").replace(
        'name = "Microsoft Exchange Server 5.5"', 'name = "Exchange 5.5, edited here"', 1
    )
    assert "edited here" in edited
    (tmp_path / "exchange55.toml").write_text(edited, encoding="utf-8")
    monkeypatch.setattr(profile_files, "_BUILTIN", tmp_path)
    assert load_profile("exchange55").name == "Exchange 5.5, edited here"


def test_each_load_gets_its_own_table() -> None:
    first, _ = profile_files.read_layers("exchange55")
    first["component"].clear()
    again, _ = profile_files.read_layers("exchange55")
    assert [c["id"] for c in again["component"]] == list(EXCHANGE_IDS)


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ("when = 1979-05-27\n", "zz.toml.when: a date cannot be frozen"),
        ("[x]\nratio = nan\n", "zz.toml.x.ratio: nan cannot be frozen"),
    ],
)
def test_the_freeze_refuses_what_a_literal_cannot_spell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, said: str
) -> None:
    # pprint would write datetime.date(...) or nan, names the generated module does not define
    freeze = _freeze_script()
    (tmp_path / "zz.toml").write_text(toml, encoding="utf-8")
    monkeypatch.setattr(freeze, "PROFILES", tmp_path)
    with pytest.raises(SystemExit) as info:
        freeze.render()
    assert str(info.value).startswith(said)


@pytest.mark.parametrize(
    "cid", ["../../x/PWN", "a/b", "a\\b", "a,b", "x=y", " ", "new\ncomp", "-x", ".hidden", "é"]
)
def test_a_component_id_is_a_plain_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cid: str
) -> None:
    # an id names the step's log, its backups and collected logs in the state folder: "../x"
    # wrote outside it; "a,b" could not be given to --only, "x=y" to --args
    profile = tmp_path / "p.toml"
    profile.write_text(
        TINY + "\n" + comp("x").replace('id = "x"', f"id = {json.dumps(cid)}"), encoding="utf-8"
    )
    res = cli(capsys, "profiles", "check", str(profile))
    assert res.code == 2
    assert f"{profile}: component {cid!r}: key 'id': expected a letter or digit" in res.err
