"""Where a view writes: a :class:`Sink` takes lines and tables, each with a style a terminal
may show. The terminal (``output.Output``) is one; :class:`TextSink` keeps plain text, what a
pipe, a log or a ``.txt`` report gets.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Protocol

__all__ = ["Sink", "TextSink", "plain_table", "printable"]


def printable(text: str) -> str:
    """``text`` as a terminal may be given it: a control character (an escape sequence that
    would rewrite the screen, a carriage return or newline that forges a line) or a Unicode
    format character (a right-to-left override) is spelt out as ``\\x1b``, ``\\u202e``; a tab
    becomes spaces. File names on hostile media, and what installers write, reach the screen."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _spelt(c) for c in text.expandtabs(4))


def _spelt(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


class Sink(Protocol):
    """Where a view writes: lines and tables, each with a style a terminal may show."""

    verbose: bool

    def line(self, text: str = "", style: str | None = None, *, always: bool = False) -> None:
        """``always``: a result, shown with -q too; else progress and detail."""
        ...

    def heading(self, text: str) -> None: ...

    def table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        styles: Sequence[str | None] | None = None,
        *,
        always: bool = False,
    ) -> None: ...


def plain_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table as plain columns: what a pipe, a log and a ``.txt`` report get."""
    title, rows = printable(title), [[printable(cell) for cell in row] for row in rows]
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)
    ]
    out = [title]
    for row in (columns, *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


class TextSink:
    """A sink that keeps plain text (no colour), as a pipe would show it."""

    def __init__(self, *, verbose: bool = False, quiet: bool = False) -> None:
        self.verbose = verbose
        self.quiet = quiet
        self.buffer = io.StringIO()

    def line(self, text: str = "", style: str | None = None, *, always: bool = False) -> None:
        if always or not self.quiet:
            self.buffer.write(printable(text) + "\n")

    def heading(self, text: str) -> None:
        self.line()
        self.line(f"== {text} ==")

    def table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        styles: Sequence[str | None] | None = None,
        *,
        always: bool = False,
    ) -> None:
        if always or not self.quiet:
            self.buffer.write(plain_table(title, columns, rows))

    def text(self) -> str:
        return self.buffer.getvalue()
