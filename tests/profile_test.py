"""Profiles: built-in exchange55, ``extends``, ordering, precise errors (SPEC §3, §7, §10)."""

from __future__ import annotations

import json
import re
import sys
from importlib import resources
from pathlib import Path

import pytest
from helpers import TINY, cli, comp, write

from spdeploy.errors import ProfileError
from spdeploy.inventory import target_variables
from spdeploy.probes import AnyOf, Exists, PeVersion, Registry, Service
from spdeploy.profile import TARGET_PROBE_PLACEHOLDERS, Profile, builtin_names, load_profile
from spdeploy.sandbox.pe import write_pe
from spdeploy.versions import level_name

CONNECTORS = ("calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn")
EXCHANGE_IDS = ("server", "coco", *CONNECTORS)


# A component with no installer of its own, serviced by others (the Connectivity Controller).
SERVICED = """\
[[component]]
id = "c"
name = "Controller"
installer = []
serviced_by = [{by}]
installed = {{ exists = "c.ini" }}
"""
KNOWN = "known_failures = [{{ match = {match}, in = {where}, article = 'Q1', remedy = 'fix' }}]"


@pytest.fixture(scope="module")
def exchange() -> Profile:
    return load_profile("exchange55")


# -- the built-in exchange55 ---------------------------------------------------------------------


def test_exchange55_is_built_in(exchange: Profile) -> None:
    assert "exchange55" in builtin_names()
    assert exchange.id == "exchange55"
    assert exchange.source == "<built-in exchange55>"
    assert set(exchange.platforms) == {"I386", "Alpha"}
    assert "alpha" in exchange.platforms["Alpha"]
    assert {"x86", "x86_64", "amd64", "i386", "i686"} <= set(exchange.platforms["I386"])
    assert exchange.levels["5.5.2448"] == "SP2"
    assert exchange.levels["5.5.2653"] == "SP4"


def test_exchange55_levels_match_the_kb_builds(exchange: Profile) -> None:
    # Q158530, Q166349: RTM 1960, SP1 2232, SP2 2448, SP3 2650, SP4 2653.
    for version, name in {
        "5.5.1960": "RTM",
        "5.5.2232": "SP1",
        "5.5.2448": "SP2",
        "5.5.2650": "SP3",
        "5.5.2653": "SP4",
    }.items():
        assert exchange.levels[version] == name
    assert level_name(exchange.levels, "5.5.1960.8") == "RTM"  # RTM files 1960.5-.8 (Q176812)
    assert level_name(exchange.levels, "5.5.2448.8") == "SP2"  # SP2 connectors (Q216340)
    assert level_name(exchange.levels, "5.5.2653.0") == "SP4"


@pytest.mark.parametrize(
    ("cid", "version", "name"),
    [
        # GroupWise releases of their own between SP2 and SP3, not "SP2" (Q216340, Q222186)
        ("gwxconn", "5.5.2521.0", "GroupWise 2521 (Web 3)"),
        ("gwxconn", "5.5.2522.0", "GroupWise 2522"),
        ("gwxconn", "5.5.2580.0", "GroupWise 2580"),
        ("gwxconn", "5.5.2600.0", "GroupWise 2580+"),
        ("gwxconn", "5.5.2653.0", "SP4"),
        # ... for the GroupWise connector only: a server build in that range is "SP2+"
        ("server", "5.5.2522.0", "SP2+"),
        # connector builds above the server's name the SP they came after (Q256032, Q289795)
        ("ntsconn", "5.5.2651.86", "SP3 fix"),
        ("gwxconn", "5.5.2652.0", "SP3 fix"),
        ("ntsconn", "5.5.2654.0", "SP4 fix"),
        ("ntsconn", "5.5.2655.24", "SP4 fix"),
    ],
)
def test_exchange55_names_connector_builds_as_the_articles_do(
    exchange: Profile, cid: str, version: str, name: str
) -> None:
    assert level_name(exchange.levels_for(cid), version) == name


def test_exchange55_components_in_order(exchange: Profile) -> None:
    assert tuple(c.id for c in exchange.components) == EXCHANGE_IDS
    assert tuple(c.id for c in exchange.ordered()) == EXCHANGE_IDS


def test_exchange55_connectors_run_after_the_server(exchange: Profile) -> None:
    assert exchange.component("server").after == ()
    for cid in ("coco", *CONNECTORS):
        assert exchange.component(cid).after == ("server",), cid


def test_exchange55_installers_are_interactive_without_switches(exchange: Profile) -> None:
    for part in exchange.components:
        assert part.interactive is bool(part.installer), part.id  # coco runs nothing of its own
        assert part.args == (), part.id


def test_exchange55_server(exchange: Profile) -> None:
    server = exchange.component("server")
    assert server.installer == (
        "{language}/Server/Setup/{platform}/Update.exe",
        "*/{language}/Server/Setup/{platform}/Update.exe",  # Sp4\Eng\Server\... (Q324332)
    )
    assert isinstance(server.installed, AnyOf)
    kinds = [type(p) for p in server.installed.probes]
    assert kinds == [Registry, Exists]
    registry = server.installed.probes[0]
    assert isinstance(registry, Registry)
    assert registry.key == r"HKLM\SOFTWARE\Microsoft\Exchange\Setup"
    assert registry.value == "Services"
    assert server.installed.probes[1] == Exists("bin/Store.exe")
    assert server.version == PeVersion("bin/Store.exe")
    assert server.media_version == PeVersion("{installer}")
    assert server.logs == ("{drive}/Exchange Server Setup.log",)
    assert {r.article for r in server.known_failures} == {"Q255181", "Q324332", "Q290226"}
    assert server.requires == {}


