"""Versions compare numerically part by part; ``levels`` names them (SPEC §7)."""

from __future__ import annotations

import pytest

from spdeploy.profile import load_profile
from spdeploy.versions import Version, is_version, level_name


@pytest.fixture(scope="module")
def levels() -> dict[str, str]:
    return dict(load_profile("exchange55").levels)


def test_sp4_build_is_newer_than_sp2_even_with_more_parts() -> None:
    assert Version("5.5.2653.0") > Version("5.5.2448")
    assert Version("5.5.2448") < Version("5.5.2653.0")


def test_trailing_zero_parts_do_not_matter() -> None:
    assert Version("5.5.2448.0") == Version("5.5.2448")
    assert hash(Version("5.5.2448.0")) == hash(Version("5.5.2448"))
    assert Version("5.5.2448.0") <= Version("5.5.2448")
    assert Version("5.5.2448.0") >= Version("5.5.2448")


def test_parts_compare_as_numbers_not_text() -> None:
    assert Version("5.5.10") > Version("5.5.9")
    assert Version("5.5.2653") > Version("5.5.999")
    assert Version("10.0") > Version("9.9.9.9")


def test_a_hotfix_build_is_newer_than_its_service_pack() -> None:
    assert Version("5.5.2448.8") > Version("5.5.2448")
    assert Version("5.5.2448.8") != Version("5.5.2448")


def test_sorting_is_numeric() -> None:
    texts = ["5.5.2653.0", "5.5.10", "5.5.2448", "5.5.9", "5.5.2232"]
    assert [str(v) for v in sorted(map(Version, texts))] == [
        "5.5.9",
        "5.5.10",
        "5.5.2232",
        "5.5.2448",
        "5.5.2653.0",
    ]


def test_a_version_is_not_equal_to_a_string() -> None:
    assert Version("5.5.2448") != "5.5.2448"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", "5.5.x", "5..5", "5.5.", ".5.5", "5.5.2448-beta", "5 5", "SP4", "-1.0"],
)
def test_invalid_strings_raise_value_error(text: str) -> None:
    assert not is_version(text)
    with pytest.raises(ValueError, match="not a version"):
        Version(text)


@pytest.mark.parametrize("text", ["5.5.2448", "5.5.2653.0", "1", " 5.5.2448 ", "v5.5"])
def test_valid_strings(text: str) -> None:
    assert is_version(text)
    Version(text)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("5.5.1960", "RTM"),
        ("5.5.2232", "SP1"),
        ("5.5.2448.0", "SP2"),
        ("5.5.2448", "SP2"),
        ("5.5.2448.8", "SP2"),  # a post-SP2 hotfix of the same build
        ("5.5.2650.21", "SP3"),
        ("5.5.2653.0", "SP4"),
        ("5.5.2522.0", "SP2+"),  # between SP2 and SP3
        ("5.5.2700", "SP4 fix+"),  # newer than every level (post-SP4 fixes end at 2655)
        ("5.5.1000", None),  # older than every level
        ("abc", None),
        (None, None),
    ],
)
def test_level_name_with_the_exchange55_levels(
    levels: dict[str, str], version: str | None, expected: str | None
) -> None:
    assert level_name(levels, version) == expected


def test_level_name_with_no_levels() -> None:
    assert level_name({}, "5.5.2448") is None


def test_absurdly_long_numbers_are_not_versions() -> None:
    """int() of thousands of digits is refused by Python: such text is simply not a version."""
    assert not is_version("1" * 4400)
    assert not is_version(".".join(["1"] * 40))
    assert is_version("5.5.2653.0") and is_version("1" * 18)


@pytest.mark.parametrize(
    ("version", "prefix", "expected"),
    [
        ("5.5.2448.8", "5.5.2448", True),
        ("5.5.2448", "5.5.2448.0", True),
        ("5.5.2448.0", "5.5.2448", True),
        ("5.5.2448.8", "5.5.0", False),  # "5.5.0" once named every 5.5 build
        ("6.1", "6.0", False),  # and "6.0" every 6.x
        ("6", "6.0", True),
        ("6.0.1", "6.0", True),
    ],
)
def test_a_prefix_keeps_its_trailing_zeros(version: str, prefix: str, expected: bool) -> None:
    assert Version(version).startswith(Version(prefix)) is expected


def test_a_level_ending_in_zero_names_only_its_own_builds() -> None:
    levels = {"5.5.0": "5.5 RTM", "6.0": "6.0 RTM"}
    assert level_name(levels, "5.5.0.0") == "5.5 RTM"
    assert level_name(levels, "5.5.2448.8") == "5.5 RTM+"  # later than it, not it
    assert level_name(levels, "6.3") == "6.0 RTM+"
