"""RTSP probing: reading replies, telling open from guarded, answering auth challenges."""

from __future__ import annotations

import pytest

from ucvd.discovery.rtsp_probe import (
    Reply,
    RtspAccess,
    StreamAccess,
    authorization,
    classify,
    parse_reply,
    request,
    stream_verdict,
)


def test_parse_reply_reads_status_server_and_challenges() -> None:
    reply = parse_reply(
        b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nServer: Hipcam RealServer/V1.0\r\n"
        b'WWW-Authenticate: Digest realm="cam", nonce="abc"\r\n'
        b'WWW-Authenticate: Basic realm="cam"\r\n\r\nServer: body-not-header\r\n'
    )
    assert reply == Reply(
        401, "Hipcam RealServer/V1.0", ('Digest realm="cam", nonce="abc"', 'Basic realm="cam"')
    )


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.0 200 OK\r\n\r\n",  # a web server on an RTSP port
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"RTSP/1.0 20 OK\r\n\r\n",
        b"",
    ],
)
def test_anything_but_an_rtsp_status_line_is_not_rtsp(data: bytes) -> None:
    assert parse_reply(data) is None


OK = Reply(200, None)
UNAUTHORIZED = Reply(401, None)
NOT_FOUND = Reply(404, None)
BAD = Reply(400, None)


@pytest.mark.parametrize(
    ("options", "describe", "access"),
    [
        (None, None, None),
        (OK, OK, RtspAccess.OPEN),
        (OK, UNAUTHORIZED, RtspAccess.NEEDS_CREDENTIALS),
        (OK, NOT_FOUND, RtspAccess.OPEN),  # no stream at `/`, but nobody asked who we are
        (OK, BAD, RtspAccess.OPEN),
        (UNAUTHORIZED, None, RtspAccess.NEEDS_CREDENTIALS),  # guards even OPTIONS
        (OK, None, RtspAccess.OPEN),  # hung up after OPTIONS
    ],
)
def test_classify(options: Reply | None, describe: Reply | None, access: RtspAccess) -> None:
    assert classify(options, describe) is access


@pytest.mark.parametrize(
    ("first", "second", "tried", "verdict"),
    [
        (None, None, False, StreamAccess.FAILED),
        (OK, None, False, StreamAccess.OPEN),
        (NOT_FOUND, None, False, StreamAccess.NOT_FOUND),
        (BAD, None, False, StreamAccess.FAILED),
        (UNAUTHORIZED, None, False, StreamAccess.NEEDS_CREDENTIALS),
        (UNAUTHORIZED, OK, True, StreamAccess.CREDENTIALS_ACCEPTED),
        (UNAUTHORIZED, UNAUTHORIZED, True, StreamAccess.CREDENTIALS_REFUSED),
        (UNAUTHORIZED, None, True, StreamAccess.FAILED),  # hung up on the second try
    ],
)
def test_stream_verdict(
    first: Reply | None, second: Reply | None, tried: bool, verdict: StreamAccess
) -> None:
    assert stream_verdict(first, second, tried) is verdict


def test_digest_answer_matches_rfc_2617() -> None:
    # RFC 2617 section 3.5, with its method and URI.
    header = authorization(
        ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
         'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',),
        "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b",
    )  # fmt: skip
    assert header is not None
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header
    assert "nc=00000001" in header


def test_digest_without_qop_and_basic_fallback() -> None:
    digest = authorization(('Digest realm="r", nonce="n"',), "DESCRIBE", "rtsp://h/s", "u", "p")
    assert digest is not None
    assert digest.startswith("Digest ") and "qop" not in digest
    basic = authorization(('Basic realm="r"',), "DESCRIBE", "rtsp://h/s", "user", "pa:ss")
    assert basic == "Basic dXNlcjpwYTpzcw=="
    # Digest is preferred whatever the order; unknown schemes get no answer.
    both = authorization(('Basic realm="r"', 'Digest realm="r", nonce="n"'), "D", "u", "a", "b")
    assert both is not None and both.startswith("Digest ")
    assert authorization(("Negotiate x",), "DESCRIBE", "rtsp://h/", "u", "p") is None
    sha = authorization(('Digest realm="r", nonce="n", algorithm=SHA-256',), "D", "u", "a", "b")
    assert sha is None


def test_requests_are_well_formed() -> None:
    assert request("DESCRIBE", "rtsp://h:554/", 2, "Basic eA==") == (
        b"DESCRIBE rtsp://h:554/ RTSP/1.0\r\nCSeq: 2\r\nUser-Agent: ucvd-discover\r\n"
        b"Accept: application/sdp\r\nAuthorization: Basic eA==\r\n\r\n"
    )
