"""A simulated ONVIF camera's control side: WS-Discovery responder and device + media
services. Run inside the camera's network namespace: `python -m tests.harness.onvif_sim
CONFIG.json`; the camera's MediaMTX (same namespace) serves the streams it hands out.

Only what discovery clients use is answered, the way the ONVIF Core and Media specs say:
GetSystemDateAndTime, GetCapabilities, GetServices and GetHostname without credentials
(the spec's PRE_AUTH class); GetDeviceInformation, GetProfiles, GetProfile, GetStreamUri and the
other calls with a WS-Security UsernameToken whose digest matches the camera's password,
else a `ter:NotAuthorized` fault. Unknown calls get `ter:ActionNotSupported`, and every
call is logged by name, so a client asking for more shows in the camera's log.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.server
import json
import socket
import struct
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

GROUP = "239.255.255.250"
PORT = 3702
S = "http://www.w3.org/2003/05/soap-envelope"
NAMESPACES = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:ter="http://www.onvif.org/ver10/error"'
)
PRE_AUTH = {"GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetWsdlUrl", "GetHostname"}


def log(text: str) -> None:
    print(text, flush=True)


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def find(root: ET.Element, name: str) -> ET.Element | None:
    for el in root.iter():
        if local(el.tag) == name:
            return el
    return None


def envelope(body: str, header: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {NAMESPACES}>'
        f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault(subcode: str, text: str) -> bytes:
    return envelope(
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value>"
        f"<s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en">{text}</s:Text></s:Reason></s:Fault>'
    )


class Camera:
    def __init__(self, config: dict[str, Any]) -> None:
        self.c = config
        self.address: str = config["address"]
        self.http_port: int = config["http_port"]
        self.device_url = f"http://{self.address}:{self.http_port}/onvif/device_service"
        self.media_url = f"http://{self.address}:{self.http_port}/onvif/media_service"

    # --- WS-Discovery -----------------------------------------------------------------------
    def probe_match(self, message_id: str) -> bytes:
        scopes = " ".join(
            [
                "onvif://www.onvif.org/type/video_encoder",
                "onvif://www.onvif.org/Profile/Streaming",
                f"onvif://www.onvif.org/name/{self.c['scope_name']}",
                f"onvif://www.onvif.org/hardware/{self.c['model']}",
            ]
        )
        header = (
            f"<a:MessageID>urn:uuid:{self.c['uuid']}-{abs(hash(message_id)) % 10**6}</a:MessageID>"
            f"<a:RelatesTo>{message_id}</a:RelatesTo>"
            "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
            "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action>"
        )
        body = (
            "<d:ProbeMatches><d:ProbeMatch>"
            f"<a:EndpointReference><a:Address>urn:uuid:{self.c['uuid']}</a:Address>"
            "</a:EndpointReference>"
            "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
            f"<d:Scopes>{scopes}</d:Scopes><d:XAddrs>{self.device_url}</d:XAddrs>"
            "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches>"
        )
        return envelope(body, header)

    def discovery_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", PORT))  # noqa: S104 (inside the camera's own namespace)
        mreq = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton(self.address))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        return sock

    def serve_discovery(self, sock: socket.socket) -> None:
        while True:
            data, peer = sock.recvfrom(65536)
            try:
                root = ET.fromstring(data)  # noqa: S314 (test simulator)
            except ET.ParseError:
                continue
            probe = find(root, "Probe")
            message_id = find(root, "MessageID")
            if probe is None or message_id is None or not message_id.text:
                continue
            types = find(probe, "Types")
            wanted = (types.text or "") if types is not None else ""
            if wanted and not any(
                t.rsplit(":", 1)[-1] in ("NetworkVideoTransmitter", "Device")
                for t in wanted.split()
            ):
                continue
            log(f"discovery: Probe from {peer[0]}:{peer[1]}")
            sock.sendto(self.probe_match(message_id.text.strip()), peer)

    # --- device and media services ----------------------------------------------------------
    def authorized(self, root: ET.Element) -> bool:
        token = find(root, "UsernameToken")
        if token is None:
            return False
        user, password, nonce, created = (
            find(token, name) for name in ("Username", "Password", "Nonce", "Created")
        )
        wanted_user: str = self.c["username"]
        wanted_password: str = self.c["password"]
        if user is None or password is None or user.text != wanted_user:
            return False
        if nonce is None or created is None or not nonce.text or not created.text:
            return (password.text or "") == wanted_password  # PasswordText
        raw = base64.b64decode(nonce.text) + created.text.encode() + wanted_password.encode()
        expected = base64.b64encode(hashlib.sha1(raw, usedforsecurity=False).digest()).decode()
        return (password.text or "").strip() == expected

    def answer(self, data: bytes) -> tuple[int, bytes]:
        try:
            root = ET.fromstring(data)  # noqa: S314 (test simulator)
        except ET.ParseError:
            return 400, fault("ter:WellFormed", "not XML")
        body = find(root, "Body")
        if body is None or len(body) == 0:
            return 400, fault("ter:WellFormed", "no body")
        call = body[0]
        action = local(call.tag)
        if action not in PRE_AUTH and not self.authorized(root):
            log(f"http: {action} refused (credentials)")
            return 400, fault("ter:NotAuthorized", "Sender not authorized")
        handler = getattr(self, f"do_{action}", None)
        if handler is None:
            log(f"http: {action} not supported")
            return 400, fault("ter:ActionNotSupported", f"{action} is not supported")
        log(f"http: {action}")
        return 200, envelope(handler(call))

    def do_GetSystemDateAndTime(self, _call: ET.Element) -> str:
        now = datetime.datetime.now(datetime.UTC)
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
            f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time>"
            f"<tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month>"
            f"<tt:Day>{now.day}</tt:Day></tt:Date>"
            "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def do_GetCapabilities(self, _call: ET.Element) -> str:
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Device><tt:XAddr>{self.device_url}</tt:XAddr></tt:Device>"
            f"<tt:Media><tt:XAddr>{self.media_url}</tt:XAddr><tt:StreamingCapabilities>"
            "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
            "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
            "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    def do_GetServices(self, _call: ET.Element) -> str:
        services = [
            ("http://www.onvif.org/ver10/device/wsdl", self.device_url),
            ("http://www.onvif.org/ver10/media/wsdl", self.media_url),
        ]
        return (
            "<tds:GetServicesResponse>"
            + "".join(
                f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{url}</tds:XAddr>"
                "<tds:Version><tt:Major>2</tt:Major><tt:Minor>40</tt:Minor></tds:Version>"
                "</tds:Service>"
                for ns, url in services
            )
            + "</tds:GetServicesResponse>"
        )

    def do_GetHostname(self, _call: ET.Element) -> str:
        return (
            "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
            f"<tt:Name>{self.c['scope_name'].lower()}</tt:Name></tds:HostnameInformation>"
            "</tds:GetHostnameResponse>"
        )

    def do_GetDeviceInformation(self, _call: ET.Element) -> str:
        c = self.c
        return (
            f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{c['manufacturer']}"
            f"</tds:Manufacturer><tds:Model>{c['model']}</tds:Model>"
            f"<tds:FirmwareVersion>{c['firmware']}</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{c['uuid'][:8]}</tds:SerialNumber>"
            "<tds:HardwareID>sim</tds:HardwareID></tds:GetDeviceInformationResponse>"
        )

    def profile_xml(self, p: dict[str, Any], tag: str = "trt:Profiles") -> str:
        return (
            f'<{tag} token="{p["token"]}" fixed="true"><tt:Name>{p["name"]}</tt:Name>'
            '<tt:VideoSourceConfiguration token="vsc"><tt:Name>vs</tt:Name>'
            "<tt:UseCount>2</tt:UseCount><tt:SourceToken>vs0</tt:SourceToken>"
            f'<tt:Bounds x="0" y="0" width="{p["width"]}" height="{p["height"]}"/>'
            "</tt:VideoSourceConfiguration>"
            f'<tt:VideoEncoderConfiguration token="vec-{p["token"]}">'
            f"<tt:Name>{p['name']}</tt:Name><tt:UseCount>1</tt:UseCount>"
            f"<tt:Encoding>{p['encoding']}</tt:Encoding>"
            f"<tt:Resolution><tt:Width>{p['width']}</tt:Width>"
            f"<tt:Height>{p['height']}</tt:Height></tt:Resolution>"
            "<tt:Quality>5</tt:Quality><tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit>"
            "<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>512</tt:BitrateLimit>"
            "</tt:RateControl><tt:H264><tt:GovLength>25</tt:GovLength>"
            "<tt:H264Profile>High</tt:H264Profile></tt:H264>"
            "<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>"
            f"</{tag}>"
        )

    def do_GetProfiles(self, _call: ET.Element) -> str:
        inner = "".join(self.profile_xml(p) for p in self.c["profiles"])
        return f"<trt:GetProfilesResponse>{inner}</trt:GetProfilesResponse>"

    def _profile(self, call: ET.Element) -> dict[str, Any] | None:
        token = find(call, "ProfileToken")
        wanted = (token.text or "").strip() if token is not None else ""
        return next((p for p in self.c["profiles"] if p["token"] == wanted), None)

    def do_GetProfile(self, call: ET.Element) -> str:
        profile = self._profile(call) or self.c["profiles"][0]
        inner = self.profile_xml(profile, "trt:Profile")
        return f"<trt:GetProfileResponse>{inner}</trt:GetProfileResponse>"

    def do_GetStreamUri(self, call: ET.Element) -> str:
        profile = self._profile(call)
        uri = profile["uri"] if profile else ""
        return (
            "<trt:GetStreamUriResponse><trt:MediaUri>"
            f"<tt:Uri>{uri}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
            "</trt:MediaUri></trt:GetStreamUriResponse>"
        )


def serve_http(camera: Camera) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
            status, reply = camera.answer(self.rfile.read(length))
            self.send_response(status)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((camera.address, camera.http_port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    camera = Camera(json.loads(Path(sys.argv[1]).read_text()))
    server = serve_http(camera)
    sock = camera.discovery_socket()
    threading.Thread(target=camera.serve_discovery, args=(sock,), daemon=True).start()
    log(f"ready: {camera.device_url}")
    server.serve_forever()


if __name__ == "__main__":
    main()
