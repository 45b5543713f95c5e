"""Input that tries to break out, at the pure boundary: URL and name validation, the FFmpeg
command line, MediaMTX path templates and the JSON-RPC decoder, property-tested.

The end-to-end half (the same inputs through a real daemon's socket) is in
tests/integration/test_hostile_input.py. Hypothesis runs derandomized here, so a failure
is reproducible and prints the input that caused it.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ucvd.api import protocol as p
from ucvd.api.jsonrpc import TOO_DEEP, Code, RpcError, decode_params, parse_request
from ucvd.domain.model import Camera, InvalidName, Target, slug
from ucvd.domain.urls import InvalidURL, publish_path, split_credentials, validate_api_url
from ucvd.host.logs import redact_secrets
from ucvd.relay.ffmpeg.argv import relay_argv

PASSWORD = "Zq9-Hostile-Pw"  # distinctive: a refusal that echoed it would show
DETERMINISTIC = settings(derandomize=True, max_examples=400, deadline=None)

# Pieces that attackers and typos put in URLs: other FFmpeg protocols, option-like text,
# separators, look-alikes (fullwidth solidus, one-dot leader, Cyrillic a), bidi override,
# brackets that confuse the IPv6 parser.
SCHEMES = ["rtsp", "RTSP", "rtsps", "file", "concat", "subfile", "pipe", "http", "https",
           "tcp", "udp", "rtp", "data", "crypto", "tee", "unix", "-i rtsp", "-i", ""]  # fmt: skip
SEPARATORS = ["://", ":", ":/", "", ":///"]
HOSTS = ["cam", "127.0.0.1", "[::1]", "[::1", "::1]", "c\uff0fm", "c\u2024m", "c\u0430m",
         "-i", "cam|x", "", " cam", "cam\n-i file:x"]  # fmt: skip
TAILS = ["", "/s", "/s?x=1", "/a b", "/s\r", "/s\t-y", "/s#frag", "/s -f lavfi -i x",
         "/\u202es", "/s?password=x", ":99999/s", ":0/s", ":abc/s", ":554/s"]  # fmt: skip

hostile_urls = st.one_of(
    st.builds(
        lambda scheme, sep, creds, host, tail: f"{scheme}{sep}{creds}{host}{tail}",
        st.sampled_from(SCHEMES),
        st.sampled_from(SEPARATORS),
        st.sampled_from(["", f"admin:{PASSWORD}@", f"admin:{PASSWORD}", f"{PASSWORD}@"]),
        st.sampled_from(HOSTS) | st.text(max_size=12),
        st.sampled_from(TAILS) | st.text(max_size=12),
    ),
    st.text(max_size=60),
)


@DETERMINISTIC
@given(hostile_urls)
@example(f"rtsp://admin:{PASSWORD}@host\uff0fx/s")  # quoted the netloc: found by this test
@example(f"rtsp://admin:{PASSWORD}@[::1/x")  # "Invalid IPv6 URL", a ValueError, not InvalidURL
@example("rtsp://127.0.0.1\u2024/s")  # a look-alike dot that used to be accepted
def test_a_stream_url_is_refused_or_is_exactly_one_rtsp_url(url: str) -> None:
    """Whatever the text, validation either refuses it with InvalidURL (never another
    exception, never echoing the password), or yields an ASCII rtsp(s) URL with a host and
    no whitespace, which stays one such URL once credentials are merged in."""
    try:
        clean, user, password = split_credentials(url, "camera URL")
    except InvalidURL as exc:
        assert PASSWORD not in str(exc)
        assert str(exc).startswith("camera URL ")
        return
    assert clean.isascii() and not re.search(r"[\s\x00-\x1f\x7f]", clean)
    assert clean.startswith(("rtsp://", "rtsps://"))
    assert urllib.parse.urlsplit(clean).hostname
    assert PASSWORD not in clean
    merged = Camera(id="c", url=clean, username=user, password=password)
    argv = relay_argv("ffmpeg", merged, Target(name="t", rtsp_url="rtsp://mtx:8554"))
    source = argv[argv.index("-i") + 1]
    assert source.startswith(("rtsp://", "rtsps://"))
    assert urllib.parse.urlsplit(source).hostname == urllib.parse.urlsplit(clean).hostname


@DETERMINISTIC
@given(hostile_urls)
def test_an_api_url_is_refused_or_is_plain_http(url: str) -> None:
    try:
        clean = validate_api_url(url)
    except InvalidURL as exc:
        assert PASSWORD not in str(exc)
        return
    parts = urllib.parse.urlsplit(clean)
    assert parts.scheme in ("http", "https") and parts.hostname
    assert clean.isascii() and parts.username is None and not parts.query


BASE_CAMERA = Camera(id="cam", url="rtsp://10.0.0.2:554/s", username="u", password="p")
BASE_TARGET = Target(name="t", rtsp_url="rtsp://mtx:8554", username="u", password="p")


@DETERMINISTIC
@given(
    camera_user=st.text(max_size=20),
    camera_password=st.text(max_size=20),
    target_user=st.text(max_size=20),
    target_password=st.text(max_size=20),
    name=st.text(max_size=20),
)
@example("-i", "file:/etc/passwd", "-y", " -f lavfi", "x\n-i pipe:0")
def test_no_field_adds_or_changes_an_ffmpeg_argument(
    camera_user: str, camera_password: str, target_user: str, target_password: str, name: str
) -> None:
    """Credentials and names go nowhere but percent-encoded into the two URLs: the command
    line keeps its exact shape, whatever `-i`, spaces or newlines they hold."""
    camera = Camera(id="cam", url=BASE_CAMERA.url, username=camera_user,
                    password=camera_password, name=name)  # fmt: skip
    target = Target(name="t", rtsp_url=BASE_TARGET.rtsp_url, username=target_user,
                    password=target_password)  # fmt: skip
    baseline = relay_argv("ffmpeg", BASE_CAMERA, BASE_TARGET)
    argv = relay_argv("ffmpeg", camera, target)
    assert len(argv) == len(baseline)
    urls = {i for i, arg in enumerate(baseline) if arg.startswith("rtsp://")}
    assert len(urls) == 2
    for i, (arg, base) in enumerate(zip(argv, baseline, strict=True)):
        if i in urls:
            parts = urllib.parse.urlsplit(arg)
            assert parts.scheme == "rtsp" and parts.hostname in ("10.0.0.2", "mtx"), arg
            assert not re.search(r"\s", arg), arg
        else:
            assert arg == base


slugs = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True).filter(lambda s: ".." not in s)
TEMPLATE_PIECES = ["{camera_id}", "/", ".", "..", "_", "-", "a", "{", "}", "~", "%2f", " ",
                   "\u2215", "{id}", "{camera_id.__class__}", "{0}", "?", "#", "\n"]  # fmt: skip


@DETERMINISTIC
@given(st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=8).map("".join), slugs)
@example("{camera_id.__class__}", "x")  # format-string injection finds no way in
@example("x/.{camera_id}", "a")
@example("{camera_id}\n", "a")  # accepted before: `$` matched before the final newline
def test_a_template_valid_for_one_camera_is_safe_for_every_camera(
    template: str, camera_id: str
) -> None:
    """Targets are checked with a sample id; a template that passes must give a path
    MediaMTX accepts (no traversal, no regex, no empty segment) for any real camera id."""
    try:
        publish_path(template, "camera-id")
    except InvalidURL:
        return
    path = publish_path(template, camera_id)
    assert re.fullmatch(r"[0-9a-zA-Z_\-/.]+", path), path
    assert not path.startswith("/") and not path.endswith("/")
    assert all(segment not in ("", ".", "..") for segment in path.split("/"))
    assert camera_id in path


@DETERMINISTIC
@given(st.text(max_size=70))
@example("cam\u0435ra")  # Cyrillic e
@example("CAM\u0130")  # Turkish dotted I: lower() makes it two characters, one not ASCII
@example("\u212a")  # the Kelvin sign, which lower() turns into an ASCII k
@example("..")
@example("a/../b")
def test_an_id_is_refused_or_is_a_safe_slug(text: str) -> None:
    try:
        folded = slug(text)
    except InvalidName as exc:
        assert str(exc).startswith("camera id ")
        return
    assert text.isascii() and re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,62}", folded)
    assert ".." not in folded and "/" not in folded


@pytest.mark.parametrize("where", ["id", "method", "params", "params_field", "top"])
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_an_rpc_error_not_an_exception(where: str, depth: int) -> None:
    """Found by the socket fuzzer: 100 000 nested arrays raised RecursionError out of the
    decoder, which ended the whole daemon."""
    nested = "[" * depth + "]" * depth
    line = {
        "id": f'{{"jsonrpc":"2.0","method":"camera.get","id":{nested}}}',
        "method": f'{{"jsonrpc":"2.0","method":{nested},"id":1}}',
        "params": f'{{"jsonrpc":"2.0","method":"camera.get","params":{nested},"id":1}}',
        "params_field": f'{{"jsonrpc":"2.0","method":"camera.get","params":{{"id":{nested}}},'
        '"id":1}',
        "top": nested,
    }[where].encode()
    with pytest.raises(RpcError) as info:
        decode_params(parse_request(line), p.CameraRef)
    assert info.value.code in (Code.INVALID_REQUEST, Code.INVALID_PARAMS)
    if where == "params" and depth == 100_000:
        assert info.value.message == TOO_DEEP


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@DETERMINISTIC
@given(st.sampled_from(sorted(p.PARAMS)), json_values)
def test_any_params_for_any_method_decode_or_are_invalid_params(method: str, params: Any) -> None:
    """Stage two never raises anything but -32602, for every method's parameter type."""
    line = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
    try:
        request = parse_request(line)
    except RpcError as exc:  # NaN and infinities are not JSON for msgspec
        assert exc.code == Code.PARSE_ERROR
        return
    try:
        decode_params(request, p.PARAMS[method])
    except RpcError as exc:
        assert exc.code == Code.INVALID_PARAMS and exc.id == 1


def test_the_log_redacts_credentials_nobody_meant_to_log() -> None:
    """An exception message that quotes a URL reaches the log through the traceback; the
    processor every log format shares takes the password out of it."""
    record = {
        "event": "method failed",
        "exception": f"Traceback ...\nValueError: bad rtsp://admin:{PASSWORD}@cam/s?pwd=x1",
        "url": f"rtsps://u:{PASSWORD}@cam/s",
        "count": 3,
    }
    out = redact_secrets(None, "error", dict(record))
    assert PASSWORD not in json.dumps(out)
    assert "rtsp://admin:***@cam/s?pwd=***" in out["exception"] and out["count"] == 3
