"""Input that tries to break out, refused by a real daemon at its socket with a clear message.

Sent as raw JSON-RPC (not through `ucvctl`, which could filter first), so that the daemon's
own boundary is what is tested: URLs that would make FFmpeg read local files or speak
other protocols, option-like text and newlines, ids with `/`, `..` and look-alikes, names
with terminal escapes and bidi overrides, path templates that would give unsafe MediaMTX
paths. Every refusal is `invalid_argument` with a message that says what is wrong and never
echoes the password; nothing refused is stored; the log shows no failure.
(tests/integration/test_daemon.py::test_error_paths checks a few of these through ucvctl.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.daemon import Ucvd
from tests.harness.procs import ProcessRegistry
from ucvctl.client import Client, RemoteError

PW = "Hostile-Pw-7Kq"
NOWHERE = "rtsp://127.0.0.1:1"
SCHEME = "must start with rtsp:// or rtsps://"
SPACE = "contains whitespace or control characters"
ASCII = "contains non-ASCII characters"
INVISIBLE = "must not contain control or invisible characters"
PATH_CHARS = "may contain only letters, digits"


@pytest.fixture(scope="module")
def daemon(
    session_registry: ProcessRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ucvd]:
    """One daemon for the whole table (it spawns nothing: every request is refused), with
    one good camera and one good target for the updates to try to spoil."""
    d = Ucvd(session_registry, tmp_path_factory.mktemp("hostile") / "ucvd").start()
    call(d, "target.add", {"name": "t0", "rtsp_url": NOWHERE, "username": "u", "password": PW})
    call(d, "camera.add", {"id": "good", "url": f"{NOWHERE}/s", "username": "u", "password": PW})
    yield d
    code, _ = d.terminate()
    assert code == 0


def call(d: Ucvd, method: str, params: dict[str, Any]) -> Any:
    with Client(str(d.socket)) as client:
        return client.call_unchecked(method, params)


CAMERA_URLS = [
    ("file:///etc/passwd", SCHEME), ("file:/etc/passwd", SCHEME),
    ("concat:rtsp://127.0.0.1/a|file:/etc/passwd", SCHEME),
    ("subfile:,,start,0,end,0,,:/etc/passwd", SCHEME), ("pipe:0", SCHEME), ("pipe:", SCHEME),
    ("http://127.0.0.1/x", SCHEME), ("https://127.0.0.1/x", SCHEME), ("tcp://127.0.0.1:1", SCHEME),
    ("udp://127.0.0.1:1", SCHEME), ("rtp://127.0.0.1:1", SCHEME), ("srt://127.0.0.1:1", SCHEME),
    ("tls://127.0.0.1:1", SCHEME), ("unix:/run/ucvd/ucvd.sock", SCHEME),
    ("data:text/plain,x", SCHEME), ("crypto:file:/etc/passwd", SCHEME), ("tee:x", SCHEME),
    ("cache:file:/etc/passwd", SCHEME), ("async:file:/etc/passwd", SCHEME),
    ("rtsp:file:/etc/passwd", "has no host"), ("rtsp:///etc/passwd", "has no host"),
    ("-i", SCHEME), ("-irtsp://127.0.0.1/x", SCHEME), ("-i rtsp://127.0.0.1/x", SPACE),
    ("-f lavfi", SPACE), (" rtsp://127.0.0.1/x", SPACE),
    ("rtsp://127.0.0.1/x\n-i file:/etc/passwd", SPACE), ("rtsp://127.0.0.1/x\r", SPACE),
    ("rtsp://127.0.0.1/x\t-y", SPACE), ("rtsp://127.0.0.1/x -f lavfi -i x", SPACE),
    ("rtsp://127.0.0.1/x\x00", SPACE), ("rtsp://127.0.0.1/x\u2028-i", SPACE),
    ("rtsp://127.0.0.1\uff0fx", ASCII), ("rtsp://127.0.0.1\u2024/x", ASCII),
    ("rtsp://\u0441am.local/x", ASCII), ("rtsp://cam/\u202ex", ASCII),
    (f"rtsp://admin:{PW}@cam\uff0fx/s", ASCII),
    (f"rtsp://admin:{PW}@[::1/x", "is not a valid URL (unbalanced"),
    (f"rtsp://admin:{PW}@cam:notaport/x", "has an invalid port"),
    ("rtsp://cam/x#frag", "must not contain a '#' fragment"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "fragment"), CAMERA_URLS)
def test_a_camera_url_that_is_not_one_rtsp_url_is_refused(
    daemon: Ucvd, url: str, fragment: str
) -> None:
    refused(daemon, "camera.add", {"id": "bad", "url": url}, "camera URL " + fragment)


@pytest.mark.parametrize(
    ("url", "fragment"), [CAMERA_URLS[0], CAMERA_URLS[4], CAMERA_URLS[26], CAMERA_URLS[-3]]
)
def test_a_hostile_url_cannot_replace_a_good_one(daemon: Ucvd, url: str, fragment: str) -> None:
    refused(daemon, "camera.update", {"id": "good", "url": url}, "camera URL " + fragment)
    refused(daemon, "target.add", {"name": "t1", "rtsp_url": url}, "target URL " + fragment)
    refused(daemon, "target.update", {"name": "t0", "rtsp_url": url}, "target URL " + fragment)


@pytest.mark.parametrize(
    ("api_url", "fragment"),
    [
        ("file:///etc/passwd", "API URL must start with http:// or https://"),
        ("gopher://127.0.0.1:70/x", "must start with http://"),
        ("rtsp://127.0.0.1:9997", "must start with http://"),
        (f"http://api:{PW}@127.0.0.1:9997", "must not contain credentials"),
        ("http://127.0.0.1:9997/?x=../../v3", "must not contain a query"),
        ("http://127.0.0.1:9997/\n-i", SPACE),
        ("http://127.0.0.1\uff1a9997", ASCII),
    ],
)
def test_an_api_url_that_is_not_plain_http_is_refused(
    daemon: Ucvd, api_url: str, fragment: str
) -> None:
    params = {"name": "t1", "rtsp_url": NOWHERE, "api_url": api_url}
    refused(daemon, "target.add", params, fragment)


@pytest.mark.parametrize(
    ("player_url", "fragment"),
    [
        ("javascript:alert(1)", "player URL must start with http:// or https://"),
        ("data:text/html,<script>x</script>", "must start with http://"),
        ("rtsp://127.0.0.1:8554", "must start with http://"),
        (f"http://viewer:{PW}@127.0.0.1:8889/", "player URL must not contain credentials"),
        ("http://viewer@127.0.0.1:8889/", "must not contain credentials"),
        ("http://127.0.0.1:8889/?token=x", "must not contain a query"),
        ('http://127.0.0.1:8889/"><script>', "characters a URL cannot hold as they are"),
        ("http://127.0.0.1:8889/\u202ex", ASCII),
    ],
)
def test_a_player_url_that_is_not_plain_http_is_refused(
    daemon: Ucvd, player_url: str, fragment: str
) -> None:
    """It becomes a link on the dashboard: nothing but an http(s) base gets there."""
    params = {"name": "t1", "rtsp_url": NOWHERE, "player_url": player_url}
    refused(daemon, "target.add", params, fragment)
    refused(daemon, "target.update", {"name": "t0", "player_url": player_url}, fragment)


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("../{camera_id}", "must not contain empty, '.' or '..' segments"),
        ("{camera_id}/..", "segments"),
        ("a//{camera_id}", "segments"),
        ("/{camera_id}", "must not begin or end with '/'"),
        ("{camera_id}/", "begin or end"),
        ("~^.*{camera_id}", PATH_CHARS),  # a MediaMTX regular-expression path
        ("{camera_id}?x=1", PATH_CHARS),
        ("{camera_id}#x", PATH_CHARS),
        ("{camera_id}%2f..", PATH_CHARS),
        ("cam\u2215{camera_id}", PATH_CHARS),  # division slash, a '/' look-alike
        ("cam {camera_id}", PATH_CHARS),
        ("{camera_id}\n", PATH_CHARS),  # accepted before: `$` matched before the newline
        ("{camera_id.__class__}", "unknown placeholder"),  # no str.format in sight
        ("{0}{camera_id}", "unknown placeholder"),
        ("all_cameras", "must contain {camera_id}"),
    ],
)
def test_a_path_template_that_gives_unsafe_mediamtx_paths_is_refused(
    daemon: Ucvd, template: str, fragment: str
) -> None:
    params = {"name": "t1", "rtsp_url": NOWHERE, "path_template": template}
    refused(daemon, "target.add", params, fragment)
    refused(daemon, "target.update", {"name": "t0", "path_template": template}, fragment)


@pytest.mark.parametrize(
    "bad_id",
    ["a/b", "..", "../etc", "a..b", ".hidden", "-i", "--help", "", "x" * 64, "cam\x00",
     "cam\n", "cam\u0435ra", "\uff43am", "cam\u2024x", "cam\uff0fx", "cam\u200b",
     "CAM\u0130", "\u212aam"],
)  # fmt: skip
def test_an_unsafe_id_is_refused_wherever_an_id_goes(daemon: Ucvd, bad_id: str) -> None:
    refused(daemon, "camera.add", {"id": bad_id, "url": f"{NOWHERE}/s"}, "camera id ")
    refused(daemon, "camera.get", {"id": bad_id}, "camera id ")
    refused(daemon, "publishing.start", {"camera_id": bad_id}, "camera id ")
    refused(daemon, "events.subscribe", {"camera_ids": ["good", bad_id]}, "camera id ")
    refused(daemon, "target.add", {"name": bad_id, "rtsp_url": NOWHERE}, "target name ")
    refused(daemon, "target.activate", {"name": bad_id}, "target name ")


@pytest.mark.parametrize(
    "text",
    ["Gate\n2026-11-29 ERROR forged log line", "\x1b[2J\x1b[31mGate", "Gate\u009b2J",
     "Gate\u202etxt.exe", "Ga\u200bte", "Gate\u2028forged", "Gate\x7f", "Gate\t1"],
)  # fmt: skip
def test_a_name_that_could_forge_output_or_rewrite_a_terminal_is_refused(
    daemon: Ucvd, text: str
) -> None:
    refused(daemon, "camera.add", {"id": "bad", "url": f"{NOWHERE}/s", "name": text}, INVISIBLE)
    refused(daemon, "camera.update", {"id": "good", "name": text}, INVISIBLE)
    params = {"id": "bad", "url": f"{NOWHERE}/s", "username": text, "password": PW}
    refused(daemon, "camera.add", params, INVISIBLE)
    params = {"name": "t1", "rtsp_url": NOWHERE, "api_username": text, "api_password": PW}
    refused(daemon, "target.add", params, INVISIBLE)


def test_nothing_refused_was_stored_and_nothing_failed(daemon: Ucvd) -> None:
    """After the whole table: the good camera and target are as they were, nothing else
    exists, and the daemon logged no failure (a refusal is not an error)."""
    cameras = daemon.ctl_json("camera", "list")["items"]
    assert [(c["id"], c["url"], c["name"]) for c in cameras] == [("good", f"{NOWHERE}/s", "")]
    targets = daemon.ctl_json("target", "list")["items"]
    assert [(t["name"], t["rtsp_url"], t["path_template"], t["player_url"]) for t in targets] == [
        ("t0", NOWHERE, "camera_{camera_id}", None)
    ]
    log = daemon.log_text()
    assert "Traceback" not in log and "method failed" not in log and PW not in log


def refused(d: Ucvd, method: str, params: dict[str, Any], fragment: str) -> None:
    """The call is refused at the boundary: invalid_argument, a message that contains
    `fragment` and no password, and that is one printable line."""
    with pytest.raises(RemoteError) as info:
        call(d, method, params)
    error = info.value
    assert (error.code, error.kind) == (-32000, "invalid_argument"), (method, params, error)
    assert fragment in error.message, (method, params, error.message)
    assert PW not in error.message
    assert error.message.isprintable(), error.message
