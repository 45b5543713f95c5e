"""A TCP forwarder in front of a MediaMTX's RTSP port that notes when each publisher's
first media packet passes: the moment a viewer already waiting at the central could get
the first picture of a relay (MediaMTX keeps no picture for late readers, so a reader
that joins after that packet waits for the next keyframe: only a tap sees it).

It forwards every byte unchanged both ways and reads a copy of what the client sends:
RTSP requests (text, bodies by Content-Length) until RECORD, then RTP interleaved in the
TCP stream (`$`, channel, 16-bit length). Channel 0 is the first track the publisher set
up; ucvd's relay maps the video first, and stream copy starts it at a keyframe, so the
first packet on channel 0 is the first picture's first packet.

With `rtp_limit`, it goes on reading after that packet and keeps, per connection, the
channel and RTP timestamp of up to that many media packets (even channels; RTCP is odd):
what the relay stamped its stream with, as MediaMTX receives it.
"""

from __future__ import annotations

import re
import selectors
import socket
import threading
import time
from types import TracebackType

_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)


class _ClientStream:
    """Parses what a publisher sends: `recorded` is when its RECORD request passed,
    `first_media` when channel 0's first packet did. Parsing stops there, or once `rtp`
    holds `rtp_limit` (channel, RTP timestamp) pairs."""

    def __init__(self, rtp_limit: int = 0) -> None:
        self._buf = b""
        self.recorded: float | None = None
        self.first_media: float | None = None
        self.rtp: list[tuple[int, int]] = []
        self._rtp_limit = rtp_limit

    def _done(self) -> bool:
        return self.first_media is not None and len(self.rtp) >= self._rtp_limit

    def feed(self, data: bytes, now: float) -> None:
        if self._done():
            return
        self._buf += data
        while self._buf and not self._done():
            if self._buf[:1] == b"$":
                if len(self._buf) < 4:
                    return
                channel, size = self._buf[1], int.from_bytes(self._buf[2:4], "big")
                if len(self._buf) < 4 + size:
                    return
                if channel == 0 and self.first_media is None:
                    self.first_media = now
                if channel % 2 == 0 and size >= 12 and len(self.rtp) < self._rtp_limit:
                    self.rtp.append((channel, int.from_bytes(self._buf[8:12], "big")))
                self._buf = self._buf[4 + size :]
                continue
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buf[:end]
            if head.startswith(b"RECORD ") and self.recorded is None:
                self.recorded = now
            found = _LENGTH.search(head)
            total = end + 4 + (int(found.group(1)) if found else 0)
            if len(self._buf) < total:
                return
            self._buf = self._buf[total:]


class PublishTap:
    """Listens on 127.0.0.1 (`port`), forwards to `upstream_port`; `first_media` lists,
    per accepted connection in order, when its first media packet passed (None if none)."""

    def __init__(self, upstream_port: int, rtp_limit: int = 0) -> None:
        self.upstream_port = upstream_port
        self._rtp_limit = rtp_limit
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._streams: list[_ClientStream] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def first_media(self) -> list[float | None]:
        with self._lock:
            return [s.first_media for s in self._streams]

    @property
    def rtp(self) -> list[list[tuple[int, int]]]:
        """Per connection, (channel, RTP timestamp) of its first `rtp_limit` media packets."""
        with self._lock:
            return [list(s.rtp) for s in self._streams]

    @property
    def recorded(self) -> list[float | None]:
        """Per connection, when its RECORD request passed (None if none did)."""
        with self._lock:
            return [s.recorded for s in self._streams]

    def __enter__(self) -> PublishTap:
        accepter = threading.Thread(target=self._accept, name="tap-accept", daemon=True)
        self._threads.append(accepter)
        accepter.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._listener.close()
        self._threads[0].join(timeout=5)  # the accepter: no thread is added after it ends
        for t in self._threads[1:]:
            t.join(timeout=5)

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            stream = _ClientStream(self._rtp_limit)
            with self._lock:
                self._streams.append(stream)
            t = threading.Thread(target=self._pump, args=(client, stream), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, client: socket.socket, stream: _ClientStream) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            client.close()
            return
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as sel, client, upstream:
            sel.register(client, selectors.EVENT_READ)
            sel.register(upstream, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = src.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        return
                    now = time.time()
                    try:
                        peers[src].sendall(data)
                    except OSError:
                        return
                    if src is client:
                        stream.feed(data, now)
