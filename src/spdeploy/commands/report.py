"""``spdeploy report --from DIR``: the fleet view of the hosts' result files."""

from __future__ import annotations

from pathlib import Path

from spdeploy.reports import fleet, output_format
from spdeploy.reports.render import render_fleet


def report(
    directory: Path, *, max_age: str, output: Path | None, file_format: str | None
) -> fleet.Fleet:
    """Read every host's result (older than ``max_age``: stale); write ``output`` when given,
    its format checked before anything is read, so a bad one writes nothing."""
    oldest = fleet.parse_duration(max_age, "--max-age")
    chosen = None if output is None else output_format(output, file_format, fleet.FORMATS)
    hosts = fleet.load(directory, max_age=oldest)
    if output is not None and chosen is not None:
        from spdeploy.fsutil import write_atomic

        write_atomic(output, render_fleet(chosen, hosts))
    return hosts
