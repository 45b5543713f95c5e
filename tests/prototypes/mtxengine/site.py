"""The site-local MediaMTX the prototype engine drives: started and owned by ucvd, its log
read line by line, its paths changed through its API.

One process for every camera (that is the point: ~0.5 MiB per camera instead of an
FFmpeg's ~12.5 MiB), so one crash is every camera's: the process is started again at once
and each supervisor sees the generation change and fails its attempt (`process_crashed`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import structlog

from tests.prototypes.mtxengine.plan import API_USER, PathLine, parse_line, site_config
from ucvd.domain.urls import redact
from ucvd.relay.ffmpeg.lines import StderrLines
from ucvd.relay.ffmpeg.process import STDERR_LINES, LogLine, child_environment
from ucvd.relay.mediamtx import MediaMTXClient, MediaMTXError

log = structlog.get_logger(__name__)

READY_WITHIN_S = 15.0
RESTART_AFTER_S = 1.0


class SiteDown(RuntimeError):
    """The site MediaMTX is not running (not yet, or between a crash and its restart)."""


@dataclass
class _PathLog:
    lines: deque[LogLine]
    secrets: tuple[str, ...] = ()
    error: tuple[int, PathLine] | None = None  # the last error line and its number


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SiteClient(MediaMTXClient):
    """The API calls only this engine makes: a path's whole configuration set or removed."""

    async def put_path(self, name: str, body: dict[str, Any]) -> None:
        # replace: adds the path, or overwrites what an earlier attempt left there.
        await self._request("POST", f"/v3/config/paths/replace/{self._quoted(name)}", body)

    async def remove_path(self, name: str) -> None:
        try:
            await self._request("DELETE", f"/v3/config/paths/delete/{self._quoted(name)}")
        except MediaMTXError as exc:
            if exc.status != 404:
                raise


class SiteMediaMTX:
    def __init__(self, binary: str, state_dir: Path, *, tag: str, log_level: str = "info") -> None:
        self.binary = binary
        self.state_dir = state_dir
        self.tag = tag  # in its environment, so a later daemon's leftover search finds it
        self.log_level = log_level
        self.generation = 0  # +1 per start: an attempt made under another one is void
        self.pid: int | None = None
        self.client: SiteClient | None = None
        self.exit_code: int | None = None
        self._logs: dict[str, _PathLog] = {}
        self._up = anyio.Event()

    # --- what supervisors use ---------------------------------------------------------------
    def lines_of(self, path: str) -> deque[LogLine]:
        return self._log(path).lines

    def _log(self, path: str) -> _PathLog:
        entry = self._logs.get(path)
        if entry is None:
            entry = self._logs[path] = _PathLog(deque(maxlen=STDERR_LINES))
        return entry

    def mark(self, path: str) -> int:
        """The number of the last line seen about `path` (errors after it are new)."""
        lines = self._log(path).lines
        return lines[-1].seq if lines else 0

    def error_since(self, path: str, mark: int) -> PathLine | None:
        error = self._log(path).error
        return error[1] if error is not None and error[0] > mark else None

    async def wait_up(self) -> SiteClient:
        await self._up.wait()
        assert self.client is not None
        return self.client

    async def put_path(self, path: str, body: dict[str, Any], secrets: tuple[str, ...]) -> int:
        """Configure one camera's path; returns the generation it was configured under."""
        client = self.client
        if client is None:
            raise SiteDown("the site MediaMTX is not running")
        self._log(path).secrets = secrets
        generation = self.generation
        try:
            await client.put_path(path, body)
        except RuntimeError as exc:  # closed under the request: see remove_path
            raise SiteDown("the site MediaMTX exited") from exc
        return generation

    async def remove_path(self, path: str) -> None:
        client = self.client
        if client is None:
            return  # no process, no path
        try:
            await client.remove_path(path)
        except RuntimeError:
            # httpx's "client has been closed": the process went (and its paths with it)
            # while the request was on its way.
            if client is self.client:
                raise

    # --- the process ------------------------------------------------------------------------
    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep the site MediaMTX running until cancelled; `started` once it first answers."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        await self._run_once(task_status.started)
        while True:
            await anyio.sleep(RESTART_AFTER_S)
            try:
                await self._run_once(lambda: None)
            except SiteDown:
                log.error("site MediaMTX did not start again; retrying")

    async def _run_once(self, on_up: Callable[[], None]) -> None:
        password = secrets.token_urlsafe(24)
        port = _free_port()
        config = self.state_dir / "site-mediamtx.yml"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            settings = site_config(api_port=port, api_password=password, log_level=self.log_level)
            json.dump(settings, f)
        setpriv = shutil.which("setpriv") or "setpriv"
        process = await anyio.open_process(
            [setpriv, "--pdeathsig", "KILL", "--", self.binary, str(config)],
            stdout=-1,
            stderr=-2,  # subprocess.STDOUT
            env=child_environment(self.tag),
            start_new_session=True,
        )
        self.pid = process.pid
        client = SiteClient(f"http://127.0.0.1:{port}", credentials=(API_USER, password))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._read, process)
                await self._until_ready(client, process)
                self.generation += 1
                self.client = client
                self._up.set()
                on_up()
                log.info("site MediaMTX started", pid=process.pid, api_port=port)
                self.exit_code = await process.wait()
                log.error("site MediaMTX exited", code=self.exit_code)
                tg.cancel_scope.cancel()
        finally:
            self.client = None
            self._up = anyio.Event()
            with anyio.CancelScope(shield=True):
                await self._stop(process)
                await client.aclose()

    async def _until_ready(self, client: SiteClient, process: anyio.abc.Process) -> None:
        deadline = time.monotonic() + READY_WITHIN_S
        while True:
            try:
                await client.info()
            except MediaMTXError:
                if process.returncode is not None or time.monotonic() > deadline:
                    raise SiteDown("the site MediaMTX did not start") from None
                await anyio.sleep(0.1)
            else:
                return

    @staticmethod
    async def _stop(process: anyio.abc.Process) -> None:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(3):
                await process.wait()
        if process.returncode is None:
            process.kill()
        await process.wait()

    async def _read(self, process: anyio.abc.Process) -> None:
        assert process.stdout is not None
        splitter = StderrLines()
        async for chunk in process.stdout:
            for text in splitter.feed(chunk):
                self._line(text.decode(errors="replace"))

    def _line(self, text: str) -> None:
        parsed = parse_line(text)
        if parsed is None:
            return  # about the server itself (start, API): no camera's business
        entry = self._log(parsed.path)
        # MediaMTX strips credentials from the URLs it logs; redact anyway, as FFmpeg's lines.
        line = LogLine(at=time.time(), text=redact(text, entry.secrets))
        entry.lines.append(line)
        if parsed.error:
            entry.error = (line.seq, parsed)