def test_exchange55_coco_is_serviced_by_every_connector(exchange: Profile) -> None:
    # Q242250's summary: Update.exe leaves the Connectivity Controller behind; each connector's
    # own executable performs its service-pack installation.
    coco = exchange.component("coco")
    assert coco.name == "Microsoft Exchange Connectivity Controller"
    assert coco.installer == ()
    assert coco.serviced_by == CONNECTORS
    assert isinstance(coco.installed, AnyOf)
    assert coco.installed.probes == (
        Service("MSExchangeCoCo"),
        Exists("Connect/Exchconn/Exchconn.ini"),
    )
    assert isinstance(coco.version, AnyOf)
    assert coco.version.probes == (
        Service("MSExchangeCoCo"),
        PeVersion("Connect/Exchconn/Lsmexout.exe"),
    )


def test_exchange55_ntsconn(exchange: Profile) -> None:
    nts = exchange.component("ntsconn")
    assert nts.fallback_languages == ("Eng",)
    assert nts.backup == (
        "Connect/Exchconn/Dxamex",
        "Connect/Exchconn/Dxanotes",
        "Connect/Exchconn/Exchconn.ini",
    )
    assert nts.installer[:2] == (
        "{language}/Exchconn/Setup/{platform}/Ntsconn/Ntsconn.exe",
        "{language}/Exchconn/Setup/{platform}/Setup/Ntsconn/Ntsconn.exe",
    )
    assert isinstance(nts.installed, AnyOf)
    assert nts.installed.probes == (
        Service("LME-NOTES"),
        Exists("Connect/Exchconn/Lsntsmex.exe"),
        Exists("Connect/Exchconn/Lsmexnts.exe"),
        Exists("Connect/Exchconn/Install/lsntscp0.dll"),
    )
    assert nts.logs == ("Connect/Exchconn/Setup/lmeilog.txt",)
    assert [t.article for t in nts.todo_after] == ["Q286559"]
    assert nts.todo_after[0].when == "fallback-language"


def test_exchange55_no_connector_is_proven_by_a_shared_file(exchange: Profile) -> None:
    # Lsmexout.exe runs for the Notes, SNADS and PROFS connectors alike (Q215492-Q215494): it
    # proves none of them.
    for cid in CONNECTORS:
        part = exchange.component(cid)
        assert "Lsmexout" not in part.installed.describe(), cid
        assert part.version is not None
        assert "Lsmexout" not in part.version.describe(), cid


def test_exchange55_only_ntsconn_falls_back_to_english(exchange: Profile) -> None:
    for part in exchange.components:
        if part.id != "ntsconn":
            assert part.fallback_languages == (), part.id


def test_exchange55_backs_up_the_controller_settings_and_the_profs_tables(
    exchange: Profile,
) -> None:
    # Exchconn.ini holds the connectors' configuration, Exchconn\Tables the PROFS tables (Q232495)
    for cid in CONNECTORS:
        assert "Connect/Exchconn/Exchconn.ini" in exchange.component(cid).backup, cid
    assert "Connect/Exchconn/Tables" in exchange.component("ovvconn").backup
    assert exchange.component("server").backup == ()


def test_exchange55_gwxconn_tries_every_folder_spelling(exchange: Profile) -> None:
    candidates = exchange.component("gwxconn").installer
    prefix = "{language}/Exchconn/Setup/{platform}"
    for folder in ("Gwxconn", "Gwconn", "Gwxcon"):
        assert f"{prefix}/{folder}/{folder}.exe" in candidates, folder
        assert f"{prefix}/{folder}/*.exe" in candidates, folder
        # the exact name is tried before the glob in the same folder
        exact = candidates.index(f"{prefix}/{folder}/{folder}.exe")
        assert exact < candidates.index(f"{prefix}/{folder}/*.exe")
    # the extra Setup level is stated for Gwconn only (Q263702, Q244473)
    assert f"{prefix}/Setup/Gwconn/Gwconn.exe" in candidates
    assert not any("Setup/Gwxcon" in c for c in candidates)
    # lower priority: a top folder (Ex55sp3yk\, Q247785), then no language (Q244473, Q222186)
    assert candidates.index("*/" + prefix + "/Gwxcon/Gwxcon.exe") > candidates.index(
        f"{prefix}/Setup/Gwconn/*.exe"
    )
    assert candidates[-2:] == (
        "Exchconn/Setup/{platform}/Gwxconn/Gwxconn.exe",
        "Exchconn/Setup/{platform}/Gwxconn/*.exe",
    )


def test_exchange55_gwxconn_ranks_the_router_last(exchange: Profile) -> None:
    # Gw2mex.exe, Mex2gw.exe, Dxagwise.dll are the GroupWise connector's own (Q256032); the
    # router (MSExchangeGWRtr, Gwrouter.exe, Q198902) also ships in a Calendar fix (Q289795).
    gw = exchange.component("gwxconn")
    assert isinstance(gw.installed, AnyOf)
    assert gw.installed.probes == (
        Service("LME-GWISE"),
        Exists("Connect/Exchconn/Gw2mex.exe"),
        Exists("Connect/Exchconn/Mex2gw.exe"),
        Exists("Connect/Exchconn/Dxagwise.dll"),
        Service("MSExchangeGWRtr"),
        Exists("Connect/Exchconn/Gwrouter.exe"),
    )
    assert isinstance(gw.version, AnyOf)
    assert gw.version.probes[-1] == PeVersion("Connect/Exchconn/Gwrouter.exe")
    assert gw.version.probes[1] == PeVersion("Connect/Exchconn/Gw2mex.exe")


