"""Profile templates: ``{name}`` placeholders and nothing else of ``str.format``.

``str.format`` would also accept ``{target.attr}``, ``{platform[0]}``, ``{language:>9}`` and
``{media!r}``: attribute lookups and format specs that no profile needs and that turn a typo into
a crash. Templates are checked against the placeholders their key allows, once when the profile
is loaded and again when they are filled in.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Mapping

from spdeploy.errors import did_you_mean


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
            known = ["{" + p + "}" for p in allowed]
            expected = ", ".join(known)
            if name not in allowed:  # a typo ({taget}), not a format spec on a known one
                expected += did_you_mean("{" + name + "}", known)
            return f"unknown placeholder {{{field}}} in {template!r} (expected {expected})"
    return None


def names(template: str) -> list[str]:
    """The placeholder names ``template`` uses, in order (none if it cannot be parsed)."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError:
        return []


def render(template: str, variables: Mapping[str, str]) -> str:
    """Fill ``template`` in; ValueError (with :func:`problem`'s words) when it cannot be."""
    wrong = problem(template, variables.keys())
    if wrong is not None:
        raise ValueError(wrong)
    return template.format_map(variables)
