"""Properties of the whole command line (``spdeploy.cli`` down to the planner): a random
profile, random media and a random target at once, the media and target built where the profile
looks (the harness and what it checks: ``properties.py``; the strategies: ``strategies.py``)."""

from __future__ import annotations

from hypothesis import given
from properties import LONG, PROPERTY, Harness, check_plan, plan_args
from strategies import (
    MediaSpec,
    ProfileCase,
    TargetSpec,
    worlds,
    write_media,
    write_outside,
    write_profile,
    write_target,
)


def world_example(
    harness: Harness, case: ProfileCase, media: MediaSpec, target: TargetSpec, platform: str | None
) -> None:
    with harness.example() as ex:
        outside = write_outside(ex)
        path = write_profile(ex, case)
        m = write_media(ex, media, outside)
        t = write_target(ex, target, outside)
        state = ex / "state"
        res = harness.call(state, "--profile", path, *plan_args(state, m, t, platform))
        data = check_plan(res, path if res.code != 2 else None)
        if case.expect == "invalid":
            assert res.code == 2 and data["error"]["code"] == "profile", res.out
        elif res.code == 2 and case.expect == "valid":
            assert data["error"]["code"] != "profile", f"valid profile rejected: {res.out}"


@LONG
@PROPERTY
@given(drawn=worlds())
def test_random_profiles_media_and_targets(
    harness: Harness, drawn: tuple[ProfileCase, MediaSpec, TargetSpec, str | None]
) -> None:
    world_example(harness, *drawn)
