from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ucvd.domain.urls import (
    InvalidURL,
    join_path,
    player_page,
    publish_path,
    redact,
    split_credentials,
    validate_api_url,
    validate_path_name,
    validate_player_url,
    with_credentials,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://cam.local/stream", ("rtsp://cam.local/stream", None, None)),
        ("RTSP://Cam.Local:8554/a?b=1", ("rtsp://Cam.Local:8554/a?b=1", None, None)),
        ("rtsps://10.0.0.2:322/x", ("rtsps://10.0.0.2:322/x", None, None)),
        ("rtsp://admin:pa%40ss@cam/s", ("rtsp://cam/s", "admin", "pa@ss")),
        ("rtsp://admin@cam/s", ("rtsp://cam/s", "admin", None)),
        ("rtsp://[fe80::1]:554/s", ("rtsp://[fe80::1]:554/s", None, None)),
    ],
)
def test_split_credentials_accepts(url: str, expected: tuple[str, str | None, str | None]) -> None:
    assert split_credentials(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("file:///etc/passwd", "must start with rtsp:// or rtsps://"),
        ("concat:rtsp://a|rtsp://b", "must start with"),
        ("subfile:,,start,0,end,0,,:rtsp://x", "must start with"),
        ("pipe:0", "must start with"),
        ("http://cam/stream", "'http:'"),
        ("-i rtsp://cam/x", "whitespace"),
        ("-irtsp://cam/x", "must start with"),
        ("rtsp://cam/x\n-i file:x", "whitespace or control"),
        ("rtsp://cam/x y", "whitespace or control"),
        ("rtsp:///nohost", "no host"),
        ("rtsp://cam:99999/x", "invalid port"),
        ("rtsp://cam:0/x", "invalid port"),
        ("rtsp://cam:abc/x", "invalid port"),
        ("rtsp://cam/x#frag", "fragment"),
        ("rtsp://cam/" + "a" * 3000, "longer than"),
        ("cam.local/stream", "no scheme"),
    ],
)
def test_split_credentials_refuses(url: str, message: str) -> None:
    with pytest.raises(InvalidURL, match=message):
        split_credentials(url)


def test_refusal_never_echoes_the_password() -> None:
    with pytest.raises(InvalidURL) as info:
        split_credentials("rtsp://admin:TopSecret@cam:notaport/x")
    assert "TopSecret" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9997", "http://127.0.0.1:9997"),
        ("HTTPS://mtx.example:9997/", "https://mtx.example:9997"),
        ("http://mtx/prefix/", "http://mtx/prefix"),
    ],
)
def test_api_url(url: str, expected: str) -> None:
    assert validate_api_url(url) == expected


@pytest.mark.parametrize(
    "url", ["rtsp://mtx:9997", "http://u:p@mtx:9997", "http://mtx:9997?x=1", "ftp://mtx"]
)
def test_api_url_refused(url: str) -> None:
    with pytest.raises(InvalidURL):
        validate_api_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://central.example:8889/", "http://central.example:8889/"),
        ("HTTPS://central.example:8889", "https://central.example:8889/"),
        ("https://example.net/mediamtx//", "https://example.net/mediamtx/"),  # behind a proxy
        ("http://[2001:db8::1]:8888", "http://[2001:db8::1]:8888/"),
    ],
)
def test_player_url_ends_in_a_slash(url: str, expected: str) -> None:
    assert validate_player_url(url) == expected
    assert player_page(validate_player_url(url), "camera_gate") == expected + "camera_gate/"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://viewer:TopSecret@central:8889/", "player URL must not contain credentials"),
        ("http://viewer@central:8889/", "player URL must not contain credentials"),
        ("rtsp://central:8554", "player URL must start with http:// or https://"),
        ("ftp://central/", "player URL must start with http:// or https://"),
        ("central:8889", "player URL must start with http:// or https://"),
        ("http://central:8889/?token=abc", "player URL must not contain a query"),
        ("http://central:8889/#x", "player URL must not contain a '#' fragment"),
        ("http:///path", "player URL has no host"),
        ("http://central:8889/\u202e", "player URL contains non-ASCII"),
        ('http://central:8889/"><script>', "player URL contains characters a URL cannot hold"),
        ("http://central:8889/{camera_id}", "percent-encode them"),
    ],
)
def test_player_url_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidURL) as refused:
        validate_player_url(url)
    assert message in str(refused.value)
    assert "TopSecret" not in str(refused.value)


