"""Stream URLs: validation at the boundary, credential merging, redaction, publish paths.

Pure functions. FFmpeg reads whatever URL it is handed (`file:`, `concat:`, `pipe:`...), so
only `rtsp://`/`rtsps://` sources with a real host ever reach it; and since FFmpeg echoes its
URLs into every error line, everything it prints passes through `redact` first.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

MAX_URL_LENGTH = 2048
STREAM_SCHEMES = ("rtsp", "rtsps")
# Where ucvd publishes: MediaMTX's RTSP server, its RTSPS one, or its SRT one.
TARGET_SCHEMES = ("rtsp", "rtsps", "srt")
API_SCHEMES = ("http", "https")
REDACTED = "***"

# MediaMTX's own rule for path names (internal/conf/path.go, v1.20). Used with fullmatch:
# `$` also matches before a final newline, which let "camera_{camera_id}\n" through.
_MTX_PATH = re.compile(r"[0-9a-zA-Z_\-/.]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# What RFC 3986 lets a URL hold unencoded. A player URL goes into a link's href: a quote or
# an angle bracket there is a mistake at best, markup at worst.
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^\s:/@]*):[^\s/@]*@")
# Some cameras take credentials in the query string (`?user=admin&password=...`).
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|pass|pw|token|key|auth|passphrase)=)[^&;\s]*",
    re.IGNORECASE,
)
# SRT: the passphrase as FFmpeg's option or URL parameter, and the password inside a stream
# id, in MediaMTX's form (`publish:PATH:USER:PASS[:QUERY]`) and SRT's standard one (`s=`).
# A password may hold '&' and ',': in MediaMTX's form it runs to the next ':' or the end of
# the word (hiding a query that follows is better than showing a password's tail).
_SRT_SECRET = re.compile(
    r"(?P<key>-passphrase\s+|\bpassphrase=)[^&\s'\"]*"
    r"|(?P<key2>\b(?:read|publish):[^:\s'\"]*:[^:\s'\"]*:)[^:\s'\"]*"
    r"|(?P<key3>#!::(?:[^\s'\"]*,)?s=)[^,\s'\"]*",
    re.IGNORECASE,
)
# Secrets this short would turn redaction into noise (every "ab" in a log line); the URL
# pattern above still hides them where FFmpeg prints them, inside URLs.
_MIN_LITERAL_SECRET = 4


class InvalidURL(ValueError):
    """The URL cannot be used; the message says why, without echoing any credentials."""


def _check_text(url: str, what: str) -> None:
    if not url:
        raise InvalidURL(f"{what} is empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURL(f"{what} is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidURL(f"{what} contains whitespace or control characters")
    # A URL is ASCII (RFC 3986). Anything else is either a look-alike (`host\uff0fpath`,
    # a Cyrillic letter in a host name), a bidi override that makes the URL read
    # differently than FFmpeg reads it, or text Python's parser refuses with a message that
    # quotes the whole netloc, password included. Credentials may be any text when given
    # apart; they are percent-encoded when merged.
    if not url.isascii():
        raise InvalidURL(
            f"{what} contains non-ASCII characters; percent-encode them, or give "
            "credentials apart from the URL"
        )


def _split(url: str, what: str, schemes: tuple[str, ...]) -> urllib.parse.SplitResult:
    _check_text(url, what)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL": its message would echo the URL, so not chained
        raise InvalidURL(f"{what} is not a valid URL (unbalanced '[' or ']' in the host)") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = " or ".join(f"{s}://" for s in schemes)
        shown = f"'{scheme}:'" if scheme else "no scheme"
        raise InvalidURL(f"{what} must start with {allowed} (got {shown})")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number, or out of range
        raise InvalidURL(f"{what} has an invalid port") from exc
    if not host:
        raise InvalidURL(f"{what} has no host")
    if port == 0:
        raise InvalidURL(f"{what} has an invalid port")
    if parts.fragment:
        raise InvalidURL(f"{what} must not contain a '#' fragment")
    return parts


def split_credentials(
    url: str, what: str = "stream URL", schemes: tuple[str, ...] = STREAM_SCHEMES
) -> tuple[str, str | None, str | None]:
    """Validate a camera or target URL and take any `user:pass@` out of it.

    Returns (url without credentials, username, password); credentials are percent-decoded.
    """
    parts = _split(url, what, schemes)
    user = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    hostport = parts.netloc.rsplit("@", 1)[-1]
    clean = urllib.parse.urlunsplit((parts.scheme.lower(), hostport, parts.path, parts.query, ""))
    return clean, user, password


def _http_base(url: str, what: str, no_credentials: str) -> urllib.parse.SplitResult:
    """An http(s) base URL: a host, no credentials (`no_credentials` says why), no query."""
    parts = _split(url, what, API_SCHEMES)
    if parts.username is not None or parts.password is not None:
        raise InvalidURL(f"{what} must not contain credentials; {no_credentials}")
    if parts.query:
        raise InvalidURL(f"{what} must not contain a query")
    return parts


def validate_api_url(url: str) -> str:
    """An http(s) base URL for MediaMTX's API, without credentials or path beyond '/'."""
    parts = _http_base(url, "API URL", "set them apart")
    path = parts.path.rstrip("/")
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))


def validate_player_url(url: str) -> str:
    """An http(s) base URL of MediaMTX's own web player (its WebRTC or HLS server), ending
    in '/' so that a camera's page is `player_page(url, path)`. Credentials are refused: it
    is shown as a link to whoever looks at the dashboard."""
    parts = _http_base(url, "player URL", "it is shown as a link to everyone who views it")
    if not _URI_CHARS.fullmatch(url):
        raise InvalidURL(
            "player URL contains characters a URL cannot hold as they are (quotes, '<', '>', "
            "'\\', '{', '|'...); percent-encode them"
        )
    path = parts.path.rstrip("/") + "/"
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))


