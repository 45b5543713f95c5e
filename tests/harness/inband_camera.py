"""A camera that sends its SPS/PPS only in-band: its SDP says nothing but "H264/90000".

Every other simulated camera is a MediaMTX fed by FFmpeg, and both put the parameter sets
into the SDP (`sprop-parameter-sets`, `profile-level-id`), so a reader knows the picture
size before its first frame. Some cameras do not: their DESCRIBE announces H.264 and
nothing more, and the size is only in the SPS that precedes each keyframe. A reader that
joins between keyframes has to wait for the next one before it can describe the stream;
FFmpeg's probing must last that long.

This one is a small RTSP server in a thread of the test process: TCP interleaved only (the
transport ucvd uses; UDP is refused with 461), one H.264 track, RFC 6184 packetization
(single NAL units, FU-A above the payload size). It plays an Annex-B elementary stream cut
from the harness clip, in real time and in a loop, to every client at once, as a live
camera does: a client that starts playing gets the current frame, usually not a keyframe.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import socket
import struct
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from tests.harness.errors import HarnessError
from tests.harness.media import Audio, ClipLibrary
from tests.harness.ports import LOOPBACK
from tests.harness.tools import Tools

PAYLOAD_TYPE = 96
MAX_PAYLOAD = 1400  # bytes of RTP payload, as a camera sized for an Ethernet MTU
CLOCK_HZ = 90_000
_VCL = (1, 5)  # coded slice, coded slice of an IDR picture
NAL_SPS, NAL_PPS, NAL_IDR = 7, 8, 5


def split_nals(stream: bytes) -> list[bytes]:
    """The NAL units of an Annex-B stream, start codes removed."""
    nals: list[bytes] = []
    starts: list[int] = []
    i = stream.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = stream.find(b"\x00\x00\x01", i + 3)
    for n, start in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(stream)
        nal = stream[start:end].rstrip(b"\x00")  # a 4-byte start code leaves one zero behind
        if nal:
            nals.append(nal)
    return nals


def access_units(nals: list[bytes]) -> list[list[bytes]]:
    """NAL units grouped into pictures: a picture ends before a non-VCL unit that follows a
    slice, or before a slice whose first_mb_in_slice is 0 (the first bit of its payload)."""
    units: list[list[bytes]] = []
    current: list[bytes] = []
    has_slice = False
    for nal in nals:
        kind = nal[0] & 0x1F
        is_slice = kind in _VCL
        starts_picture = is_slice and len(nal) > 1 and bool(nal[1] & 0x80)
        if has_slice and (not is_slice or starts_picture):
            units.append(current)
            current, has_slice = [], False
        current.append(nal)
        has_slice = has_slice or is_slice
    if current and has_slice:
        units.append(current)
    return units


def rtp_payloads(nal: bytes, max_payload: int = MAX_PAYLOAD) -> list[bytes]:
    """RFC 6184: one single-NAL-unit packet, or FU-A fragments when the unit is too big."""
    if len(nal) <= max_payload:
        return [nal]
    indicator = (nal[0] & 0xE0) | 28
    kind = nal[0] & 0x1F
    body = nal[1:]
    step = max_payload - 2
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    out = []
    for n, chunk in enumerate(chunks):
        header = kind | (0x80 if n == 0 else 0) | (0x40 if n == len(chunks) - 1 else 0)
        out.append(bytes([indicator, header]) + chunk)
    return out


def elementary_stream(tools: Tools, clips: ClipLibrary) -> bytes:
    """The harness clip's video as Annex-B, cached next to the clip. The clip repeats SPS/PPS
    before every keyframe (x264 `repeat-headers`), and that is what this camera sends."""
    clips.ensure()
    target = clips.dir / "h264_inband.h264"
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        result = subprocess.run(
            [tools.ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
             "-i", str(clips.path(Audio.NONE)), "-map", "0:v:0", "-c:v", "copy",
             "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(tmp)],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        if result.returncode != 0:
            raise HarnessError(f"extracting the H.264 stream failed: {result.stderr[-1000:]}")
        tmp.rename(target)
    return target.read_bytes()


@dataclass
class _Session:
    sock: socket.socket
    channel: int = 0
    seq: int = field(default_factory=lambda: secrets.randbelow(0x10000))
    ssrc: int = field(default_factory=lambda: secrets.randbits(32))
    lock: threading.Lock = field(default_factory=threading.Lock)
    playing: bool = False

    def send_unit(self, unit: list[bytes], timestamp: int) -> None:
        packets = [p for nal in unit for p in rtp_payloads(nal)]
        frames = []
        for n, payload in enumerate(packets):
            marker = 0x80 if n == len(packets) - 1 else 0
            header = struct.pack(
                "!BBHII", 0x80, marker | PAYLOAD_TYPE, self.seq, timestamp, self.ssrc
            )
            self.seq = (self.seq + 1) & 0xFFFF
            rtp = header + payload
            frames.append(b"$" + bytes([self.channel]) + struct.pack("!H", len(rtp)) + rtp)
        with self.lock:
            self.sock.sendall(b"".join(frames))

    def reply(self, text: str) -> None:
        with self.lock:
            self.sock.sendall(text.encode())


class InbandCamera:
    """The camera; `start()` opens its port, `stop()` closes it and every connection.

    Duck-typed like the harness's cameras where ucvd's helpers need it (`name`, `url`,
    `credentials`, `host`, `port`), so `add_camera` and `camera_for` take it as it is.
    """

    credentials = None  # it accepts anyone
    audio = Audio.NONE

    def __init__(
        self,
        tools: Tools,
        clips: ClipLibrary,
        name: str = "inband",
        path: str = "stream1",
        fps: int | None = None,
    ) -> None:
        self.name = name
        self.path = path
        self.fps = fps or clips.spec.fps
        self.units = access_units(split_nals(elementary_stream(tools, clips)))
        if not self.units or not any(n[0] & 0x1F == NAL_IDR for n in self.units[0]):
            raise HarnessError("the elementary stream does not start with a keyframe")
        self.host = LOOPBACK
        self.port = 0
        self._listener: socket.socket | None = None
        self._sessions: list[_Session] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.describes: list[str] = []  # every SDP it answered, for tests to check
        # Wall-clock times keyframes left while someone played: benchmarks split a reader's
        # start into the wait for the keyframe and what came after it.
        self.keyframes_sent: deque[float] = deque(maxlen=1000)

    @property
    def url(self) -> str:
        return f"rtsp://{self.host}:{self.port}/{self.path}"

    @property
    def full_url(self) -> str:
        return self.url

    def sdp(self) -> str:
        # What such a camera announces: the codec and the packetization mode, nothing about
        # the stream's profile or size (no sprop-parameter-sets, no profile-level-id).
        return (
            "v=0\r\n"
            f"o=- 0 0 IN IP4 {self.host}\r\n"
            "s=in-band parameter sets\r\n"
            "c=IN IP4 0.0.0.0\r\n"
            "t=0 0\r\n"
            f"m=video 0 RTP/AVP {PAYLOAD_TYPE}\r\n"
            f"a=rtpmap:{PAYLOAD_TYPE} H264/{CLOCK_HZ}\r\n"
            f"a=fmtp:{PAYLOAD_TYPE} packetization-mode=1\r\n"
            "a=control:trackID=0\r\n"
        )

    def start(self) -> InbandCamera:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        for target in (self._accept, self._broadcast):
            thread = threading.Thread(target=target, name=f"{self.name}-{target.__name__}",
                                      daemon=True)  # fmt: skip
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            with contextlib.suppress(OSError):
                session.sock.shutdown(socket.SHUT_RDWR)
            session.sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def running(self) -> bool:
        return self._listener is not None

    def __enter__(self) -> InbandCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the live stream ----------------------------------------------------------------

    def _broadcast(self) -> None:
        """One clock for every client: picture k leaves at start + k/fps, timestamp k*3600."""
        started = time.monotonic()
        step = CLOCK_HZ // self.fps
        for k in itertools.count():
            if self._stopping.is_set():
                return
            delay = started + k / self.fps - time.monotonic()
            if delay > 0:
                self._stopping.wait(delay)
            unit = self.units[k % len(self.units)]
            with self._lock:
                playing = [s for s in self._sessions if s.playing]
            if playing and any(nal[0] & 0x1F == NAL_IDR for nal in unit):
                self.keyframes_sent.append(time.time())
            for session in playing:
                try:
                    session.send_unit(unit, (k * step) & 0xFFFFFFFF)
                except OSError:
                    self._drop(session)

    def _drop(self, session: _Session) -> None:
        with self._lock:
            if session in self._sessions:
                self._sessions.remove(session)
        with contextlib.suppress(OSError):
            session.sock.close()

    # --- RTSP ---------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopping.is_set() and self._listener is not None:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            session = _Session(conn)
            with self._lock:
                self._sessions.append(session)
            thread = threading.Thread(target=self._serve, args=(session,), daemon=True,
                                      name=f"{self.name}-client")  # fmt: skip
            thread.start()

    def _serve(self, session: _Session) -> None:
        buffer = b""
        try:
            while not self._stopping.is_set():
                # Interleaved frames from the client (RTCP receiver reports) are skipped.
                while buffer.startswith(b"$") and len(buffer) >= 4:
                    size = struct.unpack("!H", buffer[2:4])[0]
                    if len(buffer) < 4 + size:
                        break
                    buffer = buffer[4 + size :]
                head, sep, rest = buffer.partition(b"\r\n\r\n")
                if sep and not buffer.startswith(b"$"):
                    lines = head.decode("latin-1").split("\r\n")
                    headers = {}
                    for line in lines[1:]:
                        key, _, value = line.partition(":")
                        headers[key.strip().lower()] = value.strip()
                    length = int(headers.get("content-length", "0"))
                    if len(rest) < length:
                        chunk = session.sock.recv(65536)
                        if not chunk:
                            return
                        buffer += chunk
                        continue
                    buffer = rest[length:]
                    if not self._answer(session, lines[0], headers):
                        return
                    continue
                chunk = session.sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
        except OSError:
            return
        finally:
            self._drop(session)

    def _answer(self, session: _Session, request: str, headers: dict[str, str]) -> bool:
        """Answer one request; False once the client tore the session down."""
        parts = request.split()
        method = parts[0] if parts else ""
        cseq = headers.get("cseq", "0")
        extra = ""
        body = ""
        status = "200 OK"
        if method == "OPTIONS":
            extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
        elif method == "DESCRIBE":
            body = self.sdp()
            self.describes.append(body)
            extra = f"Content-Base: {self.url}/\r\nContent-Type: application/sdp\r\n"
        elif method == "SETUP":
            transport = headers.get("transport", "")
            if "interleaved=" not in transport:
                status = "461 Unsupported Transport"
            else:
                channels = transport.split("interleaved=")[1].split(";")[0]
                session.channel = int(channels.split("-")[0])
                extra = (
                    f"Transport: RTP/AVP/TCP;unicast;interleaved={channels}\r\n"
                    "Session: 12345678;timeout=60\r\n"
                )
        elif method == "PLAY":
            extra = "Session: 12345678\r\nRange: npt=0.000-\r\n"
            session.playing = True
        elif method in ("GET_PARAMETER", "SET_PARAMETER"):
            extra = "Session: 12345678\r\n"
        elif method == "TEARDOWN":
            session.playing = False
        else:
            status = "405 Method Not Allowed"
        if body:
            extra += f"Content-Length: {len(body.encode())}\r\n"
        session.reply(f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}\r\n{body}")
        return method != "TEARDOWN"


def start_inband(tools: Tools, clips: ClipLibrary, name: str = "inband") -> InbandCamera:
    """A started in-band camera (stop it with `.stop()`)."""
    return InbandCamera(tools, clips, name=name).start()


def keyframe_indexes(units: list[list[bytes]]) -> list[int]:
    """Indexes of the pictures that carry SPS, PPS and an IDR slice together."""
    found = []
    for n, unit in enumerate(units):
        kinds = {nal[0] & 0x1F for nal in unit}
        if {NAL_SPS, NAL_PPS, NAL_IDR} <= kinds:
            found.append(n)
    return found