def test_exchange55_groupwise_and_calendar_need_sp1(exchange: Profile) -> None:
    # Q247785: "These connectors require that you install Service Pack 1."
    for cid in CONNECTORS:
        expected = {"server": "5.5.2232"} if cid in ("gwxconn", "calcon") else {}
        assert exchange.component(cid).requires == expected, cid


@pytest.mark.parametrize(
    ("cid", "folder", "service", "files"),
    [
        ("calcon", "Calcon", "MSExchangeCalCon", ("Connect/Calcon/Calcon.exe",)),
        (
            "ovvconn",
            "Ovvconn",
            "LME-PROFS",
            (
                "Connect/Exchconn/Lsnje.exe",
                "Connect/Exchconn/Lsvmdia.exe",
                "Connect/Exchconn/Lsdiavm.exe",
                "Connect/Exchconn/Tables/Profs.pab",
                "Connect/Exchconn/Tables/Ovdfile.dat",
            ),
        ),
        (
            "snaconn",
            "Snaconn",
            "LME-SNADS",
            ("Connect/Exchconn/Lssne.exe", "Connect/Exchconn/Doc/Snads.rtf"),
        ),
    ],
)
def test_exchange55_other_connectors(
    exchange: Profile, cid: str, folder: str, service: str, files: tuple[str, ...]
) -> None:
    part = exchange.component(cid)
    prefix = "{language}/Exchconn/Setup/{platform}"
    assert part.installer[0] == f"{prefix}/{folder}/{folder}.exe"
    assert f"{prefix}/{folder}/*.exe" in part.installer
    assert f"*/{prefix}/{folder}/{folder}.exe" in part.installer
    assert f"Exchconn/Setup/{{platform}}/{folder}/{folder}.exe" in part.installer
    # no article puts the Calendar Connector under an extra Setup level (Q244473)
    assert (f"{prefix}/Setup/{folder}/{folder}.exe" in part.installer) == (cid != "calcon")
    assert isinstance(part.installed, AnyOf)
    assert part.installed.probes == (Service(service), *(Exists(f) for f in files))


def test_exchange55_setup_logs_only_where_an_article_documents_one(exchange: Profile) -> None:
    # lmeilog.txt for the Notes, SNADS and PROFS setups (Q198857); none for Calendar, GroupWise
    for cid in ("ntsconn", "ovvconn", "snaconn"):
        assert exchange.component(cid).logs == ("Connect/Exchconn/Setup/lmeilog.txt",), cid
    for cid in ("calcon", "gwxconn", "coco"):
        assert exchange.component(cid).logs == (), cid


def test_exchange55_known_failures_cite_the_articles(exchange: Profile) -> None:
    articles = {
        cid: {r.article for r in exchange.component(cid).known_failures} for cid in CONNECTORS
    }
    assert articles["ntsconn"] == {"Q198857", "Q234293", "Q230251", "Q216340", "Q234291"}
    for cid in ("ovvconn", "snaconn"):
        assert articles[cid] == {"Q198857", "Q234293", "Q216340", "Q234291"}, cid
    assert articles["gwxconn"] == {"Q234293", "Q234291"}
    assert articles["calcon"] == set()
    notes = exchange.component("ntsconn").known_failures
    temp = next(r for r in notes if r.article == "Q198857")
    assert temp.places == ("Connect/Exchconn/Setup/lmeilog.txt",)
    assert temp.match.search("ERROR: unable to install lsntscp0 admin extension [8007010b]")
    assert "Temp" in temp.remedy
    assert [t.article for t in exchange.component("calcon").todo_after] == ["Q286176"]


def test_exchange55_toml_cites_its_sources() -> None:
    text = (resources.files("spdeploy") / "profiles" / "exchange55.toml").read_text("utf-8")
    for kb in (
        "Q242250",
        "Q286559",
        "Q195697",
        "Q244473",
        "Q169114",
        "Q176812",
        "Q198902",
        "Q196305",
        "Q215493",
        "Q215494",
        "Q232495",
        "Q239122",
        "Q247785",
        "Q256032",
        "Q286176",
    ):
        assert kb in text, kb


# -- ordering ------------------------------------------------------------------------------------


def test_exit_codes_take_windows_and_negative_codes(tmp_path: Path) -> None:
    text = TINY + comp("a", 'exit_codes = { 3010 = "reboot", "-1" = "failed", 0 = "ok" }')
    profile = load_profile(str(write(tmp_path / "codes.toml", text)))
    codes = profile.component("a").exit_codes
    assert (codes[3010], codes[-1], codes[0]) == ("reboot", "failed", "ok")


def test_after_orders_topologically_with_ties_in_profile_order(tmp_path: Path) -> None:
    path = write(
        tmp_path / "order.toml",
        TINY
        + comp("c", 'after = ["a"]')
        + comp("b")
        + comp("a")
        + comp("d", 'after = ["c", "b"]')
        + comp("e"),
    )
    profile = load_profile(str(path))
    assert [x.id for x in profile.components] == ["c", "b", "a", "d", "e"]  # file order kept
    assert [x.id for x in profile.ordered()] == ["b", "a", "c", "d", "e"]


def test_order_without_after_is_profile_order(tmp_path: Path) -> None:
    path = write(tmp_path / "p.toml", TINY + "".join(comp(x) for x in "zyxw"))
    assert [x.id for x in load_profile(str(path)).ordered()] == ["z", "y", "x", "w"]


