"""Probe kinds over a real folder tree (SPEC §7)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from spdeploy.errors import NotApplicable, ProfileError
from spdeploy.media.folder import FolderTree
from spdeploy.probes import (
    AnyOf,
    CommandOutput,
    Exists,
    Literal,
    PeVersion,
    ProbeContext,
    Registry,
    Text,
    answer,
    parse_probe,
    placeholders,
)
from spdeploy.sandbox.pe import write_pe


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "exchsrvr"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "Store.exe").write_bytes(b"MZ not really")
    return root


def ctx(root: Path, **variables: str) -> ProbeContext:
    """A context off Windows, whatever the system (winsys_test.py drives the Windows kinds)."""
    return ProbeContext(FolderTree(root, "target"), variables, windows=None)


# -- exists -------------------------------------------------------------------------------------


def test_exists_plain_path_is_case_insensitive(root: Path) -> None:
    finding = answer(Exists("BIN/store.EXE"), ctx(root), want_version=False)
    assert finding.found
    assert finding.version is None
    assert "bin/Store.exe" in finding.source


def test_exists_with_backslashes(root: Path) -> None:
    assert answer(Exists("Bin\\STORE.exe"), ctx(root), want_version=False).found


def test_exists_glob_is_case_insensitive(root: Path) -> None:
    finding = answer(Exists("BIN/*.EXE"), ctx(root), want_version=False)
    assert finding.found
    assert "bin/Store.exe" in finding.source


def test_exists_missing_file(root: Path) -> None:
    assert not answer(Exists("bin/Mad.exe"), ctx(root), want_version=False).found
    assert not answer(Exists("Connect/*.exe"), ctx(root), want_version=False).found


def test_exists_expands_placeholders(root: Path) -> None:
    finding = answer(Exists("{folder}/store.exe"), ctx(root, folder="BIN"), want_version=False)
    assert finding.found


# -- pe_version ---------------------------------------------------------------------------------


def test_pe_version_reads_the_file_version(root: Path) -> None:
    write_pe(root / "bin" / "Store.exe", "5.5.2448.0")
    finding = answer(PeVersion("BIN/STORE.EXE"), ctx(root), want_version=True)
    assert finding.found
    assert finding.version == "5.5.2448.0"


def test_pe_version_on_a_non_pe_file_is_found_without_a_version(root: Path) -> None:
    finding = answer(PeVersion("bin/Store.exe"), ctx(root), want_version=True)
    assert finding.found  # the file is there: installed
    assert finding.version is None  # but its build is unknown
    assert "not a Windows PE file" in finding.source


@pytest.mark.parametrize("data", [b"", b"MZ", b"plain text, not an image\n" * 40])
def test_pe_version_on_junk_never_raises(root: Path, data: bytes) -> None:
    (root / "bin" / "Store.exe").write_bytes(data)
    finding = answer(PeVersion("bin/Store.exe"), ctx(root), want_version=True)
    assert finding.found
    assert finding.version is None
    assert finding.source


@pytest.mark.parametrize("kind", ["pe_version", "text"])
def test_probe_whose_path_is_a_folder_does_not_raise(root: Path, kind: str) -> None:
    (root / "bin" / "Store.exe").unlink()
    (root / "bin" / "Store.exe").mkdir()
    probe = (
        PeVersion("bin/Store.exe")
        if kind == "pe_version"
        else Text("bin/Store.exe", re.compile(r"(\S+)"))
    )
    finding = answer(probe, ctx(root), want_version=True)
    assert finding.version is None


def test_pe_version_missing_file(root: Path) -> None:
    finding = answer(PeVersion("bin/Mad.exe"), ctx(root), want_version=True)
    assert not finding.found
    assert finding.version is None
    assert "bin/Mad.exe" in finding.source


# -- text ---------------------------------------------------------------------------------------


def test_text_probe_returns_the_first_capture_group(root: Path) -> None:
    (root / "version.txt").write_text("Product: Exchange\nBuild 5.5.2653.0 (SP4)\n")
    probe = Text("VERSION.TXT", re.compile(r"Build (\S+)"))
    finding = answer(probe, ctx(root), want_version=True)
    assert finding.found
    assert finding.version == "5.5.2653.0"


def test_text_probe_without_a_match(root: Path) -> None:
    (root / "version.txt").write_text("nothing here\n")
    finding = answer(Text("version.txt", re.compile(r"Build (\S+)")), ctx(root), True)
    assert not finding.found
    assert finding.version is None


def test_text_probe_parsed_from_toml_shape(root: Path) -> None:
    (root / "version.txt").write_text("v=1.2.3\n")
    probe = parse_probe({"text": {"file": "version.txt", "regex": r"v=(\S+)"}}, "here")
    assert answer(probe, ctx(root), True).version == "1.2.3"


# -- literal ------------------------------------------------------------------------------------


def test_literal(root: Path) -> None:
    finding = answer(Literal("5.5.2653.0"), ctx(root), want_version=True)
    assert finding.found
    assert finding.version == "5.5.2653.0"
    assert parse_probe({"literal": "5.5.2653.0"}, "here") == Literal("5.5.2653.0")


# -- command ------------------------------------------------------------------------------------


def test_command_probe_runs_argv_and_applies_the_regex(root: Path) -> None:
    probe = CommandOutput((sys.executable, "-c", "print('v 1.2.3')"), re.compile(r"v (\S+)"))
    finding = answer(probe, ctx(root), want_version=True)
    assert finding.found
    assert finding.version == "1.2.3"


def test_command_probe_nonzero_exit_is_not_found(root: Path) -> None:
    probe = CommandOutput((sys.executable, "-c", "raise SystemExit(3)"), re.compile(r"(.*)"))
    finding = answer(probe, ctx(root), want_version=True)
    assert not finding.found
    assert "3" in finding.source


def test_command_probe_missing_program_is_not_found(root: Path, tmp_path: Path) -> None:
    probe = CommandOutput((str(tmp_path / "no-such-program"),), re.compile(r"(.*)"))
    assert not answer(probe, ctx(root), want_version=True).found


# -- registry and any ---------------------------------------------------------------------------


def test_registry_probe_on_its_own_is_a_clear_error(root: Path) -> None:
    probe = Registry(r"HKLM\SOFTWARE\Microsoft\Exchange\Setup", "Services")
    assert not probe.applies(ctx(root))
    with pytest.raises(NotApplicable) as info:
        answer(probe, ctx(root), want_version=False)
    assert info.value.exit_code == 2
    assert "registry" in info.value.message


def test_registry_probe_is_skipped_inside_any(root: Path) -> None:
    probe = AnyOf(
        (
            Registry(r"HKLM\SOFTWARE\Microsoft\Exchange\Setup", "Services"),
            Exists("bin/store.exe"),
        )
    )
    finding = answer(probe, ctx(root), want_version=False)
    assert finding.found
    assert "bin/Store.exe" in finding.source


def test_any_with_nothing_applicable_says_why(root: Path) -> None:
    probe = AnyOf((Registry(r"HKLM\SOFTWARE\X", "Y"),))
    finding = answer(probe, ctx(root), want_version=False)
    assert not finding.found
    assert "no probe applies" in finding.source


def test_any_keeps_looking_for_a_version(root: Path) -> None:
    write_pe(root / "bin" / "Real.exe", "5.5.2653.0")
    probe = AnyOf((PeVersion("bin/Store.exe"), PeVersion("bin/Real.exe")))
    finding = answer(probe, ctx(root), want_version=True)
    assert finding.version == "5.5.2653.0"


def test_any_first_positive_answer_wins(root: Path) -> None:
    probe = AnyOf((Exists("bin/nothing.exe"), Exists("bin/store.exe"), Literal("1.0")))
    finding = answer(probe, ctx(root), want_version=False)
    assert finding.found
    assert "Store.exe" in finding.source


# -- parse_probe --------------------------------------------------------------------------------


def test_parse_probe_unknown_kind() -> None:
    with pytest.raises(ProfileError, match=r"unknown probe kind 'wmi'") as info:
        parse_probe({"wmi": "Win32_Product"}, "profile.toml: component 'x': key 'installed'")
    assert "profile.toml: component 'x': key 'installed'" in info.value.message


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({}, "exactly one probe kind"),
        ({"exists": "a", "literal": "1.0"}, "exactly one probe kind"),
        ("bin/Store.exe", "exactly one probe kind"),
        ({"exists": ""}, "non-empty string"),
        ({"literal": "SP4"}, "not a version"),
        ({"text": {"file": "a"}}, "missing key 'regex'"),
        ({"text": {"file": "a", "regex": "(", "x": 1}}, "unknown key 'x'"),
        ({"text": {"file": "a", "regex": "("}}, "bad regex"),
        ({"command": {"argv": "prog --version", "regex": "(.*)"}}, "argv"),
        ({"command": {"argv": [], "regex": "(.*)"}}, "argv"),
        ({"any": []}, "non-empty list"),
        ({"any": [{"nope": 1}]}, r"\[0\]: unknown probe kind"),
    ],
)
def test_parse_probe_errors(value: object, match: str) -> None:
    with pytest.raises(ProfileError, match=match):
        parse_probe(value, "where")


@pytest.mark.parametrize("value", [{"x": 1}, 5, ["Services"]])
def test_registry_value_must_be_a_string(value: object) -> None:
    with pytest.raises(ProfileError, match="value"):
        parse_probe({"registry": {"key": "HKLM\\X", "value": value}}, "where")


def test_parse_probe_nested_any() -> None:
    probe = parse_probe(
        {"any": [{"registry": {"key": "HKLM\\X", "value": "Y"}}, {"exists": "bin/Store.exe"}]},
        "where",
    )
    assert isinstance(probe, AnyOf)
    assert [p.kind for p in probe.probes] == ["registry", "exists"]


def test_registry_view_and_hive_are_checked() -> None:
    key = r"HKLM\SOFTWARE\Microsoft\Exchange\Setup"
    probe = parse_probe({"registry": {"key": key, "value": "Services", "view": "32"}}, "w")
    assert probe == Registry(key, "Services", "32")
    assert parse_probe({"registry": {"key": key, "value": "Services"}}, "w") == Registry(
        key, "Services", None
    )
    with pytest.raises(ProfileError, match=r"w\.registry\.view: '86' \(expected \"32\""):
        parse_probe({"registry": {"key": key, "value": "Services", "view": "86"}}, "w")
    with pytest.raises(ProfileError, match=r"w\.registry\.key: 'SOFTWARE\\\\X' does not start"):
        parse_probe({"registry": {"key": r"SOFTWARE\X", "value": "Y"}}, "w")
    with pytest.raises(ProfileError, match="unknown key 'wow64'"):
        parse_probe({"registry": {"key": key, "value": "Y", "wow64": True}}, "w")


def test_a_service_whose_program_is_gone_is_not_installed(tmp_path: Path) -> None:
    # Exchange's "Remove All" leaves the connectors' service keys behind (Q196305)
    from helpers import FakeWinreg

    from spdeploy.probes import Service
    from spdeploy.winsys import SERVICES_KEY, Windows

    program = tmp_path / "Lsntsmex.exe"
    reg = FakeWinreg().set(
        rf"{SERVICES_KEY}\LME-NOTES", "ImagePath", str(program), FakeWinreg.REG_SZ
    )
    windows = Windows(reg, is_file=lambda path: Path(path).is_file())
    ctx = ProbeContext(FolderTree(tmp_path), windows=windows)
    left = Service("LME-NOTES").run(ctx, want_version=False)
    assert not left.found
    assert "registered but" in left.source and "is gone" in left.source
    write_pe(program, "5.5.2653.0")
    found = Service("LME-NOTES").run(ctx, want_version=True)
    assert (found.found, found.version) == (True, "5.5.2653.0")


# -- placeholders ---------------------------------------------------------------------------------


def test_a_probe_reports_the_placeholders_it_fills_in() -> None:
    """Paths and argv are templates; regexes, registry keys and service names are matched as
    written, so braces there are not placeholders."""
    nested = parse_probe(
        {
            "any": [
                {"exists": "{target}/a"},
                {"text": {"file": "{{media}}/v.txt", "regex": "{language}(\\d+)"}},
                {"any": [{"command": {"argv": ["x", "{drive}"], "regex": "{platform}"}}]},
                {"registry": {"key": "HKLM\\{installer}", "value": "{staged}"}},
                {"service": "{media}"},
                {"literal": "1.0"},
            ]
        },
        "here",
    )
    assert placeholders(nested) == {"target", "drive"}
    assert placeholders(PeVersion("{installer}")) == {"installer"}
