"""The boot test: `python -m tests.vm.run --dist bookworm` (or `make vm-test DIST=...`).

Builds the package for the distribution, a VM disk with everything but ucvd installed, boots
it under QEMU and lets tests/vm/guest_check.py install and exercise ucvd from inside, across
a reboot. Prints each check as it arrives, then a table and the timings; writes
tests/vm/results/<dist>.json and .md (and the guest's console as <dist>.console.log, not
committed). The last line is `N passed, N failed`; the exit status is 1 if any check failed
or never reported.

Needs root (the root tree keeps its owners), qemu-system-x86, debootstrap, e2fsprogs
(`make vm-deps`), and what `make deb` needs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests import debroot
from tests.harness.media import Audio, ClipLibrary
from tests.harness.tools import REPO_ROOT, find_tools
from tests.vm import image
from tests.vm.boot import Boot, Record, boot
from tests.vm.guest_check import CHECKS, PHASE1
from ucvd.version import __version__

DISTS = ("bookworm", "trixie")
RESULTS = Path(__file__).with_name("results")
BUILD_DEB = REPO_ROOT / "packaging" / "build-deb.sh"


def say(text: str) -> None:
    print(f"[vm] {text}", file=sys.stderr, flush=True)


def build_deb(dist: str, out: Path) -> Path:
    argv = ["bash", str(BUILD_DEB), "--dist", dist, "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"build-deb.sh --dist {dist} failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def mediamtx_binary() -> Path:
    return Path(find_tools().mediamtx)


def test_clip() -> Path:
    clips = ClipLibrary(find_tools())
    clips.ensure()
    return clips.path(Audio.AAC)


def evaluate(records: list[Record]) -> list[dict[str, Any]]:
    """One row per expected check, in order; a check never reported is a failure."""
    reported = {r.data["name"]: r.data for r in records if r.data.get("type") == "check"}
    rows = []
    for name in CHECKS:
        data = reported.get(name)
        if data is None:
            rows.append({
                "name": name, "phase": 1 if name in PHASE1 else 2, "ok": False,
                "seconds": None, "detail": "missing: the guest never reported this check",
            })  # fmt: skip
        else:
            rows.append({k: data[k] for k in ("name", "phase", "ok", "seconds", "detail")})
    unknown = sorted(set(reported) - set(CHECKS))
    for name in unknown:
        rows.append({**reported[name], "ok": False, "detail": "reported but not expected"})
    return rows


def vm_timings(result: Boot) -> dict[str, float | None]:
    def at(kind: str, phase: int | None = None) -> float | None:
        for r in result.records:
            if r.data.get("type") == kind and (phase is None or r.data.get("phase") == phase):
                return r.at
        return None

    ready1, reboot, ready2, done = at("phase", 1), at("reboot"), at("phase", 2), at("done")
    return {
        "boot_to_ready_s": ready1,  # QEMU start to the checks starting
        "phase1_s": round(reboot - ready1, 2) if reboot and ready1 else None,
        "reboot_to_ready_s": round(ready2 - reboot, 2) if ready2 and reboot else None,
        "phase2_s": round(done - ready2, 2) if done and ready2 else None,
        "vm_s": result.seconds,
    }


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: dict[str, Any]) -> str:
    t = report["timings"]
    lines = [
        f"# Boot test: Debian {report['dist']}",
        "",
        f"ucvd {report['version']} ({report['package']}), {report['date']}, "
        f"`make vm-test DIST={report['dist']}`",
        "",
        "| step | seconds |",
        "|---|---:|",
        *(f"| {k.removesuffix('_s')} | {v if v is not None else '—'} |" for k, v in t.items()),
        "",
        "| check | phase | result | seconds | detail |",
        "|---|---:|---|---:|---|",
    ]
    for row in report["checks"]:
        seconds = row["seconds"] if row["seconds"] is not None else "—"
        result = "pass" if row["ok"] else "**FAIL**"
        first = cell(row["detail"].strip().splitlines()[0] if row["detail"].strip() else "")
        lines.append(f"| {row['name']} | {row['phase']} | {result} | {seconds} | {first[:200]} |")
    failed = [row for row in report["checks"] if not row["ok"]]
    if failed:
        lines += ["", "## Failures", ""]
        for row in failed:
            lines += [f"### {row['name']}", "", "```", row["detail"].strip(), "```", ""]
    lines += ["", report["summary"], ""]
    return "\n".join(lines)


def print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        seconds = f"{row['seconds']:7.1f}s" if row["seconds"] is not None else "      —"
        first = row["detail"].strip().splitlines()[0] if row["detail"].strip() else ""
        mark = "pass" if row["ok"] else "FAIL"
        print(f"  {row['name']:<{width}}  {row['phase']}  {mark}  {seconds}  {first[:110]}")


def live(record: Record) -> None:
    d = record.data
    if d.get("type") == "journal":
        return
    if d.get("type") == "check":
        mark = "pass" if d["ok"] else "FAIL"
        say(f"{record.at:7.1f}s  {mark}  {d['name']} ({d['seconds']}s)")
        if not d["ok"]:
            for line in str(d["detail"]).splitlines()[:12]:
                say(f"            {line}")
    else:
        say(f"{record.at:7.1f}s  {d.get('type')}: {json.dumps(d)}")


def run(dist: str, *, timeout: float, keep: bool) -> int:
    if os.geteuid() != 0:
        raise SystemExit("the boot test needs root (debootstrap, a root tree keeping its owners)")
    t0 = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f"ucvd-vm-{dist}-", dir="/var/tmp"))
    try:
        say(f"{dist}: building the package, getting MediaMTX and the test clip ({workdir})")
        deb = build_deb(dist, workdir)
        t_deb = time.monotonic()
        mediamtx, clip = mediamtx_binary(), test_clip()
        plan = image.guest_plan(dist, deb, __version__)
        say(f"{dist}: the root ({', '.join(image.root_packages(deb))}) and the disk image")
        t_img = time.monotonic()
        img = image.build(
            dist, plan, deb=deb, mediamtx=mediamtx, clip=clip,
            shipped_config=REPO_ROOT / "packaging" / "ucvd.toml", workdir=workdir,
        )  # fmt: skip
        say(f"{dist}: root {img.root_seconds:.1f}s, image {img.image_seconds:.1f}s; booting")
        result = boot(img, workdir, timeout=timeout, on_record=live)
        rows = evaluate(result.records)
        passed = sum(1 for r in rows if r["ok"])
        failed = len(rows) - passed
        timings = {
            "deb_s": round(t_deb - t0, 2),
            "other_inputs_s": round(t_img - t_deb, 2),
            "root_s": round(img.root_seconds, 2),
            "image_s": round(img.image_seconds, 2),
            **vm_timings(result),
            "total_s": round(time.monotonic() - t0, 2),
        }
        problems = []
        if result.timed_out:
            problems.append(f"the VM did not power off within {timeout:g}s: killed")
        elif result.exit_code != 0:
            problems.append(f"QEMU exited with {result.exit_code}")
        errors = [r.data["detail"] for r in result.records if r.data.get("type") == "error"]
        problems += [f"guest harness error:\n{e}" for e in errors]
        summary = f"{passed} passed, {failed} failed"
        report = {
            "dist": dist,
            "version": __version__,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "package": deb.name,
            "root_packages": list(image.root_packages(deb)),
            "timings": timings,
            "records": [
                {"at": r.at, **r.data} for r in result.records if r.data.get("type") != "journal"
            ],
            "problems": problems,
            "noise": result.noise[-50:],
            "checks": rows,
            "summary": summary,
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{dist}.json").write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / f"{dist}.md").write_text(markdown(report))
        shutil.copyfile(result.console, RESULTS / f"{dist}.console.log")
        journals = [r.data for r in result.records if r.data.get("type") == "journal"]
        (RESULTS / f"{dist}.journal.log").write_text(
            "".join(
                f"--- boot {j['phase']}: journalctl -b -u ucvd -u ucvd.socket\n{j['text']}"
                for j in journals
            )
        )
        print(f"\nBoot test, Debian {dist} (ucvd {__version__}):")
        print_table(rows)
        print(
            "timings (s): " + ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in timings.items())
        )
        for problem in problems:
            print(f"problem: {problem}")
        print(
            f"results: {RESULTS / dist}.md; the guest's console and ucvd's journal: "
            f"{RESULTS / dist}.console.log, .journal.log"
        )
        print(summary)
        return 0 if failed == 0 and not problems else 1
    finally:
        if keep:
            say(f"kept {workdir}")
        else:
            debroot.remove_tree(workdir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dist", choices=DISTS, required=True)
    parser.add_argument("--timeout", type=float, default=2400, help="for the VM, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    return run(args.dist, timeout=args.timeout, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