def test_after_chain_reverses_profile_order(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.toml",
        TINY + comp("a", 'after = ["b"]') + comp("b", 'after = ["c"]') + comp("c"),
    )
    assert [x.id for x in load_profile(str(path)).ordered()] == ["c", "b", "a"]


def test_cycle_in_after_names_component_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path / "cycle.toml",
        TINY + comp("free") + comp("a", 'after = ["b"]') + comp("b", 'after = ["a"]'),
    )
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    message = info.value.message
    assert str(path) in message
    assert "'after'" in message
    assert "cycle" in message
    assert "'a'" in message or "'b'" in message
    assert info.value.exit_code == 2


def test_cycle_error_names_a_component_in_the_cycle(tmp_path: Path) -> None:
    path = write(
        tmp_path / "cycle.toml",
        TINY + comp("x", 'after = ["a"]') + comp("a", 'after = ["b"]') + comp("b", 'after = ["a"]'),
    )
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    message = info.value.message
    assert "component 'x'" not in message
    assert "x ->" not in message


def test_self_dependency_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path / "self.toml", TINY + comp("a", 'after = ["a"]'))
    with pytest.raises(ProfileError, match=r"component 'a': key 'after'.*cycle"):
        load_profile(str(path))


# -- malformed profiles through the CLI ----------------------------------------------------------

