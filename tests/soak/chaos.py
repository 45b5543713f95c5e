"""The chaos soak: cameras publishing through ucvd while a seeded schedule breaks
things, and checks that everything comes back and nothing is lost.

    python -m tests.soak.chaos --cameras 20 --minutes 10 --seed 1    (make soak)

Every step injects its faults (tests.soak.schedule), holds them, clears them, and waits for
each affected camera to publish again. What counts as a violation:

- a camera not publishing again within its bound after its fault cleared: the backoff cap
  (the longest a retry can be due) plus the start timeout (the longest an attempt may take
  to confirm) plus MARGIN_S;
- a fault ucvd did not report, or reported with another error kind than the one it is;
- two FFmpegs for one camera at any moment (a guard thread scans the process table);
- an FFmpeg left alive after ucvd was SIGKILLed;
- a write during a disk fault that was not refused as `storage_error`, or that landed; a
  write after the fault that did not land;
- cameras, targets or desired state changed at the end, or the database failing SQLite's
  integrity check; the event stream (`ucvctl watch`) ending while ucvd was up.

It prints a line per step and a summary table, writes the figures as JSON, and exits 1 on
any violation. Everything runs on loopback; the state disk is an ext4 image of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.fleet import camera_ids, path_of
from tests.bench.suite import describe_machine
from tests.harness.cameras import Camera as SimCamera
from tests.harness.daemon import Ucvd, add_camera, add_target
from tests.harness.lab import Lab, lab
from tests.harness.mediamtx import Central
from tests.harness.procs import argv_of, pids_of, runs, tagged
from tests.harness.waiting import WaitTimeout, wait_until
from tests.soak.disk import StateDisk
from tests.soak.observe import EventLog, ProcessGuard
from tests.soak.schedule import (
    CAMERA_KINDS,
    EXPECTED_ERROR,
    GATEWAY_KINDS,
    STATE_KINDS,
    Hit,
    Kind,
    Step,
    plan,
)

SUPERVISION = {"stall_timeout_s": 4.0, "start_timeout_s": 15.0, "backoff_cap_s": 4.0}
MARGIN_S = 5.0  # slack on top of the supervision bound, for a loaded 2-core machine
ORPHAN_WAIT_S = 5.0  # how long FFmpegs may outlive a SIGKILLed ucvd (PDEATHSIG is immediate)
FIND_FFMPEG_S = 5.0  # a publishing camera's relay runs FFmpeg well within this
EVENTS_WAIT_S = 10.0  # for the watch's first event: metrics come every 2 s
BOUND_S = SUPERVISION["backoff_cap_s"] + SUPERVISION["start_timeout_s"] + MARGIN_S


def say(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Outcome:
    step: int
    kind: str
    camera: str | None
    hold_s: float
    recovery_s: float | None = None  # fault cleared -> publishing again
    reported: list[str] = field(default_factory=list)  # error kinds ucvd reported
    violations: list[str] = field(default_factory=list)


@dataclass
class Soak:
    env: Lab
    central: Central
    sims: dict[str, SimCamera]
    d: Ucvd
    disk: StateDisk | None
    events: EventLog
    guard: ProcessGuard
    outcomes: list[Outcome] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # not tied to one fault
    probe_no: int = 0

    @property
    def prefix(self) -> str:
        return f"ucvd:{self.d.state_dir.resolve()}:"

    # --- looking ------------------------------------------------------------------------
    def statuses(self) -> dict[str, dict[str, Any]]:
        items = self.d.ctl_json("status")["items"]
        return {item["camera_id"]: item for item in items}

    def wait_publishing(self, cameras: list[str], deadline: float) -> dict[str, float]:
        """When each camera was seen publishing (monotonic), polling until `deadline`."""
        seen: dict[str, float] = {}
        while time.monotonic() < deadline and len(seen) < len(cameras):
            now = time.monotonic()
            for cam, item in self.statuses().items():
                if cam in cameras and cam not in seen and item["status"] == "publishing":
                    seen[cam] = now
            time.sleep(0.25)
        return seen

    def ffmpeg_of(self, camera: str) -> int | None:
        """The camera's FFmpeg, waited for while its relay is being (re)spawned: a process
        caught in `setpriv` or in an exec is not missed, and is not killed as FFmpeg yet."""
        tag = self.prefix + camera

        def running() -> int | None:
            return next((pid for pid in tagged(tag).get(tag, []) if runs(pid, "ffmpeg")), None)

        try:
            return wait_until(running, timeout=FIND_FFMPEG_S, what=f"the FFmpeg of {camera}")
        except WaitTimeout:
            return None

    def left_by_ucvd(self) -> dict[str, list[int]]:
        """What the killed ucvd left: its tagged processes, and a child it had forked but
        not yet exec'd (still showing ucvd's own command line; it becomes a tagged setpriv)."""
        left = tagged(self.prefix)
        state_dir = str(self.d.state_dir)
        forks = [
            pid
            for pid in pids_of("ucvd", becoming=True)
            if _after(argv_of(pid), "--state-dir") == state_dir
        ]
        if forks:
            left["(forked, not yet exec'd)"] = forks
        return left

    # --- one step -----------------------------------------------------------------------
    def run_step(self, step: Step) -> None:
        if step.gateway:
            (hit,) = step.hits
            handler: Callable[[Step, Hit], None] = {
                Kind.MEDIAMTX_RESTART: self.mediamtx_restart,
                Kind.UCVD_KILL: self.ucvd_kill,
                Kind.DISK_FULL: self.state_fault,
                Kind.DB_READ_ONLY: self.state_fault,
            }[hit.kind]
            handler(step, hit)
        else:
            self.camera_faults(step)

    def camera_faults(self, step: Step) -> None:
        injected: dict[str, float] = {}
        outcomes = {h.camera: Outcome(step.number, h.kind, h.camera, h.hold_s) for h in step.hits}
        for hit in step.hits:
            assert hit.camera is not None
            injected[hit.camera] = time.monotonic()
            if hit.kind is Kind.KILL_FFMPEG:
                pid = self.ffmpeg_of(hit.camera)
                if pid is None:
                    outcomes[hit.camera].violations.append("no FFmpeg to kill")
                else:
                    os.kill(pid, signal.SIGKILL)
            elif hit.kind is Kind.KICK_SESSION:
                self.central.server.api.kick_publisher(path_of(hit.camera))
            elif hit.kind is Kind.CAMERA_OUTAGE:
                self.sims[hit.camera].stop()
            elif hit.kind is Kind.CAMERA_FREEZE:
                self.sims[hit.camera].freeze()
        cleared: dict[str, float] = {}
        for hit in sorted(step.hits, key=lambda h: h.hold_s):
            assert hit.camera is not None
            remaining = injected[hit.camera] + hit.hold_s - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)  # the fault's scheduled length, not a wait for a state
            if hit.kind is Kind.CAMERA_OUTAGE:
                self.sims[hit.camera].start()
            elif hit.kind is Kind.CAMERA_FREEZE:
                self.sims[hit.camera].thaw()
            cleared[hit.camera] = time.monotonic()
        for cam, outcome in outcomes.items():
            assert cam is not None
            self.judge(outcome, cam, injected[cam], cleared[cam], Kind(outcome.kind))
        self.outcomes += outcomes.values()

    def judge(
        self, outcome: Outcome, cam: str, injected: float, cleared: float, kind: Kind
    ) -> None:
        """Wait for the camera's fault and its return; record what ucvd said and when."""
        deadline = cleared + BOUND_S
        faulted_at: float | None = None
        back_at: float | None = None
        while time.monotonic() < deadline and back_at is None:
            for e in self.events.since(injected, cam):
                if e.error_kind is not None and e.new != "publishing":
                    if e.error_kind not in outcome.reported:
                        outcome.reported.append(e.error_kind)
                    faulted_at = faulted_at or e.at
                elif e.new == "publishing" and faulted_at is not None and e.at >= faulted_at:
                    back_at = e.at
                    break
            if back_at is None:
                time.sleep(0.1)
        if faulted_at is None:
            outcome.violations.append(f"{cam}: ucvd reported no fault for {kind}")
        expected = EXPECTED_ERROR.get(kind)
        if expected is not None and faulted_at is not None and expected not in outcome.reported:
            outcome.violations.append(
                f"{cam}: {kind} reported as {outcome.reported}, expected {expected}"
            )
        if back_at is None:
            status = self.statuses().get(cam, {})
            outcome.violations.append(
                f"{cam}: not publishing {BOUND_S:g} s after {kind} cleared "
                f"(status {status.get('status')}, last error {status.get('last_error')})"
            )
        else:
            outcome.recovery_s = round(max(0.0, back_at - cleared), 2)

    def mediamtx_restart(self, step: Step, hit: Hit) -> None:
        injected = time.monotonic()
        self.central.server.stop()
        time.sleep(hit.hold_s)  # the outage's scheduled length
        self.central.server.start()
        cleared = time.monotonic()
        for cam in self.sims:
            outcome = Outcome(step.number, hit.kind, cam, hit.hold_s)
            self.judge(outcome, cam, injected, cleared, hit.kind)
            self.outcomes.append(outcome)

    def ucvd_kill(self, step: Step, hit: Hit) -> None:
        outcome = Outcome(step.number, hit.kind, None, hit.hold_s)
        self.events.expect_end()
        self.d.kill()
        with contextlib.suppress(WaitTimeout):
            wait_until(lambda: not self.left_by_ucvd(), timeout=ORPHAN_WAIT_S,
                       what="the FFmpegs of the killed ucvd to die")  # fmt: skip
        left = self.left_by_ucvd()
        if left:
            outcome.violations.append(f"FFmpegs outlived the SIGKILLed ucvd: {left}")
            for pids in left.values():
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
        time.sleep(hit.hold_s)  # how long the gateway stays down
        started = time.monotonic()
        self.d.start()
        self.events.start()
        seen = self.wait_publishing(
            list(self.sims), started + SUPERVISION["start_timeout_s"] + MARGIN_S
        )
        missing = sorted(set(self.sims) - set(seen))
        if missing:
            outcome.violations.append(f"not publishing again after the restart: {missing}")
        else:
            outcome.recovery_s = round(max(seen.values()) - started, 2)
        if not self.events.wait_subscribed(EVENTS_WAIT_S):  # the next step's faults need it
            outcome.violations.append("the event stream did not come back after the restart")
        self.outcomes.append(outcome)

    def state_fault(self, step: Step, hit: Hit) -> None:
        """The state disk full, or the database immutable: writes are refused with
        `storage_error` and do not land, relays go on, and the same write lands afterwards."""
        outcome = Outcome(step.number, hit.kind, None, hit.hold_s)
        assert self.disk is not None
        self.probe_no += 1
        probe = f"soak-probe-{self.probe_no}"
        if hit.kind is Kind.DISK_FULL:
            self.disk.fill()
        else:
            self.disk.protect(True, self.d.state_dir)
        injected = time.monotonic()
        try:
            refused = self.d.ctl("camera", "add", probe, "--url", "rtsp://127.0.0.1:9/soak")
            if (
                refused.code == 0
                or "storage_error" not in refused.stderr
                or "Nothing was lost" not in refused.stderr
            ):
                outcome.violations.append(
                    f"a write during {hit.kind} was not refused as storage_error: "
                    f"exit {refused.code}, {refused.stderr.strip()[-200:]}"
                )
            else:
                outcome.reported.append("storage_error")
            ids = [c["id"] for c in self.d.ctl_json("camera", "list")["items"]]
            if probe in ids:
                outcome.violations.append(f"the refused {probe} is listed anyway")
            time.sleep(max(0.0, injected + hit.hold_s - time.monotonic()))  # the fault's length
        finally:
            if hit.kind is Kind.DISK_FULL:
                self.disk.free()
            else:
                self.disk.protect(False, self.d.state_dir)
        cleared = time.monotonic()
        added = self.d.ctl("camera", "add", probe, "--url", "rtsp://127.0.0.1:9/soak")
        if added.code != 0:
            outcome.violations.append(f"a write after {hit.kind} failed: {added.stderr.strip()}")
        else:
            self.d.ctl("camera", "remove", probe).check()
        seen = self.wait_publishing(list(self.sims), cleared + BOUND_S)
        missing = sorted(set(self.sims) - set(seen))
        if missing:
            outcome.violations.append(f"not publishing after {hit.kind}: {missing}")
        else:
            outcome.recovery_s = round(max(0.0, max(seen.values()) - cleared), 2)
        self.outcomes.append(outcome)


