"""Profile templates: ``{name}`` placeholders and nothing else of ``str.format``.

``str.format`` would also accept ``{target.attr}``, ``{platform[0]}``, ``{language:>9}`` and
``{media!r}``: attribute lookups and format specs that no profile needs and that turn a typo into
a crash. Templates are checked against the placeholders their key allows, once when the profile
is loaded and again when they are filled in.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Mapping


def problem(template: str, allowed: Collection[str]) -> str | None:
    """What is wrong with ``template`` (for an error message), or None."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"bad template {template!r}: {exc}"
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed or spec or conversion:
            field = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            expected = ", ".join("{" + p + "}" for p in allowed)
            return f"unknown placeholder {{{field}}} in {template!r} (expected {expected})"
    return None


def render(template: str, variables: Mapping[str, str]) -> str:
    """Fill ``template`` in; ValueError (with :func:`problem`'s words) when it cannot be."""
    wrong = problem(template, variables.keys())
    if wrong is not None:
        raise ValueError(wrong)
    return template.format_map(variables)
