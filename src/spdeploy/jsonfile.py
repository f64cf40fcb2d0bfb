"""JSON files read back from disk, decoded by type: saved plans, fleet results, backup manifests.

Each format's types are frozen dataclasses in the module that owns it (``savedplan``,
``reports.fleet``, ``backup``); msgspec decodes into them strictly (``"1"`` is no integer, ``1``
no ``true``) and says where a problem is, which this module puts in one line::

    $.selection.media: expected str, got 3
    $.result.components[0].name: missing
    $.inventory.calcon.installed: expected bool, got 1

msgspec is imported inside these functions, never at the top of a module: it costs more to import
(about 15 ms) than ``status`` may spend, and writers (``apply``, ``plan --save``) never need it.
The types are dataclasses rather than ``msgspec.Struct``s for the same reason: a ``Struct`` cannot
be declared without importing msgspec, and msgspec decodes dataclasses just as strictly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class Invalid(ValueError):
    """Raised by a type's ``__post_init__`` for what no type can say (a control character, a
    NUL in a path): ``field`` goes on the path msgspec reports, which stops at the object."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field


class Unreadable(Exception):
    """Not the JSON its reader expects; ``str(exc)`` is the problem in one line, without the
    file's name (each reader frames it in its own message)."""


def parse(text: str, kind: type[Any] | None = None) -> Any:
    """The JSON document in ``text``: dicts, lists, strings, numbers, booleans and None.

    What JSON cannot hold is refused, whatever key it is under: NaN and Infinity (not JSON;
    ``report --format json`` would print them back), numbers past a float's range (``1e999``) or
    Python's limit on an integer's digits, and nesting deeper than the interpreter recurses.
    ``kind``, the type the document will be converted to, names the place of such a number.
    """
    import msgspec

    try:
        return msgspec.json.decode(text)
    except RecursionError:
        raise Unreadable("nested too deeply") from None
    except msgspec.ValidationError as exc:  # a number it cannot hold
        path, problem = _split(str(exc))
        if "[...]" in path and kind is not None:
            # msgspec writes every key of an untyped object as [...]; decoding by type names
            # the fields (when it stops at this problem, not at another one before it)
            try:
                msgspec.json.decode(text, type=kind, strict=True)
            except msgspec.ValidationError as typed:
                if _split(str(typed))[1] == problem:
                    path = _split(str(typed))[0]
        where = "" if "[...]" in path else f"{path}: "
        raise Unreadable(where + _plain(problem)) from None
    except msgspec.DecodeError as exc:
        raise Unreadable(_malformed(text, str(exc))) from None


def convert(doc: Any, kind: type[T]) -> T:
    """``doc`` (from :func:`parse`) as ``kind``, strictly; else :class:`Unreadable` naming the
    place: ``$.selection.target: missing``."""
    import msgspec

    try:
        return msgspec.convert(doc, type=kind, strict=True)
    except RecursionError:
        raise Unreadable("nested too deeply") from None
    except msgspec.ValidationError as exc:
        raise Unreadable(_described(doc, kind, exc)) from None


def require_printable(obj: object, *keys: str) -> None:
    """Ids, versions and statuses read from a file are shown as they are, in tables and
    sentences: one with a control character (an escape sequence that would rewrite the
    terminal, a newline that breaks a row in two) is :class:`Invalid`. For a mapping, its keys
    (component ids) are checked."""
    for key in keys:
        value = getattr(obj, key)
        if isinstance(value, str) and not value.isprintable():
            raise Invalid(key, f"holds control characters: {shown(value)}")
        if isinstance(value, Mapping):
            bad = next((k for k in value if isinstance(k, str) and not k.isprintable()), None)
            if bad is not None:
                raise Invalid(key, f"a key holds control characters: {shown(bad)}")


def shown(value: Any) -> str:
    """``value`` as JSON, cut to 40 characters: escapes spelt out, so a message stays one line."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:39] + "…"


_AT = re.compile(r"(?s)(.*) - at `(\$.*)`")
_SEGMENT = re.compile(r"\.(\w+)|\[(\d+)\]|\[\.\.\.\]")
_MISSING = re.compile(r"Object missing required field `(.+)`")
_EXPECTED = re.compile(r"Expected `(.+)`, got `(\w+)`")
_BYTE = re.compile(r"(.*) \(byte (\d+)\)")


def _split(message: str) -> tuple[str, str]:
    """msgspec's ``Expected `str`, got `int` - at `$.a``` as ``("$.a", "Expected `str`, ...")``."""
    match = _AT.fullmatch(message)
    return (match[2], match[1]) if match else ("$", message)


