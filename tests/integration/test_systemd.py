"""ucvd as a systemd service: the unit and sysusers files checked by systemd's own tools,
and the sd_notify and journald protocols read from real datagram sockets the test owns,
with a real ucvd relaying a real camera to a real MediaMTX."""

from __future__ import annotations

import itertools
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.cameras import CameraFarm
from tests.harness.daemon import Ucvd, add_camera, add_target, program, secrets_of_lab
from tests.harness.mediamtx import Central, Credentials
from tests.harness.procs import ProcessRegistry
from tests.harness.waiting import wait_until
from tests.unit.test_logs_and_render import parse_journal

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "ucvd.service"
SOCKET = ROOT / "systemd" / "ucvd.socket"
SYSUSERS = ROOT / "systemd" / "ucvd.sysusers"
EXPOSURE_BOUND = 2.0

needs_systemd_tools = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def installed_unit(tmp_path: Path) -> Path:
    """The unit as the package installs it, but naming this checkout's programs (verify
    checks that ExecStart= and ExecReload= exist)."""
    text = UNIT.read_text()
    text = text.replace("/usr/bin/ucvd ", program("ucvd") + " ")
    text = text.replace("/usr/bin/ucvctl ", program("ucvctl") + " ")
    path = tmp_path / "ucvd.service"
    path.write_text(text)
    (tmp_path / "ucvd.socket").write_text(SOCKET.read_text())  # the service requires it
    return path


@needs_systemd_tools
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    service = installed_unit(tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(service), str(tmp_path / "ucvd.socket")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@needs_systemd_tools
def test_unit_exposure_is_within_bound(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager",
         str(installed_unit(tmp_path))],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for ucvd\.service: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= EXPOSURE_BOUND, result.stdout


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_keeps_its_promises() -> None:
    """The settings the daemon relies on (and operators read about) are really there."""
    settings = unit_settings(UNIT)
    for key, value in {
        "Type": "notify", "KillMode": "mixed", "Restart": "on-failure", "User": "ucvd",
        "StateDirectory": "ucvd", "ConfigurationDirectory": "ucvd",
        "ProtectProc": "invisible", "NotifyAccess": "main", "Requires": "ucvd.socket",
    }.items():  # fmt: skip
        assert settings.get(key) == [value], key
    # systemd would delete /run/ucvd, and the socket unit's socket in it, at every stop.
    assert "RuntimeDirectory" not in settings
    # Every relaxation of the syscall filter is named: capset alone, for setpriv.
    assert settings["SystemCallFilter"] == ["@system-service", "~@privileged @resources", "capset"]
    assert settings["ExecReload"][0].endswith(" reload")
    watchdog = float(settings["WatchdogSec"][0].rstrip("s"))
    stop = float(settings["TimeoutStopSec"][0].rstrip("s"))
    assert watchdog >= 10 and stop >= 20  # the stop ladder needs ~5 s per FFmpeg, in parallel
    assert "--log-format journal" in settings["ExecStart"][0]
    socket_unit = unit_settings(SOCKET)
    assert socket_unit["ListenStream"] == ["/run/ucvd/ucvd.sock"]
    assert socket_unit["SocketGroup"] == ["ucvd-operators"]
    assert socket_unit["SocketMode"] == ["0660"]


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="no systemd-sysusers")
def test_sysusers_creates_the_user_and_the_operator_group(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(SYSUSERS)],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    passwd = (tmp_path / "etc" / "passwd").read_text()
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",")
        for line in (tmp_path / "etc" / "group").read_text().splitlines()
    }
    user = next(line.split(":") for line in passwd.splitlines() if line.startswith("ucvd:"))
    assert user[5] == "/var/lib/ucvd" and user[6] == "/usr/sbin/nologin"
    assert int(user[2]) < 1000  # a system account
    assert "ucvd" in groups and "ucvd" in groups["ucvd-operators"]


