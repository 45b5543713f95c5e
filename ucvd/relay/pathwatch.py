"""One shared view of MediaMTX's paths for every publication on the same server.

Each publication needs MediaMTX's word on its path: often while it waits to be confirmed,
then once per metrics period. Asking per path (`/v3/paths/get/<name>`) costs one HTTP round
trip per camera per second; at 100 cameras that was most of the daemon's CPU (~70 % of
ucvd's 35 % of a core, measured by tests/bench). Here the question is asked once for all of them:
`/v3/paths/list`, fetched by whichever caller first finds the snapshot too old, while the
others wait for that same answer (single flight). No background task: when nobody asks,
nothing is fetched.

The trade-off: a list carries every path on the server, including other gateways'. With a
shared central server of many thousand paths, one list per second is still far cheaper to
parse than thousands of requests, and a failed fetch is shared too, so a down API costs one
round of retries per period instead of one per camera.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import msgspec
import structlog

from ucvd.relay.mediamtx import MediaMTXClient, MediaMTXError, PathInfo

log = structlog.get_logger(__name__)

LIST_PAGE_SIZE = 500


class Snapshot(msgspec.Struct, frozen=True):
    at: float  # monotonic time the answer arrived
    ok: bool  # False: the API could not be asked; paths then says nothing
    paths: dict[str, PathInfo]

    def path(self, name: str) -> PathInfo | None:
        """The path's runtime state; None when nobody publishes or reads it."""
        return self.paths.get(name)


class PathWatch:
    def __init__(
        self, client: MediaMTXClient, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self._clock = clock
        self._latest: Snapshot | None = None
        self._inflight: anyio.Event | None = None
        self.fetches = 0  # lists asked for, for tests and benchmarks

    @property
    def latest(self) -> Snapshot | None:
        """The last answer, however old; None before the first."""
        return self._latest

    def fresh(self, max_age: float) -> bool:
        latest = self._latest
        return latest is not None and self._clock() - latest.at <= max_age

    async def snapshot(self, max_age: float) -> Snapshot:
        """A snapshot no older than `max_age` seconds, fetched only if none is."""
        while True:
            latest = self._latest
            if latest is not None and self._clock() - latest.at <= max_age:
                return latest
            if self._inflight is not None:
                # Someone is asking already; their answer is fresh enough for us too. If
                # they are cancelled before it arrives, the loop asks again.
                await self._inflight.wait()
                if self._latest is not None and self._latest is not latest:
                    return self._latest
                continue
            return await self._fetch()

    async def _fetch(self) -> Snapshot:
        done = self._inflight = anyio.Event()
        try:
            self.fetches += 1
            try:
                items = await self.client.list_paths(page_size=LIST_PAGE_SIZE)
            except MediaMTXError:
                snap = Snapshot(at=self._clock(), ok=False, paths={})
            except Exception:  # an answer it could not read, a client closed under it
                log.exception("MediaMTX path list failed")
                snap = Snapshot(at=self._clock(), ok=False, paths={})
            else:
                snap = Snapshot(at=self._clock(), ok=True, paths={p.name: p for p in items})
            self._latest = snap
            return snap
        finally:
            self._inflight = None
            done.set()