# (case id, file text, component id named in the message or None, key named or None)
MALFORMED: list[tuple[str, str, str | None, str | None]] = [
    ("invalid-toml", TINY + "[[component]\nid = 'a'\n", None, None),
    ("unknown-top-key", TINY + 'vendor = "Microsoft"\n' + comp("a"), None, "vendor"),
    (
        "unknown-component-key",
        TINY + comp("a", 'silent = "/q"'),
        "a",
        "silent",
    ),
    ("duplicate-id", TINY + comp("a") + comp("b") + comp("a"), "a", "id"),
    ("after-unknown-id", TINY + comp("a", 'after = ["servr"]'), "a", "after"),
    (
        "after-cycle",
        TINY + comp("a", 'after = ["b"]') + comp("b", 'after = ["a"]'),
        "a",
        "after",
    ),
    (
        "unknown-probe-kind",
        TINY + comp("a", 'version = { wmi = "Win32_Product" }'),
        "a",
        "version",
    ),
    (
        "bad-regex",
        TINY + comp("a", "version = { text = { file = 'v.txt', regex = '(\\d+' } }"),
        "a",
        "version",
    ),
    (
        "installed-missing",
        TINY + '[[component]]\nid = "a"\nname = "A"\ninstaller = ["a.exe"]\n',
        "a",
        "installed",
    ),
    (
        "installer-not-strings",
        TINY
        + '[[component]]\nid = "a"\nname = "A"\ninstaller = [1, 2]\n'
        + 'installed = { exists = "a.exe" }\n',
        "a",
        "installer",
    ),
    (
        "installer-table",
        TINY
        + '[[component]]\nid = "a"\nname = "A"\ninstaller = { path = "a.exe" }\n'
        + 'installed = { exists = "a.exe" }\n',
        "a",
        "installer",
    ),
    (
        "literal-not-a-version",
        TINY + comp("a", 'media_version = { literal = "SP4" }'),
        "a",
        "media_version",
    ),
    (
        "unknown-placeholder-installer",
        TINY
        + '[[component]]\nid = "a"\nname = "A"\ninstaller = ["{lang}/a.exe"]\n'
        + 'installed = { exists = "a.exe" }\n',
        "a",
        "installer",
    ),
    (
        "unknown-placeholder-args",
        TINY + comp("a", 'args = ["/dir:{target}", "/log:{logdir}"]'),
        "a",
        "args",
    ),
    # a probe's paths and arguments take the placeholders its context holds (issue 12: a
    # typo once passed `profiles check` and failed at `plan`, naming neither file nor component)
    (
        "unknown-placeholder-exists",
        TINY
        + '[[component]]\nid = "a"\nname = "A"\ninstaller = ["a.exe"]\n'
        + 'installed = { exists = "{taget}/a.exe" }\n',
        "a",
        "installed",
    ),
    (
        "unknown-placeholder-text",
        TINY + comp("a", "version = { text = { file = '{taget}/v.txt', regex = '(.+)' } }"),
        "a",
        "version",
    ),
    (
        "unknown-placeholder-command",
        TINY + comp("a", "version = { command = { argv = ['a.exe', '{taget}'], regex = '(.+)' } }"),
        "a",
        "version",
    ),
    (
        "unknown-placeholder-nested-any",
        TINY
        + comp("a", 'version = { any = [{ literal = "1.0" }, { any = [{ exists = "{0}" }] }] }'),
        "a",
        "version",
    ),
    (
        "installer-placeholder-on-the-target",
        TINY + comp("a", 'version = { pe_version = "{installer}" }'),
        "a",
        "version",
    ),
    (
        "target-placeholder-on-the-media",
        TINY + comp("a", 'media_version = { pe_version = "{target}/a.exe" }'),
        "a",
        "media_version",
    ),
    (
        "format-spec-in-a-probe",
        TINY + comp("a", 'media_version = { pe_version = "{installer!r}" }'),
        "a",
        "media_version",
    ),
    ("pre-not-a-command", TINY + comp("a", "pre = 42"), "a", "pre"),
    ("post-empty-command", TINY + comp("a", "post = [[]]"), "a", "post"),
    ("post-mixed", TINY + comp("a", 'post = ["net", ["start"]]'), "a", "post"),
    (
        "pre-unknown-placeholder",
        TINY + comp("a", 'pre = ["net", "stop", "{service}"]'),
        "a",
        "pre",
    ),
    (
        "exit-code-meaning",
        TINY + comp("a", 'exit_codes = { 0 = "ok", 1 = "success" }'),
        "a",
        "exit_codes",
    ),
    (
        "exit-code-not-integer",
        TINY + comp("a", 'exit_codes = { zero = "ok" }'),
        "a",
        "exit_codes",
    ),
    *(
        (
            f"exit-code-{name}",
            TINY + comp("a", f'exit_codes = {{ "{key}" = "ok" }}'),
            "a",
            "exit_codes",
        )
        for name, key in (
            ("spaces", " 5 "),
            ("leading-zero", "05"),
            ("underscore", "5_0"),
            ("plus", "+5"),
            ("arabic-indic-digit", "\u0665"),
        )
    ),
    ("interactive-yes", TINY + comp("a", 'interactive = "yes"'), "a", "interactive"),
    (
        "platforms-missing",
        'id = "tiny"\nname = "Tiny"\n' + comp("a"),
        None,
        "platforms",
    ),
    (
        "command-argv-string",
        TINY + comp("a", "version = { command = { argv = 'a.exe --version', regex = 'v(\\S+)' } }"),
        "a",
        "version",
    ),
    (
        "probe-two-kinds",
        TINY + comp("a", 'version = { exists = "a", literal = "1.0" }'),
        "a",
        "version",
    ),
    ("no-components", TINY, None, None),
    ("name-missing", TINY.replace('name = "Tiny product"\n', "") + comp("a"), None, "name"),
    (
        "bad-level",
        TINY.replace('"1.1" = "SP1"', '"SP4" = "SP4"') + comp("a"),
        None,
        "levels",
    ),
    ("extends-not-string", "extends = 5\n" + TINY + comp("a"), None, "extends"),
    ("backup-not-list", TINY + comp("a", "backup = 3"), "a", "backup"),
    # serviced_by, requires, known_failures, todo_after, refuse_on_pending_reboot (issue 15)
    ("no-installer-not-serviced", TINY + SERVICED.format(by=""), "c", "installer"),
    (
        "serviced-by-unknown",
        TINY + comp("a") + SERVICED.format(by='"zz"'),
        "c",
        "serviced_by",
    ),
    (
        "serviced-with-installer",
        TINY + comp("a") + comp("b", 'serviced_by = ["a"]'),
        "b",
        "serviced_by",
    ),
    (
        "serviced-by-a-serviced-one",
        TINY
        + comp("a")
        + SERVICED.format(by='"a"')
        + SERVICED.replace('"c"', '"d"', 1).format(by='"c"'),
        "d",
        "serviced_by",
    ),
    ("serviced-by-itself", TINY + SERVICED.format(by='"c"'), "c", "serviced_by"),
    ("requires-unknown", TINY + comp("a", 'requires = { servr = "1.0" }'), "a", "requires"),
    ("requires-not-version", TINY + comp("a", 'requires = { a = "SP1" }'), "a", "requires"),
    ("requires-not-table", TINY + comp("a", 'requires = ["a"]'), "a", "requires"),
    (
        "known-failure-bad-regex",
        TINY + comp("a", KNOWN.format(match="'[8007010b'", where='"log.txt"')),
        "a",
        "known_failures",
    ),
    (
        "known-failure-no-remedy",
        TINY + comp("a", 'known_failures = [{ match = "x", in = "log.txt", article = "Q1" }]'),
        "a",
        "known_failures",
    ),
    (
        "known-failure-unknown-key",
        TINY + comp("a", KNOWN.format(match='"x"', where='"log.txt", file = "y"')),
        "a",
        "known_failures",
    ),
    (
        "known-failure-bad-placeholder",
        TINY + comp("a", KNOWN.format(match='"x"', where='"{logdir}/log.txt"')),
        "a",
        "known_failures",
    ),
    (
        "known-failure-in-empty-list",
        TINY + comp("a", KNOWN.format(match='"x"', where="[]")),
        "a",
        "known_failures",
    ),
    (
        "known-failures-table",
        TINY + comp("a", 'known_failures = { match = "x" }'),
        "a",
        "known_failures",
    ),
    (
        "todo-after-when",
        TINY + comp("a", 'todo_after = [{ note = "n", article = "Q1", when = "never" }]'),
        "a",
        "todo_after",
    ),
    (
        "todo-after-from",
        TINY + comp("a", 'todo_after = [{ note = "n", article = "Q1", from = "SP4" }]'),
        "a",
        "todo_after",
    ),
    ("component-levels", TINY + comp("a", 'levels = { "SP4" = "x" }'), "a", "levels"),
    (
        "refuse-on-pending-reboot-string",
        TINY + 'refuse_on_pending_reboot = "yes"\n' + comp("a"),
        None,
        "refuse_on_pending_reboot",
    ),
]


@pytest.mark.parametrize(
    ("text", "cid", "key"),
    [pytest.param(text, cid, key, id=case) for case, text, cid, key in MALFORMED],
)
def test_malformed_profile_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, cid: str | None, key: str | None
) -> None:
    path = tmp_path / "site profile.toml"
    path.write_text(text, encoding="utf-8")
    r = cli(capsys, "profiles", "check", str(path))
    assert_one_line_error(r.code, r.err, path, cid, key)
    assert r.out == ""


