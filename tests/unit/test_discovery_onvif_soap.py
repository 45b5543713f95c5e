"""ONVIF SOAP: the UsernameToken digest, and reading replies and faults."""

from __future__ import annotations

import base64
import datetime
import hashlib

import pytest

from ucvd.discovery import onvif_soap as soap
from ucvd.discovery import xmltext

NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error"'
)


def env(body: str) -> bytes:
    return f'<?xml version="1.0"?><s:Envelope {NS}><s:Body>{body}</s:Body></s:Envelope>'.encode()


def test_password_digest_follows_the_username_token_profile() -> None:
    nonce = bytes(range(16))
    created = "2024-05-01T10:00:00Z"
    expected = base64.b64encode(
        hashlib.sha1(nonce + b"2024-05-01T10:00:00Z" + b"s3cret", usedforsecurity=False).digest()
    ).decode()
    assert soap.password_digest(nonce, created, "s3cret") == expected
    assert soap.password_digest(nonce, created, "other") != expected


def test_an_authenticated_request_carries_the_digest_never_the_password() -> None:
    token = soap.Token("admin", "Pa<ss>&word", b"n" * 16, "2024-05-01T10:00:00Z")
    message = soap.get_profiles(token)
    assert b"Pa<ss>&word" not in message and b"Pa&lt;ss&gt;" not in message
    root = xmltext.parse(message)
    ut = xmltext.first(root, "Header", "Security", "UsernameToken")
    assert ut is not None
    assert xmltext.text(ut, "Username") == "admin"
    assert xmltext.text(ut, "Password") == token.digest()
    assert xmltext.text(ut, "Nonce") == base64.b64encode(b"n" * 16).decode()
    assert xmltext.first(root, "Body", "GetProfiles") is not None


def test_stream_uri_request_names_the_profile_and_rtsp() -> None:
    root = xmltext.parse(soap.get_stream_uri(None, 'main"&<'))
    call = xmltext.first(root, "Body", "GetStreamUri")
    assert call is not None
    assert xmltext.text(call, "ProfileToken") == 'main"&<'
    assert xmltext.text(call, "StreamSetup", "Transport", "Protocol") == "RTSP"
    assert xmltext.first(root, "Header", "Security") is None


def test_device_information() -> None:
    info = soap.parse_device_information(
        env(
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>Acme</tds:Manufacturer>"
            "<tds:Model>C-1</tds:Model><tds:FirmwareVersion> 2.1 </tds:FirmwareVersion>"
            "</tds:GetDeviceInformationResponse>"
        ),
        200,
    )
    assert info == soap.DeviceInfo("Acme", "C-1", "2.1")


def test_profiles_with_and_without_video_encoder() -> None:
    profiles = soap.parse_profiles(
        env(
            "<trt:GetProfilesResponse>"
            '<trt:Profiles token="p0"><tt:Name>Main</tt:Name><tt:VideoEncoderConfiguration>'
            "<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>1920</tt:Width>"
            "<tt:Height>1080</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration>"
            "</trt:Profiles>"
            '<trt:Profiles token="p1"><tt:Name>Audio</tt:Name></trt:Profiles>'
            "<trt:Profiles><tt:Name>no token: skipped</tt:Name></trt:Profiles>"
            "</trt:GetProfilesResponse>"
        ),
        200,
    )
    assert profiles == [
        soap.Profile("p0", "Main", "H264", 1920, 1080),
        soap.Profile("p1", "Audio", None, None, None),
    ]


def test_stream_uri_and_media_address() -> None:
    uri = soap.parse_stream_uri(
        env(
            "<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>rtsp://192.0.2.11/s1</tt:Uri>"
            "</trt:MediaUri></trt:GetStreamUriResponse>"
        ),
        200,
    )
    assert uri == "rtsp://192.0.2.11/s1"
    xaddr = soap.parse_media_xaddr(
        env(
            "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media>"
            "<tt:XAddr>http://192.0.2.11/onvif/Media</tt:XAddr></tt:Media></tds:Capabilities>"
            "</tds:GetCapabilitiesResponse>"
        ),
        200,
    )
    assert xaddr == "http://192.0.2.11/onvif/Media"


def test_device_clock() -> None:
    when = soap.parse_system_date_and_time(
        env(
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:UTCDateTime>"
            "<tt:Time><tt:Hour>7</tt:Hour><tt:Minute>5</tt:Minute><tt:Second>9</tt:Second>"
            "</tt:Time><tt:Date><tt:Year>2030</tt:Year><tt:Month>1</tt:Month><tt:Day>2</tt:Day>"
            "</tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>"
            "</tds:GetSystemDateAndTimeResponse>"
        ),
        200,
    )
    assert when == datetime.datetime(2030, 1, 2, 7, 5, 9, tzinfo=datetime.UTC)
    no_utc = env("<tds:GetSystemDateAndTimeResponse/>")
    assert soap.parse_system_date_and_time(no_utc, 200) is None


def fault(subcode: str, text: str = "nope") -> bytes:
    return env(
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode>"
        f"<s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
        f"<s:Reason><s:Text>{text}</s:Text></s:Reason></s:Fault>"
    )


@pytest.mark.parametrize("subcode", ["ter:NotAuthorized", "wsse:FailedAuthentication"])
def test_credential_faults_are_auth_errors(subcode: str) -> None:
    with pytest.raises(soap.OnvifAuthError, match="refused the credentials"):
        soap.parse_profiles(fault(subcode, "Sender not Authorized"), 400)


def test_http_401_is_an_auth_error_whatever_the_body() -> None:
    with pytest.raises(soap.OnvifAuthError):
        soap.parse_profiles(b"<html>401</html>", 401)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (fault("ter:ActionNotSupported", "no media"), 400, "SOAP fault: no media"),
        (b"<html>oops</html>", 500, "no SOAP body"),
        (b"not xml at all", 200, "not well-formed"),
        (env("<trt:GetProfilesResponse/>"), 200, "no GetStreamUriResponse"),
    ],
)
def test_other_failures_are_reply_errors(data: bytes, status: int, words: str) -> None:
    with pytest.raises(soap.OnvifReplyError, match=words):
        soap.parse_stream_uri(data, status)
