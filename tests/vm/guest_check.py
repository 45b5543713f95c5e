#!/usr/bin/env python3
"""The boot test's checks, run inside the VM as root by vmtest-check.service at each boot.

Standard library only: this runs on the guest's own Python (3.11 on Debian 12, 3.13 on
Debian 13), before and after ucvd is installed.

Phase 1 (first boot) installs the package and checks what an operator would do; then it
adds the /proc hardening to /etc/fstab and reboots. Phase 2 checks that the publication
came back by itself and that the hardening hides the passwords, then removes and purges
the package and powers the machine off. (That a reinstall keeps an edited ucvd.toml is
dpkg's conffile handling; the package test checks the file is a conffile.)

Every check writes one JSON line to the second serial port (/dev/ttyS1), which QEMU writes
to a file the host reads: {"type": "check", "name", "phase", "ok", "seconds", "detail"}.
The detail never carries a password: each one is replaced by its role before it is
written. `guest_check.py scan` is the stranger's part: run as another account, it reads
the passwords' random cores on stdin and reports everywhere that account can read them.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import secrets
import stat
import subprocess
import sys
import tempfile
import termios
import time
import traceback
import tty
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

CONFIG = Path("/root/ucvd-vmtest/config.json")
STATE = Path("/var/lib/ucvd-vmtest/phase")
RESULTS_TTY = "/dev/ttyS1"
SOCKET = Path("/run/ucvd/ucvd.sock")
UCVD_TOML = Path("/etc/ucvd/ucvd.toml")
STATE_DIR = Path("/var/lib/ucvd")
OPERATOR, STRANGER = "alice", "bob"
OPERATOR_GROUP = "ucvd-operators"
CAMERA = "cam-001"
PUBLISH_PATH = f"camera_{CAMERA}"
HIDEPID_FSTAB = "proc /proc proc defaults,hidepid=invisible 0 0"
# Deadlines are generous: under QEMU's TCG everything is several times slower than on
# hardware, and a deadline only bounds a failing run.
SLOW = 180.0
WEB_PORT = 9810  # ucvd-web's default

PHASE1 = (
    "install",
    "package_contents",
    "units_enabled",
    "units_active",
    "socket_mode",
    "status_text",
    "accounts",
    "operator_adds_target_and_camera",
    "operator_publishes",
    "stranger_refused",
    "stranger_ps_default_proc",
    "stranger_nothing_else_default_proc",
    "health_warns_hidepid",
    "journal_camera_records",
    "journal_no_password",
    "reload",
    "reload_broken_config",
    "ffmpeg_sigkill",
    "second_daemon_refused",
    "restart_backlog",
    "watchdog",
    "security_exposure",
    "web_metrics",
    "web_dashboard",
    "rtsps_verified",
)
PHASE2 = (
    "reboot_resumes",
    "proc_hidepid",
    "stranger_sees_nothing_hidepid",
    "health_no_hidepid_warning",
    "remove",
    "purge",
)
CHECKS = PHASE1 + PHASE2

T = TypeVar("T")


class CheckFailed(Exception):
    pass


# --- small tools --------------------------------------------------------------------------
def sh(
    *argv: str, user: str | None = None, stdin: str | None = None, timeout: float = SLOW
) -> subprocess.CompletedProcess[str]:
    """Run a command (as `user` through runuser); never raises for an exit code."""
    full = ["runuser", "-u", user, "--", *argv] if user else list(argv)
    try:
        return subprocess.run(
            full, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"`{' '.join(argv)}` did not finish within {timeout:g}s") from exc


def out(done: subprocess.CompletedProcess[str], lines: int = 15) -> str:
    text = (done.stdout + done.stderr).strip().splitlines()
    return "\n".join(text[-lines:])


def must(done: subprocess.CompletedProcess[str], what: str) -> str:
    if done.returncode != 0:
        raise CheckFailed(f"{what}: exit {done.returncode}\n{out(done)}")
    return done.stdout


def wait_until(probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Poll until `probe` returns something truthy; on timeout, say what it saw last."""
    deadline = time.monotonic() + timeout
    interval, last = 0.1, "(nothing yet)"
    while True:
        try:
            value = probe()
        except CheckFailed as exc:
            last = str(exc)
        else:
            if value:
                return value
            last = repr(value)
        if time.monotonic() >= deadline:
            raise CheckFailed(f"timed out after {timeout:g}s waiting for {what}; last: {last}")
        time.sleep(interval)
        interval = min(interval * 1.5, 1.0)


def show(unit: str, prop: str) -> str:
    return must(sh("systemctl", "show", "-p", prop, "--value", unit), f"systemctl show {unit}")


def main_pid() -> int:
    return int(show("ucvd.service", "MainPID").strip() or 0)


def journal_tail(unit: str = "ucvd", lines: int = 25) -> str:
    return out(sh("journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat"), lines)


def unit_report() -> str:
    status = sh("systemctl", "status", "--no-pager", "-l", "ucvd.socket", "ucvd.service")
    return f"{out(status, 30)}\n--- journalctl -u ucvd:\n{journal_tail()}"


def processes() -> Iterator[tuple[int, int, str]]:
    """(pid, ppid, comm) of every process this account can see."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text()
        except OSError:
            continue
        comm = fields[fields.index("(") + 1 : fields.rindex(")")]
        ppid = int(fields[fields.rindex(")") + 2 :].split()[1])
        yield int(entry.name), ppid, comm


def descendants(root_pid: int, comm: str) -> list[int]:
    table = list(processes())
    children: dict[int, list[int]] = {}
    for pid, ppid, _ in table:
        children.setdefault(ppid, []).append(pid)
    names = {pid: name for pid, _, name in table}
    found, todo = [], list(children.get(root_pid, []))
    while todo:
        pid = todo.pop()
        if names.get(pid) == comm:
            found.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(found)


def cgroup_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cgroup").read_text().strip().rsplit("/", 1)[-1]
    except OSError:
        return "?"


def service_proc_mounts() -> str:
    """The procfs lines of /proc/self/mountinfo as ucvd's own mount namespace has them."""
    done = sh(
        "nsenter", f"--target={main_pid()}", "--mount", "--",
        "grep", " - proc ", "/proc/self/mountinfo",
    )  # fmt: skip
    return out(done)


def hidepid_warnings(health: dict[str, Any]) -> list[str]:
    said = [*health.get("problems", []), *health.get("warnings", [])]
    return [text for text in said if "hidepid" in text.lower()]


def uptime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