@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [
        (None, None, "rtsp://cam:554/s"),
        ("admin", None, "rtsp://admin@cam:554/s"),
        ("admin", "", "rtsp://admin:@cam:554/s"),
        ("ad min", "p@ss:w/rd#%?", "rtsp://ad%20min:p%40ss%3Aw%2Frd%23%25%3F@cam:554/s"),
    ],
)
def test_with_credentials(user: str | None, password: str | None, expected: str) -> None:
    assert with_credentials("rtsp://old:creds@cam:554/s", user, password) == expected


@given(st.text(min_size=1, max_size=20), st.text(max_size=30))
def test_credentials_round_trip(user: str, password: str) -> None:
    merged = with_credentials("rtsp://cam:554/s", user, password)
    assert split_credentials(merged) == ("rtsp://cam:554/s", user, password)


def test_join_path() -> None:
    assert join_path("rtsp://mtx:8554", "camera_a") == "rtsp://mtx:8554/camera_a"
    assert join_path("rtsp://mtx:8554/site1/", "camera_a") == "rtsp://mtx:8554/site1/camera_a"


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("rtsp://admin:hunter22@cam/x: 401", (), "rtsp://admin:***@cam/x: 401"),
        ("tcp://u:p@h:1 and rtsps://a:b@c", (), "tcp://u:***@h:1 and rtsps://a:***@c"),
        ("rtsp://cam/x no creds", (), "rtsp://cam/x no creds"),
        ("password is Sup3r#Secret here", ("Sup3r#Secret",), "password is *** here"),
        ("encoded Sup3r%23Secret", ("Sup3r#Secret",), "encoded ***"),
        ("short pw ab stays", ("ab",), "short pw ab stays"),
        ("rtsp://u:ab@h", ("ab",), "rtsp://u:***@h"),
        (
            "rtsp://cam/x?user=admin&password=s3cr3t&ch=1",
            (),
            "rtsp://cam/x?user=admin&password=***&ch=1",
        ),
        ("rtsp://cam/x?PWD=abc", (), "rtsp://cam/x?PWD=***"),
    ],
)
def test_redact(text: str, secrets: tuple[str, ...], expected: str) -> None:
    assert redact(text, secrets) == expected


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=4, max_size=30))
def test_redact_hides_any_secret_in_a_url(secret: str) -> None:
    url = with_credentials("rtsp://cam:554/s", "admin", secret)
    line = f"[rtsp @ 0x1] [error] {url}: Connection refused"
    assert secret not in redact(line, [secret])
    assert "admin:***@cam:554" in redact(line, [secret])


@pytest.mark.parametrize(
    ("template", "camera_id", "expected"),
    [
        ("camera_{camera_id}", "cam-001", "camera_cam-001"),
        ("site1/{camera_id}/main", "door.1", "site1/door.1/main"),
    ],
)
def test_publish_path(template: str, camera_id: str, expected: str) -> None:
    assert publish_path(template, camera_id) == expected


@pytest.mark.parametrize(
    ("template", "camera_id", "message"),
    [
        ("camera_{id}", "x", "unknown placeholder"),
        ("static", "x", "must contain"),
        ("/{camera_id}", "x", "begin or end"),
        ("{camera_id}/", "x", "begin or end"),
        ("a/../{camera_id}", "x", "segments"),
        ("a//{camera_id}", "x", "segments"),
        ("cam {camera_id}", "x", "may contain only"),
        ("{camera_id}", "..", "segments"),
        ("{camera_id}", "caméra", "may contain only"),
    ],
)
def test_publish_path_refused(template: str, camera_id: str, message: str) -> None:
    with pytest.raises(InvalidURL, match=message):
        publish_path(template, camera_id)


def test_validate_path_name_matches_mediamtx_rules() -> None:
    assert validate_path_name("a/B_c-d.e") == "a/B_c-d.e"
    for bad in ("", "a b", "a?b", "a%2f", "~regex"):
        with pytest.raises(InvalidURL):
            validate_path_name(bad)
