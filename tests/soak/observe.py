"""What the soak watches while faults fly: ucvd's event stream and the process table.

Both run in threads beside the schedule, so that a violation between two checks (two FFmpegs
for one camera for a tenth of a second) is still seen.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.daemon import program
from tests.harness.procs import tagged


@dataclass(frozen=True)
class StatusSeen:
    at: float  # monotonic, when the soak read it
    camera: str
    new: str
    error_kind: str | None


class EventLog:
    """`ucvctl watch --json`, the real client, read line by line into a list."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.events: list[StatusSeen] = []
        self.ended: list[str] = []  # why a watch ended while ucvd was meant to be up
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._expect_end = False
        self._first_line = threading.Event()

    def start(self) -> None:
        self._expect_end = False
        self._first_line = threading.Event()
        self._proc = subprocess.Popen(
            [program("ucvctl"), "--socket", str(self.socket), "--json", "watch"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._thread = threading.Thread(
            target=self._read, args=(self._proc, self._first_line), daemon=True
        )
        self._thread.start()

    def wait_subscribed(self, timeout: float) -> bool:
        """Has the watch delivered its first event (so it is subscribed), within `timeout`?
        A camera must be publishing: its metrics come every 2 s."""
        return self._first_line.wait(timeout)

    def _read(self, proc: subprocess.Popen[str], first_line: threading.Event) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            first_line.set()
            note = json.loads(line)
            if note.get("method") != "event.status":
                continue
            params = note["params"]
            error = params.get("error") or {}
            seen = StatusSeen(
                time.monotonic(), params["camera_id"], params["new"], error.get("kind")
            )
            with self._lock:
                self.events.append(seen)
        proc.wait()
        if not self._expect_end:
            with self._lock:
                self.ended.append(f"exit {proc.returncode}: {proc.stderr.read().strip()[-300:]}")

    def expect_end(self) -> None:
        """ucvd is about to die on purpose: the watch ending then is not a finding."""
        self._expect_end = True

    def stop(self) -> None:
        self._expect_end = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        if self._thread is not None:
            self._thread.join(10)

    def since(self, t: float, camera: str | None = None) -> list[StatusSeen]:
        with self._lock:
            return [e for e in self.events if e.at >= t and (camera is None or e.camera == camera)]


@dataclass
class ProcessGuard:
    """Scans the process table every `every_s`: never two FFmpegs for one camera."""

    prefix: str
    every_s: float = 0.2
    violations: list[str] = field(default_factory=list)
    scans: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for tag, pids in tagged(self.prefix).items():  # a new one mid-exec too
                if len(pids) > 1:
                    camera = tag[len(self.prefix) :]
                    finding = f"two FFmpegs for {camera}: pids {sorted(pids)}"
                    if finding not in self.violations:  # once per pair, not once per scan
                        self.violations.append(finding)
            self.scans += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
