"""The planner is pure: every rule is checked on records alone."""

from __future__ import annotations

from spdeploy.inventory import Installed, Inventory
from spdeploy.media.locate import Located
from spdeploy.planner import (
    ABSENT,
    CURRENT,
    MISSING,
    NOT_SERVICED,
    PREREQUISITE,
    UPDATE,
    PlannedComponent,
    plan,
)
from spdeploy.profile import load_profile

RTM, SP1, SP2, SP4 = "5.5.1960.8", "5.5.2232.0", "5.5.2448.0", "5.5.2653.0"
PROFILE = load_profile("exchange55")


def _plan(
    versions: dict[str, str | None],
    installers: dict[str, str | None],
    media=SP4,
    only: tuple[str, ...] = (),
    medias: dict[str, str] | None = None,
):
    rows = tuple(
        Installed(c.id, c.name, c.id in versions, versions.get(c.id), "probe")
        for c in PROFILE.components
    )
    located = {
        c.id: Located(
            c.id,
            installers.get(c.id),
            "Eng",
            (medias or {}).get(c.id, media) if installers.get(c.id) else None,
        )
        for c in PROFILE.components
    }
    chosen = tuple(c for c in PROFILE.components if not only or c.id in only)
    inventory = Inventory(
        "exchange55", "/t", tuple(r for r in rows if r.id in {c.id for c in chosen})
    )
    others = {r.id: r for r in rows if r not in inventory.components}
    return plan(
        PROFILE,
        chosen,
        inventory,
        located,
        media="/m",
        language="Eng",
        platform="I386",
        others=others,
    )


# every installer on the media; the Connectivity Controller has none of its own (Q242250)
ALL = {c.id: f"Eng/{c.id}.exe" for c in PROFILE.components if c.id != "coco"}


def _row(result, cid: str) -> PlannedComponent:
    return next(c for c in result.components if c.id == cid)


