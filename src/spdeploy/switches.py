"""Installer switches as people give them: ``--args ID="/s /t"`` on the command line, a string
or a list in the library API. Split as a shell would, but never guessed (SPEC §8)."""

from __future__ import annotations

from spdeploy.errors import BadInput

__all__ = ["parse_args_overrides", "split_switches"]


def split_switches(text: str, where: str) -> tuple[str, ...]:
    """Installer switches split at spaces, quotes grouping; backslashes are kept as typed,
    because they are Windows path separators (``/d:C:\\exchsrvr\\bin``), not escapes."""
    import shlex

    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.escape = ""
    lexer.commenters = ""
    try:
        return tuple(lexer)
    except ValueError as exc:
        raise BadInput(f"{where}: {exc}") from None


def parse_args_overrides(values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """``--args ID="..."``: switches for one component's installer."""
    result: dict[str, tuple[str, ...]] = {}
    for value in values:
        cid, sep, text = value.partition("=")
        if not sep or not cid:
            raise BadInput(
                f'--args {value!r}: expected ID="SWITCHES", e.g. '
                '--args ntsconn="/your-switch {target}" (spdeploy never guesses switches)'
            )
        result[cid] = split_switches(text, f"--args {value!r}")
    return result