def _after(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


# --- the run --------------------------------------------------------------------------------
def configuration(d: Ucvd) -> dict[str, Any]:
    return {
        "cameras": d.ctl_json("camera", "list"),
        "targets": d.ctl_json("target", "list"),
        "desired": {i["camera_id"]: i["desired"] for i in d.ctl_json("status")["items"]},
    }


def run(
    *,
    cameras: int,
    seed: int,
    steps: int | None = None,
    minutes: float | None = None,
    kinds: tuple[Kind, ...] = CAMERA_KINDS + GATEWAY_KINDS,
) -> dict[str, Any]:
    """Run the soak; returns the report (see `summary`). Bounded by `steps` or `minutes`."""
    skipped: dict[str, str] = {}
    why = StateDisk.unavailable()
    if why is not None and any(k in STATE_KINDS for k in kinds):
        skipped = {str(k): why for k in kinds if k in STATE_KINDS}
        kinds = tuple(k for k in kinds if k not in STATE_KINDS)
        say(f"state-disk faults skipped: {why}")
    ids = camera_ids(cameras)
    schedule = plan(seed, ids, steps or 10_000, kinds=kinds,
                    stall_timeout_s=SUPERVISION["stall_timeout_s"])  # fmt: skip
    started_wall = time.time()
    with lab("ucvd-soak-") as env:
        central = env.central(log_level="warn")
        sims = dict(zip(ids, env.cameras.add_many(cameras), strict=True))
        d = Ucvd(env.registry, env.workdir / "ucvd", settings={"supervision": SUPERVISION})
        disk = None
        if any(k in STATE_KINDS for k in kinds):
            disk = StateDisk(env.workdir / "state.img", d.state_dir)
            disk.mount()
        prefix = f"ucvd:{d.state_dir.resolve()}:"  # ucvd's tag for its FFmpegs (runner.py)
        soak = Soak(env, central, sims, d, disk, EventLog(d.socket), ProcessGuard(prefix))
        try:
            before = _set_up(soak)
            began = time.monotonic()
            for step in schedule:
                if (
                    steps is None
                    and minutes is not None
                    and time.monotonic() - began > minutes * 60
                ):
                    break
                _run_and_tell(soak, step)
            ran_s = time.monotonic() - began
            _wind_down(soak, before)
        finally:
            soak.guard.stop()
            soak.events.stop()
            if d.proc is not None and d.proc.alive():
                d.kill()
            if disk is not None:
                disk.unmount()
    return summary(soak, seed=seed, cameras=cameras, ran_s=ran_s, started=started_wall,
                   skipped=skipped)  # fmt: skip


def _set_up(soak: Soak) -> dict[str, Any]:
    """ucvd with every camera publishing; returns the configuration to compare at the end."""
    d, ids = soak.d, list(soak.sims)
    d.start()
    add_target(d, soak.central).check()
    for cam, sim in soak.sims.items():
        add_camera(d, sim, cam).check()
    soak.events.start()
    for cam in ids:
        d.ctl("publish", cam).check()
    seen = soak.wait_publishing(ids, time.monotonic() + 60 + len(ids))
    if len(seen) < len(ids):
        raise RuntimeError(f"not all cameras publishing at the start: {soak.statuses()}")
    if not soak.events.wait_subscribed(EVENTS_WAIT_S):
        raise RuntimeError("the event stream (ucvctl watch) delivered nothing")
    soak.guard.start()
    say(f"{len(ids)} cameras publishing; bound {BOUND_S:g} s")
    return configuration(d)


def _run_and_tell(soak: Soak, step: Step) -> None:
    t0 = time.monotonic()
    soak.run_step(step)
    mine = [o for o in soak.outcomes if o.step == step.number]
    worst = max((o.recovery_s or 0.0 for o in mine), default=0.0)
    bad = sum(len(o.violations) for o in mine)
    hits = ", ".join(f"{h.kind}{'@' + h.camera if h.camera else ''}" for h in step.hits)
    say(f"step {step.number}: {hits}: recovered (max) {worst:g} s, {bad} violations, "
        f"{time.monotonic() - t0:.1f} s")  # fmt: skip
    for o in mine:
        for v in o.violations:
            say(f"  VIOLATION {v}")


def _wind_down(soak: Soak, before: dict[str, Any]) -> None:
    """Configuration unchanged, a clean stop, an intact database, and the guards' findings."""
    d = soak.d
    if configuration(d) != before:
        soak.violations.append("cameras, targets or desired state changed during the soak")
    soak.guard.stop()
    soak.events.stop()
    d.terminate()
    integrity = sqlite3.connect(d.database).execute("PRAGMA integrity_check").fetchone()
    if integrity != ("ok",):
        soak.violations.append(f"database integrity check: {integrity}")
    soak.violations += soak.guard.violations
    soak.violations += [f"event stream ended while ucvd was up: {e}" for e in soak.events.ended]


def summary(
    soak: Soak, *, seed: int, cameras: int, ran_s: float, started: float, skipped: dict[str, str]
) -> dict[str, Any]:
    rows = []
    for kind in Kind:
        mine = [o for o in soak.outcomes if o.kind == kind]
        if not mine:
            continue
        times = [o.recovery_s for o in mine if o.recovery_s is not None]
        rows.append({
            "fault": str(kind),
            "injected": len({o.step for o in mine} if kind in GATEWAY_KINDS else mine),
            "cameras_hit": sum(1 for o in mine if o.camera is not None),
            "recovery_median_s": round(statistics.median(times), 2) if times else None,
            "recovery_max_s": max(times) if times else None,
            "reported_as": sorted({k for o in mine for k in o.reported}),
            "violations": sum(len(o.violations) for o in mine),
        })  # fmt: skip
    violations = [v for o in soak.outcomes for v in o.violations] + soak.violations
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "machine": describe_machine(),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "seed": seed,
        "cameras": cameras,
        "ran_s": round(ran_s, 1),
        "steps": len({o.step for o in soak.outcomes}),
        "bound_s": BOUND_S,
        "supervision": SUPERVISION,
        "process_scans": soak.guard.scans,
        "skipped": skipped,
        "faults": rows,
        "violations": violations,
        "outcomes": [asdict(o) for o in soak.outcomes],
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"Chaos soak: {report['cameras']} cameras, seed {report['seed']}, {report['steps']} steps "
        f"in {report['ran_s']:g} s; recovery bound {report['bound_s']:g} s "
        f"(backoff cap + start timeout + margin); {report['process_scans']} process-table scans",
        "",
        f"Started {report['started']} on {report['machine'].get('cores')} cores, "
        f"{report['machine'].get('memory_gib')} GiB ({report['machine'].get('cpu')}); "
        f"load average at the end {report['loadavg_at_end']}.",
        "",
        "| fault | injected | cameras hit | recovery median | recovery max | reported as "
        "| violations |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["faults"]:
        med = "-" if r["recovery_median_s"] is None else f"{r['recovery_median_s']:g} s"
        top = "-" if r["recovery_max_s"] is None else f"{r['recovery_max_s']:g} s"
        lines.append(f"| {r['fault']} | {r['injected']} | {r['cameras_hit']} | {med} | {top} | "
                     f"{', '.join(r['reported_as']) or '-'} | {r['violations']} |")  # fmt: skip
    for kind, why in report["skipped"].items():
        lines.append(f"| {kind} | skipped: {why} | | | | | |")
    lines.append("")
    lines.append(f"Violations: {len(report['violations'])}")
    lines += [f"- {v}" for v in report["violations"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=None, help="a number of steps instead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", type=Path, default=Path("tests/soak/results"))
    args = parser.parse_args(argv)
    report = run(cameras=args.cameras, seed=args.seed, steps=args.steps, minutes=args.minutes)
    text = table(report)
    print("\n" + text, flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.results / "soak.md").write_text(text + "\n")
    print(f"\nwritten {args.results / 'soak.json'} and {args.results / 'soak.md'}")
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
