"""Properties of profile loading (``profile.py``): random valid and broken profiles through
``profiles check`` and ``plan`` (the harness and what it checks: ``properties.py``; the
strategies: ``strategies.py``), and the reproducers of the bugs they found."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from properties import (
    LONG,
    PROPERTY,
    Harness,
    check_plan,
    envelope,
    invoke,
    one_error_line,
    plan_args,
    run_plan,
)
from strategies import ProfileCase, pe_image, profile_cases, write_profile

from spdeploy.sandbox.world import World, build_world


@pytest.fixture
def world(harness: Harness) -> World:
    """The sandbox's world, built once per test, before the first example takes its snapshot."""
    return build_world(harness.root / "world")


# -- the property ----------------------------------------------------------------------------------
# A plain function of one example, so that it can also be driven by hand.


def profile_example(
    harness: Harness, world: World, case: ProfileCase, json_check: bool, platform: str | None
) -> None:
    with harness.example() as ex:
        if case.doc is not None and case.mutations == []:
            assert tomllib.loads(case.data.decode()) == case.doc  # the writer writes what we mean
        path = write_profile(ex, case)
        state = ex / "state"
        json_flag = ["--json"] if json_check else []
        res = harness.call(state, "--state", state, *json_flag, "profiles", "check", path)
        assert res.code in (0, 2), res.err
        event(f"check: {case.expect} profile, exit {res.code}")
        if case.expect == "valid":
            assert res.code == 0, f"valid profile rejected: {res.err or res.out}"
        elif case.expect == "invalid":
            assert res.code == 2, f"invalid profile ({case.mutations}) accepted"
        if res.code == 2:
            if json_check:
                assert envelope(res)["code"] == "profile"
            else:
                one_error_line(res)
        res_plan = harness.call(
            state, "--profile", path, *plan_args(state, world.media, world.target, platform)
        )
        data = check_plan(res_plan, path if res_plan.code != 2 else None)
        if res.code == 2:
            assert res_plan.code == 2 and data["error"]["code"] == "profile", res_plan.out
        elif res_plan.code == 2:
            assert data["error"]["code"] != "profile", res_plan.out


@LONG
@PROPERTY
@given(
    case=profile_cases(),
    json_check=st.booleans(),
    platform=st.sampled_from(["I386", None, "alpha"]),
)
def test_random_profiles(
    harness: Harness, world: World, case: ProfileCase, json_check: bool, platform: str | None
) -> None:
    profile_example(harness, world, case, json_check, platform)


# -- bugs the property found -----------------------------------------------------------------------
# Each test is the minimised reproducer of one bug class, with what it did before the fix in the
# comment above it. (They were xfail(strict=True) while the bug was open; see KNOWN_BUGS.)


def _profile_file(folder: Path, components: str, top: str = "") -> Path:
    path = folder / "site.toml"
    head = top or 'id = "site"\nname = "Site"\nplatforms = { I386 = ["x86_64"] }\n'
    path.write_text(head + components, encoding="utf-8")
    return path


def _component_toml(**keys: str) -> str:
    table = {
        "id": '"a"',
        "name": '"A"',
        "installer": '["{language}/Update.exe"]',
        "installed": '{ exists = "x" }',
    }
    table.update(keys)
    return "[[component]]\n" + "".join(f"{k} = {v}\n" for k, v in table.items())


def _refused_when_loaded(
    tmp_path: Path, profile: Path, media: Path, target: Path, key: str
) -> None:
    """`profiles check` and `plan` both refuse the profile: exit 2, one line naming its file,
    component 'a' and ``key``; under --json a "profile" error."""
    check = invoke("profiles", "check", profile)
    assert check.code == 2, check.out
    one_error_line(check)
    assert f"{profile}: component 'a': key '{key}'" in check.err or (
        key == "levels" and f"{profile}: key 'levels'" in check.err
    ), check.err
    res = run_plan(tmp_path, profile, media, target)
    assert res.code == 2, res.out
    assert envelope(res)["code"] == "profile"


def _sp_media(tmp_path: Path) -> tuple[Path, Path]:
    """A media folder with ``Eng/Update.exe`` (a PE file) and an empty target folder."""
    (tmp_path / "media" / "Eng").mkdir(parents=True)
    (tmp_path / "media" / "Eng" / "Update.exe").write_bytes(pe_image("5.5.2653.0"))
    (tmp_path / "target").mkdir()
    return tmp_path / "media", tmp_path / "target"


