"""The sandbox's facts: which files each component's installer writes (the built-in profile's
offline witnesses), its names and logs, the versions it moves between, and how a stand-in
installer may misbehave (:class:`Behaviour`). ``world.py`` builds targets and media from them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spdeploy.sandbox.pe import MACHINES

SP2 = "5.5.2448.0"
SP4 = "5.5.2653.0"

# Component id -> (media folder name, ((payload file name, target-relative path), ...)): the
# installers and the files each writes, which are the built-in profile's offline witnesses. Each
# connector has files of its own (FACTS.md); Lsmexout.exe is shared by the Notes, SNADS and PROFS
# connectors (Q215492-Q215494), and is the Connectivity Controller's witness (see SHARED).
LSMEXOUT = ("Lsmexout.exe", "Connect/Exchconn/Lsmexout.exe")
COMPONENT_FILES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "server": ("Server", (("Store.exe", "bin/Store.exe"),)),
    "calcon": ("Calcon", (("Calcon.exe", "Connect/Calcon/Calcon.exe"),)),
    "ntsconn": (
        "Ntsconn",
        (
            ("Lsntsmex.exe", "Connect/Exchconn/Lsntsmex.exe"),
            ("Lsmexnts.exe", "Connect/Exchconn/Lsmexnts.exe"),
            ("lsntscp0.dll", "Connect/Exchconn/Install/lsntscp0.dll"),
            LSMEXOUT,
        ),
    ),
    "gwxconn": (
        "Gwxconn",
        (
            ("Gw2mex.exe", "Connect/Exchconn/Gw2mex.exe"),
            ("Mex2gw.exe", "Connect/Exchconn/Mex2gw.exe"),
            ("Gwrouter.exe", "Connect/Exchconn/Gwrouter.exe"),
        ),
    ),
    "ovvconn": (
        "Ovvconn",
        (
            ("Lsnje.exe", "Connect/Exchconn/Lsnje.exe"),
            ("Lsvmdia.exe", "Connect/Exchconn/Lsvmdia.exe"),
            ("Lsdiavm.exe", "Connect/Exchconn/Lsdiavm.exe"),
            LSMEXOUT,
        ),
    ),
    "snaconn": ("Snaconn", (("Lssne.exe", "Connect/Exchconn/Lssne.exe"), LSMEXOUT)),
}
# The Connectivity Controller has no installer of its own (Q242250): the connectors' installers
# write its files. A target file listed here carries the controller's version ("coco").
CONTROLLER = "coco"
SHARED = {LSMEXOUT[1]}
# Site data the connectors keep (written with the target, never by a service pack): the PROFS
# tables (Q232495) and the SNADS document its SP3 installs (Q239122).
DATA_FILES: dict[str, dict[str, str]] = {
    "ovvconn": {
        "Connect/Exchconn/Tables/Profs.pab": "PROFS personal address book (site data)",
        "Connect/Exchconn/Tables/Ovdfile.dat": "OV/VM message correlation table (site data)",
        "Connect/Exchconn/Tables/Route.tbl": "OV/VM routing table (site data)",
    },
    "snaconn": {
        "Connect/Exchconn/Doc/Snads.rtf": "{\\rtf1 Microsoft Exchange Connector for SNADS}"
    },
}
# The extra Setup level some articles show is stated for these folders only (Q263702, Q244473).
SETUP_LEVEL = frozenset({"Ntsconn", "Gwconn", "Snaconn", "Ovvconn"})

NAMES: dict[str, str] = {
    "server": "Microsoft Exchange Server",
    "coco": "Microsoft Exchange Connectivity Controller",
    "calcon": "Microsoft Exchange Calendar Connector",
    "ntsconn": "Microsoft Exchange Connector for Lotus Notes",
    "gwxconn": "Microsoft Exchange Connector for Novell GroupWise",
    "ovvconn": "Microsoft Exchange Connector for IBM OfficeVision/VM (PROFS)",
    "snaconn": "Microsoft Exchange Connector for SNADS",
}
# hosted by the Connectivity Controller (Q242250): their target holds Exchconn.ini
EXCHCONN = ("calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn")
DEFAULT_INSTALLED: Mapping[str, str] = {
    "server": SP2,
    "calcon": SP2,
    "ntsconn": SP2,
    "gwxconn": SP2,
}
LMEILOG = "Connect/Exchconn/Setup/lmeilog.txt"  # Q198857
SERVER_LOG = "Exchange Server Setup.log"  # in the root of the install drive (Q182518)
MAPPING_TABLES = {  # Q195697: SP1 overwrote these; the sandbox SP does too
    "Connect/Exchconn/Dxamex/Mapping.tbl": "site mapping: Notes domain ACME -> Exchange site HQ",
    "Connect/Exchconn/Dxamex/Domains.tbl": "site domains: ACME, ACME-EU",
    "Connect/Exchconn/Dxanotes/Mapping.tbl": "site mapping: Exchange site HQ -> Notes domain ACME",
}
HANG_SECONDS = 600
SIMPLE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Behaviour:
    """What a sandbox installer does when run."""

    exit_code: int = 0
    change: bool = True  # copy the payload into the target (False: "success but unchanged")
    hang: bool = False  # start a child and a grandchild (both ``sleep``), then sleep forever
    output_bytes: int = 0  # write this many bytes to stdout
    write_marker: bool = True  # append "<id> ran" to <target>/../spdeploy-sandbox-ran.txt
    delay_s: float = 0.0  # sleep this long before changing anything (a slow installer)
    delete_self: bool = False  # remove its own (staged) copy as it starts, as some setups do
    log_line: str = ""  # appended to its setup log before it exits (a known failure's text)

    def __post_init__(self) -> None:
        if not 0 <= self.exit_code <= 0xFFFFFFFF:
            raise ValueError(f"exit_code must be in 0..2**32-1 (a DWORD), got {self.exit_code}")
        if self.output_bytes < 0:
            raise ValueError(f"output_bytes must be >= 0, got {self.output_bytes}")
        if self.delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {self.delay_s}")

    @property
    def posix_exit_code(self) -> int:
        """The code the script actually exits with: a POSIX status keeps only the low 8 bits.

        Windows' 3010 ("reboot required") arrives as 194 and 1641 as 105; the sandbox site
        profile maps those two back to "reboot".
        """
        return self.exit_code & 0xFF


def check_ids(
    ids: Sequence[str] | Mapping[str, Any], what: str, extra: tuple[str, ...] = ()
) -> None:
    known = (*COMPONENT_FILES, *extra)
    unknown = [cid for cid in ids if cid not in known]
    if unknown:
        raise ValueError(f"{what}: unknown component {unknown[0]!r} (known: {', '.join(known)})")


def write_text(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    if mode is not None:
        path.chmod(mode)


def machine_for(platform: str) -> str:
    for machine in MACHINES:
        if machine.lower() == platform.lower():
            return machine
    raise ValueError(f"unknown platform {platform!r} (expected one of {', '.join(MACHINES)})")