class Datagrams:
    """A datagram socket like systemd's notify socket or journald's: records every
    message with the time it arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done.is_set():
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            with self._lock:
                self.messages.append((time.monotonic(), data))

    def snapshot(self) -> list[tuple[float, bytes]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._done.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def datagrams(tmp_path: Path) -> Iterator[Callable[[str], Datagrams]]:
    made: list[Datagrams] = []

    def make(name: str) -> Datagrams:
        made.append(Datagrams(tmp_path / name))
        return made[-1]

    yield make
    for d in made:
        d.close()


def notify_lines(messages: list[tuple[float, bytes]]) -> list[tuple[float, str]]:
    """Each notify datagram holds newline-separated assignments; flatten them in order."""
    return [(t, line) for t, data in messages for line in data.decode().splitlines()]


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if item)


def test_readiness_status_watchdog_reload_and_stopping(
    registry: ProcessRegistry,
    tmp_path: Path,
    mediamtx: Central,
    cameras: CameraFarm,
    datagrams: Callable[[str], Datagrams],
) -> None:
    notify = datagrams("notify.sock")
    watchdog_usec = 2_000_000
    d = Ucvd(registry, tmp_path / "ucvd")
    d.start(env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(watchdog_usec)})

    def sent(prefix: str) -> list[tuple[float, str]]:
        return [(t, line) for t, line in notify_lines(notify.snapshot()) if line.startswith(prefix)]

    wait_until(lambda: sent("READY=1"), timeout=10, what="READY=1")
    sim = cameras.add("notified")
    add_target(d, mediamtx).check()
    add_camera(d, sim, "cam").check()
    d.ctl("publish", "cam").check()
    d.wait_status("cam", "publishing")
    wait_until(lambda: ("STATUS=1/1 cameras publishing" in {x for _, x in sent("STATUS=")}),
               timeout=10, what="STATUS= to follow the publication")  # fmt: skip

    # The child's environment carries none of systemd's variables.
    pid = d.status("cam")["pid"]
    child_env = environ_of(pid)
    assert not {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} & set(child_env), child_env

    # The watchdog: pinged from the start on, never further apart than its timeout.
    wait_until(lambda: len(sent("WATCHDOG=1")) >= 5, timeout=20, what="five watchdog pings")
    d.ctl("reload").check()
    wait_until(lambda: sent("RELOADING=1"), timeout=10, what="RELOADING=1")
    code, _ = d.terminate()
    assert code == 0
    lines = notify_lines(notify.snapshot())
    names = [line.partition("=")[0] for _, line in lines]

    ready = names.index("READY")
    assert names.index("STATUS") < ready  # first words were said before readiness
    assert "WATCHDOG" not in names[:ready]  # nothing pinged before it was ready
    reloading = names.index("RELOADING")
    assert "READY" in names[reloading:], "READY=1 must follow RELOADING=1"
    stopping = names.index("STOPPING")
    assert names[stopping:] == ["STOPPING", "STATUS"]  # the last words, sent together
    assert stopping > reloading
    pings = [t for t, line in lines if line == "WATCHDOG=1"]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) < watchdog_usec / 1e6, gaps
    statuses = [line for _, line in lines if line.startswith("STATUS=")]
    assert statuses[-1].startswith("STATUS=stopping")


def test_no_watchdog_pings_when_meant_for_another_process(
    registry: ProcessRegistry, tmp_path: Path, datagrams: Callable[[str], Datagrams]
) -> None:
    notify = datagrams("notify.sock")
    d = Ucvd(registry, tmp_path / "ucvd")
    d.start(env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "500000",
                 "WATCHDOG_PID": "1"})  # fmt: skip
    wait_until(lambda: len(notify.snapshot()) >= 1, timeout=10, what="a first notification")
    deadline = time.monotonic() + 2.0
    wait_until(lambda: time.monotonic() > deadline, timeout=5, what="two seconds to pass")
    d.terminate()
    names = [line.partition("=")[0] for _, line in notify_lines(notify.snapshot())]
    assert "READY" in names and "STOPPING" in names
    assert "WATCHDOG" not in names


def test_journal_records_carry_fields_and_no_secret(
    registry: ProcessRegistry,
    tmp_path: Path,
    mediamtx: Central,
    cameras: CameraFarm,
    datagrams: Callable[[str], Datagrams],
) -> None:
    """journald's native protocol: indexed fields (CAMERA_ID, ERROR_KIND, EVENT, PRIORITY
    from the level), with a camera that refuses its credentials and one that publishes."""
    journal = datagrams("journal.sock")
    secure = cameras.add("secure", credentials=Credentials.generate("admin"))
    good = cameras.add("good")
    d = Ucvd(registry, tmp_path / "ucvd")
    d.proc = registry.spawn(
        "ucvd", d.argv("journal"), extra_env={"UCVD_JOURNAL_SOCKET": str(journal.path)}
    )
    wait_until(lambda: d.socket.exists() and d.ctl("info").code == 0, timeout=15,
               what="ucvd to answer")  # fmt: skip
    add_target(d, mediamtx).check()
    add_camera(d, good, "good").check()
    wrong = "Wr0ng-" + secure.credentials.password if secure.credentials else "x"
    d.ctl("camera", "add", "bad", "--url", secure.url, "--username", "admin",
          "--password-stdin", input=wrong + "\n").check()  # fmt: skip
    d.ctl("publish", "good").check()
    d.ctl("publish", "bad").check()
    d.wait_status("good", "publishing")

    def records() -> list[dict[str, str]]:
        return [parse_journal(data) for _, data in journal.snapshot()]

    def auth_failure() -> dict[str, str] | None:
        return next((r for r in records() if r.get("ERROR_KIND") == "auth_failed"), None)

    wait_until(auth_failure, timeout=30, what="a journal record of the auth failure")
    failure = auth_failure()
    assert failure is not None
    assert failure["CAMERA_ID"] == "bad" and failure["PRIORITY"] in ("3", "4")
    assert failure["SYSLOG_IDENTIFIER"] == "ucvd" and failure["EVENT"]
    published = [r for r in records() if r.get("CAMERA_ID") == "good" and "publishing" in
                 r.get("MESSAGE", "")]  # fmt: skip
    assert published and all(r["PRIORITY"] == "6" for r in published)
    d.terminate()
    raw = b"".join(data for _, data in journal.snapshot()).decode("utf-8", "replace")
    assert "ucvd ready" in raw and "stopped" in raw
    for secret in [*secrets_of_lab(mediamtx, [secure, good]), wrong]:
        assert secret not in raw
    assert "journal unavailable" not in d.proc.log_path.read_text()  # nothing fell back
