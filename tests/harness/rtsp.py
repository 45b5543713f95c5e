"""A minimal RTSP request on a raw socket, for checks ffprobe cannot make.

ffprobe tells whether a stream plays; this tells what a server answers (or that it answers
nothing at all, as a frozen camera does), within a deadline of our choosing.
"""

from __future__ import annotations

import socket


def rtsp_status(
    host: str, port: int, path: str, method: str = "OPTIONS", timeout: float = 2.0
) -> int | None:
    """The status code the server answers to one request; None when it says nothing in time.

    A refused connection raises ConnectionRefusedError: "nobody listens" and "listens but is
    silent" are different faults and callers must be able to tell them apart.
    """
    url = f"rtsp://{host}:{port}/{path}"
    request = f"{method} {url} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: ucvd-tests\r\n"
    if method == "DESCRIBE":
        request += "Accept: application/sdp\r\n"
    request += "\r\n"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(request.encode())
        try:
            head = sock.recv(4096)
        except TimeoutError:
            return None
    if not head:
        return None
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[0].startswith(b"RTSP/"):
        raise ValueError(f"not an RTSP answer: {head[:80]!r}")
    return int(parts[1])


def rtsp_describe(host: str, port: int, path: str, timeout: float = 2.0) -> str:
    """The SDP a server answers to DESCRIBE (what a reader learns before any packet)."""
    url = f"rtsp://{host}:{port}/{path}"
    request = f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise ValueError(f"DESCRIBE answer cut short: {data[:200]!r}")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if " 200 " not in lines[0] + " ":
            raise ValueError(f"DESCRIBE answered {lines[0]!r}")
        length = 0
        for line in lines[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-length":
                length = int(value)
        while len(body) < length:
            chunk = sock.recv(4096)
            if not chunk:
                break
            body += chunk
    return body[:length].decode()
