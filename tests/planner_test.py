"""The planner is pure: every rule is checked on records alone."""

from __future__ import annotations

from spdeploy.inventory import Installed, Inventory
from spdeploy.media.locate import Located
from spdeploy.planner import ABSENT, CURRENT, MISSING, UPDATE, plan
from spdeploy.profile import load_profile

SP2, SP4 = "5.5.2448.0", "5.5.2653.0"
PROFILE = load_profile("exchange55")


def _plan(versions: dict[str, str | None], installers: dict[str, str | None], media=SP4):
    rows = tuple(
        Installed(c.id, c.name, c.id in versions, versions.get(c.id), "probe")
        for c in PROFILE.components
    )
    located = {
        c.id: Located(c.id, installers.get(c.id), "Eng", media if installers.get(c.id) else None)
        for c in PROFILE.components
    }
    inventory = Inventory("exchange55", "/t", rows)
    return plan(
        PROFILE, PROFILE.components, inventory, located, media="/m", language="Eng", platform="I386"
    )


ALL = {c.id: f"Eng/{c.id}.exe" for c in PROFILE.components}


def test_actions_and_order() -> None:
    result = _plan({"server": SP2, "ntsconn": SP4, "calcon": SP2}, ALL)
    actions = {c.id: c.action for c in result.components}
    assert actions == {
        "server": UPDATE,
        "calcon": UPDATE,
        "ntsconn": CURRENT,
        "gwxconn": ABSENT,
        "ovvconn": ABSENT,
        "snaconn": ABSENT,
    }
    assert result.components[0].id == "server"
    assert not result.compliant
    assert [c.id for c in result.updates] == ["server", "calcon"]


def test_levels_are_named() -> None:
    row = _plan({"server": SP2}, ALL).components[0]
    assert (row.level, row.media_level) == ("SP2", "SP4")


def test_missing_on_media_is_an_error_not_a_skip() -> None:
    result = _plan({"server": SP4, "gwxconn": SP2}, {**ALL, "gwxconn": None})
    gw = next(c for c in result.components if c.id == "gwxconn")
    assert gw.action == MISSING
    assert "no installer" in gw.reason
    assert result.missing == (gw,)


def test_absent_component_missing_on_media_is_fine() -> None:
    result = _plan({"server": SP4}, {**ALL, "snaconn": None})
    assert result.compliant


def test_literal_media_version_makes_missing_installer_current() -> None:
    rows = (Installed("server", "S", True, SP4, "p"),)
    located = {"server": Located("server", None, None, SP4)}
    only = (PROFILE.component("server"),)
    result = plan(
        PROFILE,
        only,
        Inventory("x", "/t", rows),
        located,
        media="/m",
        language="Eng",
        platform="I386",
    )
    assert result.components[0].action == CURRENT


def test_core_updated_connectors_behind_is_its_own_finding() -> None:
    result = _plan({"server": SP4, "ntsconn": SP2, "gwxconn": SP2, "calcon": SP2}, ALL)
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert finding.code == "core-updated-components-behind"
    assert finding.components == ("calcon", "ntsconn", "gwxconn")
    assert "Q242250" in finding.message


def test_no_finding_when_everything_is_behind_or_current() -> None:
    assert _plan({"server": SP2, "ntsconn": SP2}, ALL).findings == ()
    assert _plan({"server": SP4, "ntsconn": SP4}, ALL).findings == ()
    assert _plan({"server": SP4, "ntsconn": SP4}, ALL).compliant


def test_unknown_installed_version_is_updated_with_a_reason() -> None:
    result = _plan({"server": None}, ALL)
    assert result.components[0].action == UPDATE
    assert "version unknown" in result.components[0].reason
