"""``jsonfile``: JSON read back from disk, decoded by type; a problem is one line with its place."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from spdeploy import jsonfile


@dataclass(frozen=True)
class Seen:
    installed: bool
    version: str | None = None


@dataclass(frozen=True)
class Row:
    id: str

    def __post_init__(self) -> None:
        if not self.id.isprintable():
            raise jsonfile.Invalid("id", f"holds control characters: {jsonfile.shown(self.id)}")


@dataclass(frozen=True)
class Doc:
    rows: tuple[Row, ...]
    seen: dict[str, Seen]
    size: float | None = None


GOOD = {"rows": [{"id": "a"}], "seen": {"a": {"installed": True}}}


def _problem(doc: object) -> str:
    with pytest.raises(jsonfile.Unreadable) as info:
        jsonfile.convert(doc, Doc)
    return str(info.value)


def test_a_good_document_becomes_its_type() -> None:
    doc = jsonfile.convert(jsonfile.parse('{"rows": [{"id": "a"}], "seen": {}, "extra": 1}'), Doc)
    assert doc == Doc((Row("a"),), {})


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ([], "$: expected object, got array"),
        ({"seen": {}}, "$.rows: missing"),
        ({**GOOD, "rows": [{"id": 3}]}, "$.rows[0].id: expected str, got 3"),
        ({**GOOD, "rows": "a"}, '$.rows: expected array, got "a"'),
        ({**GOOD, "size": True}, "$.size: expected float | null, got true"),
        ({**GOOD, "size": 10**400}, "$.size: number out of range"),
        # a type's own check names the field it is about
        (
            {**GOOD, "rows": [{"id": "a\x1b[2J"}]},
            '$.rows[0].id: holds control characters: "a\\u001b[2J"',
        ),
    ],
)
def test_a_problem_is_one_line_with_its_path(doc: object, problem: str) -> None:
    assert _problem(doc) == problem


def test_a_mappings_key_is_named() -> None:
    """msgspec writes every key as ``[...]``: the message names the entry that fails, the first
    in the file's order, though the ones after it fail too."""
    seen = {"a": {"installed": True}, "b": {"installed": 1}, "c": {"installed": "no"}}
    assert _problem({**GOOD, "seen": seen}) == "$.seen.b.installed: expected bool, got 1"
    assert _problem({**GOOD, "seen": {"a": []}}) == "$.seen.a: expected object, got array"
    # a key that is not a plain word is written as JSON, so the message stays one line
    odd = {"x.y\n": {"version": None}}
    assert _problem({**GOOD, "seen": odd}) == '$.seen["x.y\\n"].installed: missing'


def test_long_values_are_cut() -> None:
    assert _problem({**GOOD, "rows": "x" * 100}) == f'$.rows: expected array, got "{"x" * 38}…'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "input data was truncated"),
        ("[1 2]", "line 1, column 4: expected ',' or ']'"),
        ('{"é": "ü",\n "é": [1 2]}', "line 2, column 10: expected ',' or ']'"),  # not bytes
        ('{"a": [1,\n  NaN]}', "line 2, column 3: NaN is not a number JSON allows"),
        ('{"a": -Infinity}', "line 1, column 8: Infinity is not a number JSON allows"),
        ("[" * 100_000, "nested too deeply"),
        ("9" * 5000, "$: integer value out of range"),
        ('{"a": 1e999}', "number out of range"),  # an untyped object's keys are not named
    ],
)
def test_what_json_cannot_hold_is_refused(text: str, problem: str) -> None:
    with pytest.raises(jsonfile.Unreadable) as info:
        jsonfile.parse(text)
    assert str(info.value) == problem


def test_the_type_names_the_place_of_a_number_out_of_range() -> None:
    with pytest.raises(jsonfile.Unreadable, match=r"^\$\.size: number out of range$"):
        jsonfile.parse('{"rows": [], "seen": {}, "size": 1e999}', Doc)


@dataclass(frozen=True)
class _Shown:
    id: str
    version: str | None = None

    def __post_init__(self) -> None:
        jsonfile.require_printable(self, "id", "version")


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"id": "a\x1b[2J"}, '$.id: holds control characters: "a\\u001b[2J"'),
        ({"id": "a", "version": "1\n2"}, '$.version: holds control characters: "1\\n2"'),
        ({"id": "a\u0085"}, '$.id: holds control characters: "a\\u0085"'),  # a C1 control
    ],
)
def test_a_value_shown_as_it_is_holds_no_control_character(doc: object, problem: str) -> None:
    with pytest.raises(jsonfile.Unreadable) as info:
        jsonfile.convert(doc, _Shown)
    assert str(info.value) == problem


def test_printable_values_and_none_pass() -> None:
    assert jsonfile.convert({"id": "ntsconn é", "version": None}, _Shown) == _Shown("ntsconn é")