SCAN_CASES = (
    "unknown-component-key",
    "after-cycle",
    "bad-regex",
    "installed-missing",
    "unknown-placeholder-exists",
)


@pytest.mark.parametrize(
    ("text", "cid", "key"),
    [
        pytest.param(text, cid, key, id=case)
        for case, text, cid, key in MALFORMED
        if case in SCAN_CASES
    ],
)
def test_malformed_profile_scan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, cid: str | None, key: str | None
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    r = cli(capsys, "--profile", str(path), "scan", "--target", str(tmp_path))
    assert_one_line_error(r.code, r.err, path, cid, key)


def assert_one_line_error(
    code: int, err: str, path: Path, cid: str | None, key: str | None
) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert err.endswith("\n")
    assert lines[0].startswith("spdeploy: error:"), err
    assert str(path) in lines[0], err
    if cid is not None:
        assert f"component {cid!r}" in lines[0], err
    if key is not None:
        assert f"'{key}'" in lines[0], err


def test_malformed_profile_check_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", TINY + comp("a", 'interactive = "yes"'))
    r = cli(capsys, "--json", "profiles", "check", str(path))
    assert r.code == 2
    error = r.json()["error"]
    assert error["code"] == "profile"
    assert error["exit_code"] == 2
    assert str(path) in error["message"]
    assert "'interactive'" in error["message"]


def test_missing_profile_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "no-such-profile.toml"
    r = cli(capsys, "profiles", "check", str(path))
    assert_one_line_error(r.code, r.err, path, None, None)
    r = cli(capsys, "--profile", str(path), "scan", "--target", str(tmp_path))
    assert_one_line_error(r.code, r.err, path, None, None)


def test_unknown_profile_name_lists_the_built_ins(capsys: pytest.CaptureFixture[str]) -> None:
    r = cli(capsys, "profiles", "show", "exchange56")
    assert r.code == 2
    assert "exchange56" in r.err
    assert "exchange55" in r.err


def test_profile_that_is_not_utf8(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes((TINY + comp("a") + "# caf\xe9\n").encode("latin-1"))
    r = cli(capsys, "profiles", "check", str(path))
    assert_one_line_error(r.code, r.err, path, None, None)


def test_profile_path_too_long(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / ("x" * 300 + ".toml")
    r = cli(capsys, "profiles", "check", str(path))
    assert_one_line_error(r.code, r.err, path, None, None)


def test_profile_that_is_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    r = cli(capsys, "profiles", "check", str(tmp_path))
    assert_one_line_error(r.code, r.err, tmp_path, None, None)


# -- the profiles command on valid input ---------------------------------------------------------


def test_profiles_check_valid_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "ok.toml", TINY + comp("a") + comp("b", 'after = ["a"]'))
    r = cli(capsys, "profiles", "check", str(path))
    assert r.code == 0, r.err
    assert r.err == ""
    assert str(path) in r.out
    assert "OK" in r.out


def test_profiles_check_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path / "ok.toml", TINY + comp("b", 'after = ["a"]') + comp("a"))
    r = cli(capsys, "--json", "profiles", "check", str(path))
    assert r.code == 0, r.err
    data = r.json()
    assert data["valid"] is True
    assert data["id"] == "tiny"
    assert data["source"] == str(path)
    assert [c["id"] for c in data["components"]] == ["a", "b"]


def test_profiles_check_json_option_after_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path / "ok.toml", TINY + comp("a"))
    r = cli(capsys, "profiles", "check", str(path), "--json")
    assert r.code == 0, r.err
    assert r.json()["valid"] is True


def test_profiles_show_exchange55_json(capsys: pytest.CaptureFixture[str]) -> None:
    r = cli(capsys, "profiles", "show", "exchange55", "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data["id"] == "exchange55"
    assert "valid" not in data
    comps = data["components"]
    assert [c["id"] for c in comps] == list(EXCHANGE_IDS)
    by_id = {c["id"]: c for c in comps}
    assert by_id["ntsconn"]["fallback_languages"] == ["Eng"]
    assert by_id["ntsconn"]["after"] == ["server"]
    assert all(c["interactive"] for c in comps if c["id"] != "coco")
    # the keys this issue added, as the articles give them
    assert by_id["coco"]["serviced_by"] == list(CONNECTORS)
    assert by_id["coco"]["installer"] == []
    assert by_id["gwxconn"]["requires"] == {"server": "5.5.2232"}
    temp = by_id["ntsconn"]["known_failures"][0]
    assert temp == {
        "match": r"\[8007010b\]",
        "in": ["Connect/Exchconn/Setup/lmeilog.txt"],
        "article": "Q198857",
        "remedy": temp["remedy"],
    }
    assert by_id["calcon"]["todo_after"][0]["article"] == "Q286176"
    assert data["refuse_on_pending_reboot"] is False


def test_profiles_show_file_lists_execution_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path / "p.toml", TINY + comp("c", 'after = ["a"]') + comp("a"))
    r = cli(capsys, "--json", "profiles", "show", str(path))
    assert r.code == 0, r.err
    assert [c["id"] for c in r.json()["components"]] == ["a", "c"]


