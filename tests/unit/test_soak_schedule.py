"""The chaos soak's schedule: replayable by seed, covering every fault, faults that can be
told apart (gateway faults alone, one fault per camera per step)."""

from __future__ import annotations

import pytest

from tests.soak.schedule import CAMERA_KINDS, GATEWAY_KINDS, Kind, plan

CAMS = [f"cam-{i}" for i in range(5)]


def test_same_seed_same_schedule_and_another_seed_another() -> None:
    assert plan(3, CAMS, 40, stall_timeout_s=4) == plan(3, CAMS, 40, stall_timeout_s=4)
    assert plan(3, CAMS, 40, stall_timeout_s=4) != plan(4, CAMS, 40, stall_timeout_s=4)


@pytest.mark.parametrize("seed", range(20))
def test_every_kind_comes_first_and_steps_are_attributable(seed: int) -> None:
    steps = plan(seed, CAMS, 60, stall_timeout_s=4)
    first = [s.hits[0].kind for s in steps[: len(Kind)]]
    assert sorted(first) == sorted(Kind)
    for step in steps:
        if step.gateway:
            (hit,) = step.hits
            assert hit.kind in GATEWAY_KINDS and hit.camera is None
        else:
            cameras = [h.camera for h in step.hits]
            assert 1 <= len(cameras) <= 3 and len(set(cameras)) == len(cameras)
            assert all(h.kind in CAMERA_KINDS and h.camera in CAMS for h in step.hits)
        for hit in step.hits:
            if hit.kind is Kind.CAMERA_FREEZE:
                assert hit.hold_s > 4  # shorter than the stall timeout would be no fault
            if hit.kind in (Kind.KILL_FFMPEG, Kind.KICK_SESSION):
                assert hit.hold_s == 0  # instant: what is measured is the way back


def test_kinds_can_be_narrowed_and_one_camera_is_enough() -> None:
    steps = plan(1, ["only"], 30, kinds=CAMERA_KINDS, stall_timeout_s=4)
    assert all(not s.gateway and len(s.hits) == 1 for s in steps)
    with pytest.raises(ValueError, match="at least one camera"):
        plan(1, [], 3, stall_timeout_s=4)