def player_page(player_url: str, path: str) -> str:
    """MediaMTX's player page for a path: `http://host:8889/` + `camera_x` + `/`."""
    return player_url + path + "/"


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """The URL with `user:pass@` merged in, percent-encoded. Credentials already in the URL
    are replaced. No username means no credentials at all."""
    parts = urllib.parse.urlsplit(url)
    hostport = parts.netloc.rsplit("@", 1)[-1]
    if username is None:
        netloc = hostport
    else:
        userinfo = urllib.parse.quote(username, safe="")
        if password is not None:
            userinfo += ":" + urllib.parse.quote(password, safe="")
        netloc = f"{userinfo}@{hostport}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def join_path(base_url: str, path: str) -> str:
    """`rtsp://host:8554` + `camera_x` -> `rtsp://host:8554/camera_x` (keeps a base prefix)."""
    return base_url.rstrip("/") + "/" + path


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Hide passwords: every `scheme://user:pass@` becomes `scheme://user:***@`, query
    parameters such as `password=` lose their value, and each known secret (raw or
    percent-encoded) is replaced wherever it appears."""
    # Known secrets first: a pattern could cut one at a character it stops on (`&` in a
    # query) and leave its tail behind.
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= _MIN_LITERAL_SECRET:
            forms.update({secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret)})
    for form in sorted(forms, key=len, reverse=True):  # longest first: no partial leftovers
        text = text.replace(form, REDACTED)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    text = _SRT_SECRET.sub(lambda m: f"{m['key'] or m['key2'] or m['key3']}{REDACTED}", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}{REDACTED}", text)


def scheme_of(url: str) -> str:
    return urllib.parse.urlsplit(url).scheme.lower()


def check_srt_base(url: str) -> None:
    """An srt:// target is a server's address only: ucvd writes the stream id (path,
    action, credentials) into the query itself, so a path or a query here would be lost
    or would fight it."""
    parts = urllib.parse.urlsplit(url)
    if parts.path not in ("", "/") or parts.query:
        raise InvalidURL(
            "target URL srt://HOST:PORT takes no path or query: ucvd sets the stream id "
            "(publish:PATH) itself"
        )
    if parts.port is None:
        raise InvalidURL("target URL srt://HOST:PORT needs its port (MediaMTX's is 8890)")


# libsrt's limit on a stream id (SRTO_STREAMID).
MAX_SRT_STREAM_ID = 512


def srt_stream_id(path: str, username: str | None, password: str | None) -> str:
    """MediaMTX's stream id for publishing to `path`: `publish:PATH`, or with credentials
    `publish:PATH:USER:PASS`. MediaMTX splits it on ':' and compares the parts as they are
    (no percent-decoding), so credentials holding ':' cannot be expressed
    (`check_srt_credentials` refuses them)."""
    if username is None:
        return f"publish:{path}"
    return f"publish:{path}:{username}:{password or ''}"


def check_srt_credentials(username: str | None, password: str | None, path: str) -> None:
    """Refuse publish credentials an SRT stream id cannot carry. MediaMTX's own accounts
    never hold ':' (its credential syntax has no ':'), so this refuses only what could not
    log in anyway, except with an external authentication service."""
    for value, what in ((username, "username"), (password, "password")):
        if value is not None and ":" in value:
            raise InvalidURL(
                f"an srt:// target's publish {what} must not contain ':': MediaMTX reads the "
                "credentials from the stream id publish:PATH:USER:PASS, split on ':'"
            )
    if len(srt_stream_id(path, username, password)) > MAX_SRT_STREAM_ID:
        raise InvalidURL(
            f"an srt:// target's stream id (publish:PATH:USER:PASS) would be longer than "
            f"SRT's {MAX_SRT_STREAM_ID} characters; shorten the credentials or path template"
        )


def fingerprint(text: str) -> str:
    """A certificate's SHA-256 fingerprint as lower-case hex without separators; accepts
    the forms `openssl x509 -fingerprint -sha256` and MediaMTX's documentation print."""
    digits = text.strip().lower().removeprefix("sha256:").replace(":", "")
    if len(digits) != 64 or any(ch not in "0123456789abcdef" for ch in digits):
        raise InvalidURL(
            "TLS fingerprint must be the certificate's SHA-256: 64 hex digits, colons allowed"
        )
    return digits


def validate_path_name(name: str) -> str:
    """A MediaMTX path name, checked by MediaMTX's own rules so that it never refuses it."""
    if not name:
        raise InvalidURL("path name is empty")
    if name.startswith("/") or name.endswith("/"):
        raise InvalidURL(f"path name {name!r} must not begin or end with '/'")
    if not _MTX_PATH.fullmatch(name):
        raise InvalidURL(
            f"path name {name!r} may contain only letters, digits, '_', '-', '.' and '/'"
        )
    if any(segment in ("", ".", "..") for segment in name.split("/")):
        raise InvalidURL(f"path name {name!r} must not contain empty, '.' or '..' segments")
    return name


def publish_path(template: str, camera_id: str) -> str:
    """The MediaMTX path a camera publishes to, from the target's template.

    Only the `{camera_id}` placeholder exists; anything else in braces is an error, so a
    typo never silently publishes every camera to one path.
    """
    for placeholder in _PLACEHOLDER.findall(template):
        if placeholder != "camera_id":
            raise InvalidURL(f"path template has unknown placeholder {{{placeholder}}}")
    if "{camera_id}" not in template:
        raise InvalidURL("path template must contain {camera_id}")
    return validate_path_name(template.replace("{camera_id}", camera_id))
