"""A real `ucvd` process and the real `ucvctl`, as tests, the demo and benchmarks drive them.

The daemon runs from the virtualenv's console script, unprivileged, with its socket, state
and config in a directory of the test's own; it is a child of the harness registry, so
it cannot outlive the run. `ctl()` runs `ucvctl` as a subprocess, exactly as an operator
would, and returns its exit code and output.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.harness.cameras import Camera as SimCamera
from tests.harness.errors import HarnessError
from tests.harness.mediamtx import Central
from tests.harness.procs import Proc, ProcessRegistry
from tests.harness.tools import ffmpeg_under_test
from tests.harness.waiting import WaitTimeout, wait_until

BIN = Path(sys.executable).parent


def program(name: str) -> str:
    path = BIN / name
    if not path.exists():
        raise HarnessError(f"{path} not found; run `make deps` (pip install -e .)")
    return str(path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def write_config(path: Path, sections: Mapping[str, Mapping[str, Any]]) -> Path:
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(v)}" for key, v in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


# Fast supervision for tests: stalls and retries show in seconds, not minutes.
TEST_SETTINGS: dict[str, dict[str, Any]] = {
    "supervision": {"stall_timeout_s": 6.0, "start_timeout_s": 15.0, "backoff_cap_s": 4.0},
    "relay": {"analyzeduration_us": 1_500_000},
}


@dataclass
class CtlResult:
    code: int
    stdout: str
    stderr: str
    argv: list[str]

    def json(self) -> Any:
        return json.loads(self.stdout)

    def check(self) -> CtlResult:
        if self.code != 0:
            raise HarnessError(
                f"ucvctl {' '.join(self.argv)} exited {self.code}: {self.stderr.strip()}"
            )
        return self


class Ucvd:
    """One daemon: its directory, its process (while running), and a way to call it."""

    def __init__(
        self,
        registry: ProcessRegistry,
        workdir: Path,
        *,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        name: str = "ucvd",
        prefix: Sequence[str] = (),
    ) -> None:
        """`prefix` runs the daemon through a wrapper, e.g. `ip netns exec NS` (the socket is
        a file, so `ucvctl` reaches it from any network namespace)."""
        self.registry = registry
        self.prefix = list(prefix)
        self.workdir = workdir
        self.name = name
        workdir.mkdir(parents=True, exist_ok=True)
        self.socket = workdir / "ucvd.sock"
        self.state_dir = workdir / "state"
        sections = {k: dict(v) for k, v in TEST_SETTINGS.items()}
        if ffmpeg_under_test() != "ffmpeg":  # ucvd's default is left unwritten
            sections.setdefault("daemon", {})["ffmpeg"] = ffmpeg_under_test()
        for section, values in (settings or {}).items():
            sections.setdefault(section, {}).update(values)
        self.config = write_config(workdir / "ucvd.toml", sections)
        self.proc: Proc | None = None

    @property
    def database(self) -> Path:
        return self.state_dir / "ucvd.db"

    def argv(self, log_format: str = "json") -> list[str]:
        return [
            program("ucvd"),
            "--config", str(self.config),
            "--socket", str(self.socket),
            "--state-dir", str(self.state_dir),
            "--log-format", log_format,
        ]  # fmt: skip

    def start(
        self,
        timeout: float = 15.0,
        env: Mapping[str, str] | None = None,
        log_format: str = "json",
        pass_fds: Sequence[int] = (),
    ) -> Ucvd:
        """Spawn the daemon and wait until its socket answers `daemon.info`."""
        if self.proc is not None and self.proc.alive():
            raise HarnessError("ucvd is already running")
        self.proc = self.registry.spawn(
            self.name, [*self.prefix, *self.argv(log_format)], extra_env=env, pass_fds=pass_fds
        )

        def answers() -> bool:
            if self.proc is not None and not self.proc.alive():
                raise HarnessError(f"ucvd exited ({self.proc.returncode}):\n{self.proc.log_tail()}")
            return self.socket.exists() and self.ctl("info").code == 0

        wait_until(answers, timeout=timeout, interval=0.1, what="ucvd to answer on its socket")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_text(self) -> str:
        assert self.proc is not None
        return self.proc.log_path.read_text(errors="replace")

    def ctl(
        self,
        *args: str,
        input: str | None = None,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        prefix: Sequence[str] = (),
    ) -> CtlResult:
        argv = ["--socket", str(self.socket), *args]
        completed = subprocess.run(
            [*prefix, program("ucvctl"), *argv],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=None if env is None else dict(os.environ) | dict(env),
        )
        return CtlResult(completed.returncode, completed.stdout, completed.stderr, list(args))

    def ctl_json(self, *args: str, input: str | None = None) -> Any:
        return self.ctl("--json", *args, input=input).check().json()

    def status(self, camera_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.ctl_json("status", camera_id)
        return result

    def wait_status(self, camera_id: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> bool:
            nonlocal seen
            seen = self.status(camera_id)
            return bool(seen["status"] == status)

        wait_until(reached, timeout=timeout, interval=0.2,
                   what=lambda: f"{camera_id} to be {status} (now {seen.get('status')}: "
                   f"{seen.get('last_error')})")  # fmt: skip
        return seen

    def watch(self, *args: str, timeout: float = 15.0) -> Watch:
        """`ucvctl [--json] watch ...`, returned once it is subscribed: its first line is out,
        the status table printed after the subscribe reply, or with --json the first event
        (so a camera must be publishing: metrics come every 2 s)."""
        proc = subprocess.Popen(
            [program("ucvctl"), "--socket", str(self.socket), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_ctrl_c_works,  # noqa: PLW1509 - it only calls signal(), takes no lock
        )  # fmt: skip
        watch = Watch(proc, f"ucvctl {' '.join(args)}")
        watch.read_until(bool, timeout)  # a first line
        return watch

    def terminate(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM and wait; returns (exit code, seconds it took)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.popen.send_signal(signal.SIGTERM)
        try:
            code = self.proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise HarnessError(f"ucvd did not exit within {timeout}s of SIGTERM") from None
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL the daemon alone (not its group): its FFmpegs must die by themselves."""
        assert self.proc is not None
        self.proc.popen.send_signal(signal.SIGKILL)
        self.proc.popen.wait()


