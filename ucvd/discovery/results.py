"""A scan's findings as the RPC result: sorted, redacted, matched against the registered
cameras. Pure.

Stream URIs come from devices and may carry credentials (`rtsp://admin:pw@...`, or
`?password=` in the query); the operator's password is also hidden wherever it appears.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable, Mapping

from ucvd.api import protocol as p
from ucvd.discovery.rtsp_probe import RtspAccess, StreamAccess
from ucvd.discovery.scan import Finding, Plan, Report
from ucvd.domain.urls import InvalidURL, redact, split_credentials

_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}
_ASKED = (
    StreamAccess.NEEDS_CREDENTIALS,
    StreamAccess.CREDENTIALS_ACCEPTED,
    StreamAccess.CREDENTIALS_REFUSED,
)


def stream_key(url: str) -> tuple[str, str, int, str, str] | None:
    """What makes two stream URLs the same stream: credentials and default ports aside."""
    try:
        clean, _user, _password = split_credentials(url)
    except InvalidURL:
        return None
    parts = urllib.parse.urlsplit(clean)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        return None
    return parts.scheme, host, port, parts.path or "/", parts.query


def port_of(url: str) -> int | None:
    key = stream_key(url)
    return key[2] if key is not None else None


def host_of(url: str) -> str | None:
    try:
        return (urllib.parse.urlsplit(url).hostname or "").lower() or None
    except ValueError:
        return None


def _address_order(address: str) -> tuple[int, int]:
    try:
        return 0, int(ipaddress.IPv4Address(address))
    except ValueError:
        return 1, 0


def _device(
    finding: Finding, cameras: Mapping[str, str], secrets: Iterable[str]
) -> p.DiscoveredDevice:
    secrets = list(secrets)
    by_stream = {stream_key(url): cid for cid, url in sorted(cameras.items())}
    registered = sorted(cid for cid, url in cameras.items() if host_of(url) == finding.address)
    onvif = finding.onvif
    info = onvif.info if onvif is not None else None
    streams = []
    for found in onvif.profiles if onvif is not None else []:
        key = stream_key(found.uri) if found.uri else None
        streams.append(
            p.DiscoveredStream(
                profile=found.profile.token,
                name=found.profile.name,
                uri=redact(found.uri, secrets) if found.uri else None,
                encoding=found.profile.encoding,
                width=found.profile.width,
                height=found.profile.height,
                rtsp_access=found.access.value if found.access else None,
                registered_as=by_stream.get(key) if key is not None else None,
            )
        )
    # A stream that asked for credentials says more about its port than DESCRIBE of `/`.
    guarded = {
        port_of(found.uri)
        for found in (onvif.profiles if onvif is not None else [])
        if found.uri and found.access in _ASKED
    }
    rtsp = [
        p.DiscoveredRtsp(
            port=s.port,
            access=RtspAccess.NEEDS_CREDENTIALS.value if s.port in guarded else s.access.value,
            server=s.server,
        )
        for s in finding.rtsp
    ]
    match = finding.match
    return p.DiscoveredDevice(
        address=finding.address,
        onvif=match is not None,
        endpoint=match.endpoint if match else None,
        xaddrs=[redact(x, secrets) for x in match.xaddrs] if match else [],
        scope_name=match.scope("name") if match else None,
        manufacturer=info.manufacturer if info else None,
        model=info.model if info else None,
        firmware=info.firmware if info else None,
        onvif_status=onvif.status.value if onvif else None,
        onvif_error=redact(onvif.error, secrets) if onvif and onvif.error else None,
        streams=streams,
        rtsp=rtsp,
        registered=registered,
    )


def build(
    plan: Plan,
    report: Report,
    cameras: Mapping[str, str],
    secrets: Iterable[str] = (),
) -> p.DiscoveryResult:
    """`cameras`: registered camera id -> its URL (without credentials)."""
    secrets = list(secrets)
    ordered = sorted(report.findings.values(), key=lambda f: _address_order(f.address))
    notes: list[str] = []
    if plan.interface is None:
        notes.append("no WS-Discovery: no interface is on the subnet")
    if plan.subnet is None:
        notes.append("no RTSP sweep: name a subnet (--subnet) to sweep it")
    if not report.complete:
        notes.append(f"the {plan.timeout:g}s timeout cut the scan short; results are partial")
    return p.DiscoveryResult(
        interface=plan.interface[0] if plan.interface else None,
        interface_address=str(plan.interface[1]) if plan.interface else None,
        subnet=str(plan.subnet) if plan.subnet else None,
        ports=list(plan.ports) if plan.subnet else [],
        timeout=plan.timeout,
        seconds=round(report.seconds, 3),
        complete=report.complete,
        probed=report.probed,
        devices=[_device(f, cameras, secrets) for f in ordered],
        added=[],
        notes=notes,
    )
