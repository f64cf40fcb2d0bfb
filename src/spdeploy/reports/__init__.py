"""Renderers of results: the stable JSON shapes (SPEC §5), and status reports for other tools.

``status --format`` picks one: ``table`` and ``json`` (what the terminal and scripts read),
``junit`` (CI servers), ``prometheus`` (node_exporter's textfile collector), ``html`` (people).
Each renderer module is imported only when its format is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


FORMATS = ("table", "json", "junit", "prometheus", "html")
NEEDS_HISTORY = ("prometheus", "html")  # these show the last runs as well as the plan
_BY_EXTENSION = {
    ".txt": "table",
    ".json": "json",
    ".xml": "junit",
    ".prom": "prometheus",
    ".html": "html",
    ".htm": "html",
}


def output_format(path: Path, chosen: str | None, allowed: Sequence[str]) -> str:
    """The format to write ``path`` in: ``chosen`` (``--format``), else its extension's.

    Bad input (exit 2, before anything is written) when the two disagree, when the extension is
    none of the known ones, when there is neither, when the command does not write that format,
    or when the folder to write in is missing or is a file: a report written in the wrong
    format, or into a folder a typo created, is worse than an error.
    """
    from spdeploy.errors import BadInput

    known = ", ".join(e for e, f in _BY_EXTENSION.items() if f in allowed)
    extension = path.suffix.lower()
    told = _BY_EXTENSION.get(extension)
    if extension and told is None:
        raise BadInput(f"{path}: unknown report extension {extension!r} (expected {known})")
    if chosen is not None and told is not None and chosen != told:
        raise BadInput(
            f"{path}: the extension {extension} says {told}, but --format says {chosen}; "
            "name the file after its format, or leave --format out"
        )
    fmt = chosen or told
    if fmt is None:
        raise BadInput(f"{path}: no extension to tell the format by (expected {known})")
    if fmt not in allowed:
        raise BadInput(f"{path}: this command writes {known}, not {fmt}")
    folder = path.parent
    if not folder.exists():
        raise BadInput(f"{path}: the folder {folder} does not exist (it is not created for you)")
    if not folder.is_dir():
        raise BadInput(f"{path}: {folder} is a file, not a folder")
    return fmt