def test_profiles_show_table(capsys: pytest.CaptureFixture[str]) -> None:
    r = cli(capsys, "profiles", "show", "exchange55")
    assert r.code == 0, r.err
    for cid in EXCHANGE_IDS:
        assert cid in r.out
    assert r.out.index("server") < r.out.index("snaconn")
    # reads as the articles do: the controller is serviced by the connectors (Q242250), the
    # known failures and follow-ups name their articles
    assert "(none of its own: serviced by calcon, ntsconn, gwxconn, ovvconn, snaconn)" in r.out
    assert "requires server 5.5.2232 SP1 or later" in r.out
    assert "known failure Q198857: There is no Temp folder" in r.out
    assert "to do after (Q286176)" in r.out
    assert "exists Connect/Exchconn/Lsntsmex.exe" in r.out


def test_profiles_list(capsys: pytest.CaptureFixture[str]) -> None:
    r = cli(capsys, "profiles", "list")
    assert r.code == 0, r.err
    assert "exchange55" in r.out


def test_profiles_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    r = cli(capsys, "profiles", "list", "--json")
    assert r.code == 0, r.err
    profiles = {p["id"]: p for p in r.json()["profiles"]}
    assert profiles["exchange55"]["components"] == list(EXCHANGE_IDS)


def test_pre_and_post_take_one_command_or_several(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    one = 'pre = ["net", "stop", "LME-NOTES"]'
    several = 'post = [["net", "start", "LME-NOTES"], ["net", "start", "MSExchangeMTA"]]'
    path.write_text(TINY + comp("a", f"{one}\n{several}"))
    (part,) = load_profile(str(path)).components
    assert part.pre == (("net", "stop", "LME-NOTES"),)
    assert part.post == (("net", "start", "LME-NOTES"), ("net", "start", "MSExchangeMTA"))


@pytest.mark.parametrize(
    ("installer", "why"),
    [
        ("{target}/Update.exe", "unknown placeholder {target}"),  # only {language} {platform}
        ("{platform:>9}/x.exe", "unknown placeholder {platform:>9}"),  # no format specs
        ("{platform.upper}/x.exe", "unknown placeholder {platform.upper}"),  # no attributes
    ],
)
def test_installer_templates_take_only_language_and_platform(
    tmp_path: Path, installer: str, why: str
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        TINY + f'[[component]]\nid = "a"\nname = "A"\ninstaller = ["{installer}"]\n'
        'installed = { exists = "a.exe" }\n'
    )
    with pytest.raises(ProfileError, match=re.escape(why)):
        load_profile(str(path))


def test_nul_in_an_argument_is_a_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(TINY + comp("a", 'args = ["a\\u0000b"]'))
    with pytest.raises(ProfileError, match="NUL"):
        load_profile(str(path))


@pytest.mark.parametrize(
    "body",
    [
        "v = " + "[" * 1000 + "]" * 1000,
        '[[component]]\nid = "a"\nname = "a"\ninstaller = ["a.exe"]\ninstalled = '
        + "{ any = [" * 1000
        + '{ exists = "a" }'
        + "] }" * 1000,
    ],
    ids=["toml", "probes"],
)
def test_a_profile_nested_a_thousand_deep_is_one_line(tmp_path: Path, body: str) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(f'id = "deep"\nname = "deep"\n{body}\n')
    with pytest.raises(ProfileError, match="nested too deeply") as info:
        load_profile(str(path))
    assert str(path) in info.value.message


def test_a_registry_probe_may_read_the_32_bit_view(tmp_path: Path) -> None:
    """WOW6432Node: a 32-bit product's keys on a 64-bit Windows (README, "Site profiles")."""
    key = r"key = 'HKLM\SOFTWARE\Microsoft\Exchange\Setup', value = 'Services'"
    good = tmp_path / "good.toml"
    registry = f'installed = {{ registry = {{ {key}, view = "32" }} }}'
    good.write_text(TINY + comp("a").replace('installed = { exists = "a/a.exe" }', registry))
    probe = load_profile(str(good)).component("a").installed
    assert probe == Registry(r"HKLM\SOFTWARE\Microsoft\Exchange\Setup", "Services", "32")
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace('view = "32"', 'view = "wow64"'))
    with pytest.raises(ProfileError) as info:
        load_profile(str(bad))
    assert info.value.message.startswith(
        f"{bad}: component 'a': key 'installed'.registry.view: 'wow64'"
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            '[[component]]\nid = "ntsconnn"\nargs = ["{target}"]\n',
            "component 'ntsconnn': not a component of exchange55; did you mean ntsconn?",
        ),
        ('[[component]]\nid = "ntsconn"\narg = ["x"]\n', "unknown key 'arg'; did you mean args?"),
        ("extend = 1\n", "unknown key 'extend'; did you mean extends?"),
        (
            '[[component]]\nid = "ntsconn"\nversion = { pe_versoin = "a.exe" }\n',
            "unknown probe kind 'pe_versoin'; did you mean pe_version?",
        ),
        (
            '[[component]]\nid = "ntsconn"\nargs = ["x"]\ninteractive = true\n',
            "'interactive = true' with 'args': the args make the installer run unattended",
        ),
    ],
    ids=["id-typo", "key-typo", "top-key-typo", "probe-typo", "interactive-with-args"],
)
def test_a_site_profiles_typos_are_named_with_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, needle: str
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f'id = "site"\nname = "site"\nextends = "exchange55"\n{body}')
    res = cli(capsys, "profiles", "check", site)
    assert res.code == 2
    (line,) = res.err.strip().splitlines()
    assert needle in line and str(site) in line


def test_args_inherited_over_an_interactive_base_are_the_documented_way(tmp_path: Path) -> None:
    """SPEC §8: args in a site profile make the built-in interactive installer unattended."""
    site = tmp_path / "site.toml"
    site.write_text(
        'id = "site"\nname = "site"\nextends = "exchange55"\n\n'
        '[[component]]\nid = "ntsconn"\nargs = ["{target}"]\n'
    )
    component = load_profile(str(site)).component("ntsconn")
    assert component.interactive and component.args == ("{target}",)


