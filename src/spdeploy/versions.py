"""Version strings compared numerically, part by part (``5.5.2653.0 > 5.5.2448``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import total_ordering

# At most 16 parts of at most 18 digits: real versions are far shorter, and int() of thousands of
# digits is slow at best and refused at worst (Python's int-string limit).
_VERSION = re.compile(r"^\s*v?(\d{1,18}(?:[.,]\d{1,18}){0,15})\s*$")


@total_ordering
class Version:
    """A dotted numeric version; missing trailing parts count as zero."""

    __slots__ = ("parts", "text", "written")

    def __init__(self, text: str) -> None:
        match = _VERSION.match(text)
        if not match:
            raise ValueError(f"not a version: {text!r} (expected numbers separated by dots)")
        self.text = match.group(1).replace(",", ".")
        self.written = tuple(int(p) for p in self.text.split("."))  # as many parts as given
        parts = list(self.written)
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        self.parts = tuple(parts)  # for comparing: 5.5.2448.0 == 5.5.2448

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.parts == other.parts

    def __lt__(self, other: Version) -> bool:
        return self.parts < other.parts

    def __hash__(self) -> int:
        return hash(self.parts)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Version({self.text!r})"

    def startswith(self, prefix: Version) -> bool:
        """True when ``prefix``'s parts, as written, begin this version: 5.5.2448.8 starts with
        5.5.2448, and 5.5.2448 with 5.5.2448.0; but not 5.5.2448.8 with 5.5.0, nor 6.1 with 6.0
        (trailing zeros are parts of a prefix: dropping them made "5.5.0" mean "5.5")."""
        size = len(prefix.written)
        mine = self.written[:size] + (0,) * (size - len(self.written))
        return mine == prefix.written


def is_version(text: str) -> bool:
    return bool(_VERSION.match(text))


def level_name(levels: Mapping[str, str], version: str | None) -> str | None:
    """Name the level of ``version`` from a profile's ``levels`` table.

    An exact prefix match gives the name (5.5.2448.8 is "SP2"); a build between two levels gives the
    lower one with "+" (a post-SP2 hotfix 5.5.2522.0 is "SP2+"); below every level gives None.
    """
    if version is None or not is_version(version):
        return None
    v = Version(version)
    best: tuple[Version, str] | None = None
    for key, name in levels.items():
        k = Version(key)
        if v.startswith(k):
            return name
        if k <= v and (best is None or k > best[0]):
            best = (k, name)
    return f"{best[1]}+" if best else None
