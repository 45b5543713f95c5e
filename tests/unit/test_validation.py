"""The checks on an operator's input, and the refusals they raise."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ucvd.domain import validation as valid
from ucvd.domain.model import Camera, CameraOptions, Target
from ucvd.domain.refusals import Invalid, Refusal


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Cam-1", "cam-1"), ("a", "a"), ("x.y_z", "x.y_z"), ("0" * 63, "0" * 63)],
)
def test_ids_are_folded_slugs(text: str, expected: str) -> None:
    assert valid.camera_id(text) == expected


@pytest.mark.parametrize(
    ("check", "text", "message"),
    [
        (valid.camera_id, "-x", "camera id '-x' is invalid"),
        (valid.camera_id, "a/b", "camera id 'a/b' is invalid"),
        (valid.camera_id, "caméra", "camera id 'cam\\xe9ra' is invalid"),
        (valid.camera_id, "a..b", "must not contain '..'"),
        (valid.camera_id, "x" * 64, "1 to 63 characters"),
        (valid.target_name, "", "target name '' is invalid"),
        (valid.id_prefix, "-lobby", "camera id prefix '-lobby-1' is invalid"),
        (valid.id_prefix, "x" * 62, "camera id prefix"),
    ],
)
def test_bad_ids_are_invalid_arguments(
    check: Callable[[str], str], text: str, message: str
) -> None:
    with pytest.raises(Invalid) as refused:
        check(text)
    assert refused.value.kind is Refusal.INVALID_ARGUMENT
    assert message in refused.value.message


def test_a_prefix_is_valid_when_the_ids_it_makes_are() -> None:
    assert valid.id_prefix("Lobby") == "lobby"
    assert valid.id_prefix("x" * 61) == "x" * 61


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("  Front door ", False),
        ("Caméra d'entrée", False),
        ("a\nb", True),  # a forged log line
        ("a\tb", True),
        ("\x1b[2J", True),  # a terminal escape
        ("\x9b2J", True),  # the 8-bit CSI
        ("abc\u202edcba", True),  # a bidi override
        ("zero\u200bwidth", True),
        ("line\u2028sep", True),
    ],
)
def test_plain_text(value: str, refused: bool) -> None:
    if refused:
        with pytest.raises(Invalid, match="name must not contain control or invisible"):
            valid.plain_text(value, "name")
    else:
        assert valid.plain_text(value, "name") == value.strip()


@pytest.mark.parametrize(
    ("url", "username", "password", "expected"),
    [
        ("rtsp://cam/s", None, None, ("rtsp://cam/s", None, None)),
        ("rtsp://cam/s", "admin", "pw", ("rtsp://cam/s", "admin", "pw")),
        ("rtsp://admin:pw@cam/s", None, None, ("rtsp://cam/s", "admin", "pw")),
        ("rtsp://admin@cam/s", None, None, ("rtsp://cam/s", "admin", None)),
        ("rtsp://cam/s", "admin", None, ("rtsp://cam/s", "admin", None)),
    ],
)
def test_credentials_come_out_of_the_url(
    url: str,
    username: str | None,
    password: str | None,
    expected: tuple[str, str | None, str | None],
) -> None:
    assert valid.credentials(url, username, password, "camera URL") == expected


@pytest.mark.parametrize(
    ("url", "username", "password", "message"),
    [
        ("rtsp://a:b@cam/s", "a", None, "camera URL carries credentials and they were also"),
        ("rtsp://a:b@cam/s", None, "pw", "camera URL carries credentials and they were also"),
        ("rtsp://cam/s", None, "pw", "a password without a username cannot be used (camera URL)"),
        ("rtsp://cam/s", "ad\nmin", None, "username must not contain control"),
        ("http://cam/s", None, None, "camera URL must start with rtsp:// or rtsps://"),
        ("rtsp:///s", None, None, "camera URL has no host"),
    ],
)
def test_credentials_refused(
    url: str, username: str | None, password: str | None, message: str
) -> None:
    with pytest.raises(Invalid) as refused:
        valid.credentials(url, username, password, "camera URL")
    assert message in refused.value.message


def test_a_camera_is_checked_id_first_then_url_then_name() -> None:
    made = valid.camera(
        id="Door",
        url="rtsp://u:p@cam/s",
        username=None,
        password=None,
        name=" Front door ",
        options=CameraOptions(audio=False),
    )
    assert (made.id, made.url, made.username, made.password, made.name) == (
        "door", "rtsp://cam/s", "u", "p", "Front door",
    )  # fmt: skip
    assert made.options == CameraOptions(audio=False)
    for fields, message in (
        ({"id": "-", "url": "http://x/", "name": "\n"}, "camera id"),
        ({"id": "door", "url": "http://x/", "name": "\n"}, "camera URL"),
        ({"id": "door", "url": "rtsp://cam/s", "name": "\n"}, "name"),
    ):
        with pytest.raises(Invalid, match=f"^{message} "):
            valid.camera(**fields, username=None, password=None, options=CameraOptions())


def _target(**changes: object) -> Target:
    fields: dict[str, object] = {"name": "central", "rtsp_url": "rtsp://mtx:8554"} | changes
    return Target(**fields)  # type: ignore[arg-type]


def test_a_target_loses_its_url_credentials() -> None:
    checked = valid.target(
        _target(rtsp_url="rtsp://pub:secret@mtx:8554", api_url="http://mtx:9997")
    )
    assert (checked.rtsp_url, checked.username, checked.password) == (
        "rtsp://mtx:8554", "pub", "secret",
    )  # fmt: skip
    assert checked.api_url == "http://mtx:9997"


def test_a_target_player_url_is_a_base_ending_in_a_slash() -> None:
    assert valid.target(_target(player_url="HTTP://mtx:8889")).player_url == "http://mtx:8889/"
    assert valid.target(_target(player_url="")).player_url is None  # empty: none


def test_transport_settings_are_kept_in_one_form() -> None:
    pinned = valid.target(
        _target(rtsp_url="rtsps://mtx:8322", tls_fingerprint="SHA256:" + ":".join(["AB"] * 32))
    )
    assert pinned.tls_fingerprint == "ab" * 32
    srt = valid.target(_target(rtsp_url="srt://u:p@mtx:8890", srt_passphrase="x" * 10))
    assert (srt.rtsp_url, srt.username, srt.password) == ("srt://mtx:8890", "u", "p")
    assert srt.srt_passphrase == "x" * 10


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rtsp_url": "udp://mtx"}, "target URL must start with rtsp://"),
        ({"api_url": "http://u:p@mtx:9997"}, "API URL must not contain credentials"),
        ({"api_url": "ftp://mtx"}, "API URL"),
        ({"path_template": "cams/{id}"}, "path template has unknown placeholder {id}"),
        ({"path_template": "cams"}, "path template must contain {camera_id}"),
        ({"api_username": "a\x1bb"}, "API username must not contain control"),
        ({"api_password": "pw"}, "an API password without an API username cannot be used"),
        ({"player_url": "http://viewer:pw@mtx:8889/"}, "player URL must not contain credentials"),
        ({"player_url": "rtsp://mtx:8554"}, "player URL must start with http:// or https://"),
        ({"player_url": "javascript:alert(1)"}, "player URL must start with http://"),
        ({"tls_fingerprint": "ab" * 32}, "applies only to an rtsps:// target"),
        ({"tls_ca_file": "/etc/ca.pem"}, "applies only to an rtsps:// target"),
        ({"srt_passphrase": "0123456789"}, "SRT passphrase applies only to an srt://"),
        ({"rtsp_url": "rtsps://mtx:8322", "tls_fingerprint": "ab" * 31}, "64 hex digits"),
        ({"rtsp_url": "rtsps://mtx:8322", "tls_fingerprint": "zz" * 32}, "64 hex digits"),
        ({"rtsp_url": "rtsps://mtx:8322", "tls_ca_file": "ca.pem"}, "must be an absolute path"),
        (
            {
                "rtsp_url": "rtsps://mtx:8322",
                "tls_ca_file": "/ca.pem",
                "tls_fingerprint": "ab" * 32,
            },
            "not both",
        ),
        ({"rtsp_url": "srt://mtx:8890", "srt_passphrase": "short"}, "10 to 79 characters"),
        ({"rtsp_url": "srt://mtx:8890", "srt_passphrase": "x" * 80}, "10 to 79 characters"),
        ({"rtsp_url": "srt://mtx:8890/cams"}, "takes no path or query"),
        ({"rtsp_url": "srt://mtx:8890?streamid=x"}, "takes no path or query"),
        ({"rtsp_url": "srt://mtx"}, "needs its port"),
    ],
)
def test_a_bad_target_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(Invalid) as refused:
        valid.target(_target(**changes))
    assert message in refused.value.message


def test_a_sub_stream_names_its_main_by_a_valid_id_not_its_own() -> None:
    made = valid.camera(id="Gate-Sub", url="rtsp://192.0.2.1/sub", username=None,
                        password=None, name="", options=CameraOptions(),
                        main_id="GATE")  # fmt: skip
    assert (made.id, made.main_id) == ("gate-sub", "gate")
    plain = valid.camera(id="gate", url="rtsp://192.0.2.1/", username=None, password=None,
                         name="", options=CameraOptions())  # fmt: skip
    assert plain.main_id is None
    with pytest.raises(Invalid, match="main camera id 'a b' is invalid"):
        valid.camera(id="x", url="rtsp://192.0.2.1/", username=None, password=None, name="",
                     options=CameraOptions(), main_id="a b")  # fmt: skip
    with pytest.raises(Invalid, match="camera 'gate' cannot be the sub stream of itself"):
        valid.camera(id="gate", url="rtsp://192.0.2.1/", username=None, password=None, name="",
                     options=CameraOptions(), main_id="Gate")  # fmt: skip


def test_a_sub_stream_id_is_given_or_main_sub_when_that_fits() -> None:
    assert valid.sub_id("gate", None) == "gate-sub"
    assert valid.sub_id("gate", "Gate-Low") == "gate-low"
    assert valid.sub_id("g" * 59, None) == "g" * 59 + "-sub"  # 63: fits
    with pytest.raises(Invalid, match=r"63 characters: give it one \(sub_id; ucvctl: --sub-id"):
        valid.sub_id("g" * 60, None)
    with pytest.raises(Invalid, match="camera id"):
        valid.sub_id("gate", "no way")


def test_links_are_checked_over_a_whole_set() -> None:
    def c(cid: str, main: str | None = None) -> Camera:
        return Camera(id=cid, url="rtsp://192.0.2.1/", main_id=main)

    good = {x.id: x for x in (c("a"), c("a-sub", "a"), c("a-low", "a"), c("b"))}
    assert valid.link_problems(good) == []
    assert valid.subs_of(good, "a") == ["a-low", "a-sub"]
    assert valid.subs_of(good, "b") == []
    bad = {x.id: x for x in (c("a-sub", "a"), c("b"), c("b-sub", "b"), c("c", "b-sub"))}
    assert valid.link_problems(bad) == [
        "camera 'a-sub' is the sub stream of camera 'a', which does not exist",
        "camera 'c' cannot be the sub stream of 'b-sub', itself the sub stream of 'b'",
    ]
