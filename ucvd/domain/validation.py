"""What an operator's input must be before it becomes a camera or a target. Pure.

Ids and names are slugs (ucvd.domain.model.slug), stream URLs are rtsp(s) with a host and
a target's API and player URLs http(s) without credentials (ucvd.domain.urls), credentials
come in the URL or apart but not both, display names and usernames carry nothing that
could forge a log line or rewrite a terminal, and a target's path template gives paths
MediaMTX accepts. Every refusal is `Invalid`, with a message
that names the field and the rule.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Iterator, Mapping

import msgspec

from ucvd.domain.model import SUB_SUFFIX, Camera, CameraOptions, InvalidName, Target, slug
from ucvd.domain.refusals import Invalid
from ucvd.domain.urls import (
    STREAM_SCHEMES,
    TARGET_SCHEMES,
    InvalidURL,
    check_srt_base,
    check_srt_credentials,
    fingerprint,
    publish_path,
    scheme_of,
    split_credentials,
    validate_api_url,
    validate_player_url,
)

# Unicode categories a name must not hold: controls (C0 and C1: newlines, ESC and the
# 8-bit CSI that terminals obey), format characters (bidi overrides, zero-width spaces:
# text that reads differently than it is), line and paragraph separators, surrogates.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


@contextlib.contextmanager
def _invalid() -> Iterator[None]:
    try:
        yield
    except (InvalidName, InvalidURL) as exc:
        raise Invalid(str(exc)) from None


def camera_id(text: str) -> str:
    with _invalid():
        return slug(text)


def target_name(text: str) -> str:
    with _invalid():
        return slug(text, "target name")


def id_prefix(text: str) -> str:
    """A prefix that makes camera ids PREFIX-1, PREFIX-2...: valid when they are."""
    with _invalid():
        return slug(f"{text}-1", "camera id prefix")[: -len("-1")]


def plain_text(value: str, what: str) -> str:
    """Text that ends up in tables, logs and journal fields: printable, so that no name can
    forge a log line or rewrite an operator's terminal. Returned stripped."""
    if any(unicodedata.category(ch) in _UNPRINTABLE for ch in value):
        raise Invalid(
            f"{what} must not contain control or invisible characters (newlines, tabs, "
            "escapes, bidi overrides...)"
        )
    return value.strip()


def credentials(
    url: str,
    username: str | None,
    password: str | None,
    what: str,
    schemes: tuple[str, ...] = STREAM_SCHEMES,
) -> tuple[str, str | None, str | None]:
    """Credentials may come in the URL or apart, not both; the URL is returned without."""
    with _invalid():
        clean, url_user, url_password = split_credentials(url, what, schemes)
    if url_user is not None and (username is not None or password is not None):
        raise Invalid(f"{what} carries credentials and they were also given apart; use one")
    if url_user is not None:
        username, password = url_user, url_password
    if password is not None and username is None:
        raise Invalid(f"a password without a username cannot be used ({what})")
    if username is not None:
        plain_text(username, "username")
    return clean, username, password


def camera(
    *,
    id: str,
    url: str,
    username: str | None,
    password: str | None,
    name: str,
    options: CameraOptions,
    main_id: str | None = None,
) -> Camera:
    """The camera to register: id, then URL and credentials, then name, then the main
    camera's id are checked. Whether that main exists is the caller's question (it knows
    the other cameras): `link_problems`."""
    camera_id_ = camera_id(id)
    url, username, password = credentials(url, username, password, "camera URL")
    name = plain_text(name, "name")
    if main_id is not None:
        with _invalid():
            main_id = slug(main_id, "main camera id")
        if main_id == camera_id_:
            raise Invalid(f"camera {camera_id_!r} cannot be the sub stream of itself")
    return Camera(
        id=camera_id_,
        url=url,
        username=username,
        password=password,
        name=name,
        options=options,
        main_id=main_id,
    )


def sub_id(main_id: str, given: str | None) -> str:
    """The id of a main camera's sub stream: the one given, else MAIN-sub, which must keep
    the slug rule too (a 60-character main id leaves no room for the suffix)."""
    if given is not None:
        return camera_id(given)
    default = f"{main_id}{SUB_SUFFIX}"
    try:
        return slug(default)
    except InvalidName:
        raise Invalid(
            f"the sub stream's id would be {default!a}, longer than 63 characters: "
            "give it one (sub_id; ucvctl: --sub-id)"
        ) from None


def link_problems(cameras: Mapping[str, Camera]) -> list[str]:
    """What is wrong with the main/sub links of a whole set of cameras, by the sub's id: a
    sub whose main is not there, or whose main is itself a sub (one level only: a sub of a
    sub would be a third stream that looks like a second)."""
    problems = []
    for cid, cam in sorted(cameras.items()):
        if cam.main_id is None:
            continue
        main = cameras.get(cam.main_id)
        if main is None:
            problems.append(
                f"camera {cid!r} is the sub stream of camera {cam.main_id!r}, which does not exist"
            )
        elif main.main_id is not None:
            problems.append(
                f"camera {cid!r} cannot be the sub stream of {cam.main_id!r}, itself the sub "
                f"stream of {main.main_id!r}"
            )
    return problems


def subs_of(cameras: Mapping[str, Camera], main_id: str) -> list[str]:
    """The ids of the cameras registered as `main_id`'s sub streams, sorted."""
    return sorted(cid for cid, cam in cameras.items() if cam.main_id == main_id)


def target(target: Target) -> Target:
    """The target with its credentials out of its URL, once every field passed."""
    rtsp_url, username, password = credentials(
        target.rtsp_url, target.username, target.password, "target URL", TARGET_SCHEMES
    )
    scheme = scheme_of(rtsp_url)
    with _invalid():
        api_url = validate_api_url(target.api_url) if target.api_url else None
        player_url = validate_player_url(target.player_url) if target.player_url else None
        publish_path(target.path_template, "camera-id")
        if scheme == "srt":
            check_srt_base(rtsp_url)
            # The longest path any camera id makes with this template.
            check_srt_credentials(username, password, publish_path(target.path_template, "x" * 63))
        pin = fingerprint(target.tls_fingerprint) if target.tls_fingerprint else None
    ca_file = target.tls_ca_file or None
    if (ca_file or pin) and scheme != "rtsps":
        raise Invalid("a TLS CA file or fingerprint applies only to an rtsps:// target")
    if ca_file and pin:
        raise Invalid(
            "give a TLS CA file or a fingerprint, not both: a pinned certificate is trusted "
            "whoever signed it"
        )
    if ca_file is not None and not ca_file.startswith("/"):
        raise Invalid("TLS CA file must be an absolute path (ucvd reads it, not ucvctl)")
    if ca_file is not None:
        plain_text(ca_file, "TLS CA file")
    passphrase = target.srt_passphrase
    if passphrase is not None and scheme != "srt":
        raise Invalid("an SRT passphrase applies only to an srt:// target")
    if passphrase is not None and not 10 <= len(passphrase) <= 79:
        raise Invalid("SRT passphrase must be 10 to 79 characters long (SRT's own rule)")
    if target.api_username is not None:
        plain_text(target.api_username, "API username")
    if target.api_password is not None and target.api_username is None:
        raise Invalid("an API password without an API username cannot be used")
    return msgspec.structs.replace(
        target,
        rtsp_url=rtsp_url,
        username=username,
        password=password,
        api_url=api_url,
        player_url=player_url,
        tls_ca_file=ca_file,
        tls_fingerprint=pin,
    )