def test_probes_take_the_placeholders_their_context_holds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`installed` and `version` may name the target ({target}, {drive}); `media_version` the
    media ({media}, {language}, {platform}, {installer}); plan and media fill them in."""
    media, target = tmp_path / "media", tmp_path / "target"
    write(media / "Eng" / "I386" / "VERSION.TXT", "1.1\n")
    write_pe(media / "Eng" / "I386" / "a.exe", "1.1")
    write(target / "ver.txt", "1.0\n")
    show = "import sys; print(open(sys.argv[1] + '/ver.txt').read())"
    argv = json.dumps([sys.executable, "-c", show, "{target}"])
    path = write(
        tmp_path / "p.toml",
        TINY
        + '[[component]]\nid = "a"\nname = "A"\ninstaller = ["{language}/{platform}/a.exe"]\n'
        + f"installed = {{ command = {{ argv = {argv}, regex = '(\\S+)' }} }}\n"
        + 'media_version = { text = { file = "{language}/{platform}/VERSION.TXT", '
        + "regex = '(\\S+)' } }\n",
    )
    assert cli(capsys, "profiles", "check", str(path)).code == 0
    plan = cli(capsys, "--profile", str(path), "--json", "plan", "--media", str(media),
               "--target", str(target), "--platform", "I386")  # fmt: skip
    assert plan.code == 0, plan.err
    (row,) = plan.json()["components"]
    assert (row["version"], row["media_version"], row["action"]) == ("1.0", "1.1", "update")
    shown = cli(capsys, "--profile", str(path), "--json", "media", "--media", str(media))
    assert shown.code == 0, shown.err
    assert shown.json()["components"][0]["media_version"] == "1.1"


def test_target_probes_name_what_a_scan_fills_in(tmp_path: Path) -> None:
    assert sorted(target_variables(tmp_path)) == sorted(TARGET_PROBE_PLACEHOLDERS)


@pytest.mark.parametrize(
    ("key", "line", "root"),
    [
        ("installer", 'installer = ["../../bin/sh"]', "media"),
        ("installer", 'installer = ["/bin/sh"]', "media"),
        ("installer", 'installer = ["C:\\\\Windows\\\\cmd.exe"]', "media"),
        ("installer", 'installer = ["{language}\\\\..\\\\..\\\\bin\\\\sh"]', "media"),
        ("backup", 'backup = ["../../etc/hostname"]', "target"),
        ("backup", 'backup = ["/etc/hostname"]', "target"),
        (
            "version",
            'version = { text = { file = "../../../etc/os-release", regex = "(.+)" } }',
            "target",
        ),
        (
            "installed",
            'installed = { any = [{ exists = "x" }, { pe_version = "/bin/ls" }] }',
            "target",
        ),
        ("media_version", 'media_version = { pe_version = "../x.exe" }', "media"),
    ],
)
def test_a_path_that_leaves_its_root_is_refused_at_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, line: str, root: str
) -> None:
    # `profiles check` said valid; `plan` or `apply` then failed on the path alone, naming
    # neither the file, the component nor the key
    block = comp("a")
    if key in ("installer", "installed"):
        block = "\n".join(x for x in block.splitlines() if not x.startswith(f"{key} ="))
    path = tmp_path / "p.toml"
    path.write_text(TINY + "\n" + block + "\n" + line + "\n", encoding="utf-8")
    res = cli(capsys, "profiles", "check", str(path))
    assert res.code == 2
    assert f"{path}: component 'a': key '{key}': " in res.err
    assert f"leaves the {root}" in res.err


def test_logs_and_commands_may_name_absolute_paths(tmp_path: Path) -> None:
    # Exchange writes its setup log at the drive's root; a command probe runs a program by path
    path = tmp_path / "p.toml"
    path.write_text(
        TINY
        + "\n"
        + comp(
            "a",
            'logs = ["{drive}/Exchange Server Setup.log", "/var/log/setup.log"]',
            'version = { command = { argv = ["/usr/bin/rpm", "-q", "x"], regex = "(.+)" } }',
        ),
        encoding="utf-8",
    )
    assert load_profile(str(path)).component("a").logs[1] == "/var/log/setup.log"


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('version = { exists = "a/a.exe" }', "an exists probe says whether a file is there"),
        (
            'version = { text = { file = "v.txt", regex = "Version=\\\\S+" } }',
            "the regex 'Version=\\\\S+' has no group to give the version",
        ),
        (
            'media_version = { any = [{ literal = "1.0" }, { exists = "{installer}" }] }',
            "an exists probe says whether",
        ),
    ],
)
def test_a_version_probe_that_can_give_none_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, why: str
) -> None:
    # the plan said "version unknown" for ever, and the component was updated on every run
    path = tmp_path / "p.toml"
    path.write_text(TINY + "\n" + comp("a", line), encoding="utf-8")
    res = cli(capsys, "profiles", "check", str(path))
    assert res.code == 2 and f"{path}: component 'a': key '{line.split()[0]}': {why}" in res.err


def test_a_version_regex_with_a_group_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    line = 'version = { text = { file = "v.txt", regex = "Version=(\\\\S+)" } }'
    path.write_text(TINY + "\n" + comp("a", line), encoding="utf-8")
    assert load_profile(str(path)).component("a").version is not None