# Was: `profiles check` accepted them (profile.PLACEHOLDERS), then plan exited 70 with
# KeyError: 'target' in locate._candidates (installer.format(language=..., platform=...)), or
# ValueError: Unknown format code 'd' for object of type 'str' for "{platform:d}".
@pytest.mark.parametrize("installer", ["{target}/Update.exe", "{drive}/x.exe", "{platform:d}/x"])
def test_found_installer_placeholders_beyond_language_and_platform(
    tmp_path: Path, installer: str
) -> None:
    profile = _profile_file(tmp_path, _component_toml(installer=f'["{installer}"]'))
    media, target = _sp_media(tmp_path)
    _refused_when_loaded(tmp_path, profile, media, target, "installer")


# Was: exit 70, AttributeError: 'str' object has no attribute 'foo' in ProbeContext.expand
# (format_map; only KeyError/ValueError/IndexError became a ProbeError).
def test_found_probe_template_attribute_lookup(tmp_path: Path) -> None:
    profile = _profile_file(tmp_path, _component_toml(installed='{ exists = "{target.foo}/x" }'))
    media, target = _sp_media(tmp_path)
    _refused_when_loaded(tmp_path, profile, media, target, "installed")


# Was: `profiles check` accepted them (is_version: any number of digits), then plan exited 70 with
# ValueError: Exceeds the limit (4300 digits) for integer string conversion in Version.__init__.
@pytest.mark.parametrize(
    "keys",
    [
        {"installed": '{ literal = "5.5" }', "media_version": f'{{ literal = "{"1" * 4400}" }}'},
        {"installed": '{ literal = "5.5" }'},
    ],
    ids=["literal", "levels"],
)
def test_found_versions_with_thousands_of_digits(tmp_path: Path, keys: dict[str, str]) -> None:
    top = 'id = "site"\nname = "Site"\nplatforms = { I386 = ["x86_64"] }\n'
    top += f'levels = {{ "{"1" * 4400}" = "huge" }}\n' if "media_version" not in keys else ""
    profile = _profile_file(tmp_path, _component_toml(**keys), top)
    media, target = _sp_media(tmp_path)
    key = "media_version" if "media_version" in keys else "levels"
    _refused_when_loaded(tmp_path, profile, media, target, key)


# Was: `profiles check` accepted it, then plan exited 70 with ValueError: embedded null byte from
# subprocess, in process.capture (which caught OSError and timeouts only). Then plan treated the
# probe as a program that could not start (not installed, exit 0); no program can be given a NUL,
# so, as in `args`, the profile is refused when it loads.
@pytest.mark.parametrize(
    "probe",
    [
        '{ command = { argv = ["echo", "a\\u0000b"], regex = "(.*)" } }',
        '{ any = [{ exists = "bin/a\\u0000b" }] }',
    ],
    ids=["argv", "path"],
)
def test_found_nul_in_command_probe_argv(tmp_path: Path, probe: str) -> None:
    profile = _profile_file(tmp_path, _component_toml(installed=probe))
    media, target = _sp_media(tmp_path)
    _refused_when_loaded(tmp_path, profile, media, target, "installed")


# Was: two lines, "spdeploy: error: site.toml: component 'a\\nb': key 'after': names unknown
# component 'nope' (known: a<LF>b)"; likewise the cycle path, an exit_codes key ("1<LF> = 'no'"),
# a placeholder name and a platforms key were printed without repr().
@pytest.mark.parametrize(
    ("top", "components"),
    [
        ("", _component_toml(id='"a\\nb"', after='["nope"]')),
        (
            "",
            _component_toml(id='"a\\nb"', after='["c"]')
            + _component_toml(id='"c"', after='["a\\nb"]'),
        ),
        ("", _component_toml(exit_codes='{ "1\\n" = "no" }')),
        ("", _component_toml(installer='["{a\\nb}/x.exe"]')),
        ('id = "p"\nname = "P"\nplatforms = { "I\\n386" = 5 }\n', _component_toml()),
    ],
    ids=["after", "cycle", "exit_codes", "placeholder", "platforms"],
)
def test_found_line_breaks_in_profile_strings_keep_errors_one_line(
    tmp_path: Path, top: str, components: str
) -> None:
    res = invoke("profiles", "check", _profile_file(tmp_path, components, top))
    assert res.code == 2
    assert res.err.count("\n") == 1, res.err
