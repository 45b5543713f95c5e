"""Asking one ONVIF device what it is and where its streams are, over HTTP (httpx, async).

The sequence every ONVIF client follows: the device's clock (no credentials needed, so the
UsernameToken's timestamp is one the device accepts), device information, capabilities
(where the media service lives), the media profiles, and each profile's RTSP stream URI.
Service addresses the device names on another host are not followed (see
`wsdiscovery.xaddrs_on`): credentials go only to the address that answered.
"""

from __future__ import annotations

import datetime
import secrets
import urllib.parse
from dataclasses import dataclass, field
from enum import StrEnum

import httpx

from ucvd.discovery import onvif_soap as soap
from ucvd.discovery.onvif_soap import DeviceInfo, OnvifAuthError, OnvifReplyError, Profile
from ucvd.discovery.rtsp_probe import StreamAccess

REQUEST_TIMEOUT_S = 3.0
MAX_PROFILES = 8
MAX_REPLY = 256 * 1024


class OnvifStatus(StrEnum):
    OK = "ok"
    NEEDS_CREDENTIALS = "needs_credentials"  # none given, the device wants some
    AUTH_FAILED = "auth_failed"  # the ones given were refused
    UNREACHABLE = "unreachable"  # no HTTP answer from the device service
    ERROR = "error"  # answers that are not ONVIF


@dataclass
class StreamProfile:
    profile: Profile
    uri: str | None  # as the device gave it: may carry credentials, redact before showing
    access: StreamAccess | None = None  # what DESCRIBE of the URI said (None: not checked)


@dataclass
class OnvifDevice:
    status: OnvifStatus
    error: str | None = None
    info: DeviceInfo | None = None
    profiles: list[StreamProfile] = field(default_factory=list)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


class _Session:
    def __init__(
        self, client: httpx.AsyncClient, credentials: Credentials | None, offset: float
    ) -> None:
        self.client = client
        self.credentials = credentials
        self.offset = offset

    def token(self) -> soap.Token | None:
        if self.credentials is None:
            return None
        now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=self.offset)
        return soap.Token(
            username=self.credentials.username,
            password=self.credentials.password,
            nonce=secrets.token_bytes(16),
            created=soap.created_at(now),
        )

    async def call(self, url: str, message: bytes) -> tuple[bytes, int]:
        """POST one SOAP message; the reply is read up to MAX_REPLY and no further, so a
        device that streams without end costs bounded memory (the parse then fails)."""
        headers = {"Content-Type": soap.CONTENT_TYPE}
        body = bytearray()
        async with self.client.stream("POST", url, content=message, headers=headers) as response:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_REPLY:
                    break
            return bytes(body), response.status_code


def _same_host(url: str | None, host: str) -> bool:
    if not url:
        return False
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname == host


async def _clock_offset(session: _Session, device_url: str) -> float:
    """Seconds to add to our clock to get the device's; 0 when it will not say."""
    try:
        data, status = await session.call(device_url, soap.get_system_date_and_time())
        device_now = soap.parse_system_date_and_time(data, status)
    except (httpx.HTTPError, OnvifReplyError, OnvifAuthError):
        return 0.0
    if device_now is None:
        return 0.0
    return (device_now - datetime.datetime.now(datetime.UTC)).total_seconds()


async def query(device_url: str, host: str, credentials: Credentials | None) -> OnvifDevice:
    """Everything the device tells; failures are a status, never an exception."""
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as c:
        session = _Session(c, credentials, 0.0)
        try:
            session.offset = await _clock_offset(session, device_url)
            data, status = await session.call(
                device_url, soap.get_device_information(session.token())
            )
            device = OnvifDevice(OnvifStatus.OK, info=soap.parse_device_information(data, status))
            data, status = await session.call(device_url, soap.get_capabilities(session.token()))
            advertised = soap.parse_media_xaddr(data, status)
            # Many devices serve every service at one address; never follow one elsewhere.
            media_url = advertised if advertised and _same_host(advertised, host) else device_url
            data, status = await session.call(media_url, soap.get_profiles(session.token()))
            for profile in soap.parse_profiles(data, status)[:MAX_PROFILES]:
                data, status = await session.call(
                    media_url, soap.get_stream_uri(session.token(), profile.token)
                )
                device.profiles.append(StreamProfile(profile, soap.parse_stream_uri(data, status)))
        except OnvifAuthError as exc:
            if credentials is None:
                return OnvifDevice(OnvifStatus.NEEDS_CREDENTIALS, "the device wants credentials")
            return OnvifDevice(OnvifStatus.AUTH_FAILED, str(exc))
        except httpx.HTTPError as exc:
            return OnvifDevice(OnvifStatus.UNREACHABLE, _http_words(exc))
        except OnvifReplyError as exc:
            return OnvifDevice(OnvifStatus.ERROR, str(exc))
        return device


def _http_words(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {REQUEST_TIMEOUT_S:g}s"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or unreachable"
    return type(exc).__name__
