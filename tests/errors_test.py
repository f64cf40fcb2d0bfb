"""The exception tree drawn in ``errors.py``'s docstring is the one the module defines."""

from __future__ import annotations

import inspect
import re

from spdeploy import errors


def test_the_drawn_tree_is_every_class_with_its_parent_and_exit_code() -> None:
    doc = errors.__doc__ or ""
    tree = doc[doc.index("SpdeployError (") :].split("\n\n")[0]
    drawn: dict[str, tuple[str | None, int]] = {}
    parents: list[str] = []  # the class drawn last at each depth
    for line in tree.splitlines():
        match = re.match(r"^([│ ]*(?:[├└]── )?)(\w+) \((\d+)\)", line)
        assert match is not None, line
        depth = len(match[1]) // 4
        parents[depth:] = [match[2]]
        drawn[match[2]] = (parents[depth - 1] if depth else None, int(match[3]))
    defined = {
        name: (cls.__base__.__name__ if cls is not errors.SpdeployError else None, cls.exit_code)
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.SpdeployError)
    }
    assert drawn == defined


def test_every_other_class_is_named_for_what_it_is() -> None:
    others = [
        name
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if cls.__module__ == errors.__name__ and not issubclass(cls, errors.SpdeployError)
    ]
    assert others == ["RunInterrupted"]
    assert issubclass(errors.RunInterrupted, KeyboardInterrupt)
    assert "RunInterrupted is outside that tree: a KeyboardInterrupt" in (errors.__doc__ or "")
