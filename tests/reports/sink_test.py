"""What a terminal is given: control and format characters spelt out, in every sink."""

from __future__ import annotations

import pytest

from spdeploy.reports.sink import TextSink, plain_table, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Ntsconn.exe", "Ntsconn.exe"),
        ("Connector für Lotus Notes 日本語", "Connector für Lotus Notes 日本語"),
        # an escape sequence that retitles the terminal, then erases the line and forges one
        (
            "X\x1b]0;PWNED\x07\x1b[2K\rcalcon fine\nnext.exe",
            "X\\x1b]0;PWNED\\x07\\x1b[2K\\x0dcalcon fine\\x0anext.exe",
        ),
        ("abc\u202egnp.exe", "abc\\u202egnp.exe"),  # a right-to-left override: "abcexe.png"
        ("a\x7fb\x85c", "a\\x7fb\\x85c"),  # DEL and a C1 control
        ("w\udcff", "w\\udcff"),  # a byte that was not UTF-8 in a file name
        ("a\tb", "a   b"),
    ],
)
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_the_text_sink_and_plain_tables_spell_it_out() -> None:
    sink = TextSink()
    sink.heading("media \x1b[2J")
    sink.line("staged \x1b[31mred")
    sink.table("in \r/tmp", ["id", "installer"], [["calcon", "Calcon\n.exe"]])
    text = sink.text()
    assert "\x1b" not in text and "\r" not in text
    assert "== media \\x1b[2J ==" in text and "staged \\x1b[31mred" in text
    assert "in \\x0d/tmp" in text and "Calcon\\x0a.exe" in text
    assert plain_table("t", ["a"], [["x\ny"]]).splitlines() == ["t", "a", "x\\x0ay"]
