"""ONVIF device and media service calls as SOAP 1.2 messages, and their replies. Pure.

Authentication is WS-Security UsernameToken with a password digest, the scheme every ONVIF
device accepts (Core spec 5.12): Base64(SHA-1(nonce + created + password)). The password
never crosses the network, only the digest. `created` should be the device's clock, so a
client first asks GetSystemDateAndTime (which needs no credentials) and applies the offset.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import xml.sax.saxutils
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from ucvd.discovery import xmltext
from ucvd.discovery.xmltext import BadXML

DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
SCHEMA_NS = "http://www.onvif.org/ver10/schema"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_WSS = "http://docs.oasis-open.org/wss/2004/01/"
# A type URI, not a password:
PASSWORD_DIGEST = _WSS + "oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
# Fault subcodes that mean "these credentials are not accepted".
_AUTH_SUBCODES = ("NotAuthorized", "FailedAuthentication", "InvalidSecurityToken")


class OnvifReplyError(ValueError):
    """The reply is not the answer asked for (malformed, or a fault that is not about auth)."""


class OnvifAuthError(Exception):
    """The device refused the credentials (or demanded some when none were given)."""


@dataclass(frozen=True)
class Token:
    """WS-Security UsernameToken material; the digest is computed, never the password sent."""

    username: str
    password: str
    nonce: bytes
    created: str  # xsd:dateTime in UTC, e.g. 2024-05-01T10:00:00Z

    def digest(self) -> str:
        raw = self.nonce + self.created.encode() + self.password.encode()
        return base64.b64encode(hashlib.sha1(raw, usedforsecurity=False).digest()).decode()


def password_digest(nonce: bytes, created: str, password: str) -> str:
    return Token("", password, nonce, created).digest()


def created_at(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _esc(value: str) -> str:
    return xml.sax.saxutils.escape(value, {'"': "&quot;"})


def envelope(body: str, token: Token | None = None) -> bytes:
    header = ""
    if token is not None:
        header = (
            f'<wsse:Security xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU_NS}" s:mustUnderstand="1">'
            "<wsse:UsernameToken>"
            f"<wsse:Username>{_esc(token.username)}</wsse:Username>"
            f'<wsse:Password Type="{PASSWORD_DIGEST}">{token.digest()}</wsse:Password>'
            f'<wsse:Nonce EncodingType="{BASE64_BINARY}">'
            f"{base64.b64encode(token.nonce).decode()}</wsse:Nonce>"
            f"<wsu:Created>{_esc(token.created)}</wsu:Created>"
            "</wsse:UsernameToken></wsse:Security>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:tds="{DEVICE_NS}" xmlns:trt="{MEDIA_NS}" xmlns:tt="{SCHEMA_NS}">'
        f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


# --- requests -----------------------------------------------------------------------------
def get_system_date_and_time() -> bytes:
    return envelope("<tds:GetSystemDateAndTime/>")


def get_device_information(token: Token | None) -> bytes:
    return envelope("<tds:GetDeviceInformation/>", token)


def get_capabilities(token: Token | None) -> bytes:
    return envelope("<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>",
                    token)  # fmt: skip


def get_profiles(token: Token | None) -> bytes:
    return envelope("<trt:GetProfiles/>", token)


def get_stream_uri(token: Token | None, profile_token: str) -> bytes:
    return envelope(
        "<trt:GetStreamUri><trt:StreamSetup>"
        "<tt:Stream>RTP-Unicast</tt:Stream>"
        "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport>"
        "</trt:StreamSetup>"
        f"<trt:ProfileToken>{_esc(profile_token)}</trt:ProfileToken></trt:GetStreamUri>",
        token,
    )


# --- replies ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str | None
    model: str | None
    firmware: str | None


@dataclass(frozen=True)
class Profile:
    token: str
    name: str | None
    encoding: str | None  # H264, H265, JPEG, MPEG4 (as the device says it)
    width: int | None
    height: int | None


def body_of(data: bytes, status: int, expected: str) -> Element:
    """The `<expected>` element of a reply, or the reason there is none.

    HTTP 401 (some devices use HTTP digest) and the WS-Security faults mean the credentials
    were refused; any other fault or a reply without `expected` is a malformed answer.
    """
    if status == 401:
        raise OnvifAuthError("the device refused the credentials (HTTP 401)")
    try:
        root = xmltext.parse(data)
    except BadXML as exc:
        raise OnvifReplyError(f"HTTP {status}, {exc}") from None
    body = xmltext.first(root, "Body")
    if body is None:
        raise OnvifReplyError(f"HTTP {status}, no SOAP body")
    fault = xmltext.first(body, "Fault")
    if fault is not None:
        codes = [el.text.strip() for el in xmltext.descendants(fault, "Value") if el.text]
        reason = xmltext.deep_text(fault, "Text") or (codes[-1] if codes else "fault")
        if any(code.rsplit(":", 1)[-1] in _AUTH_SUBCODES for code in codes):
            raise OnvifAuthError(f"the device refused the credentials ({reason[:200]})")
        raise OnvifReplyError(f"SOAP fault: {reason[:200]}")
    found = xmltext.first(body, expected)
    if found is None:
        raise OnvifReplyError(f"HTTP {status}, no {expected} in the reply")
    return found


def parse_system_date_and_time(data: bytes, status: int) -> datetime.datetime | None:
    """The device's UTC clock, or None when it does not say it (then our clock is used)."""
    reply = body_of(data, status, "GetSystemDateAndTimeResponse")
    utc = xmltext.first(reply, "SystemDateAndTime", "UTCDateTime")
    if utc is None:
        return None
    try:
        parts = [
            int(xmltext.text(utc, group, field) or "")
            for group, field in (
                ("Date", "Year"), ("Date", "Month"), ("Date", "Day"),
                ("Time", "Hour"), ("Time", "Minute"), ("Time", "Second"),
            )
        ]  # fmt: skip
        year, month, day, hour, minute, second = parts
        return datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
    except ValueError:
        return None


def parse_device_information(data: bytes, status: int) -> DeviceInfo:
    reply = body_of(data, status, "GetDeviceInformationResponse")
    return DeviceInfo(
        manufacturer=xmltext.text(reply, "Manufacturer"),
        model=xmltext.text(reply, "Model"),
        firmware=xmltext.text(reply, "FirmwareVersion"),
    )


def parse_media_xaddr(data: bytes, status: int) -> str | None:
    reply = body_of(data, status, "GetCapabilitiesResponse")
    return xmltext.text(reply, "Capabilities", "Media", "XAddr")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def parse_profiles(data: bytes, status: int) -> list[Profile]:
    reply = body_of(data, status, "GetProfilesResponse")
    profiles: list[Profile] = []
    for element in xmltext.children(reply, "Profiles"):
        token = element.get("token")
        if not token:
            continue
        video = xmltext.first(element, "VideoEncoderConfiguration")
        profiles.append(
            Profile(
                token=token,
                name=xmltext.text(element, "Name"),
                encoding=xmltext.text(video, "Encoding"),
                width=_int(xmltext.text(video, "Resolution", "Width")),
                height=_int(xmltext.text(video, "Resolution", "Height")),
            )
        )
    return profiles


def parse_stream_uri(data: bytes, status: int) -> str | None:
    reply = body_of(data, status, "GetStreamUriResponse")
    return xmltext.text(reply, "MediaUri", "Uri")
