"""The pure parts of the MediaMTX client: error bodies of every version, path coverage."""

from __future__ import annotations

import httpx
import pytest

from ucvd.relay.mediamtx import covers, error_message


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, b'{"error":"path already exists"}', "path already exists"),  # <= v1.15.4
        (400, b'{"status":"error","error":"invalid name"}', "invalid name"),  # >= v1.15.5
        (500, b"internal failure", "internal failure"),
        (404, b"", "Not Found"),
        (400, b'{"status":"error"}', '{"status":"error"}'),
    ],
)
def test_error_message_formats(status: int, body: bytes, expected: str) -> None:
    assert error_message(httpx.Response(status, content=body)) == expected


@pytest.mark.parametrize(
    ("conf", "path", "expected"),
    [
        ("all_others", "anything/at/all", True),
        ("all", "x", True),
        ("camera_a", "camera_a", True),
        ("camera_a", "camera_ab", False),
        ("~^camera_.*$", "camera_7", True),
        ("~^camera_[0-9]+$", "camera_x", False),
        ("~^site1/", "site1/cam", True),  # MediaMTX searches; it does not anchor
        ("~cam", "site1/camera_x", True),
        ("~(?P<x", "x", False),  # not a Python regex: assume not covered
    ],
)
def test_covers(conf: str, path: str, expected: bool) -> None:
    assert covers(conf, path) is expected