def _ctrl_c_works() -> None:
    """In the child before exec: SIGINT back to its default, as at a terminal. A suite run
    in the background (`make test &`, a CI runner without job control) has SIGINT ignored,
    the child inherits that, and Python then installs no Ctrl-C handler at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Watch:
    """A running `ucvctl watch` (see `Ucvd.watch`) and the lines read from it so far."""

    def __init__(self, proc: subprocess.Popen[str], what: str) -> None:
        self.proc = proc
        self.what = what
        self.lines: list[str] = []

    def read_until(self, done: Callable[[list[str]], bool], timeout: float) -> None:
        """Read lines until `done(lines)`; on a timeout the watch is ended, not left over."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            while not done(self.lines):
                left = max(0.0, deadline - time.monotonic())
                self.lines.append(read_line(self.proc.stdout, left, self.what).rstrip("\n"))
        except BaseException:
            self.proc.kill()
            self.proc.communicate()
            raise

    def finish(self, *, interrupt: bool = False, timeout: float = 30.0) -> tuple[str, str]:
        """Wait for the watch to end (`interrupt`: Ctrl-C it first, as an operator ends it);
        returns everything it wrote to stdout, and its stderr."""
        if interrupt:
            self.proc.send_signal(signal.SIGINT)
        rest, err = self.proc.communicate(timeout=timeout)
        self.lines += rest.splitlines()
        return "\n".join(self.lines) + "\n", err


def read_line(stream: IO[str], timeout: float, what: str) -> str:
    """The next line of a child's pipe, read a byte at a time: nothing is read ahead, so
    the child's `communicate()` still gets all the rest."""
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for a line from {what}")
        byte = os.read(fd, 1)
        if not byte:
            raise HarnessError(f"{what} closed its output before a whole line")
        line += byte
    return line.decode()


def add_target(
    d: Ucvd, central: Central, name: str = "central", *extra: str, url: str | None = None
) -> CtlResult:
    """Register a harness central MediaMTX as a target, passwords through stdin; `url`
    publishes somewhere else in front of it (a tap), its API staying the central's."""
    s = central.server
    return d.ctl(
        "target", "add", name,
        "--url", url or s.rtsp_url("").rstrip("/"),
        "--api-url", s.api_url,
        "--username", central.publisher.user, "--password-stdin",
        "--api-username", central.api_user.user, "--api-password-stdin",
        "--reconnect-delay", "0.5",
        *extra,
        input=f"{central.publisher.password}\n{central.api_user.password}\n",
    )  # fmt: skip


def add_camera(d: Ucvd, sim: SimCamera, camera_id: str, *extra: str) -> CtlResult:
    args = ["camera", "add", camera_id, "--url", sim.url, *extra]
    password = None
    if sim.credentials is not None:
        args += ["--username", sim.credentials.user, "--password-stdin"]
        password = sim.credentials.password + "\n"
    return d.ctl(*args, input=password)


def secrets_of_lab(central: Central, sims: Sequence[SimCamera]) -> list[str]:
    """Every password in play, raw and percent-encoded: none may show anywhere."""
    raw = [central.publisher.password, central.api_user.password]
    raw += [c.credentials.password for c in sims if c.credentials is not None]
    return sorted({form for r in raw for form in (r, urllib.parse.quote(r, safe=""))})
