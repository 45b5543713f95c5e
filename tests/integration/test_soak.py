"""The chaos soak's short variant (the long one is `make soak`), and a check that its
process guard really sees two FFmpegs for one camera."""

from __future__ import annotations

import os
import subprocess

from tests.harness.waiting import wait_until
from tests.soak import chaos
from tests.soak.observe import ProcessGuard
from tests.soak.schedule import EXPECTED_ERROR, Kind
from ucvd.relay.ffmpeg.process import TAG_VARIABLE


def test_short_chaos_soak_every_fault_once_and_no_violation() -> None:
    """Three cameras, each kind of fault once (the first steps of any schedule cover them
    all), every check of the long soak."""
    report = chaos.run(cameras=3, seed=7, steps=len(Kind))
    print(chaos.table(report))
    ran = {row["fault"] for row in report["faults"]}
    assert ran | set(report["skipped"]) == {str(k) for k in Kind}
    assert report["violations"] == []
    for row in report["faults"]:
        if row["fault"] in EXPECTED_ERROR:
            assert row["reported_as"] and row["recovery_max_s"] is not None


def test_the_guard_sees_two_processes_with_one_camera_tag() -> None:
    prefix = f"ucvd:/soak-guard-test-{os.getpid()}:"
    env = dict(os.environ) | {TAG_VARIABLE: prefix + "cam-x"}
    other = dict(os.environ) | {TAG_VARIABLE: prefix + "cam-y"}
    procs = [subprocess.Popen(["sleep", "30"], env=e) for e in (env, other)]
    guard = ProcessGuard(prefix, every_s=0.05)
    guard.start()
    try:
        wait_until(lambda: guard.scans >= 3, timeout=10, what="three scans")
        assert guard.violations == []  # one process per camera is fine
        procs.append(subprocess.Popen(["sleep", "30"], env=env))
        wait_until(lambda: guard.violations, timeout=10, what="the guard to see the second")
        seen_at = guard.scans
        wait_until(lambda: guard.scans >= seen_at + 5, timeout=10, what="more scans")
        assert len(guard.violations) == 1 and "two FFmpegs for cam-x" in guard.violations[0]
    finally:
        guard.stop()
        for p in procs:
            p.kill()
            p.wait()