# --- the environment: MediaMTX, the operator's view -----------------------------------------
class Env:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.secrets: dict[str, dict[str, str]] = plan["secrets"]
        self.central = plan["central"]
        self.camera = plan["camera"]
        # Who runs ucvctl: the operator, or root once the operator has been shown unable to
        # (the checks that follow still test what they are about, and say so).
        self.caller: str | None = OPERATOR

    def ucvctl(self, *args: str, stdin: str | None = None, timeout: float = SLOW) -> Any:
        """`ucvctl --json ...` as the caller; the decoded result, or CheckFailed."""
        done = sh("ucvctl", "--json", *args, user=self.caller, stdin=stdin, timeout=timeout)
        if done.returncode != 0:
            raise CheckFailed(f"ucvctl {' '.join(args)}: exit {done.returncode}: {out(done)}")
        return json.loads(done.stdout)

    def pick_caller(self) -> None:
        done = sh("ucvctl", "info", user=OPERATOR)
        self.caller = None if "permission denied" in done.stderr.lower() else OPERATOR

    def cores(self) -> dict[str, str]:
        return {role: s["core"] for role, s in self.secrets.items()}

    def redact(self, text: str) -> str:
        for role, s in self.secrets.items():
            text = text.replace(s["password"], f"<{role} password>")
            text = text.replace(s["core"], f"<{role} password>")
        return text

    def api_get(self, port: int, path: str, auth: bool) -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
        if auth:
            api = self.secrets["api"]
            token = b64encode(f"{api['user']}:{api['password']}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (http only)
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise CheckFailed(f"MediaMTX API {path}: HTTP {exc.code}") from exc
        except OSError as exc:
            raise CheckFailed(f"MediaMTX API on port {port}: {exc}") from exc

    def central_path_ready(self) -> bool:
        info = self.api_get(self.central["api_port"], f"/v3/paths/get/{PUBLISH_PATH}", True)
        return bool(info and info.get("ready"))

    def camera_ready(self) -> bool:
        path = f"/v3/paths/get/{self.camera['path']}"
        info = self.api_get(self.camera["api_port"], path, False)
        return bool(info and info.get("ready"))

    def wait_path_ready(self, timeout: float = SLOW) -> None:
        wait_until(
            self.central_path_ready, timeout=timeout, what=f"{PUBLISH_PATH} ready at MediaMTX"
        )

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.ucvctl("status", CAMERA)
        return result

    def wait_publishing(self, timeout: float = SLOW) -> dict[str, Any]:
        def publishing() -> dict[str, Any] | None:
            st = self.status()
            return st if st.get("status") == "publishing" else None

        return wait_until(publishing, timeout=timeout, what=f"{CAMERA} publishing (ucvctl status)")


# --- what another account can read ----------------------------------------------------------
class Needles:
    """The passwords' random cores, each found under its role."""

    def __init__(self, cores: dict[str, str]) -> None:
        self.encoded = {role: core.encode() for role, core in cores.items()}

    def roles_in(self, data: bytes) -> list[str]:
        return sorted(role for role, core in self.encoded.items() if core in data)


def scan_processes(needles: Needles) -> list[dict[str, Any]]:
    me = os.getpid()
    findings: list[dict[str, Any]] = []
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, check=False)
    for line in ps.stdout.splitlines():
        pid = int(line.split()[0])
        if pid != me and (roles := needles.roles_in(line)):
            findings.append({"kind": "ps", "pid": pid, "roles": roles})
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        for name in ("cmdline", "environ"):
            try:
                data = (entry / name).read_bytes()
            except OSError:
                continue
            if roles := needles.roles_in(data):
                findings.append({"kind": name, "pid": int(entry.name), "roles": roles})
    return findings