def test_actions_and_order() -> None:
    result = _plan({"server": SP2, "ntsconn": SP4, "calcon": SP2}, ALL)
    actions = {c.id: c.action for c in result.components}
    assert actions == {
        "server": UPDATE,
        "coco": ABSENT,
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


# -- the Connectivity Controller: no installer of its own, serviced by the connectors ----------


def test_controller_behind_is_brought_along_by_the_first_connector_run() -> None:
    result = _plan({"server": SP4, "coco": SP2, "calcon": SP4, "ntsconn": SP2, "gwxconn": SP2}, ALL)
    coco = _row(result, "coco")
    assert coco.action == UPDATE
    assert coco.installer is None
    assert coco.brought_along_by == "ntsconn"
    assert "brought along by the ntsconn installer" in coco.reason
    assert "Q242250" in coco.reason
    assert (coco.media_version, coco.media_level) == (SP4, "SP4")
    # nothing of its own runs: not an installer in the plan, but not compliant either
    assert [r.id for r in result.updates] == ["ntsconn", "gwxconn"]
    assert result.brought_along == (coco,)
    assert not result.compliant
    assert "coco" in result.findings[0].components  # left behind by the server's update
    assert "coco comes with another's, Q242250" in result.findings[0].message


def test_controller_behind_with_no_connector_to_run_is_a_finding() -> None:
    result = _plan({"server": SP4, "coco": SP2, "ntsconn": SP4}, ALL)
    coco = _row(result, "coco")
    assert coco.action == UPDATE
    assert coco.brought_along_by is None
    assert "no component that services it will run" in coco.reason
    finding = next(f for f in result.findings if f.code == NOT_SERVICED)
    assert finding.components == ("coco",)
    assert "Microsoft Exchange Connectivity Controller is at SP2" in finding.message
    assert result.updates == ()
    assert not result.compliant


def test_controller_left_out_by_skip_is_not_serviced() -> None:
    only = ("server", "coco", "calcon", "gwxconn")  # --skip ntsconn
    result = _plan({"server": SP4, "coco": SP2, "ntsconn": SP2}, ALL, only=only)
    assert _row(result, "coco").brought_along_by is None
    assert [f.code for f in result.findings if f.code == NOT_SERVICED] == [NOT_SERVICED]


def test_controller_at_the_level_is_current() -> None:
    result = _plan({"server": SP4, "coco": "5.5.2655.24", "ntsconn": "5.5.2655.24"}, ALL)
    coco = _row(result, "coco")
    assert coco.action == CURRENT
    assert coco.level == "SP4 fix"
    assert result.compliant


def test_unreadable_controller_follows_the_connectors_that_service_it() -> None:
    # GroupWise only: no Lsmexout.exe to read; the controller's level comes with gwxconn's run
    result = _plan({"server": SP4, "coco": None, "gwxconn": SP4}, ALL)
    coco = _row(result, "coco")
    assert coco.action == CURRENT
    assert "cannot be read" in coco.reason
    assert "gwxconn SP4" in coco.reason
    assert result.compliant
    behind = _plan({"server": SP4, "coco": None, "gwxconn": SP2}, ALL)
    assert _row(behind, "coco").action == UPDATE
    assert _row(behind, "coco").brought_along_by == "gwxconn"


def test_unreadable_controller_with_no_connector_installed_is_not_proven() -> None:
    result = _plan({"server": SP4, "coco": None}, ALL)
    assert _row(result, "coco").action == UPDATE
    assert [f.code for f in result.findings] == [
        "core-updated-components-behind",
        NOT_SERVICED,
    ]


def test_controller_level_is_the_lowest_its_servicing_installers_bring() -> None:
    medias = {"ntsconn": "5.5.2655.24", "gwxconn": SP4}
    result = _plan({"server": SP4, "coco": SP2, "ntsconn": SP2}, ALL, medias=medias)
    assert _row(result, "coco").media_version == SP4
    # located even when --only leaves the connectors out (prepare locates them)
    alone = _plan({"server": SP4, "coco": SP4}, ALL, only=("coco",))
    assert _row(alone, "coco").action == CURRENT


# -- prerequisites (requires) -------------------------------------------------------------------


def test_groupwise_needs_the_server_at_sp1_before_it_runs() -> None:
    # Q247785: the GroupWise and Calendar connectors need SP1. Skipping the server's update
    # leaves it at RTM: the GroupWise update would run below its prerequisite.
    only = ("coco", "calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn")
    result = _plan({"server": RTM, "gwxconn": SP2, "ntsconn": SP2}, ALL, only=only)
    unmet = result.unmet_prerequisites
    assert [f.components for f in unmet] == [("gwxconn", "server")]
    assert "gwxconn needs server at 5.5.2232 (SP1) or later" in unmet[0].message
    assert "server is at 5.5.1960.8 (RTM) when it would run, left out of this run" in (
        unmet[0].message
    )
    assert unmet[0].code == PREREQUISITE


def test_a_prerequisite_updated_earlier_in_the_run_counts_at_the_media_version() -> None:
    result = _plan({"server": RTM, "gwxconn": SP2, "calcon": SP2}, ALL)
    assert result.unmet_prerequisites == ()
    old_media = _plan({"server": RTM, "gwxconn": SP2}, ALL, medias={"server": "5.5.2000.0"})
    assert [f.components for f in old_media.unmet_prerequisites] == [("gwxconn", "server")]
    assert "at 5.5.2000.0 (RTM+) when it would run" in old_media.unmet_prerequisites[0].message


def test_a_prerequisite_is_only_checked_for_what_runs() -> None:
    only = ("gwxconn",)
    assert _plan({"server": RTM, "gwxconn": SP4}, ALL, only=only).unmet_prerequisites == ()
    assert _plan({"server": SP1, "gwxconn": SP2}, ALL, only=(*only, "server")).findings == ()


def test_a_prerequisite_that_cannot_be_read_does_not_refuse() -> None:
    # an Update.exe with no version resource: the server's level after it is unknown, not short
    unknown = _plan({"server": RTM, "calcon": SP2}, ALL, medias={"server": "not a version"})
    assert unknown.unmet_prerequisites == ()
    assert _plan({"server": None, "calcon": SP2}, ALL, only=("calcon",)).unmet_prerequisites == ()
    # but a required component that is not installed at all is a refusal
    absent = _plan({"calcon": SP2}, ALL)
    assert "server is not installed" in absent.unmet_prerequisites[0].message