def _described(doc: Any, kind: type[Any], exc: Exception) -> str:
    at, problem = _split(str(exc))
    steps = _steps(at)
    if steps is None:  # a path this module does not know how to read: as msgspec says it
        return f"{at}: {_plain(problem)}"
    steps = _name_keys(doc, kind, steps, str(exc))
    if isinstance(exc.__cause__, Invalid):
        steps.append(exc.__cause__.field)
    elif missing := _MISSING.fullmatch(problem):
        steps.append(missing[1])
        problem = "missing"
    elif expected := _EXPECTED.fullmatch(problem):
        found, value = _lookup(doc, steps)
        got = shown(value) if found and not isinstance(value, dict | list) else expected[2]
        problem = f"expected {expected[1]}, got {got}"
    return f"{_path(steps)}: {_plain(problem)}"


_Step = str | int | None  # a field or key, a list index, a key msgspec does not name


def _steps(path: str) -> list[_Step] | None:
    """``$.a[0][...]`` as ``["a", 0, None]``."""
    steps: list[_Step] = []
    end = 1
    for match in _SEGMENT.finditer(path, 1):
        if match.start() != end:
            return None
        field, index = match[1], match[2]
        steps.append(field if field is not None else int(index) if index is not None else None)
        end = match.end()
    return steps if end == len(path) else None


def _name_keys(doc: Any, kind: type[Any], steps: list[_Step], message: str) -> list[_Step]:
    """msgspec writes a mapping's key as ``[...]``: find it, as the first entry of that mapping
    that, left alone in it, fails the same way (msgspec stops at the first, in the file's order).
    Only an error pays for this."""
    import msgspec

    named: list[_Step] = []
    node = doc
    for step in steps:
        if step is None and isinstance(node, dict):
            for key in node:
                try:
                    msgspec.convert(_alone(doc, named, key), type=kind, strict=True)
                except msgspec.ValidationError as exc:
                    if str(exc) == message:
                        step = key
                        break
            if step is None:  # not found: the rest of the path cannot be followed
                return named + steps[len(named) :]
        found, node = _lookup(node, [step])
        named.append(step)
        if not found:
            return named + steps[len(named) :]
    return named


def _alone(node: Any, trail: Sequence[_Step], key: str) -> Any:
    """``node`` with the mapping at ``trail`` cut down to its ``key``."""
    if not trail:
        return {key: node[key]}
    head, rest = trail[0], trail[1:]
    if isinstance(node, dict):
        return {**node, head: _alone(node[head], rest, key)}
    copy = list(node)
    assert isinstance(head, int)
    copy[head] = _alone(node[head], rest, key)
    return copy


def _lookup(node: Any, steps: Sequence[_Step]) -> tuple[bool, Any]:
    for step in steps:
        in_dict = isinstance(node, dict) and isinstance(step, str) and step in node
        in_list = isinstance(node, list) and isinstance(step, int) and step < len(node)
        if not (in_dict or in_list):
            return False, None
        node = node[step]
    return True, node


def _path(steps: Sequence[_Step]) -> str:
    """``$.inventory.calcon``; a key that is not a plain word as ``["a b"]``."""
    out = "$"
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        elif step is None:
            out += "[...]"
        elif re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", step):
            out += f".{step}"
        else:
            out += f"[{json.dumps(step)}]"
    return out


def _plain(problem: str) -> str:
    """msgspec's sentence as part of one: no backticks, lower case to begin with."""
    text = problem.replace("`", "")
    return text[:1].lower() + text[1:]


def _malformed(text: str, message: str) -> str:
    """``line 3, column 7: invalid character`` from msgspec's ``... (byte 41)``."""
    match = _BYTE.fullmatch(message)
    if match is None:
        return _plain(message)
    what = match[1].removeprefix("JSON is malformed: ")
    data = text.encode("utf-8", "surrogatepass")
    at = int(match[2])
    if word := re.match(rb"NaN|Infinity", data[at:]):  # Python's json writes them
        what = f"{word[0].decode()} is not a number JSON allows"
    line = data.count(b"\n", 0, at) + 1
    column = len(data[data.rfind(b"\n", 0, at) + 1 : at].decode("utf-8", "replace")) + 1
    return f"line {line}, column {column}: {what}"