def scan_file(path: Path, needles: Needles) -> list[str] | None:
    """The roles found in a regular file; None if it is not one or cannot be read."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return None
        with path.open("rb") as handle:
            tail = b""
            while chunk := handle.read(1 << 20):
                if roles := needles.roles_in(tail + chunk):
                    return roles
                tail = chunk[-64:]
    except OSError:
        return None
    return []


def scan_files(needles: Needles, root: str = "/") -> tuple[int, list[dict[str, Any]]]:
    """Every regular file outside /proc, /sys and /dev that this account can read, and the
    roles found in it. find lists them and grep -F looks for every core at once, in C: a
    Python walk reading 17,000 files took 130-260 s under emulation. A control file with a
    fresh core of its own is searched with them, so a grep that found nothing because it did
    not run (or ran wrong) fails the scan instead of passing it."""
    listing = subprocess.run(
        ["find", root, "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", "/dev", ")",
         "-prune", "-o", "-type", "f", "-readable", "-print0"],
        capture_output=True, check=False,
    )  # fmt: skip
    paths = [p for p in listing.stdout.split(b"\0") if p]
    control_core = secrets.token_hex(16).encode()
    with tempfile.TemporaryDirectory(prefix="vmtest-scan-") as tmp:
        control_path, pattern_path = Path(tmp) / "control", Path(tmp) / "patterns"
        control_path.write_bytes(b"before " + control_core + b" after\n")
        pattern_path.write_bytes(b"\n".join([*needles.encoded.values(), control_core]) + b"\n")
        control = bytes(control_path)
        grep = subprocess.run(
            ["xargs", "-0", "grep", "-lZ", "-a", "-s", "-F", "-f", str(pattern_path), "--"],
            input=b"\0".join([control, *paths]), capture_output=True, check=False,
        )  # fmt: skip
    matched = {path for path in grep.stdout.split(b"\0") if path}
    if control not in matched:
        raise RuntimeError(
            f"the file scan did not find its control (grep: exit {grep.returncode}, "
            f"{grep.stderr.decode(errors='replace')[-300:]!r})"
        )
    hits = []
    for path in sorted(matched - {control}):
        roles = scan_file(Path(os.fsdecode(path)), needles)
        if roles:  # the needles, not the control's core, were what grep found there
            hits.append({"kind": "file", "path": os.fsdecode(path), "roles": roles})
    return len(paths), hits


def scan(cores: dict[str, str], files: bool = True) -> list[dict[str, Any]]:
    """Everywhere the calling account finds one of the cores: `ps`, every readable
    /proc/*/cmdline and environ, every readable file outside /proc, /sys and /dev (unless
    `files` is false), and the journal as it may read it."""
    needles = Needles(cores)
    t0 = time.monotonic()
    findings = scan_processes(needles)
    t1 = time.monotonic()
    read = 0
    if files:
        read, hits = scan_files(needles)
        findings += hits
    t2 = time.monotonic()
    journal = subprocess.run(
        ["journalctl", "-o", "json", "--no-pager"], capture_output=True, check=False
    )
    if roles := needles.roles_in(journal.stdout):
        findings.append({"kind": "journal", "roles": roles})
    seconds = [round(t1 - t0, 1), round(t2 - t1, 1), round(time.monotonic() - t2, 1)]
    findings.append({"kind": "files_read", "count": read, "seconds": seconds})
    return findings


def stranger_scan(env: Env, files: bool = True) -> tuple[list[dict[str, Any]], int]:
    done = sh(
        sys.executable, "-I", str(Path(__file__).resolve()), "scan",
        *(() if files else ("--no-files",)),
        user=STRANGER, stdin=json.dumps(env.cores()), timeout=900,
    )  # fmt: skip
    must(done, "the stranger's scan")
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    read = sum(f["count"] for f in findings if f["kind"] == "files_read")
    timing = [f["seconds"] for f in findings if f["kind"] == "files_read"]
    print(f"vmtest: scan as {STRANGER}: {read} files; processes, files, journal {timing} s")
    found = [f for f in findings if f["kind"] != "files_read"]
    for f in found:
        if "pid" in f:
            pid = f["pid"]
            try:
                f["comm"] = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                f["comm"] = "(gone)"
            f["cgroup"] = cgroup_of(pid)
    return found, read


def where(f: dict[str, Any]) -> str:
    if "pid" in f:
        return (
            f"{f['kind']} of pid {f['pid']} ({f['comm']}, {f['cgroup']}): {', '.join(f['roles'])}"
        )
    return f"{f['kind']} {f.get('path', '')}: {', '.join(f['roles'])}".replace("  ", " ")


# --- the checks -----------------------------------------------------------------------------
class Checks:
    def __init__(self, env: Env, report: Callable[[dict[str, Any]], None]) -> None:
        self.env = env
        self.report = report
        self.passed: dict[str, bool] = {}
        self.phase = 0
        self.scan_default: tuple[list[dict[str, Any]], int] | None = None

    def run(self, name: str, fn: Callable[[], str], needs: tuple[str, ...] = ()) -> None:
        assert name in CHECKS, name
        t0 = time.monotonic()
        failed_needs = [n for n in needs if not self.passed.get(n)]
        if failed_needs:
            ok, detail = False, f"not run: needs {', '.join(failed_needs)} (an earlier failure)"
        else:
            try:
                ok, detail = True, fn()
            except CheckFailed as exc:
                ok, detail = False, str(exc)
            except Exception:
                ok, detail = False, traceback.format_exc(limit=4)
        self.passed[name] = ok
        if self.env.caller != OPERATOR and not failed_needs:
            detail += f"\n[ucvctl ran as root here: {OPERATOR} cannot use the socket]"
        self.report({
            "type": "check", "name": name, "phase": self.phase, "ok": ok,
            "seconds": round(time.monotonic() - t0, 2), "detail": self.env.redact(detail),
        })  # fmt: skip

    # phase 1 ------------------------------------------------------------------------------
    def install(self) -> str:
        done = sh(
            "apt-get", "install", "-y", "-q", "--no-install-recommends",
            "-o", "DPkg::Lock::Timeout=300", self.env.plan["deb"], timeout=900,
        )  # fmt: skip
        must(done, "apt-get install ./ucvd_*.deb (no network)")
        summary = [line for line in done.stdout.splitlines() if "newly installed" in line]
        return "; ".join(summary) or out(done, 3)

    def package_contents(self) -> str:
        problems: list[str] = []
        version = sh("ucvd", "--version").stdout.strip()
        if version != f"ucvd {self.env.plan['version']}":
            problems.append(f"ucvd --version says {version!r}")
        if not sh("ucvctl", "--help").stdout.startswith("usage: ucvctl"):
            problems.append("ucvctl --help does not start with 'usage: ucvctl'")
        paths = sh("sh", "-c", "command -v ucvd; command -v ucvctl").stdout.split()
        if paths != ["/usr/bin/ucvd", "/usr/bin/ucvctl"]:
            problems.append(f"on PATH: {paths}")
        for argv in (("ffmpeg", "-hide_banner", "-version"), ("setpriv", "--version")):
            if sh(*argv).returncode != 0:
                problems.append(f"{argv[0]} does not run")
        try:
            user = pwd.getpwnam("ucvd")
            if user.pw_uid >= 1000 or (user.pw_dir, user.pw_shell) != (
                "/var/lib/ucvd", "/usr/sbin/nologin"
            ):  # fmt: skip
                problems.append(f"user ucvd: {user}")
            if "ucvd" not in grp.getgrnam(OPERATOR_GROUP).gr_mem:
                problems.append(f"ucvd is not a member of {OPERATOR_GROUP}")
        except KeyError as exc:
            problems.append(f"account missing: {exc}")
        if UCVD_TOML.read_bytes() != Path(self.env.plan["shipped_config"]).read_bytes():
            problems.append(f"{UCVD_TOML} differs from packaging/ucvd.toml")
        conffiles = sh("dpkg-query", "-W", "-f=${Conffiles}", "ucvd").stdout
        if str(UCVD_TOML) not in conffiles:
            problems.append(f"{UCVD_TOML} is not a conffile: {conffiles!r}")
        pyc = Path("/usr/lib/ucvd/python/ucvd/__pycache__") / (
            f"cli.{sys.implementation.cache_tag}.pyc"
        )
        if not pyc.is_file():
            problems.append(f"not byte-compiled for this Python: no {pyc}")
        if problems:
            raise CheckFailed("; ".join(problems))
        return f"{version}; accounts, conffile, byte-code as shipped"

    def units_enabled(self) -> str:
        done = sh("systemctl", "is-enabled", "ucvd.service", "ucvd.socket")
        states = done.stdout.split()
        if states != ["enabled", "enabled"]:
            raise CheckFailed(f"systemctl is-enabled ucvd.service ucvd.socket: {out(done)}")
        return "ucvd.service enabled, ucvd.socket enabled"

    def units_active(self) -> str:
        def both() -> bool:
            done = sh("systemctl", "is-active", "ucvd.socket", "ucvd.service")
            if done.stdout.split() == ["active", "active"]:
                return True
            raise CheckFailed(" ".join(done.stdout.split()) or out(done))

        try:
            wait_until(both, timeout=SLOW, what="ucvd.socket and ucvd.service active")
        except CheckFailed as exc:
            raise CheckFailed(f"{exc}\n{unit_report()}") from None
        return f"ucvd.socket active, ucvd.service active (MainPID {main_pid()})"

    def socket_mode(self) -> str:
        try:
            st = SOCKET.stat()
        except OSError as exc:
            raise CheckFailed(f"{SOCKET}: {exc}") from None
        listing = out(sh("ls", "-l", str(SOCKET)), 1)
        owner = pwd.getpwuid(st.st_uid).pw_name
        group = grp.getgrgid(st.st_gid).gr_name
        if not (stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
                and owner == "root" and group == OPERATOR_GROUP):  # fmt: skip
            raise CheckFailed(f"expected srw-rw---- root {OPERATOR_GROUP}, got: {listing}")
        return listing

    def status_text(self) -> str:
        text = wait_until(
            lambda: show("ucvd.service", "StatusText").strip(), timeout=SLOW, what="StatusText"
        )
        return f"StatusText={text}"

    def accounts(self) -> str:
        for argv in (
            ("useradd", "-m", "-G", OPERATOR_GROUP, OPERATOR),
            ("useradd", "-m", STRANGER),
        ):
            must(sh(*argv), " ".join(argv))
        return "; ".join(sh("id", name).stdout.strip() for name in (OPERATOR, STRANGER))

    def _add_target_and_camera(self, caller: str | None) -> str:
        s, c, cam = self.env.secrets, self.env.central, self.env.camera
        self.env.caller = caller
        target = self.env.ucvctl(
            "target", "add", "central",
            "--url", f"rtsp://127.0.0.1:{c['rtsp_port']}",
            "--api-url", f"http://127.0.0.1:{c['api_port']}",
            "--username", s["publish"]["user"], "--password-stdin",
            "--api-username", s["api"]["user"], "--api-password-stdin", "--activate",
            stdin=f"{s['publish']['password']}\n{s['api']['password']}\n",
        )  # fmt: skip
        camera = self.env.ucvctl(
            "camera", "add", CAMERA,
            "--url", f"rtsp://127.0.0.1:{cam['rtsp_port']}/{cam['path']}",
            "--username", s["camera"]["user"], "--password-stdin",
            stdin=f"{s['camera']['password']}\n",
        )  # fmt: skip
        return f"target {target.get('name')}, camera {camera.get('id')}"

    def operator_adds_target_and_camera(self) -> str:
        try:
            added = self._add_target_and_camera(OPERATOR)
        except CheckFailed as refused:
            # The later checks need the camera: root adds it, and they say so.
            try:
                self._add_target_and_camera(None)
            except CheckFailed as also:
                raise CheckFailed(f"{refused}\nas root too: {also}") from None
            self.passed["camera_added"] = True
            raise CheckFailed(f"{refused}\n(root added them instead)") from None
        self.passed["camera_added"] = True
        return f"as {OPERATOR}: {added}"

    def operator_publishes(self) -> str:
        try:
            wait_until(self.env.camera_ready, timeout=SLOW, what="the camera simulator's stream")
        except CheckFailed as exc:
            raise CheckFailed(f"test harness: {exc}\n{journal_tail('vmtest-feeder')}") from None
        t0 = time.monotonic()
        done = sh(
            "ucvctl", "publish", CAMERA, "--wait", "--timeout", "150",
            user=self.env.caller, timeout=200,
        )  # fmt: skip
        if done.returncode != 0:
            raise CheckFailed(
                f"ucvctl publish {CAMERA} --wait: exit {done.returncode}: {out(done)}\n"
                + unit_report()
            )
        waited = time.monotonic() - t0
        self.env.wait_path_ready()
        self.passed["publishing"] = True
        if self.env.caller != OPERATOR:
            raise CheckFailed(f"only root could publish: {done.stdout.strip()}")
        return f"{done.stdout.strip()} after {waited:.1f}s; {PUBLISH_PATH} ready at MediaMTX"

    def stranger_refused(self) -> str:
        done = sh("ucvctl", "info", user=STRANGER)
        if done.returncode == 0 or "permission denied" not in done.stderr.lower():
            raise CheckFailed(f"{STRANGER}'s ucvctl info: exit {done.returncode}: {out(done)}")
        return f"exit {done.returncode}: {done.stderr.strip()}"

    def _default_scan(self) -> tuple[list[dict[str, Any]], int]:
        """Processes and the journal only: the files (some 16,000, two minutes under
        emulation) are read once, after the reboot, when nothing may be found at all."""
        if self.scan_default is None:
            self.env.wait_publishing()
            self.scan_default = stranger_scan(self.env, files=False)
        return self.scan_default

    def stranger_ps_default_proc(self) -> str:
        """Positive control: on a default /proc, FFmpeg's argv is world-readable. If the
        scan sees it here, its silence after the hardening means something."""
        found, _ = self._default_scan()
        in_ps = [f for f in found if f["kind"] == "ps"]
        if not in_ps:
            raise CheckFailed(
                f"{STRANGER} sees no password in `ps -eo args` on a default /proc; found: "
                + ("; ".join(map(where, found)) or "nothing")
            )
        return "exposed on default /proc: " + "; ".join(map(where, in_ps))

    def stranger_nothing_else_default_proc(self) -> str:
        found, _ = self._default_scan()
        # Expected on a default /proc: the command lines of ucvd's FFmpegs, nothing else.
        other = [
            f for f in found
            if not (f["kind"] in ("ps", "cmdline") and f["cgroup"] == "ucvd.service")
        ]  # fmt: skip
        if other:
            raise CheckFailed(f"{STRANGER} reads a password in: " + "; ".join(map(where, other)))
        return "every cmdline and environ, his journal: nothing; FFmpeg's argv aside"

    def health_warns_hidepid(self) -> str:
        health = self._health()
        warnings = hidepid_warnings(health)
        if not warnings:
            raise CheckFailed(
                f"ucvctl health says nothing about hidepid: {health}\n"
                f"/proc mounts seen by ucvd (its mount namespace):\n{service_proc_mounts()}"
            )
        return "; ".join(warnings)

    def _health(self) -> dict[str, Any]:
        done = sh("ucvctl", "--json", "health", user=self.env.caller)
        if done.returncode not in (0, 1):
            raise CheckFailed(f"ucvctl health: exit {done.returncode}: {out(done)}")
        health: dict[str, Any] = json.loads(done.stdout)
        return health

    def journal_camera_records(self) -> str:
        done = sh("journalctl", "-u", "ucvd", f"CAMERA_ID={CAMERA}", "-o", "json", "--no-pager")
        records = [json.loads(line) for line in must(done, "journalctl").splitlines() if line]
        if not records:
            raise CheckFailed(f"no journal record of ucvd with CAMERA_ID={CAMERA}")
        return f"{len(records)} records, e.g. {str(records[-1].get('MESSAGE'))[:160]!r}"

    def journal_no_password(self) -> str:
        done = sh("journalctl", "-u", "ucvd", "-o", "json", "--no-pager")
        records = [json.loads(line) for line in must(done, "journalctl").splitlines() if line]
        if not records:
            raise CheckFailed("the journal has no record of ucvd at all")
        leaks: list[str] = []
        for record in records:
            for field, value in record.items():
                # Non-UTF-8 fields come as arrays of bytes, repeated fields as arrays.
                values = (
                    value
                    if isinstance(value, list) and value and not isinstance(value[0], int)
                    else [value]
                )
                for v in values:
                    text = bytes(v).decode("latin-1") if isinstance(v, list) else str(v)
                    for role, core in self.env.cores().items():
                        if core in text:
                            leaks.append(f"{field} ({role})")
        if leaks:
            raise CheckFailed(f"password in journal fields: {sorted(set(leaks))}")
        return f"{len(records)} records, every field: no password"

    def reload(self) -> str:
        must(sh("systemctl", "reload", "ucvd"), "systemctl reload ucvd")
        return "systemctl reload ucvd: exit 0"

    def reload_broken_config(self) -> str:
        original = UCVD_TOML.read_bytes()
        pid = main_pid()
        try:
            UCVD_TOML.write_bytes(original + b"\n[no_such_section_boot_test]\nkey = 1\n")
            done = sh("systemctl", "reload", "ucvd")
            if done.returncode == 0:
                raise CheckFailed("systemctl reload ucvd succeeded with a broken ucvd.toml")
            why = out(sh("ucvctl", "reload", user=self.env.caller), 3)
            state = show("ucvd.service", "ActiveState").strip()
            if state != "active" or main_pid() != pid:
                raise CheckFailed(
                    f"after the refused reload: {state}, MainPID {main_pid()} (was {pid})"
                )
            self.env.wait_publishing()
            self.env.wait_path_ready()
        finally:
            UCVD_TOML.write_bytes(original)
        must(sh("systemctl", "reload", "ucvd"), "systemctl reload ucvd, file restored")
        return (
            f"refused (exit {done.returncode}; ucvctl: {why!r}); still active, same pid, publishing"
        )

    def ffmpeg_sigkill(self) -> str:
        pid = main_pid()
        ffmpegs = descendants(pid, "ffmpeg")
        if len(ffmpegs) != 1:
            raise CheckFailed(f"expected one ffmpeg under ucvd (MainPID {pid}), found {ffmpegs}")
        old = ffmpegs[0]
        os.kill(old, 9)

        def back() -> int | None:
            now = descendants(pid, "ffmpeg")
            st = self.env.status()
            if now and old not in now and st.get("status") == "publishing" and st.get("pid") in now:
                return int(st["pid"])
            return None

        t0 = time.monotonic()
        new = wait_until(back, timeout=SLOW, what="a new FFmpeg, publishing")
        self.env.wait_path_ready()
        took = time.monotonic() - t0
        return f"ffmpeg {old} SIGKILLed; ffmpeg {new} publishing after {took:.1f}s, path ready"

    def second_daemon_refused(self) -> str:
        """`sudo ucvd` beside the service, default paths: it must refuse on the state lock,
        naming the service's pid, and leave its FFmpeg and session alone."""
        pid = main_pid()
        before = self.env.status()
        ffmpegs = descendants(pid, "ffmpeg")
        done = sh("ucvd", timeout=60)
        expected = f"another ucvd (pid {pid}) is using the state directory /var/lib/ucvd"
        if done.returncode != 1 or expected not in done.stderr:
            raise CheckFailed(f"a second ucvd: exit {done.returncode}, wanted 1 and "
                              f"{expected!r}:\n{out(done)}")  # fmt: skip
        after = self.env.status()
        history = self.ucvctl_history()
        if (
            descendants(pid, "ffmpeg") != ffmpegs
            or main_pid() != pid
            or after.get("pid") != before.get("pid")
            or after.get("status") != "publishing"
            or history[0].get("ended_at") is not None
        ):
            raise CheckFailed(f"the service was touched: ffmpeg {ffmpegs} -> "
                              f"{descendants(pid, 'ffmpeg')}, status {after}, last session "
                              f"{history[0]}")  # fmt: skip
        return f"refused: {done.stderr.strip()}; ucvd {pid} and ffmpeg {ffmpegs} untouched"

    def ucvctl_history(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.env.ucvctl("history", CAMERA, "-n", "1")["items"]
        return items

    def restart_backlog(self) -> str:
        old = main_pid()
        restart = subprocess.Popen(["systemctl", "restart", "ucvd.service"])
        try:
            wait_until(
                lambda: not Path(f"/proc/{old}").exists(), timeout=SLOW, what=f"ucvd {old} to exit"
            )
            launched = time.monotonic()
            info = sh("ucvctl", "--json", "info", user=self.env.caller, timeout=SLOW)
            elapsed = time.monotonic() - launched
        finally:
            restart.wait(timeout=SLOW)
        if restart.returncode != 0:
            raise CheckFailed(f"systemctl restart ucvd: exit {restart.returncode}\n{unit_report()}")
        if info.returncode != 0:
            raise CheckFailed(
                f"ucvctl info during the restart: exit {info.returncode}: {out(info)}"
            )
        answer = json.loads(info.stdout)
        if answer["pid"] == old or answer["uptime_seconds"] >= elapsed:
            raise CheckFailed(
                f"not answered by the restarted daemon after waiting: pid {answer['pid']} "
                f"(old {old}), its uptime {answer['uptime_seconds']:.1f}s, call took {elapsed:.1f}s"
            )
        self.env.wait_publishing()
        self.env.wait_path_ready()
        return (
            f"ucvctl info sent after ucvd {old} exited, answered in {elapsed:.1f}s by ucvd "
            f"{answer['pid']} (up {answer['uptime_seconds']:.1f}s); publishing again"
        )

    def watchdog(self) -> str:
        usec = show("ucvd.service", "WatchdogUSec").strip()
        if usec != "30s":
            raise CheckFailed(f"WatchdogUSec={usec}")
        first = show("ucvd.service", "WatchdogTimestampMonotonic").strip()
        later = wait_until(
            lambda: (v := show("ucvd.service", "WatchdogTimestampMonotonic").strip()) != first
            and v,
            timeout=90, what="WatchdogTimestampMonotonic to advance",
        )  # fmt: skip
        if first in ("", "0"):
            raise CheckFailed(f"no watchdog ping before: WatchdogTimestampMonotonic={first}")
        return f"WatchdogUSec=30s; WatchdogTimestampMonotonic {first} -> {later}"

    def security_exposure(self) -> str:
        done = sh("systemd-analyze", "security", "--no-pager", "ucvd.service")
        found = re.search(r"Overall exposure level for ucvd\.service:\s*([0-9.]+)", done.stdout)
        if not found:
            raise CheckFailed(f"systemd-analyze security: exit {done.returncode}: {out(done)}")
        score = float(found.group(1))
        if score > 2.0:
            raise CheckFailed(f"exposure {score} > 2.0")
        return f"exposure {score}"

    def _metrics(self, token: str | None) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{WEB_PORT}/metrics")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def web_metrics(self) -> str:
        """ucvd-web: off after install; once enabled, it serves the camera's metrics as the
        user ucvd-web through the operator group; with a token credential, only to a
        scraper that presents it. Its unit's exposure is as low as the daemon's."""
        state = sh("systemctl", "is-enabled", "ucvd-web.service").stdout.strip()
        if state != "disabled":
            raise CheckFailed(f"ucvd-web.service after install: {state!r}, expected disabled")
        must(sh("systemctl", "enable", "--now", "ucvd-web.service"), "enable --now ucvd-web")
        up = f'ucvd_camera_up{{camera="{CAMERA}",path="{PUBLISH_PATH}",target="central"}} 1.0'

        def served() -> str | None:
            try:
                code, body = self._metrics(None)
            except OSError:
                return None
            return body if code == 200 and up in body else None

        try:
            body = wait_until(served, timeout=SLOW, what=f"ucvd-web to serve {up}")
        except CheckFailed as exc:
            raise CheckFailed(f"{exc}\n{journal_tail('ucvd-web')}") from None
        pid = show("ucvd-web.service", "MainPID").strip()
        user = sh("ps", "-o", "user=", "-p", pid).stdout.strip()
        if user != "ucvd-web":
            raise CheckFailed(f"ucvd-web runs as {user!r}")
        leaked = [role for role, core in self.env.cores().items() if core in body]
        if leaked:
            raise CheckFailed(f"/metrics carries the {', '.join(leaked)} password")
        # Its account may read (it is in the operator group) but not change anything.
        looks = sh("ucvctl", "status", CAMERA, user="ucvd-web")
        changes = sh("ucvctl", "stop", CAMERA, user="ucvd-web")
        if (
            looks.returncode != 0
            or changes.returncode == 0
            or "may only read" not in changes.stderr
        ):
            raise CheckFailed(
                f"as ucvd-web: status exit {looks.returncode}, stop exit {changes.returncode}: "
                f"{out(changes)}"
            )
        token = secrets.token_hex(24)
        Path("/etc/ucvd/web.token").write_text(token + "\n")
        Path("/etc/ucvd/web.token").chmod(0o600)
        dropin = Path("/etc/systemd/system/ucvd-web.service.d/token.conf")
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text("[Service]\nLoadCredential=token:/etc/ucvd/web.token\n")
        must(sh("systemctl", "daemon-reload"), "daemon-reload")
        must(sh("systemctl", "restart", "ucvd-web.service"), "restart ucvd-web")

        def refused_without_token() -> bool:
            try:
                return self._metrics(None)[0] == 401
            except OSError:
                return False

        try:
            wait_until(refused_without_token, timeout=SLOW, what="ucvd-web to ask for the token")
        except CheckFailed as exc:
            raise CheckFailed(f"{exc}\n{journal_tail('ucvd-web')}") from None
        code, body = self._metrics(token)
        if code != 200 or up not in body:
            raise CheckFailed(f"with the token: HTTP {code}: {body[:300]}")
        done = sh("systemd-analyze", "security", "--no-pager", "ucvd-web.service")
        found = re.search(r"Overall exposure level for ucvd-web\.service:\s*([0-9.]+)", done.stdout)
        if not found or float(found.group(1)) > 2.0:
            raise CheckFailed(f"systemd-analyze security ucvd-web: {out(done)}")
        series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
        return (
            f"disabled after install; enabled: {series} series as user ucvd-web, camera up, "
            f"no password; its account may read, not stop a camera; with a token credential: "
            f"401 without it, 200 with it; "
            f"exposure {found.group(1)}"
        )

    def _web(
        self,
        path: str,
        *,
        method: str = "GET",
        body: dict[str, Any] | None = None,
        token: str | None = None,
        cookie: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request to the dashboard, as a browser on this origin would make it; the
        response's header names in lower case."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{WEB_PORT}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
        )
        if method != "GET":
            request.add_header("X-Requested-With", "ucvd")
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if cookie is not None:
            request.add_header("Cookie", cookie)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                headers = {k.lower(): v for k, v in response.headers.items()}
                return response.status, headers, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()

    def _camera_status(self, cookie: str) -> str:
        code, _, body = self._web("/api/status", cookie=cookie)
        if code != 200:
            raise CheckFailed(f"GET /api/status: HTTP {code}: {body[:200]!r}")
        items = json.loads(body)["items"]
        return next((i["status"] for i in items if i["camera_id"] == CAMERA), "absent")

    def _dashboard_page(self) -> list[bytes]:
        """The page, under the CSP, and every asset it names: the asset paths."""
        code, headers, page = self._web("/")
        csp = headers.get("content-security-policy", "")
        if code != 200 or b'id="root"' not in page or "script-src 'self'" not in csp:
            raise CheckFailed(f"GET /: HTTP {code}, CSP {csp!r}: {page[:200]!r}")
        assets = re.findall(rb'(?:src|href)="(/assets/[^"]+)"', page)
        for asset in assets:
            code, _, _ = self._web(asset.decode())
            if code != 200:
                raise CheckFailed(f"GET {asset.decode()}: HTTP {code}")
        if not assets:
            raise CheckFailed(f"the page names no /assets/: {page[:300]!r}")
        return assets

    def _rtsps_target(self, name: str, fingerprint: str) -> None:
        s, c = self.env.secrets, self.env.central
        self.env.ucvctl(
            "target", "add", name,
            "--url", f"rtsps://127.0.0.1:{c['rtsps_port']}", "--fingerprint", fingerprint,
            "--api-url", f"http://127.0.0.1:{c['api_port']}",
            "--username", s["publish"]["user"], "--password-stdin",
            "--api-username", s["api"]["user"], "--api-password-stdin",
            stdin=f"{s['publish']['password']}\n{s['api']['password']}\n",
        )  # fmt: skip

    def _publishers(self, sessions: str) -> list[str]:
        """The paths published through the central's RTSP (`rtspsessions`) or RTSPS
        (`rtspssessions`) server."""
        listed = self.env.api_get(self.env.central["api_port"], f"/v3/{sessions}/list", True)
        items = (listed or {}).get("items") or []
        return [i.get("path", "") for i in items if i.get("state") == "publish"]

    def rtsps_verified(self) -> str:
        """RTSPS to the centre inside the hardened unit: ucvd's TLS link (it reads
        /proc/self/net/tcp under ProcSubset=pid to serve only its own FFmpeg) publishes to
        a pinned certificate, refuses another one with certificate_rejected, and the
        camera goes back to plain RTSP afterwards."""
        c = self.env.central
        self._rtsps_target("tls-wrong", c["wrong_fingerprint"])
        self.env.ucvctl("target", "activate", "tls-wrong")

        def rejected() -> dict[str, Any] | None:
            error = self.env.status().get("last_error") or {}
            return error if error.get("kind") == "certificate_rejected" else None

        error = wait_until(rejected, timeout=SLOW, what="certificate_rejected for the wrong pin")
        if "not the pinned" not in error.get("message", ""):
            raise CheckFailed(f"unexpected refusal: {error}")
        if PUBLISH_PATH in self._publishers("rtspssessions"):
            raise CheckFailed("published over RTSPS to a certificate that was not pinned")
        self._rtsps_target("tls", c["fingerprint"])
        self.env.ucvctl("target", "activate", "tls")
        wait_until(lambda: PUBLISH_PATH in self._publishers("rtspssessions"), timeout=SLOW,
                   what=f"{PUBLISH_PATH} published over RTSPS")  # fmt: skip
        status = self.env.wait_publishing()
        self.env.ucvctl("target", "activate", "central")
        wait_until(lambda: PUBLISH_PATH in self._publishers("rtspsessions"), timeout=SLOW,
                   what=f"{PUBLISH_PATH} published over plain RTSP again")  # fmt: skip
        self.env.wait_publishing()
        return (
            f"wrong pin refused: {error['message'][:90]}...; pinned: publishing over RTSPS "
            f"(target {status.get('target')}); back on plain RTSP"
        )

    def web_dashboard(self) -> str:
        """The installed dashboard: its page and assets from /usr/share/ucvd/web under a
        strict CSP; a login with a token the operator made with `ucvctl token create`; the
        camera through the API; a viewer token refused an action; an operator token's stop
        and start carried out by the daemon for the read-only ucvd-web (token.act, logged
        with the token's name); a picture taken by FFmpeg inside the hardened ucvd unit;
        and a stranger cannot make a token."""
        assets = self._dashboard_page()
        stranger = sh("ucvctl", "token", "create", "mallory", user=STRANGER)
        if stranger.returncode == 0:
            raise CheckFailed(f"{STRANGER} made a token: {out(stranger)}")
        operator = self.env.ucvctl("token", "create", "boot-operator")["token"]
        viewer = self.env.ucvctl("token", "create", "boot-wall", "--read-only")["token"]
        code, headers, body = self._web("/api/session", method="POST", body={"token": operator})
        set_cookie = headers.get("set-cookie", "")
        if code != 200 or "HttpOnly" not in set_cookie or "SameSite=Strict" not in set_cookie:
            raise CheckFailed(f"login: HTTP {code}, Set-Cookie {set_cookie!r}: {body[:200]!r}")
        cookie = set_cookie.split(";", 1)[0]
        if self._camera_status(cookie) != "publishing":
            raise CheckFailed(f"{CAMERA} over the API: {self._camera_status(cookie)}")
        code, _, body = self._web(f"/api/cameras/{CAMERA}/stop", method="POST", token=viewer)
        if code != 403 or self._camera_status(cookie) != "publishing":
            raise CheckFailed(f"viewer token stop: HTTP {code}: {body[:200]!r}")
        code, _, body = self._web(f"/api/cameras/{CAMERA}/stop", method="POST", cookie=cookie)
        if code != 200:
            raise CheckFailed(f"operator stop: HTTP {code}: {body[:200]!r}")
        wait_until(lambda: self._camera_status(cookie) == "stopped", timeout=SLOW,
                   what=f"{CAMERA} to stop")  # fmt: skip
        code, _, body = self._web(f"/api/cameras/{CAMERA}/start", method="POST", cookie=cookie)
        if code != 200:
            raise CheckFailed(f"operator start: HTTP {code}: {body[:200]!r}")
        wait_until(lambda: self._camera_status(cookie) == "publishing", timeout=SLOW,
                   what=f"{CAMERA} to publish again")  # fmt: skip
        code, headers, jpeg = self._web(f"/api/cameras/{CAMERA}/still.jpg", token=viewer)
        if code != 200 or not jpeg.startswith(b"\xff\xd8") or not jpeg.endswith(b"\xff\xd9"):
            raise CheckFailed(f"still.jpg: HTTP {code}: {jpeg[:200]!r}")
        source = headers.get("x-still-source", "?")
        journal = sh("journalctl", "-u", "ucvd.service", "-o", "cat", "--no-pager").stdout
        audited = [ln for ln in journal.splitlines() if "acting for an access token" in ln]
        if not any("boot-operator" in ln for ln in audited):
            raise CheckFailed(f"no audit line naming boot-operator: {audited[-3:]}")
        leaked = [role for role, core in self.env.cores().items() if core in journal]
        if operator in journal or leaked:
            raise CheckFailed(f"ucvd's journal carries a secret: {leaked or 'the token'}")
        self.env.ucvctl("token", "revoke", "boot-operator")
        wait_until(lambda: self._web("/api/status", cookie=cookie)[0] == 401, timeout=30,
                   what="the revoked token's cookie to be refused")  # fmt: skip
        return (
            f"page + {len(assets)} assets under CSP; {STRANGER} cannot make a token; "
            f"login cookie HttpOnly, SameSite=Strict; viewer refused stop (403); operator "
            f"stop and start through ucvd-web, audited; still {len(jpeg)} bytes from the "
            f"{source}; revoked token refused"
        )

    # phase 2 ------------------------------------------------------------------------------
    def reboot_resumes(self) -> str:
        booted = uptime()
        self.env.wait_publishing(timeout=300)
        self.env.wait_path_ready()
        self.passed["publishing"] = True
        return (
            f"publishing and ready at MediaMTX {uptime():.0f}s after boot, with no action "
            f"(checks began at {booted:.0f}s)"
        )

    def proc_hidepid(self) -> str:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if fields[4] == "/proc":
                options = fields[-1]
                if "hidepid=invisible" in options or "hidepid=2" in options:
                    return f"/proc mounted with {options}"
                raise CheckFailed(f"/proc options after reboot: {options}")
        raise CheckFailed("no /proc mount")

    def stranger_sees_nothing_hidepid(self) -> str:
        self.env.wait_publishing()
        # Root's view: FFmpeg's command line still carries passwords, so the hardening,
        # not their absence, is what the stranger's empty scan shows.
        root_view = sorted({
            role for pid in descendants(main_pid(), "ffmpeg")
            for role, core in self.env.cores().items()
            if core.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        })  # fmt: skip
        found, files = stranger_scan(self.env)
        if found:
            raise CheckFailed(f"{STRANGER} reads a password in: " + "; ".join(map(where, found)))
        return (
            f"{STRANGER}: nothing in ps, /proc, {files} readable files, his journal "
            f"(root sees in FFmpeg's argv: {', '.join(root_view) or 'none'})"
        )

    def health_no_hidepid_warning(self) -> str:
        health = self._health()
        warnings = hidepid_warnings(health)
        if warnings:
            raise CheckFailed(
                f"still warns: {warnings}\n"
                f"/proc mounts seen by ucvd (its mount namespace):\n{service_proc_mounts()}"
            )
        return f"healthy={health['healthy']}, problems={health['problems']}"

    def remove(self) -> str:
        must(sh("apt-get", "remove", "-y", "-q", "ucvd", timeout=600), "apt-get remove ucvd")
        problems: list[str] = []
        units = ("ucvd.service", "ucvd.socket", "ucvd-web.service")
        states = sh("systemctl", "is-active", *units).stdout.split()
        if any(s in {"active", "activating"} for s in states):
            problems.append(f"is-active {' '.join(units)}: {states}")
        ucvd_uid = pwd.getpwnam("ucvd").pw_uid
        for pid, _, comm in processes():
            try:
                uid = Path(f"/proc/{pid}").stat().st_uid
            except OSError:
                continue
            group = cgroup_of(pid)
            if (
                uid == ucvd_uid
                or group.startswith(("ucvd.", "ucvd-web."))
                or (comm in ("ffmpeg", "ffprobe") and group != "vmtest-feeder.service")
            ):
                problems.append(f"left running: {pid} {comm} ({group})")
        for gone in ("/usr/bin/ucvd", "/usr/lib/ucvd"):
            if Path(gone).exists():
                problems.append(f"{gone} still there")
        if not STATE_DIR.is_dir() or not any(STATE_DIR.iterdir()):
            problems.append(f"{STATE_DIR} is gone or empty")
        if not UCVD_TOML.is_file():
            problems.append(f"{UCVD_TOML} is gone")
        if problems:
            raise CheckFailed("; ".join(problems))
        kept = sorted(p.name for p in STATE_DIR.iterdir())
        return (
            f"stopped, nothing left running; kept {STATE_DIR} ({', '.join(kept)}) and {UCVD_TOML}"
        )

    def purge(self) -> str:
        must(sh("apt-get", "purge", "-y", "-q", "ucvd", timeout=600), "apt-get purge ucvd")
        problems = [f"{p} still there" for p in (STATE_DIR, UCVD_TOML.parent) if p.exists()]
        try:
            pwd.getpwnam("ucvd")
            members = grp.getgrnam(OPERATOR_GROUP).gr_mem
        except KeyError as exc:
            problems.append(f"account gone: {exc}")
        else:
            if OPERATOR_GROUP not in sh("id", "-nG", OPERATOR).stdout.split():
                problems.append(f"{OPERATOR} is no longer in {OPERATOR_GROUP} ({members})")
        if problems:
            raise CheckFailed("; ".join(problems))
        return f"{STATE_DIR} and /etc/ucvd removed; user ucvd and {OPERATOR_GROUP} kept"


# --- phases ---------------------------------------------------------------------------------
def phase1(c: Checks) -> None:
    c.phase = 1
    c.run("install", c.install)
    i = ("install",)
    c.run("package_contents", c.package_contents, i)
    c.run("units_enabled", c.units_enabled, i)
    c.run("units_active", c.units_active, i)
    c.run("socket_mode", c.socket_mode, i)
    c.run("status_text", c.status_text, i)
    c.run("accounts", c.accounts, i)
    a = ("accounts",)
    c.run("operator_adds_target_and_camera", c.operator_adds_target_and_camera, a)
    c.run("operator_publishes", c.operator_publishes, ("camera_added",))
    p = ("publishing",)
    c.run("stranger_refused", c.stranger_refused, a)
    c.run("stranger_ps_default_proc", c.stranger_ps_default_proc, p)
    c.run("stranger_nothing_else_default_proc", c.stranger_nothing_else_default_proc, p)
    c.run("health_warns_hidepid", c.health_warns_hidepid, a)
    c.run("journal_camera_records", c.journal_camera_records, ("camera_added",))
    c.run("journal_no_password", c.journal_no_password, i)
    c.run("reload", c.reload, i)
    c.run("reload_broken_config", c.reload_broken_config, p)
    c.run("ffmpeg_sigkill", c.ffmpeg_sigkill, p)
    c.run("second_daemon_refused", c.second_daemon_refused, p)
    c.run("restart_backlog", c.restart_backlog, p)
    c.run("watchdog", c.watchdog, i)
    c.run("security_exposure", c.security_exposure, i)
    c.run("web_metrics", c.web_metrics, p)
    c.run("web_dashboard", c.web_dashboard, ("web_metrics",))
    c.run("rtsps_verified", c.rtsps_verified, p)


def phase2(c: Checks) -> None:
    c.phase = 2
    # Phase 1's results are on the host; what phase 2 depends on is re-checked here.
    c.passed["install"] = Path("/usr/bin/ucvd").exists()
    c.env.pick_caller()
    c.run("reboot_resumes", c.reboot_resumes, ("install",))
    c.run("proc_hidepid", c.proc_hidepid)
    c.run(
        "stranger_sees_nothing_hidepid",
        c.stranger_sees_nothing_hidepid,
        ("proc_hidepid", "publishing"),
    )
    c.run("health_no_hidepid_warning", c.health_no_hidepid_warning, ("install",))
    c.run("remove", c.remove, ("install",))
    c.run("purge", c.purge, ("install",))


class Reporter:
    """JSON lines to the results port, and to stdout (the journal and the console)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_NOCTTY)
        with contextlib.suppress(termios.error):
            tty.setraw(self.fd)  # no \n -> \r\n, no echo

    def __call__(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        os.write(self.fd, line.encode())
        with contextlib.suppress(termios.error):
            termios.tcdrain(self.fd)
        if record.get("type") != "journal":
            print(f"vmtest: {line.strip()}", flush=True)


def report_journal(report: Reporter, env: Env | None, phase: int) -> None:
    """This boot's journal of ucvd, for the host to keep next to the results."""
    done = sh(
        "journalctl", "-b", "-u", "ucvd.service", "-u", "ucvd.socket",
        "-o", "short-monotonic", "--no-pager", timeout=120,
    )  # fmt: skip
    text = done.stdout + done.stderr
    report({"type": "journal", "phase": phase, "text": env.redact(text) if env else text})


def run() -> int:
    report = Reporter(RESULTS_TTY)
    env: Env | None = None
    phase = int(STATE.read_text()) if STATE.exists() else 1
    analyze = subprocess.run(
        ["systemd-analyze", "time", "--no-pager"], capture_output=True, text=True, check=False
    )
    report({
        "type": "phase", "phase": phase, "uptime": round(uptime(), 2),
        "systemd": analyze.stdout.strip().splitlines()[0] if analyze.returncode == 0 else "",
    })  # fmt: skip
    try:
        env = Env(json.loads(CONFIG.read_text()))
        checks = Checks(env, report)
        if phase == 1:
            phase1(checks)
            report_journal(report, env, phase)
            with Path("/etc/fstab").open("a") as fstab:
                fstab.write(HIDEPID_FSTAB + "\n")
            STATE.parent.mkdir(parents=True, exist_ok=True)
            STATE.write_text("2")
            os.sync()
            report({"type": "reboot", "uptime": round(uptime(), 2)})
            sh("systemctl", "reboot")
            return 0
        phase2(checks)
        report_journal(report, env, phase)
        report({"type": "done", "uptime": round(uptime(), 2)})
    except Exception:
        # The checks catch their own failures: this is the harness itself failing. The
        # host counts every check not reported as failed.
        report({"type": "error", "detail": traceback.format_exc(limit=6)})
        report_journal(report, env, phase)
    sh("systemctl", "poweroff")
    return 0


def main() -> int:
    if sys.argv[1:2] == ["scan"] and set(sys.argv[2:]) <= {"--no-files"}:
        needles: dict[str, str] = json.loads(sys.stdin.read())
        print(json.dumps(scan(needles, files="--no-files" not in sys.argv)))
        return 0
    if sys.argv[1:] == ["run"]:
        return run()
    print("usage: guest_check.py run|scan [--no-files]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
